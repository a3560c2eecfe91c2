"""``aiida-bzs generate``: training structures as StructureData nodes, collected in a group.

Each sub-command runs one generator calcfunction (seeded), so every structure records how it
was made; ``--group`` collects them for ``aiida-bzs label``.
"""

from __future__ import annotations

import click

from . import cmd_root
from .utils import format_pks, load_typed_node, with_profile

GROUP_OPTION = click.option("--group", "group_label", required=True, help="Group to add the structures to (created if new).")


def _store_in_group(outputs, group_label: str) -> None:
    from aiida import orm

    nodes = list(outputs.values()) if isinstance(outputs, dict) else [outputs]
    group, created = orm.Group.collection.get_or_create(group_label)
    group.add_nodes(nodes)
    click.echo(f"{len(nodes)} structures added to group {group_label!r}{' (new)' if created else ''}; "
               f"it holds {group.count()} nodes")
    click.echo(f"StructureData pks: {format_pks(n.pk for n in nodes)}")


def _structure(identifier: str):
    from aiida import orm

    return load_typed_node(identifier, orm.StructureData)


def _run(function, *args, **kwargs):
    from ..structures.errors import StructureInputError

    try:
        return function(*args, **kwargs)
    except StructureInputError as exc:
        raise click.ClickException(str(exc)) from exc


@cmd_root.group("generate")
def cmd_generate():
    """Generate training structures: rss, dimers, rattle (strained+rattled supercells), interface."""


@cmd_generate.command("rss")
@click.option("--count", type=int, default=10, show_default=True)
@click.option("--composition", default="BaZrS3", show_default=True, help="Formula, e.g. BaZrS3 or Ba2ZrS4.")
@click.option("--formula-units", default="1,2,3,4", show_default=True, help="Comma list, cycled over the cells.")
@click.option("--volume-per-atom", nargs=2, type=float, default=None, help="Min and max, Å³/atom.")
@click.option("--min-separation", multiple=True, help="Pair minimum like Ba-S=2.6 (Å); repeat for more pairs.")
@click.option("--spacegroups", default=None, help="Comma list of space-group numbers to draw from (default P1).")
@click.option("--seed", type=int, default=0, show_default=True)
@GROUP_OPTION
@with_profile
def cmd_rss(count, composition, formula_units, volume_per_atom, min_separation, spacegroups, seed, group_label):
    """Random cells with minimum separations (generate_rss calcfunction)."""
    from aiida import orm

    from ..calculations.functions.generators import generate_rss

    parameters = {"count": count, "composition": composition, "seed": seed,
                  "formula_units": [int(x) for x in formula_units.split(",")]}
    if volume_per_atom:
        parameters["volume_per_atom"] = list(volume_per_atom)
    if min_separation:
        table = {}
        for item in min_separation:
            pair, _, value = item.partition("=")
            table[pair] = float(value)
        from ..structures.rss import DEFAULT_MIN_SEPARATION

        parameters["min_separation"] = {**{"-".join(k): v for k, v in DEFAULT_MIN_SEPARATION.items()}, **table}
    if spacegroups:
        parameters["spacegroups"] = [int(x) for x in spacegroups.split(",")]
    _store_in_group(_run(generate_rss, orm.Dict(parameters)), group_label)


@cmd_generate.command("dimers")
@click.option("--pairs", default=None, help="Comma list like Ba-S,S-S (default all six pairs).")
@click.option("--distance-range", nargs=2, type=float, default=None,
              help="Min and max distance, Å (default per pair: 0.85 × covalent radii to 6 Å).")
@click.option("--points", type=int, default=None, help="Distances per pair (default 12; one point: the start).")
@click.option("--box", type=float, default=None, help="Cubic box edge, Å.")
@GROUP_OPTION
@with_profile
def cmd_dimers(pairs, distance_range, points, box, group_label):
    """Dimers over a distance range in a large box (generate_dimers calcfunction); prints the
    distances used per pair and the PKs."""
    from aiida import orm

    from ..calculations.functions.generators import generate_dimers

    parameters = {}
    if pairs:
        parameters["pairs"] = [p.split("-") for p in pairs.split(",")]
    if distance_range:
        parameters["distance_range"] = list(distance_range)
    if points:
        parameters["points"] = points
    if box:
        parameters["box"] = box
    outputs = _run(generate_dimers, orm.Dict(parameters))
    _describe_dimers(outputs, distance_range is None)
    _store_in_group(outputs, group_label)


def _describe_dimers(outputs: dict, default_range: bool) -> None:
    """Print the distances (Å) of each pair's scan, and warn where it starts far inside the bond."""
    from ..calculations.functions.structures import to_atoms
    from ..structures.dimers import DIMER_START_FACTOR, default_dimer_range, describe_scan

    images = []
    for node in outputs.values():
        atoms = to_atoms(node)
        atoms.info["dimer_distance"] = node.base.attributes.get("dimer_distance", atoms.get_distance(0, 1))
        images.append(atoms)
    origin = f"default: from {DIMER_START_FACTOR:g} × the covalent radii" if default_range else "as given"
    click.echo(f"dimer distances ({origin}):")
    for line in describe_scan(images):
        click.echo(f"  {line}")
    if default_range:
        return
    for first, second in dict.fromkeys(tuple(a.get_chemical_symbols()) for a in images):
        start = default_dimer_range(first, second, 1e3)[0]
        closest = min(a.info["dimer_distance"] for a in images if tuple(a.get_chemical_symbols()) == (first, second))
        if closest < start - 0.005:
            click.echo(f"warning: {first}–{second} at {closest:.2f} Å is inside {start:.2f} Å "
                       f"({DIMER_START_FACTOR:g} × covalent radii); its forces (tens of eV/Å at ~1.5 Å) can "
                       "dominate the force loss of a fit: start the range there or filter with --max-force",
                       err=True)


@cmd_generate.command("rattle")
@click.argument("structure")
@click.option("--count", type=int, default=10, show_default=True)
@click.option("--repeat", nargs=3, type=int, default=(1, 1, 1), show_default=True)
@click.option("--max-strain", type=float, default=None, help="Largest strain component (0.03 = ±3 %).")
@click.option("--stdev", type=float, default=None, help="Rattle σ per component, Å.")
@click.option("--seed", type=int, default=0, show_default=True)
@GROUP_OPTION
@with_profile
def cmd_rattle(structure, count, repeat, max_strain, stdev, seed, group_label):
    """Strained and rattled supercells of STRUCTURE (pk/UUID) (generate_perturbed calcfunction)."""
    from aiida import orm

    from ..calculations.functions.generators import generate_perturbed

    parameters = {"count": count, "repeat": list(repeat), "seed": seed}
    if max_strain is not None:
        parameters["max_strain"] = max_strain
    if stdev is not None:
        parameters["rattle_stdev"] = stdev
    _store_in_group(_run(generate_perturbed, _structure(structure), orm.Dict(parameters)), group_label)


@cmd_generate.command("interface")
@click.argument("crystal")
@click.option("--amorphous", default=None, help="pk/UUID of an amorphous StructureData to cut from (default: random).")
@click.option("--axis", type=click.IntRange(0, 2), default=2, show_default=True, help="Stacking cell vector.")
@click.option("--thickness", type=float, default=None, help="Amorphous slab thickness, Å (default: the crystal's).")
@click.option("--gap", type=float, default=None, help="Crystal–amorphous spacing, Å.")
@click.option("--count", type=int, default=1, show_default=True, help="Interfaces to make (seeds seed … seed+count-1).")
@click.option("--seed", type=int, default=0, show_default=True)
@GROUP_OPTION
@with_profile
def cmd_interface(crystal, amorphous, axis, thickness, gap, count, seed, group_label):
    """Crystal–amorphous interface cells from CRYSTAL (pk/UUID) (generate_interface calcfunction)."""
    from aiida import orm

    from ..calculations.functions.generators import generate_interface

    crystal_node = _structure(crystal)
    extra = {"amorphous": _structure(amorphous)} if amorphous else {}
    outputs = {}
    for i in range(count):
        parameters = {"axis": axis, "seed": seed + i}
        if thickness:
            parameters["amorphous_thickness"] = thickness
        if gap is not None:
            parameters["gap"] = gap
        outputs[i] = _run(generate_interface, crystal_node, orm.Dict(parameters), **extra)
    _store_in_group(outputs, group_label)
