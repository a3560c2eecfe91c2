"""``aiida-bzs fit``, ``aiida-bzs learn`` and ``aiida-bzs potential``: ACE potentials from the shell.

``fit`` and ``learn`` run their workchain in this process (no daemon needed) unless
``--submit`` is given; ``potential export`` writes the .yaml/.yace/.asi for use outside AiiDA.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import cmd_root
from .utils import launch, load_typed_node, with_profile


def load_training_set(identifier: str, reference_energies: str | None = None):
    """A TrainingSetData from a pk/UUID, or from an ASE-readable labelled file (stored anew).

    For a file, ``reference_energies`` names a json file with isolated-atom energies in eV
    (``{"Ba": -851.6, ...}`` or ``{"reference_energies": {...}}``).
    """
    from ..data.training_set import TrainingSetData

    path = Path(identifier)
    if path.is_file():
        from ase.io import read

        refs = None
        if reference_energies:
            data = json.loads(Path(reference_energies).read_text())
            refs = data.get("reference_energies", data)
        node = TrainingSetData.from_atoms(read(path, ":"), reference_energies=refs, require_labels=True)
        node.label = path.name
        node.store()
        click.echo(f"stored {len(node)} structures from {path} as TrainingSetData pk {node.pk}")
        return node
    return load_typed_node(identifier, TrainingSetData)


def _fit_table(node) -> None:
    click.echo(f"{'version':<9} {'potential':>9} {'train E':>9} {'train F':>9} {'test E':>9} {'test F':>9} "
               f"{'converged':>9}  parity plot")
    click.echo(f"{'':<9} {'pk':>9} {'meV/at':>9} {'meV/Å':>9} {'meV/at':>9} {'meV/Å':>9}")
    for version in ("filtered", "full"):
        if version not in node.outputs:
            continue
        out = node.outputs[version]
        m, t = out.metrics.get_dict(), out.test_metrics.get_dict()
        click.echo(f"{version:<9} {out.potential.pk:>9} {m.get('train_rmse_energy', float('nan')):>9.2f} "
                   f"{m.get('train_rmse_forces', float('nan')):>9.1f} {t.get('rmse_energy', float('nan')):>9.2f} "
                   f"{t.get('rmse_forces', float('nan')):>9.1f} {str(m.get('converged')):>9}  "
                   f"pk {out.parity_plot.pk}")


@cmd_root.command("fit")
@click.argument("dataset")
@click.option("--protocol", type=click.Choice(["fast", "balanced", "stringent"]), default="balanced",
              show_default=True, help="Preset of protocols/fit.yaml.")
@click.option("--versions", default="filtered,full", show_default=True,
              help="Comma-separated: filtered (1 eV/atom rule), full.")
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="json of isolated-atom energies (eV) when DATASET is a file.")
@click.option("--max-iterations", type=int, default=None, help="Override the protocol's iterations.")
@click.option("--code", "code_label_", default="pacemaker@localhost", show_default=True)
@click.option("--no-active-set", is_flag=True, help="Skip pace_activeset.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_fit(dataset, protocol, versions, reference_energies, max_iterations, code_label_, no_active_set, submit):
    """Fit the filtered and full ACE potentials of DATASET (TrainingSetData pk/UUID or labelled extxyz)."""
    from ..common.codes import MissingCodeError, load_code
    from ..workflows.fit import FitAceWorkChain

    try:
        code = load_code(code_label_)
    except MissingCodeError as exc:
        raise click.ClickException(str(exc)) from exc
    builder = FitAceWorkChain.get_builder()
    builder.training_set = load_training_set(dataset, reference_energies)
    builder.code = code
    builder.protocol = protocol
    builder.versions = [v.strip() for v in versions.split(",") if v.strip()]
    if max_iterations:
        builder.parameters = {"max_iterations": max_iterations}
    if no_active_set:
        builder.active_set = False
    node = launch(builder, submit)
    if node is not None:
        click.echo(f"FitAceWorkChain pk {node.pk} finished")
        _fit_table(node)


@cmd_root.command("learn")
@click.argument("dataset")
@click.option("--protocol", type=click.Choice(["fast", "balanced", "stringent"]), default="fast", show_default=True)
@click.option("--generations", type=int, default=None, help="Maximum number of refits (protocol default).")
@click.option("--potential", "potential_id", default=None, help="Start from this AcePotentialData (pk/UUID).")
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--pseudo-family", default=None, help="Pseudopotential family label for pw.x labels.")
@click.option("--pacemaker-code", default="pacemaker@localhost", show_default=True)
@click.option("--pw-code", default="pw@localhost", show_default=True)
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_learn(dataset, protocol, generations, potential_id, reference_energies, pseudo_family, pacemaker_code,
              pw_code, submit):
    """Active learning from DATASET: fit → explore → select by γ → label (pw.x) → refit."""
    from aiida import orm

    from ..common.codes import MissingCodeError, load_code
    from ..workflows.active_learning import ActiveLearningWorkChain

    try:
        codes = {"pacemaker": load_code(pacemaker_code), "pw": load_code(pw_code)}
    except MissingCodeError as exc:
        raise click.ClickException(str(exc)) from exc
    builder = ActiveLearningWorkChain.get_builder()
    builder.training_set = load_training_set(dataset, reference_energies)
    builder.pacemaker_code = codes["pacemaker"]
    builder.pw_code = codes["pw"]
    builder.protocol = protocol
    if generations is not None:
        builder.max_generations = generations
    if potential_id:
        builder.initial_potential = orm.load_node(potential_id)
    if pseudo_family:
        builder.pseudo_family = pseudo_family
    node = launch(builder, submit)
    if node is not None:
        click.echo(f"ActiveLearningWorkChain pk {node.pk}: {node.outputs.summary.get_dict()}")


@cmd_root.group("potential")
def cmd_potential():
    """ACE potentials (AcePotentialData): show, export, import."""


@cmd_potential.command("show")
@click.argument("identifier")
@with_profile
def cmd_potential_show(identifier):
    """Elements, cutoff (Å), functions, active set and origin of a potential."""
    click.echo(describe_potential(load_potential(identifier)))


@cmd_potential.command("export")
@click.argument("identifier")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder to write potential.yaml, potential.yace (and potential.asi) into.")
@with_profile
def cmd_potential_export(identifier, output):
    """Write the potential's files for use outside AiiDA (pyace, LAMMPS pair_style pace)."""
    node = load_potential(identifier)
    files = node.write_files(Path(output))
    for kind, path in files.items():
        if path is not None:
            click.echo(f"{kind:>4}: {path}")
    click.echo("LAMMPS:\n" + node.as_lammps_potential())


@cmd_potential.command("import")
@click.argument("yaml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yace", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--asi", type=click.Path(exists=True, dir_okay=False), default=None)
@with_profile
def cmd_potential_import(yaml_file, yace, asi):
    """Store a pacemaker B-basis .yaml (+ .yace, .asi) as AcePotentialData (deduplicated)."""
    from ..data.ace_potential import AcePotentialData, AcePotentialError

    try:
        node = AcePotentialData.get_or_create(Path(yaml_file), yace=yace, asi=asi)
    except AcePotentialError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"AcePotentialData pk {node.pk}: {describe_potential(node).splitlines()[0]}")


def load_potential(identifier: str):
    """The AcePotentialData ``identifier`` (pk, UUID or label)."""
    from ..data.ace_potential import AcePotentialData

    return load_typed_node(identifier, AcePotentialData)


def describe_potential(node) -> str:
    """Multi-line summary of an AcePotentialData (elements, cutoff Å, functions, active set, creator)."""
    lines = [
        f"ACE potential pk {node.pk}: {'-'.join(node.elements)}, cutoff {node.cutoff} Å, "
        f"{sum(node.n_functions.values())} functions ({', '.join(f'{k} {v}' for k, v in node.n_functions.items())})",
        f"active set: {'yes' if node.has_active_set else 'no'}; md5 {node.md5}",
    ]
    creator = node.creator
    if creator is not None:
        lines.append(f"created by {creator.process_label} pk {creator.pk}")
        metrics = creator.outputs.metrics.get_dict() if "metrics" in creator.outputs else None
        if metrics:
            lines.append(f"train RMSE {metrics.get('train_rmse_energy', float('nan')):.2f} meV/atom, "
                         f"{metrics.get('train_rmse_forces', float('nan')):.1f} meV/Å; "
                         f"test {metrics.get('test_rmse_energy', float('nan')):.2f} meV/atom, "
                         f"{metrics.get('test_rmse_forces', float('nan')):.1f} meV/Å; "
                         f"converged {metrics.get('converged')}")
    return "\n".join(lines)
