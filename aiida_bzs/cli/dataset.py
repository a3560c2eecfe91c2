"""``aiida-bzs dataset``: inspect, curate and export training sets from the shell.

Every curation step runs a calcfunction, so the filtered / split / merged set is a new node
linked to its parent and to the criteria used.
"""

from __future__ import annotations

import click

from . import cmd_root
from .data_training_set import cmd_export, cmd_list, cmd_show, read_reference_energies
from .utils import load_typed_node, with_profile


def _load(identifier: str):
    from ..data.training_set import TrainingSetData

    return load_typed_node(identifier, TrainingSetData)


def _report(node, what: str) -> None:
    types = ", ".join(f"{k}:{v}" for k, v in node.config_types.items())
    click.echo(f"{what}: TrainingSetData pk {node.pk}, {len(node)} structures ({types})")


@cmd_root.group("dataset")
def cmd_dataset():
    """Training sets: show, export (extxyz, pacemaker), filter, split, select, merge, import."""


cmd_dataset.add_command(cmd_list)
cmd_dataset.add_command(cmd_show)
cmd_dataset.add_command(cmd_export)


@cmd_dataset.command("filter")
@click.argument("identifier")
@click.option("--max-energy-above-min", type=float, default=None,
              help="Drop structures more than this many eV/atom above the lowest (cohesive when references exist).")
@click.option("--max-force", type=float, default=None, help="Drop structures with any |F| above this, eV/Å.")
@click.option("--min-distance", type=float, default=None, help="Drop structures with a contact below this, Å.")
@with_profile
def cmd_filter(identifier, max_energy_above_min, max_force, min_distance):
    """Filter a set (filter_training_set calcfunction); prints the new node."""
    from aiida import orm

    from ..calculations.functions.training_set import filter_training_set
    from ..data.training_set import DatasetError

    criteria = {
        k: v
        for k, v in {"max_energy_above_min": max_energy_above_min, "max_force": max_force, "min_distance": min_distance}.items()
        if v is not None
    }
    if not criteria:
        raise click.UsageError("give at least one of --max-energy-above-min, --max-force, --min-distance")
    parent = _load(identifier)
    try:
        node = filter_training_set(parent, orm.Dict(criteria))
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(node, f"kept {len(node)} of {len(parent)}")


@cmd_dataset.command("split")
@click.argument("identifier")
@click.option("--test-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@with_profile
def cmd_split(identifier, test_fraction, seed):
    """Random train/test split (split_training_set calcfunction)."""
    from aiida import orm

    from ..calculations.functions.training_set import split_training_set

    parts = split_training_set(_load(identifier), orm.Dict({"test_fraction": test_fraction, "seed": seed}))
    _report(parts["train"], "train")
    _report(parts["test"], "test")


@cmd_dataset.command("select")
@click.argument("identifier")
@click.argument("config_types", nargs=-1, required=True)
@with_profile
def cmd_select(identifier, config_types):
    """Keep only the given config types (select_config_types calcfunction)."""
    from aiida import orm

    from ..calculations.functions.training_set import select_config_types

    _report(select_config_types(_load(identifier), orm.List(list(config_types))), "selected")


@cmd_dataset.command("merge")
@click.argument("identifiers", nargs=-1, required=True)
@with_profile
def cmd_merge(identifiers):
    """Concatenate sets in the order given (merge_training_sets calcfunction)."""
    from ..calculations.functions.training_set import merge_training_sets

    sets = {f"set_{i:03d}": _load(identifier) for i, identifier in enumerate(identifiers)}
    _report(merge_training_sets(**sets), "merged")


@cmd_dataset.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="json with isolated-atom energies in eV.")
@click.option("--label", default=None)
@with_profile
def cmd_import(path, reference_energies, label):
    """Store an ASE-readable labelled file (extxyz with energy/forces) as TrainingSetData."""
    from ase.io import read

    from ..data.training_set import DatasetError, TrainingSetData

    try:
        node = TrainingSetData.from_atoms(read(path, ":"), read_reference_energies(reference_energies), require_labels=True)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    node.label = label or click.format_filename(path, shorten=True)
    node.store()
    _report(node, "imported")
