"""``verdi data bzs.measured_pattern``: import, list, show and export measured XRD / PDF data."""

from __future__ import annotations

import click
from aiida.cmdline.params import arguments
from aiida.cmdline.utils import decorators, echo


@click.group("bzs.measured_pattern")
def measured_pattern():
    """Measured XRD patterns and PDFs (MeasuredPatternData, bzs.measured_pattern)."""


@measured_pattern.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["xrd", "pdf"]), required=True, help="XRD pattern or PDF.")
@click.option("--axis", type=click.Choice(["two_theta", "q", "r"]), default=None,
              help="First column: 2θ (degrees, XRD default), Q (Å⁻¹) or r (Å, PDF).")
@click.option("--wavelength", default=None, help="Å or anode name (Cu, Mo, Co, Ag); needed for 2θ data.")
@click.option("--label", default=None, help="Node label (default: the file name).")
@decorators.with_dbenv()
def cmd_import(path, kind, axis, wavelength, label):
    """Import a column file (checked: numeric, finite, x increasing) as a stored node."""
    from ..analysis.errors import AnalysisInputError
    from ..data.measured_pattern import MeasuredPatternData

    try:
        node = MeasuredPatternData.from_file(path, kind, axis, wavelength)
    except AnalysisInputError as exc:
        echo.echo_critical(str(exc))
    node.label = label or click.format_filename(path, shorten=True)
    node.store()
    x = node.get_x()[1]
    echo.echo_success(f"MeasuredPatternData pk={node.pk}: {kind} on {node.axis}, {x.size} points {x[0]:g}–{x[-1]:g}")


@measured_pattern.command("list")
@decorators.with_dbenv()
def cmd_list():
    """Table of stored measured patterns: pk, label, kind, axis, wavelength (Å), points, file."""
    from aiida import orm

    from ..data.measured_pattern import MeasuredPatternData

    query = orm.QueryBuilder().append(MeasuredPatternData, project=["*"]).order_by({MeasuredPatternData: "id"})
    echo.echo(f"{'pk':>6}  {'label':<24} {'kind':<4} {'axis':<9} {'λ/Å':>8} {'points':>7}  file")
    for (node,) in query.iterall():
        lam = f"{node.wavelength:.5f}" if node.wavelength else "-"
        echo.echo(f"{node.pk:>6}  {node.label[:24]:<24} {node.kind:<4} {node.axis:<9} {lam:>8} "
                  f"{node.get_x()[1].size:>7}  {node.source_filename}")


@measured_pattern.command("show")
@arguments.DATUM()
def cmd_show(datum):
    """Summary of one measured pattern: metadata and x/y ranges."""
    x, y, sigma = datum.get_curve()
    echo.echo(f"kind {datum.kind}, axis {datum.axis} ({datum.x_units}), wavelength {datum.wavelength} Å")
    echo.echo(f"file {datum.source_filename}; {x.size} points, x {x.min():g}–{x.max():g}, y {y.min():g}–{y.max():g}"
              + ("; with σ" if sigma is not None else ""))


@measured_pattern.command("export")
@arguments.DATUM()
@click.argument("output", type=click.Path(dir_okay=False))
def cmd_export(datum, output):
    """Write the columns (x, y[, σ]) as text with a commented header."""
    import numpy as np

    x, y, sigma = datum.get_curve()
    columns = [x, y] + ([sigma] if sigma is not None else [])
    header = f"{datum.kind} {datum.axis} [{datum.x_units}] wavelength={datum.wavelength} source={datum.source_filename}"
    np.savetxt(output, np.column_stack(columns), header=header)
    echo.echo_success(f"written {output}")
