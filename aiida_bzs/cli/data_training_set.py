"""``verdi data bzs.training_set``: list, show and export TrainingSetData nodes.

The same ``show`` and ``export`` commands also hang under ``aiida-bzs dataset``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from aiida.cmdline.params import arguments
from aiida.cmdline.utils import decorators

#: File suffixes that select the export format.
PACEMAKER_SUFFIXES = (".pckl.gzip", ".pkl.gz", ".pckl.gz", ".pkl.gzip")
EXTXYZ_SUFFIXES = (".extxyz", ".xyz")


def export_format(path: str, fmt: str | None) -> str:
    """'extxyz' or 'pacemaker', from ``fmt`` or the file name."""
    if fmt:
        return fmt
    name = Path(path).name.lower()
    if name.endswith(PACEMAKER_SUFFIXES):
        return "pacemaker"
    if name.endswith(EXTXYZ_SUFFIXES):
        return "extxyz"
    raise click.BadParameter(f"cannot tell the format of {path}; use --format or a .extxyz / .pckl.gzip name")


def read_reference_energies(path: str | None) -> dict | None:
    """Isolated-atom energies (eV) from a json file ``{"Ba": ..., ...}`` (or under ``reference_energies``)."""
    if not path:
        return None
    data = json.loads(Path(path).read_text())
    return {str(k): float(v) for k, v in data.get("reference_energies", data).items()}


@click.group("bzs.training_set")
def training_set():
    """DFT-labelled training sets (TrainingSetData, bzs.training_set)."""


@training_set.command("list")
@decorators.with_dbenv()
def cmd_list():
    """Table of stored training sets: pk, label, structures, atoms, config types, labelled."""
    from aiida import orm

    from ..data.training_set import TrainingSetData

    query = orm.QueryBuilder().append(TrainingSetData, project=["*"]).order_by({TrainingSetData: "id"})
    click.echo(f"{'pk':>6}  {'label':<20} {'structures':>10} {'atoms':>8}  labelled  config types")
    for (node,) in query.iterall():
        types = ", ".join(f"{k}:{v}" for k, v in node.config_types.items())
        click.echo(f"{node.pk:>6}  {node.label[:20]:<20} {node.num_structures:>10} {node.num_atoms:>8}  "
                  f"{'yes' if node.labelled else 'no ':<8}  {types}")


@training_set.command("show")
@arguments.DATUM()
def cmd_show(datum):
    """Counts per config_type, elements, energy-per-atom (eV/atom) and max-force (eV/Å) ranges, settings."""
    info = datum.summary()
    click.echo(f"TrainingSetData pk {datum.pk}: {info['num_structures']} structures, {info['num_atoms']} atoms, "
              f"elements {', '.join(info['elements'])}, {'labelled' if info['labelled'] else 'NOT all labelled'}")
    for name, count in info["config_types"].items():
        click.echo(f"  {name:<24} {count:>6}")
    if "energy_per_atom_range" in info:
        lo, hi = info["energy_per_atom_range"]
        click.echo(f"energy per atom: {lo:.4f} … {hi:.4f} eV/atom")
        lo, hi = info["max_force_range"]
        click.echo(f"max |F| per structure: {lo:.3f} … {hi:.3f} eV/Å")
    click.echo(f"reference energies (eV): {json.dumps(info['reference_energies'])}")
    click.echo(f"DFT settings: {json.dumps(info['dft_settings'], sort_keys=True)}")


@training_set.command("export")
@arguments.DATUM()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["extxyz", "pacemaker"]), default=None,
              help="Default from the name: .extxyz/.xyz or .pckl.gzip (pacemaker's gzip-pickled DataFrame).")
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="json with isolated-atom energies (eV) replacing the node's, for energy_corrected.")
def cmd_export(datum, output, fmt, reference_energies):
    """Write the set as extended XYZ (exact floats) or as pacemaker's DataFrame pickle."""
    from ..data.training_set import DatasetError

    fmt = export_format(output, fmt)
    try:
        if fmt == "extxyz":
            datum.write_extxyz(output)
        else:
            datum.write_pacemaker_pickle(output, read_reference_energies(reference_energies))
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Success: {len(datum)} structures written to {output} ({fmt})")
