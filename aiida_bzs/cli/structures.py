"""``aiida-bzs structure``: build BaZrS3 cells as nodes (with provenance) from the shell."""

from __future__ import annotations

import click

from . import cmd_root
from .utils import load_typed_node, with_profile


@cmd_root.group("structure")
def cmd_structure():
    """Build the Pnma crystal, supercells, rattled and strained copies as StructureData."""


@cmd_structure.command("crystal")
@click.option("--repeat", nargs=3, type=int, default=(1, 1, 1), show_default=True, help="Supercell repeat.")
@click.option("--rattle", "stdev", type=float, default=0.0, help="Gaussian rattle σ in Å (0: none).")
@click.option("--strain", "eps", type=float, default=0.0, help="Isotropic strain (0.01 = 1 %).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the rattle.")
@click.option("--group", "group_label", default=None, help="Add the final structure to this group.")
@click.option("--reference", "reference_id", default=None,
              help="Start from this relaxed reference crystal (pk of `aiida-bzs reference relax`) instead of "
                   "the experimental cell.")
@with_profile
def cmd_crystal(repeat, stdev, eps, seed, group_label, reference_id):
    """Pnma BaZrS3 (20 atoms), optionally repeated, strained and rattled; prints the PK."""
    from aiida import orm

    from ..calculations.functions import structures as fn
    from ..structures.crystal import check_reference_crystal
    from ..structures.errors import StructureInputError

    if reference_id:
        node = load_typed_node(reference_id, orm.StructureData)
        try:
            check_reference_crystal(fn.to_atoms(node))
        except StructureInputError as exc:
            raise click.ClickException(f"structure {reference_id} is not a usable reference: {exc}") from exc
    else:
        node = fn.pnma_crystal()
    if tuple(repeat) != (1, 1, 1):
        node = fn.make_supercell(node, orm.List(list(repeat)))
    if eps:
        node = fn.strain(node, orm.List([eps]))
    if stdev:
        node = fn.rattle(node, orm.Float(stdev), orm.Int(seed))
    if group_label:
        orm.Group.collection.get_or_create(group_label)[0].add_nodes(node)
    click.echo(f"StructureData pk={node.pk} {node.get_formula()} ({len(node.sites)} atoms)")
