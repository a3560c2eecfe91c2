"""``verdi data bzs.large_structure``: list, show, export and import LargeStructureData nodes.

Files are read and written by ASE (``ase.io``), so every format ASE knows works: extxyz (per-atom
arrays become extra columns), lammps-data, cif (small cells), vasp, xsf, ...
"""

from __future__ import annotations

import click
from aiida.cmdline.params import arguments, types
from aiida.cmdline.utils import decorators, echo

LARGE_STRUCTURE = arguments.DATUM(type=types.DataParamType(sub_classes=("aiida.data:bzs.large_structure",)))


@click.group("bzs.large_structure")
def large_structure():
    """Structures of any size as numpy arrays (LargeStructureData, bzs.large_structure)."""


@large_structure.command("list")
@click.option("--formula", default=None, help="Only this Hill formula, full (Ba4S12Zr4) or reduced (BaS3Zr).")
@decorators.with_dbenv()
def cmd_list(formula):
    """Table of stored large structures: pk, formula, atoms, density (g/cm³), per-atom arrays, label."""
    from aiida import orm

    from ..data.large_structure import LargeStructureData

    filters = {}
    if formula:
        filters = {"or": [{"attributes.formula": formula}, {"attributes.formula_reduced": formula}]}
    query = orm.QueryBuilder().append(
        LargeStructureData, filters=filters,
        project=["id", "label", "attributes.formula", "attributes.n_atoms", "attributes.density",
                 "attributes.per_atom_arrays"],
    ).order_by({LargeStructureData: "id"})
    echo.echo(f"{'pk':>6}  {'formula':<24} {'atoms':>9} {'g/cm³':>7}  {'arrays':<20} label")
    for pk, label, name, n_atoms, density, arrays in query.iterall():
        rho = f"{density:7.3f}" if density is not None else f"{'-':>7}"
        echo.echo(f"{pk:>6}  {name[:24]:<24} {n_atoms:>9} {rho}  {','.join(arrays)[:20]:<20} {label}")


@large_structure.command("show")
@LARGE_STRUCTURE
def cmd_show(datum):
    """Formula, atoms, cell (Å, °), volume (Å³), density (g/cm³), pbc and per-atom arrays of one node."""
    echo.echo(describe(datum))


def describe(node) -> str:
    """A few lines summarising a ``LargeStructureData`` from its attributes (no array is read)."""
    a = node.summary()
    density = f"{a['density']:.4f} g/cm³" if a["density"] is not None else "- (no cell volume)"
    composition = ", ".join(f"{el} {n}" for el, n in sorted(a["composition"].items()))
    return "\n".join([
        (f"LargeStructureData pk {node.pk}: {a['formula_reduced']} × {a['formula_units']} "
         f"({a['formula']}), {a['n_atoms']} atoms"),
        f"composition: {composition}",
        "cell lengths: " + "  ".join(f"{x:.4f}" for x in a["cell_lengths"]) + " Å;  angles: "
        + "  ".join(f"{x:.3f}" for x in a["cell_angles"]) + " °",
        f"volume: {a['cell_volume']:.3f} Å³;  density: {density};  pbc: {a['pbc']}",
        f"per-atom arrays: {', '.join(a['per_atom_arrays']) or 'none'}",
    ])


@large_structure.command("export")
@LARGE_STRUCTURE
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("-F", "--format", "fmt", default=None,
              help="ASE format (extxyz, lammps-data, cif, vasp, ...); default from the file name.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing file.")
def cmd_export(datum, output, fmt, force):
    """Write the structure with ASE (extxyz keeps per-atom arrays as columns)."""
    from pathlib import Path

    from ase.io import write

    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    kwargs = {"masses": True, "atom_style": "atomic"} if fmt == "lammps-data" or (
        fmt is None and output.endswith((".lmp", ".data", ".lammps-data"))) else {}
    if kwargs and fmt is None:
        fmt = "lammps-data"
    try:
        write(output, datum.get_ase(), format=fmt, **kwargs)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise click.ClickException(f"cannot write {output} ({fmt or 'format from the name'}): {exc}; "
                                   "choose a format with --format, e.g. extxyz") from exc
    echo.echo_success(f"{datum.n_atoms} atoms of pk {datum.pk} written to {output}")


@large_structure.command("import")
@click.argument("filename", type=click.Path(exists=True, dir_okay=False))
@click.option("-F", "--format", "fmt", default=None, help="ASE format; default guessed by ASE from the file.")
@click.option("--index", default="-1", show_default=True, help="Frame of a multi-frame file (ASE index).")
@click.option("-L", "--label", default="", help="Node label.")
@decorators.with_dbenv()
def cmd_import(filename, fmt, index, label):
    """Read FILENAME with ASE and store it as a LargeStructureData (extra per-atom columns kept)."""
    from ase.io import read

    from ..data.large_structure import LargeStructureData, LargeStructureError

    try:
        atoms = read(filename, index=index, format=fmt)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise click.ClickException(f"ASE cannot read {filename}: {exc}; give the format with --format") from exc
    if isinstance(atoms, list):
        raise click.ClickException(f"--index {index} selects {len(atoms)} frames; give one frame, e.g. --index 0")
    try:
        node = LargeStructureData.from_ase(atoms)
    except LargeStructureError as exc:
        raise click.ClickException(str(exc)) from exc
    node.label = label
    node.store()
    echo.echo_success(f"stored LargeStructureData pk {node.pk}: {node.formula_reduced}, {node.n_atoms} atoms")
