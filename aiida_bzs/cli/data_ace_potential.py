"""``verdi data bzs.ace_potential``: list, show and export ACE potentials."""

from __future__ import annotations

from pathlib import Path

import click
from aiida.cmdline.params import arguments
from aiida.cmdline.utils import decorators, echo


@click.group("bzs.ace_potential")
def ace_potential():
    """ACE potentials (AcePotentialData, bzs.ace_potential)."""


@ace_potential.command("list")
@decorators.with_dbenv()
def cmd_list():
    """Table of stored potentials: pk, elements, cutoff (Å), functions, active set, fit verdict, creator."""
    from aiida import orm

    from ..common.potential_quality import potential_verdict
    from ..data.ace_potential import AcePotentialData

    query = orm.QueryBuilder().append(AcePotentialData, project=["*"]).order_by({AcePotentialData: "id"})
    echo.echo(f"{'pk':>6}  {'elements':<10} {'rcut/Å':>6} {'funcs':>6} {'asi':>4}  {'verdict':<10}  created by")
    for (node,) in query.iterall():
        creator = node.creator
        origin = f"{creator.process_label} {creator.pk}" if creator is not None else "imported"
        verdict = (potential_verdict(node) or {}).get("verdict", "-")
        echo.echo(f"{node.pk:>6}  {'-'.join(node.elements):<10} {node.cutoff:>6.2f} "
                  f"{sum(node.n_functions.values()):>6} {'yes' if node.has_active_set else 'no':>4}  "
                  f"{verdict:<10}  {origin}")


@ace_potential.command("show")
@arguments.DATUM()
def cmd_show(datum):
    """Elements, cutoff, functions, active set, fit and verdict (test RMSE, per config_type) of one potential."""
    from .ace import describe_potential

    echo.echo(describe_potential(datum))


@ace_potential.command("export")
@arguments.DATUM()
@click.argument("folder", type=click.Path(file_okay=False), default=".")
def cmd_export(datum, folder):
    """Write potential.yaml, potential.yace (and potential.asi) into FOLDER."""
    for kind, path in datum.write_files(Path(folder)).items():
        if path is not None:
            echo.echo(f"{kind:>4}: {path}")
    echo.echo_success(f"exported potential pk {datum.pk} to {folder}")
