"""``aiida-bzs reference``: the PBEsol-relaxed Pnma crystal every builder can start from."""

from __future__ import annotations

import click

from . import cmd_root
from .utils import launch, load_typed_node, refusals_as_click_errors, with_profile


@cmd_root.group("reference")
def cmd_reference():
    """The reference crystal: PBEsol vc-relax of Pnma BaZrS3 (bzs.crystal_relax) and its summary."""


@cmd_reference.command("relax")
@click.option("--structure", "structure_id", default=None, help="Starting Pnma cell (pk/UUID; default the campaign's).")
@click.option("--protocol", type=click.Choice(["fast", "moderate", "balanced", "stringent"]), default="balanced",
              show_default=True, help="fast = test-sized (not a reference); moderate = 2-core workstation.")
@click.option("--code", default="pw@localhost", show_default=True, help="pw.x code label.")
@click.option("--pseudo-family", default=None, help="Pseudo family (default: SSSP PBEsol, else pslibrary US).")
@click.option("--np", "num_mpiprocs", default=2, show_default=True, help="MPI ranks per pw.x job.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_reference_relax(structure_id, protocol, code, pseudo_family, num_mpiprocs, submit):
    """Relax cell and positions of Pnma BaZrS3 with PBEsol; prints lattice, density and residuals."""
    from aiida import orm

    from ..common.codes import load_code
    from ..workflows.crystal_relax import CrystalRelaxWorkChain

    structure = load_typed_node(structure_id, orm.StructureData) if structure_id else None
    with refusals_as_click_errors():
        builder = CrystalRelaxWorkChain.get_builder_from_protocol(
            load_code(code), structure, protocol=protocol, pseudo_family=pseudo_family or None,
            num_mpiprocs=num_mpiprocs)
    node = launch(builder, submit)
    if node is not None:
        click.echo(describe_reference(node.outputs.summary.get_dict()))
        if "reference" in node.outputs:
            click.echo(f"reference  StructureData pk={node.outputs.reference.pk}  (CrystalRelaxWorkChain pk {node.pk}); "
                       "pass it to `aiida-bzs generate rattle/interface`, `learn --crystal`, `md`")


@cmd_reference.command("show")
@click.argument("identifier")
@with_profile
def cmd_reference_show(identifier):
    """Summary of a CrystalRelaxWorkChain (pk) or of the reference StructureData it made."""
    from aiida import orm

    node = orm.load_node(identifier)
    if isinstance(node, orm.StructureData):
        node = node.creator.caller if node.creator is not None and node.creator.caller is not None else None
    if node is None or "summary" not in node.outputs:
        raise click.ClickException(f"{identifier} is not a bzs.crystal_relax run or its reference structure")
    click.echo(describe_reference(node.outputs.summary.get_dict()))


def describe_reference(summary: dict) -> str:
    """Lines: lattice against experiment (Å, %), volume, density (g/cm³), sites, bonds, residuals."""
    a, b, c = summary["lattice"]
    da, db, dc = summary["lattice_deviation_percent"]
    lines = [
        f"lattice    a = {a:.4f}  b = {b:.4f}  c = {c:.4f} Å   (experiment 7.06, 9.98, 7.03; "
        f"{da:+.2f} %, {db:+.2f} %, {dc:+.2f} %)",
        f"volume     {summary['volume']:.2f} Å³ ({summary['volume_deviation_percent']:+.2f} %)   "
        f"density {summary['density']:.4f} g/cm³   space group {summary['spacegroup']}",
    ]
    if summary.get("zr_s_range"):
        lines.append(f"bonds      Zr–S {summary['zr_s_range'][0]:.3f}–{summary['zr_s_range'][1]:.3f} Å (6 per Zr), "
                     f"Ba–S {summary['ba_s_range'][0]:.3f}–{summary['ba_s_range'][1]:.3f} Å (8 per Ba)")
    for site, position in (summary.get("wyckoff") or {}).items():
        lines.append(f"site       {site:3s} ({', '.join(f'{x:.4f}' for x in position)})")
    if "max_force" in summary:
        per = ", ".join(f"{k} {v:.4f}" for k, v in summary["max_force_by_element"].items())
        lines.append(f"residual   max force {summary['max_force']:.4f} eV/Å ({per}); "
                     f"pressure {summary.get('pressure', float('nan')):.2f} kbar")
    if "energy" in summary:
        lines.append(f"energy     {summary['energy']:.6f} eV ({summary['energy_per_formula_unit']:.6f} eV per BaZrS3)")
    for problem in summary.get("problems", []):
        lines.append(f"PROBLEM    {problem}")
    return "\n".join(lines)
