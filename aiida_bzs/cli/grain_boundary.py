"""``aiida-bzs gb``: tilt grain boundaries of Pnma BaZrS3 about b — list them, build a bicrystal.

``gb list`` prints the CSL / near-CSL boundaries up to a Σ and the low-angle series
(:mod:`aiida_bzs.structures.grain_boundary`); ``gb build`` writes one bicrystal to a file and, with
``--store``, stores it through the ``bzs.gb.bicrystal`` calcfunction. (``gb energy`` attaches itself
from :mod:`aiida_bzs.cli.gb_energy`.)
"""

from __future__ import annotations

import click

from . import cmd_root
from .utils import load_typed_node, with_profile


def parse_angles(text: str) -> list[float]:
    """``'1.5:9.5:1'`` → [1.5, 2.5, …, 9.5] (stop included); ``'4.5'`` → [4.5]; ``'2,4.5'`` → [2, 4.5]."""
    try:
        if ":" in text:
            start, stop, step = (float(p) for p in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(round((stop - start) / step + 1e-9)) + 1
            return [round(start + k * step, 10) for k in range(count)]
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give start:stop:step in degrees (e.g. 1.5:9.5:1) or a list 2,4.5") from None


def format_table(boundaries) -> str:
    """The boundaries as a table: kind, Σ, angle, plane, strain %, period, exact."""
    lines = [f"{'kind':<10}{'Σ':>6}{'angle °':>10}{'plane':>14}{'[m 0 n]':>12}{'(a/c)²':>9}{'strain %':>10}"
             f"{'period Å':>10}{'exact':>7}"]
    for b in boundaries:
        plane = "(" + " ".join(str(x) for x in b.plane) + ")"
        direction = f"[{b.direction[0]} 0 {b.direction[1]}]"
        ratio = f"{b.ratio[0]}/{b.ratio[1]}"
        lines.append(f"{b.kind:<10}{b.sigma:>6}{b.angle_deg:>10.2f}{plane:>14}{direction:>12}{ratio:>9}"
                     f"{100 * b.strain:>10.2f}{b.period_along_boundary:>10.2f}{'yes' if b.exact else 'no':>7}")
    return "\n".join(lines)


def _crystal(identifier):
    """(ASE atoms, StructureData or None): the reference given by pk/UUID, else the campaign's Pnma cell."""
    from ..structures.crystal import pnma_crystal

    if not identifier:
        return pnma_crystal(), None
    from aiida import orm

    from ..calculations.functions.structures import to_atoms

    node = load_typed_node(identifier, orm.StructureData)
    return to_atoms(node), node


def _lattice(atoms) -> tuple[float, float]:
    lengths = atoms.cell.lengths()
    return float(lengths[0]), float(lengths[2])


@cmd_root.group("gb")
def cmd_gb():
    """Tilt grain boundaries about the long Pnma axis b: list (CSL, near-CSL, low-angle) and build."""


_crystal_option = click.option("--crystal", "crystal_id", default=None,
                               help="Reference crystal StructureData (pk/UUID) [default: the experimental Pnma cell].")
_strain_option = click.option("--max-strain", type=float, default=0.02, show_default=True,
                              help="Largest strain of a or c to make a near-CSL exact (0.02 = 2 %).")
_length_option = click.option("--max-length", type=float, default=600.0, show_default=True,
                              help="Longest period along a low-angle boundary (Å).")


@cmd_gb.command("list")
@click.option("--max-sigma", type=int, default=40, show_default=True, help="Largest Σ of the CSL list.")
@click.option("--low-angle", "low_angle", default=None, help="Low-angle series start:stop:step (°), e.g. 1.5:9.5:1.")
@_strain_option
@_length_option
@_crystal_option
@with_profile
def cmd_gb_list(max_sigma, low_angle, max_strain, max_length, crystal_id):
    """CSL / near-CSL tilt boundaries up to --max-sigma, and the nearest commensurate low angles."""
    from ..structures import grain_boundary as gb

    atoms, _ = _crystal(crystal_id)
    a, c = _lattice(atoms)
    found = gb.csl_tilt_boundaries(a, c, max_sigma, max_strain=max_strain)
    if low_angle:
        found += gb.low_angle_boundaries(parse_angles(low_angle), a, c, max_length)
    click.echo(f"a = {a:.4f} Å, c = {c:.4f} Å, (a/c)² = {(a / c) ** 2:.5f}; tilt axis b; "
               f"Σ = CSL cell area / a·c (docs/grain_boundaries.md)")
    click.echo(format_table(found))


@cmd_gb.command("build")
@click.option("--sigma", type=int, default=None, help="Σ of a CSL boundary (see `gb list`).")
@click.option("--angle", type=float, default=None,
              help="Misorientation (°): picks among the Σ boundaries, or alone the nearest low-angle rotation.")
@click.option("--plane", default=None, help="Boundary plane h,0,l to pick among the Σ boundaries (e.g. 3,0,4).")
@click.option("--thickness", type=float, default=25.0, show_default=True, help="Thickness of each grain (Å).")
@click.option("--repeats", type=int, default=1, show_default=True, help="Repeats along the tilt axis b.")
@click.option("--translation", nargs=2, type=float, default=(0.0, 0.0), show_default=True,
              help="Rigid-body shift of grain 2 (Å): along the boundary, along b.")
@click.option("--min-distance", type=float, default=1.5, show_default=True,
              help="Remove grain-2 atoms closer than this to grain 1 (Å).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), required=True, help="Output file (extxyz).")
@click.option("--store", is_flag=True, help="Also store it as a StructureData (calcfunction bzs.gb.bicrystal).")
@_strain_option
@_length_option
@_crystal_option
@with_profile
def cmd_gb_build(sigma, angle, plane, thickness, repeats, translation, min_distance, out_file, store, max_strain,
                 max_length, crystal_id):
    """Periodic bicrystal with two equivalent boundaries; writes --out and prints the report."""
    from ..structures import grain_boundary as gb
    from ..structures.errors import StructureInputError

    atoms, node = _crystal(crystal_id)
    a, c = _lattice(atoms)
    if sigma is None and angle is None:
        raise click.UsageError("give --sigma (CSL) or --angle (low-angle), see `aiida-bzs gb list`")
    if sigma is not None:
        found = [b for b in gb.csl_tilt_boundaries(a, c, sigma, max_strain=max_strain) if b.sigma == sigma]
        if plane:
            wanted = tuple(int(x) for x in plane.split(","))
            found = [b for b in found if b.plane == wanted]
        if not found:
            raise click.ClickException(f"no Σ{sigma} boundary{' on ' + plane if plane else ''} within strain "
                                       f"{max_strain:g} for a = {a:.4f}, c = {c:.4f} Å; see `aiida-bzs gb list`")
        if angle is not None:
            boundary = min(found, key=lambda b: (round(abs(b.angle_deg - angle), 6), b.strain, b.period_along_boundary))
        else:
            boundary = min(found, key=lambda b: (b.strain, b.period_along_boundary))
    else:
        try:
            boundary = gb.low_angle_boundaries([angle], a, c, max_length)[0]
        except StructureInputError as exc:
            raise click.ClickException(str(exc)) from None
    result, report = gb.build_bicrystal(atoms, boundary, thickness, repeats, tuple(translation), min_distance)
    result.write(out_file, format="extxyz")
    click.echo(format_table([boundary]))
    click.echo(describe_report(report))
    click.echo(f"written {out_file} ({len(result)} atoms, per-atom 'grain' column)")
    if store:
        from aiida import orm

        from ..calculations.functions.grain_boundary import bicrystal
        from ..calculations.functions.structures import pnma_crystal

        crystal_node = node if node is not None else pnma_crystal()
        outputs = bicrystal(crystal_node, orm.Dict({
            "boundary": boundary.as_dict(), "grain_thickness": thickness, "repeats_along_axis": repeats,
            "translation": list(translation), "min_distance": min_distance}))
        click.echo(f"StructureData pk={outputs['structure'].pk} ({len(outputs['structure'].sites)} atoms), "
                   f"report Dict pk={outputs['report'].pk}")


def describe_report(report: dict) -> str:
    """The builder's report in a few lines."""
    removed = report["removed"]
    by = ", ".join(f"{n} {el}" for el, n in removed["by_element"].items() if n) or "none"
    excess = report["excess"]
    comp = report["composition"]
    return "\n".join([
        f"Σ{report['sigma']} {report['angle_deg']:.2f}° plane ({' '.join(map(str, report['plane']))}), "
        f"strain {100 * report['strain']:.2f} % (a', b, c' = {', '.join(f'{x:.4f}' for x in report['strained_lattice'])} Å)",
        f"cell {' × '.join(f'{x:.2f}' for x in report['cell'])} Å, {report['n_atoms']} atoms, "
        f"grains {report['grain_thickness']:.2f} Å ({report['layers']} layers), boundary area A = {report['area']:.2f} Å²",
        f"removed {removed['count']} atoms closer than {report['min_distance']} Å: {by}",
        f"composition Ba {comp['Ba']:.4f} Zr {comp['Zr']:.4f} S {comp['S']:.4f}; {report['formula_units']} BaZrS3 "
        f"+ excess Δ(Ba, Zr, S) = ({excess['Ba']}, {excess['Zr']}, {excess['S']})"
        + (" (stoichiometric)" if report["stoichiometric"] else ""),
    ])
