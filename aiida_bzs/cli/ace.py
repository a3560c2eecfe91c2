"""``aiida-bzs fit``, ``aiida-bzs learn`` and ``aiida-bzs potential``: ACE potentials from the shell.

``fit`` and ``learn`` run their workchain in this process (no daemon needed) unless
``--submit`` is given; ``potential export`` writes the .yaml/.yace/.asi for use outside AiiDA.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..workflows.protocols import list_protocols
from . import cmd_root
from .utils import launch, load_typed_node, refusals_as_click_errors, with_profile


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


#: how the CLI names the test error it prints (see aiida_bzs.analysis.ace_parity)
TEST_RMSE_DEFINITION = ("test RMSE = saved potential vs DFT on the held-out structures: energy = per-atom "
                        "cohesive energy (meV/atom), forces = Cartesian components (meV/Å)")


def parse_weights(values) -> dict[str, float]:
    """``('rss=0.5', 'crystal*=2')`` → ``{'rss': 0.5, 'crystal*': 2.0}`` (loss-weight factor per config_type)."""
    weights = {}
    for value in values or ():
        name, sep, factor = value.partition("=")
        try:
            weights[name.strip()] = float(factor)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: expected CONFIG_TYPE=FACTOR, e.g. rss=0.5", param_hint="--weight")
    return weights


def _versions_fitted(node) -> list[tuple[str, list[str]]]:
    """(first version name, all names) per distinct fitted potential among the outputs."""
    groups: dict[int, list[str]] = {}
    for version in ("filtered", "full"):
        if version in node.outputs:
            groups.setdefault(node.outputs[version].potential.pk, []).append(version)
    return [(names[0], names) for names in groups.values()]


def _fit_table(node) -> None:
    """One row per version: pacemaker's train RMSE, the test RMSE of the outputs, convergence, verdict."""
    from ..common.potential_quality import describe_verdict

    click.echo(f"{'version':<9} {'potential':>9} {'train E':>9} {'train F':>9} {'test E':>9} {'test F':>9} "
               f"{'n test':>6} {'fit':>10}  verdict")
    click.echo(f"{'':<9} {'pk':>9} {'meV/at':>9} {'meV/Å':>9} {'meV/at':>9} {'meV/Å':>9}")
    for version in ("filtered", "full"):
        if version not in node.outputs:
            continue
        out = node.outputs[version]
        m, t = out.metrics.get_dict(), out.test_metrics.get_dict()
        state = "converged" if m.get("converged") else ("plateaued" if m.get("plateaued") else "max iter")
        verdict = out.verdict.get_dict() if "verdict" in out else None
        click.echo(f"{version:<9} {out.potential.pk:>9} {m.get('train_rmse_energy', float('nan')):>9.2f} "
                   f"{m.get('train_rmse_forces', float('nan')):>9.1f} {t.get('rmse_energy', float('nan')):>9.2f} "
                   f"{t.get('rmse_forces', float('nan')):>9.1f} {t.get('n_structures', 0):>6} {state:>10}  "
                   f"{(verdict or {}).get('verdict', 'n/a').upper()}")
    click.echo(f"({TEST_RMSE_DEFINITION}; train = pacemaker's last iteration)")
    for first, names in _versions_fitted(node):
        out = node.outputs[first]
        families = out.test_metrics.get_dict().get("by_config_type") or {}
        if families:
            click.echo(f"{'/'.join(names)} test RMSE per config_type: " + "; ".join(
                f"{name} ({f.get('n_structures')}): {f.get('rmse_energy', float('nan')):.1f} meV/atom, "
                f"{f.get('rmse_forces', float('nan')):.0f} meV/Å" for name, f in sorted(families.items())))
        if "verdict" in out:
            verdict = out.verdict.get_dict()
            click.echo(f"{'/'.join(names)}: {describe_verdict(verdict)}")
            for reason in verdict.get("reasons", [])[1:]:
                click.echo(f"    also: {reason}")
        click.echo(f"{'/'.join(names)}: parity plot pk {out.parity_plot.pk}")


def write_parity_plot(node, path: Path) -> list[Path]:
    """Write the parity figure of each distinct fitted version to ``path`` (PNG copied from the
    ``parity_plot`` output; other suffixes re-drawn from ``parity``). With two distinct versions
    the files are ``<stem>_filtered<suffix>`` and ``<stem>_full<suffix>``."""
    from ..analysis.ace_parity import parity_figure

    fitted = _versions_fitted(node)
    written = []
    for first, names in fitted:
        target = path if len(fitted) == 1 else path.with_name(f"{path.stem}_{first}{path.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        out = node.outputs[first]
        if target.suffix.lower() == ".png":
            target.write_bytes(out.parity_plot.get_content(mode="rb"))
        else:
            parity = {name: out.parity.get_array(name) for name in out.parity.get_arraynames()}
            groups = out.parity.base.attributes.get("config_types", None)
            fig = parity_figure(parity, title=f"ACE vs DFT ({'/'.join(names)}), "
                                f"{len(parity['energy_ref'])} held-out structures", groups=groups)
            fig.savefig(target)
        written.append(target)
    return written


@cmd_root.command("fit")
@click.argument("dataset")
@click.option("--protocol", type=click.Choice(list_protocols("fit")), default="balanced",
              show_default=True, help="Preset of protocols/fit.yaml (fast = smoke test of the toolchain; demo = the demo campaign's fits).")
@click.option("--versions", default="filtered,full", show_default=True,
              help="Comma-separated: filtered (1 eV/atom rule), full.")
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="json of isolated-atom energies (eV) when DATASET is a file.")
@click.option("--max-iterations", type=int, default=None, help="Override the protocol's iterations.")
@click.option("--weight", "weights", multiple=True, metavar="CONFIG_TYPE=FACTOR",
              help="Loss-weight factor of a config_type (fnmatch patterns allowed, e.g. 'crystal*=2'); "
                   "repeat for several. Others keep 1; merged over the protocol's config_type_weights.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the parity figure (test set) to this file (.png, .pdf, .svg).")
@click.option("--filter-max-energy", type=float, default=None, metavar="EV_PER_ATOM",
              help="Filtered version: drop structures this far above the lowest cohesive energy "
                   "(protocol default 1.0 eV/atom, the study's rule).")
@click.option("--code", "code_label_", default="pacemaker@localhost", show_default=True)
@click.option("--activeset-code", default=None, help="pace_activeset code [default: pace_activeset@localhost].")
@click.option("--no-active-set", is_flag=True, help="Skip pace_activeset.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_fit(dataset, protocol, versions, reference_energies, max_iterations, weights, plot_file, filter_max_energy,
            code_label_, activeset_code, no_active_set, submit):
    """Fit the filtered and full ACE potentials of DATASET (TrainingSetData pk/UUID or labelled extxyz).

    Prints, per version, the test RMSE of the saved potential on the held-out structures (per-atom
    cohesive energy in meV/atom, force components in meV/Å), overall and per config_type, and the
    verdict (usable / smoke_test / unusable) that MD checks before using the potential.
    """
    from ..common.codes import load_code
    from ..workflows.fit import FitAceWorkChain
    from ..workflows.protocols import ProtocolOverrideError
    from .utils import refusals_as_click_errors

    family_weights = parse_weights(weights)
    overrides: dict = {"versions": [v.strip() for v in versions.split(",") if v.strip()], "parameters": {}}
    if max_iterations:
        overrides["parameters"]["max_iterations"] = max_iterations
    if family_weights:
        overrides["parameters"]["config_type_weights"] = family_weights  # merged over the protocol's
    if filter_max_energy is not None:
        overrides["filter"] = {"max_energy_above_min": filter_max_energy}
    if no_active_set:
        overrides["active_set"] = False
    with refusals_as_click_errors():
        code = load_code(code_label_)
        training_set = load_training_set(dataset, reference_energies)
        try:
            # every number of the protocol is recorded on the node's inputs
            builder = FitAceWorkChain.get_builder_from_protocol(
                code, training_set, protocol=protocol, overrides=overrides,
                activeset_code=load_code(activeset_code) if activeset_code and not no_active_set else None)
        except ProtocolOverrideError as exc:
            raise click.ClickException(str(exc)) from exc
    if protocol == "fast":
        click.echo("protocol fast is a SMOKE TEST of the toolchain (a handful of functions, 10 iterations): "
                   "its potentials are not for science; use balanced or stringent")
    node = launch(builder, submit)
    if node is not None:
        click.echo(f"FitAceWorkChain pk {node.pk} finished")
        if "warnings" in node.outputs:
            for warning in node.outputs.warnings.get_list():
                click.echo(f"WARNING: {warning}")
        _fit_table(node)
        if protocol == "fast":
            click.echo("SMOKE TEST (protocol fast): the numbers above check the toolchain, not the physics")
        if plot_file is not None:
            for path in write_parity_plot(node, plot_file):
                click.echo(f"parity figure written to {path}")


@cmd_root.command("learn")
@click.argument("dataset")
@click.option("--protocol", type=click.Choice(list_protocols("active_learning")), default="fast", show_default=True)
@click.option("--generations", type=int, default=None, help="Maximum number of potentials, generation 0 included.")
@click.option("--potential", "potential_id", default=None, help="Start from this AcePotentialData (pk/UUID).")
@click.option("--reference-energies", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--test-set", "test_set_id", default=None,
              help="Fixed held-out test set (pk/UUID or file); default: the protocol's test_fraction of DATASET.")
@click.option("--crystal", "crystal_id", default=None,
              help="Reference crystal the MD families start from (pk of `aiida-bzs reference relax`'s reference).")
@click.option("--per-family", type=int, default=None, help="At most this many selected per config_type and generation.")
@click.option("--max-selected", type=int, default=None, help="At most this many structures labelled per generation.")
@click.option("--holdout-fraction", type=float, default=None,
              help="Share of each generation's new labels never trained on (reported separately).")
@click.option("--no-md", is_flag=True, help="Explore with RSS only (no LAMMPS MD families).")
@click.option("--allow-unusable-potential", is_flag=True,
              help="Explore with a --potential whose fit verdict is 'unusable'.")
@click.option("--pseudo-family", default=None, help="Pseudopotential family label for pw.x labels.")
@click.option("--pacemaker-code", default="pacemaker@localhost", show_default=True)
@click.option("--pw-code", default="pw@localhost", show_default=True)
@click.option("--lmp-code", default="lmp@localhost", show_default=True, help="LAMMPS with pair_style pace.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_learn(dataset, protocol, generations, potential_id, reference_energies, test_set_id, crystal_id, per_family,
              max_selected, holdout_fraction, no_md, allow_unusable_potential, pseudo_family, pacemaker_code, pw_code,
              lmp_code, submit):
    """Active learning from DATASET: fit → explore (RSS + MD families in LAMMPS) → select by γ →
    label (pw.x) → refit, with one fixed test set; prints the per-generation, per-family errors."""
    from aiida import orm

    from ..common.codes import MissingCodeError, load_code
    from ..workflows.active_learning import ActiveLearningWorkChain

    try:
        codes = {"pacemaker": load_code(pacemaker_code), "pw": load_code(pw_code)}
        if not no_md:
            codes["lmp"] = load_code(lmp_code)
    except MissingCodeError as exc:
        raise click.ClickException(str(exc)) from exc
    overrides = {}
    if "lmp" not in codes:
        overrides["md_families"] = {"nvt_melt": None, "melt_quench": None, "high_temperature": None}
    for name, value in (("max_generations", generations), ("per_family", per_family),
                        ("max_selected", max_selected), ("holdout_fraction", holdout_fraction)):
        if value is not None:
            overrides[name] = value
    with refusals_as_click_errors():
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            load_training_set(dataset, reference_energies), codes["pacemaker"], codes["pw"], protocol=protocol,
            overrides=overrides, lammps_code=codes.get("lmp"))
    if potential_id:
        builder.initial_potential = load_potential(potential_id)
    if test_set_id:
        builder.test_set = load_training_set(test_set_id, reference_energies)
    if crystal_id:
        builder.crystal = load_typed_node(crystal_id, orm.StructureData)
    if allow_unusable_potential:
        builder.allow_unusable_potential = True
    if pseudo_family:
        builder.pseudo_family = pseudo_family
    node = launch(builder, submit)
    if node is not None:
        click.echo(describe_learning(node))


def describe_learning(node) -> str:
    """Per-generation table of an ActiveLearningWorkChain: dataset, candidates and selection per
    family, test RMSE on the fixed test set (meV/atom, meV/Å) in total and per family."""
    summary = node.outputs.summary.get_dict()
    lines = [f"ActiveLearningWorkChain pk {node.pk}: {summary['n_generations']} potentials; stopped: "
             f"{summary['stop_reason']}"]
    test_set = node.outputs.test_set
    lines.append(f"fixed test set pk {test_set.pk}: {len(test_set)} structures {test_set.config_types} "
                 "(no generation trained on it)")
    for row in summary["generations"]:
        text = f"gen {row['generation']}: {row.get('n_structures', '?')} training structures"
        if row.get("candidates_per_family"):
            text += f"; explored {row['candidates_per_family']}, selected {row.get('selected_config_types')}"
        lines.append(text)
    if "learning_curve" in node.outputs:
        table = node.outputs.learning_curve.table.get_dict()
        families = sorted({f for row in table["generations"] for f in row["per_family"]})
        lines.append(f"test RMSE, energy meV/atom / forces meV/Å ({TEST_RMSE_DEFINITION}):")
        lines.append("  gen  " + "  ".join(f"{name:>20s}" for name in ["all", *families]))
        for row in table["generations"]:
            cells = [f"{row['rmse_energy']:8.1f} / {row['rmse_forces']:7.0f}"]
            for family in families:
                value = row["per_family"].get(family, {})
                cells.append(f"{value.get('rmse_energy') or float('nan'):8.1f} / "
                             f"{value.get('rmse_forces') or float('nan'):7.0f}")
            lines.append(f"  {row['generation']:3d}  " + "  ".join(f"{c:>20s}" for c in cells))
        lines.append(f"learning curve plot: `verdi node repo cat {node.outputs.learning_curve.plot.pk} "
                     "learning_curve.png > curve.png`")
    lines.append(f"potential pk {node.outputs.potential.pk}: "
                 + describe_potential_verdict(node.outputs.potential)[0])
    return "\n".join(lines)


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
        fit = _pacemaker_fit(node)
        metrics = fit.outputs.metrics.get_dict() if fit is not None and "metrics" in fit.outputs else None
        if metrics:
            state = "converged" if metrics.get("converged") else (
                "loss plateaued" if metrics.get("plateaued") else "stopped at max_iterations")
            lines.append(f"fit (pacemaker pk {fit.pk}): train RMSE {metrics.get('train_rmse_energy', float('nan')):.2f} "
                         f"meV/atom, {metrics.get('train_rmse_forces', float('nan')):.1f} meV/Å; {state}")
    lines.extend(describe_potential_verdict(node))
    return "\n".join(lines)


def _pacemaker_fit(node):
    """The PacemakerCalculation behind ``node`` (directly, or through the active-set ShellJob)."""
    from ..data.ace_potential import AcePotentialData

    creator = node.creator
    for _ in range(3):
        if creator is None:
            return None
        if (creator.process_type or "").endswith("bzs.pacemaker"):
            return creator
        parents = creator.base.links.get_incoming(node_class=AcePotentialData).all_nodes()
        creator = parents[0].creator if parents else None
    return None


def describe_potential_verdict(node) -> list[str]:
    """Lines for the fit verdict of ``node``: verdict, test RMSE (definition), reasons, per family."""
    from ..common.potential_quality import describe_verdict, potential_verdict

    verdict = potential_verdict(node)
    lines = [describe_verdict(verdict)]
    if verdict is None:
        return lines
    lines[0] = lines[0][0].upper() + lines[0][1:]
    lines.append(f"  ({TEST_RMSE_DEFINITION})")
    lines.extend(f"  reason: {reason}" for reason in verdict.get("reasons", []))
    for name, family in sorted((verdict.get("by_config_type") or {}).items()):
        lines.append(f"  {name} ({family.get('n_structures')} test structures): "
                     f"{family.get('rmse_energy') or float('nan'):.1f} meV/atom, "
                     f"{family.get('rmse_forces') or float('nan'):.0f} meV/Å")
    return lines
