"""``aiida-bzs campaign run/show``: the whole study (CampaignWorkChain) from the shell."""

from __future__ import annotations

import time

from pathlib import Path

import click

from . import cmd_root
from .utils import Progress, _elapsed, with_profile


class CampaignProgress(Progress):
    """The campaign's status line: the stages running now (its sub-workchains), stages done, elapsed."""

    def stage(self) -> str:
        from aiida import orm

        query = orm.QueryBuilder()
        query.append(orm.ProcessNode, filters={"id": self.node.pk}, tag="parent")
        query.append(orm.WorkChainNode, with_incoming="parent", project=["attributes.process_state"],
                     edge_project=["label"])
        running = sorted(label for state, label in query.iterall() if state not in ("finished", "excepted", "killed"))
        return ", ".join(running) if running else super().stage()


def _fmt(value, spec: str = ".2f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


def _flagged(flag: str) -> str:
    return f" — {flag}" if flag else ""


def summary_lines(summary: dict) -> list[str]:
    """The campaign summary as printable lines (units on every number), caveats on the lines they qualify."""
    from ..calculations.functions.campaign import extrapolation_flag, md_caveat

    lines = [f"campaign protocol {summary.get('protocol')}; stages: {', '.join(summary.get('stages', []))}"]
    dataset = summary.get("dataset")
    if dataset:
        families = ", ".join(f"{k} {v}" for k, v in sorted(dataset["per_family"].items()))
        lines.append(f"dataset      {dataset['total']} training structures ({families}); test set {dataset['test_total']}")
    for version, fit in (summary.get("fits") or {}).items():
        lines.append(f"fit {version:8s} test RMSE energy {_fmt(fit['rmse_energy'], '.1f')} meV/atom, forces "
                     f"{_fmt(fit['rmse_forces'], '.0f')} meV/Å on {fit['n_test']} structures; verdict {fit['verdict']}")
    md_flag = _flagged(md_caveat(summary))
    for name, product in (summary.get("amorphous") or {}).items():
        ratio, ratio_ace = product.get("density_ratio"), product.get("density_ratio_ace")
        same = "" if ratio_ace is None else f", {100 * ratio_ace:.1f} % of the crystal relaxed with the same potential"
        lines.append(f"amorphous {name}: {product['classification']}; density {_fmt(product['density'], '.3f')} g/cm³ = "
                     f"{_fmt(None if ratio is None else 100 * ratio, '.1f')} % of the reference crystal{same} (study 92.5 %); "
                     f"Zr–S CN {_fmt(product['zr_cn'])}, Ba–S CN {_fmt(product['ba_cn'])} ({product['n_atoms']} atoms)"
                     + md_flag)
    for key, entry in (summary.get("analysis") or {}).items():
        lines.append(f"analysis  {key}: density {_fmt(entry.get('density'), '.3f')} g/cm³, Zr–S CN {_fmt(entry.get('Zr_cn'))}, "
                     f"Ba–S CN {_fmt(entry.get('Ba_cn'))}")
    gb = summary.get("grain_boundaries") or {}
    for row in gb.get("rows", []):
        label = row.get("label") or row.get("boundary")
        lines.append(f"grain boundary {label}: E_GBf {_fmt(row.get('e_gbf'), '.3f', ' J/m²')}"
                     + _flagged(extrapolation_flag(row.get("fraction_gamma_above_2"))))
    if gb.get("dft_parity"):
        lines.append(f"grain boundaries ACE vs DFT: {gb['dft_parity']}")
    for label, poly in (summary.get("polycrystals") or {}).items():
        lines.append(f"polycrystal {label}: {poly.get('n_atoms')} atoms, {poly.get('grains')} grains; max γ "
                     f"{_fmt(poly.get('max_gamma'))}, γ > 2 for {_fmt(None if poly.get('fraction_gamma_above_2') is None else 100 * poly['fraction_gamma_above_2'], '.1f', ' %')} of atoms; "
                     f"Zr–S CN {_fmt(poly.get('boundary_zr_cn'))} at boundaries vs {_fmt(poly.get('interior_zr_cn'))} inside"
                     + _flagged(extrapolation_flag(poly.get("fraction_gamma_above_2"))))
    for source, sizes in (summary.get("scherrer_size_nm") or {}).items():
        text = ", ".join(f"{k} {_fmt(v, '.1f', ' nm')}" for k, v in sizes.items() if k != "source" and v is not None)
        none = [k for k, v in sizes.items() if k != "source" and v is None]
        if none:  # amorphous (a halo), window-limited, or wider than the particle: scattering.scherrer says why
            text += f"{'; ' if text else ''}no crystallite size for {', '.join(none)}"
        lines.append(f"Scherrer sizes ({source}): {text}")
    if summary.get("failed"):
        lines.append("FAILED stages: " + "; ".join(f"{k}: {v}" for k, v in summary["failed"].items()))
    return lines


@cmd_root.group("campaign")
def cmd_campaign():
    """The BaZrS3 study end to end in one workchain (bzs.campaign; docs/campaign.md)."""


@cmd_campaign.command("run")
@click.option("--protocol", default="demo", show_default=True,
              help="demo (2 cores, ≤ 20 min), balanced or stringent (a cluster): protocols/campaign.yaml.")
@click.option("--training-set", "training_set", default=None,
              help="Starting dataset (pk/UUID of a TrainingSetData); demo default: the shipped demo dataset.")
@click.option("--potential", default=None, help="An ACE potential (pk/UUID): skips learn and fit.")
@click.option("--skip", multiple=True, help="A stage not to run (repeatable): reference, dataset, learn, fit, "
              "amorphous, analysis, grain_boundaries, grain_boundary_dft, polycrystal, scattering, report.")
@click.option("--measured-xrd", default=None, help="Measured XRD pattern (pk of a bzs.measured_pattern).")
@click.option("--measured-pdf", default=None, help="Measured G(r) (pk of a bzs.measured_pattern).")
@click.option("--allow-unusable-potential", is_flag=True, help="Run MD with a potential judged unusable.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the report (report.html) and the archive (campaign.aiida) go; default campaign_<pk>.")
@with_profile
def cmd_campaign_run(protocol, training_set, potential, skip, measured_xrd, measured_pdf,
                     allow_unusable_potential, submit, output_dir):
    """Run the campaign and print its summary (dataset, RMSEs, amorphous density and CNs, E_GBf, γ,
    Scherrer); then write its HTML report and its AiiDA archive."""
    run_campaign(protocol, training_set=training_set, potential=potential, skip=skip, measured_xrd=measured_xrd,
                 measured_pdf=measured_pdf, allow_unusable_potential=allow_unusable_potential, submit=submit,
                 output_dir=output_dir)


def run_campaign(protocol: str, *, training_set=None, potential=None, skip=(), measured_xrd=None, measured_pdf=None,
                 allow_unusable_potential: bool = False, submit: bool = False, output_dir: Path | None = None) -> None:
    """Build, launch and report a CampaignWorkChain (the `campaign run` and `demo` commands).

    The codes are checked before anything is imported or stored, so a missing code costs nothing.
    """
    from aiida import orm
    from aiida.manage import get_manager

    from ..common.demo_dataset import load_demo_inputs, validation_problem
    from ..data.ace_potential import AcePotentialData
    from ..data.training_set import TrainingSetData
    from ..workflows.campaign import CampaignWorkChain, campaign_settings, load_campaign_codes
    from .utils import load_typed_node, refusals_as_click_errors

    with refusals_as_click_errors():
        settings = campaign_settings(protocol)
        overrides = {"skip": sorted(set(settings["skip"]) | set(skip))} if skip else None
        settings = campaign_settings(protocol, overrides)
        use_demo_data = protocol == "demo" and not training_set and not potential
        given = {"training_set"} if (training_set or use_demo_data) else set()
        given |= {"potential"} if potential else set()
        load_campaign_codes(settings, given)
    inputs = {}
    if training_set:
        inputs["training_set"] = load_typed_node(training_set, TrainingSetData)
    elif use_demo_data:
        started = time.monotonic()
        with refusals_as_click_errors():
            inputs.update(load_demo_inputs())
        data = inputs["training_set"]
        line = (f"demo dataset: TrainingSetData pk {data.pk}, {len(data)} structures {data.config_types}")
        if "test_set" in inputs:
            line += f"; fixed test set pk {inputs['test_set'].pk} ({len(inputs['test_set'])} structures)"
        if "initial_potential" in inputs:
            line += f"; generation 0: AcePotentialData pk {inputs['initial_potential'].pk}"
        click.echo(f"{line} (shipped archive, DFT by this package; {time.monotonic() - started:.1f} s)")
        problem = validation_problem()
        if problem:
            click.secho(f"WARNING: the shipped demo dataset failed its own validation; expect the "
                        f"MD stages to refuse or fail: {problem}", fg="yellow", err=True)
    if potential:
        inputs["potential"] = load_typed_node(potential, AcePotentialData)
    for name, value in (("measured_xrd", measured_xrd), ("measured_pdf", measured_pdf)):
        if value:
            inputs[name] = load_typed_node(value, orm.XyData)
    if allow_unusable_potential:
        inputs["allow_unusable_potential"] = orm.Bool(True)
    with refusals_as_click_errors():
        builder = CampaignWorkChain.get_builder_from_protocol(protocol, overrides, **inputs)
    if submit:
        from aiida.engine import submit as submit_process

        node = submit_process(builder)
        click.echo(f"submitted CampaignWorkChain pk {node.pk}; follow with `verdi process report {node.pk}`, "
                   f"then `aiida-bzs campaign show {node.pk}`")
        return
    from aiida.engine.utils import loop_scope

    from .utils import progress_display

    started = time.monotonic()
    runner = get_manager().create_runner(communicator=None)
    with refusals_as_click_errors(), loop_scope(runner.loop):
        instance = runner.instantiate_process(builder)
    click.echo(f"CampaignWorkChain pk {instance.node.pk} ({protocol}) running; `verdi process report {instance.node.pk}` "
               f"shows its log")
    with progress_display(instance, unit="sub-processes") as progress:
        if progress is not None:
            progress.__class__ = CampaignProgress
        _, node = runner.run_get_node(instance)
    wall = time.monotonic() - started
    files = write_products(node, output_dir or Path(f"campaign_{node.pk}"))
    _print_result(node, wall, files)


def write_products(node, folder: Path) -> dict:
    """The campaign's HTML report and AiiDA archive in ``folder``: {'report': path, 'archive': path}.

    Client-side views of the finished graph (the report renders nodes, the archive copies them); a
    failure of either is printed, not raised, so the summary is always shown.
    """
    from ..export import export_archive
    from ..report import write_report

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, make in (("report", lambda: write_report(node, folder / "report.html")),
                       ("archive", lambda: export_archive(node, folder / "campaign.aiida", overwrite=True))):
        started = time.monotonic()
        try:
            make()
        except Exception as exc:  # noqa: BLE001 - the summary matters more than a view of it
            click.echo(f"Warning: could not write the {name}: {type(exc).__name__}: {exc}", err=True)
            continue
        files[name] = (folder / ("report.html" if name == "report" else "campaign.aiida"), time.monotonic() - started)
    return files


def _print_result(node, wall: float | None = None, files: dict | None = None) -> None:
    """The summary lines, where the report and the archive are, and the exit state."""
    if "summary" in node.outputs:
        for line in summary_lines(node.outputs.summary.get_dict()):
            click.echo(line)
    files = files or {}
    if "report" in files:
        click.echo(f"report       {files['report'][0]} (open in a browser; {files['report'][1]:.0f} s)")
    else:
        click.echo(f"report       `aiida-bzs report {node.pk} -o report.html`")
    if "archive" in files:
        size = files["archive"][0].stat().st_size / 2**20
        click.echo(f"archive      {files['archive'][0]} ({size:.1f} MiB; `verdi archive import` it elsewhere)")
    else:
        click.echo(f"archive      `aiida-bzs export {node.pk} campaign.aiida`")
    click.echo(f"graph        `aiida-bzs graph {node.pk} --format svg`; files bundle `aiida-bzs export {node.pk} DIR --files`")
    if wall is not None:
        click.echo(f"wall time    {_elapsed(wall)}")
    if not node.is_finished_ok:
        raise click.ClickException(f"CampaignWorkChain pk {node.pk}: [{node.exit_status}] {node.exit_message}; "
                                   f"see `verdi process report {node.pk}`")


@cmd_campaign.command("show")
@click.argument("campaign")
@with_profile
def cmd_campaign_show(campaign):
    """Print the summary of a finished campaign (pk/UUID)."""
    from aiida import orm

    from .utils import load_typed_node

    node = load_typed_node(campaign, orm.WorkChainNode)
    if node.process_label != "CampaignWorkChain":
        raise click.BadParameter(f"node {campaign} is a {node.process_label}, not a CampaignWorkChain")
    _print_result(node)

