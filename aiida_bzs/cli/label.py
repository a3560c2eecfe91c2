"""``aiida-bzs label GROUP``: DFT labels for the structures of a group (DftLabelWorkChain).

The inputs come from ``DftLabelWorkChain.get_builder_from_protocol``: every number (pw.x
namelists, k spacing, wall time, isolated-atom box, jobs at once) is on the workchain node.
Runs in this process (no daemon) unless ``--submit``; with ``--cache`` (default) pw.x
calculations already done with the same inputs are reused in this process. For the daemon,
enable caching once per profile: ``verdi config set caching.enabled_for
aiida.calculations:quantumespresso.pw``.
"""

from __future__ import annotations

import click

from ..workflows.protocols import list_protocols
from . import cmd_root
from .utils import launch, with_profile


@cmd_root.command("label")
@click.argument("group_label")
@click.option("--code", "code_label", default="pw@localhost", show_default=True, help="pw.x code label.")
@click.option("--protocol", type=click.Choice(list_protocols("label")), default="balanced", show_default=True,
              help="Preset of protocols/label.yaml (demo: the shipped demo dataset's DFT settings).")
@click.option("--pseudo-family", default=None, help="Pseudopotential family label (default SSSP PBEsol, else pslibrary).")
@click.option("--limit", type=int, default=None, help="Label only this many structures, drawn at random with --seed.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--config-type", "config_types", multiple=True, help="Only structures of this config_type (repeatable).")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None,
              help="pw.x jobs at once (default: the computer's cores / --num-mpiprocs on localhost, else the protocol's).")
@click.option("--kpoints-distance", type=float, default=None, help="k spacing in Å⁻¹ replacing the protocol's.")
@click.option("--num-mpiprocs", type=int, default=1, show_default=True)
@click.option("--output-group", default=None, help="Add the resulting TrainingSetData to this group.")
@click.option("--cache/--no-cache", default=True, show_default=True, help="Reuse identical pw.x calculations (run mode).")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_label(group_label, code_label, protocol, pseudo_family, limit, seed, config_types, max_concurrent,
              kpoints_distance, num_mpiprocs, output_group, cache, submit):
    """Label the StructureData in GROUP_LABEL with PBEsol pw.x; prints the TrainingSetData."""
    import contextlib

    import numpy as np
    from aiida import orm
    from aiida.manage.caching import enable_caching

    from ..calculations.functions.labels import config_type_of
    from ..common.codes import MissingCodeError, load_code
    from ..common.pseudos import PseudoFamilyError
    from ..workflows.label import (
        PW_CALCULATION,
        DftLabelWorkChain,
        check_structure,
        default_max_concurrent,
    )
    from ..workflows.protocols import ProtocolOverrideError, get_protocol

    try:
        group = orm.load_group(group_label)
        code = load_code(code_label)
    except MissingCodeError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # NotExistent and friends
        raise click.ClickException(f"cannot load group {group_label!r}: {exc}") from exc
    structures = [n for n in group.nodes if isinstance(n, orm.StructureData)]
    if config_types:
        structures = [s for s in structures if config_type_of(s) in config_types]
    if not structures:
        raise click.ClickException(f"group {group_label!r} holds no StructureData to label")
    structures.sort(key=lambda s: s.pk)
    if limit is not None and limit < len(structures):
        chosen = np.random.default_rng(seed).choice(len(structures), size=limit, replace=False)
        structures = [structures[i] for i in sorted(chosen)]
    if max_concurrent:
        why = f"{max_concurrent} (--max-concurrent)"
    else:
        max_concurrent, why = default_max_concurrent(code.computer, num_mpiprocs,
                                                     int(get_protocol("label", protocol)["max_concurrent"]))
        why += "; override with --max-concurrent"
    click.echo(f"labelling {len(structures)} structures of group {group_label!r} with protocol {protocol}")
    click.echo(f"pw.x jobs at once: {why}")
    keyed = {f"pk{s.pk}": s for s in structures}
    for key, structure in keyed.items():  # the structure named first, before the settings are resolved
        problem = check_structure(key, structure)
        if problem:
            raise click.ClickException(problem)
    overrides = {"max_concurrent": max_concurrent}
    if kpoints_distance:
        overrides["pw"] = {"kpoints_distance": kpoints_distance}
    try:
        builder = DftLabelWorkChain.get_builder_from_protocol(
            code, keyed, protocol=protocol, overrides=overrides, pseudo_family=pseudo_family,
            num_mpiprocs=num_mpiprocs)
    except (PseudoFamilyError, ProtocolOverrideError) as exc:
        raise click.ClickException(str(exc)) from exc
    context = enable_caching(identifier=PW_CALCULATION) if cache and not submit else contextlib.nullcontext()
    with context:  # a refusal at launch (bad structures are named) is one line, see launch()
        node = launch(builder, submit, check=False, unit="pw.x jobs")
    if node is None:
        return
    excluded = node.outputs.excluded.get_dict() if "excluded" in node.outputs else {}
    for key, reason in excluded.items():
        click.echo(f"excluded {key}: [{reason['exit_status']}] {reason['exit_message']}")
    if "training_set" not in node.outputs:
        raise click.ClickException(f"DftLabelWorkChain pk {node.pk} failed: [{node.exit_status}] {node.exit_message}")
    ts = node.outputs.training_set
    if output_group:
        orm.Group.collection.get_or_create(output_group)[0].add_nodes(ts)
    click.echo(f"TrainingSetData pk {ts.pk}: {len(ts)} labelled, {len(excluded)} excluded "
               f"(DftLabelWorkChain pk {node.pk}, exit status {node.exit_status})")
