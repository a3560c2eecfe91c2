"""``aiida-bzs gb energy``: grain-boundary formation energies with an ACE potential (``bzs.grain_boundary``).

Relaxes the bulk and the bicrystals of the chosen boundaries in LAMMPS, prints the table (E_GBf in
J/m², Σ, angle, atoms, area, the kept translation, γ) and writes the E_GBf-vs-angle plot. The
command attaches itself to the ``gb`` group of :mod:`aiida_bzs.cli.grain_boundary`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .md import _allow_unusable, _code, _mpi, _potential_gate, _run_inputs, _submit, _walltime
from .utils import launch, with_profile


def parse_angle_range(text: str) -> list[float]:
    """``'1.5:9.5:1'`` → [1.5, 2.5, …, 9.5] (start:stop:step, stop included); ``'4.5'`` → [4.5]."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give start:stop:step in degrees, e.g. 1.5:9.5:1") from None
    if len(values) == 1:
        return values
    if len(values) != 3 or values[2] <= 0 or values[1] < values[0]:
        raise click.BadParameter(f"{text!r}: give start:stop:step with step > 0 and stop >= start")
    start, stop, step = values
    count = int(round((stop - start) / step + 1e-9)) + 1
    return [round(start + k * step, 10) for k in range(count) if start + k * step <= stop + 1e-9]


def parse_chemical_potentials(values) -> dict[str, float]:
    """``('S=-4.1',)`` → {'S': -4.1} (eV/atom)."""
    result = {}
    for item in values:
        element, _, value = item.partition("=")
        try:
            result[element.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: give ELEMENT=eV, e.g. S=-4.1", param_hint="--mu") from None
    return result


def _fmt(value, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(table: dict) -> str:
    """The table of ``bzs.gb.formation_energies`` as text (one line per boundary, flags below)."""
    bulk = table["bulk"]
    lines = [f"bulk: {bulk['energy_per_formula_unit']:.4f} eV per formula unit ({bulk['n_atoms']} atoms)",
             f"{'boundary':<16}{'Σ':>4}{'angle °':>9}{'atoms':>7}{'area Å²':>10}{'translation':>14}"
             f"{'E_GBf J/m²':>12}{'max γ':>10}{'γ>2 %':>7}"]
    for row in table["rows"]:
        translation = "-" if row.get("translation") is None else "({:.2f}, {:.2f})".format(*row["translation"])
        fraction = row.get("fraction_gamma_above_2")
        lines.append(f"{row['label']:<16}{_fmt(row.get('sigma'), 'd', 4)}{_fmt(row.get('angle'), '.2f', 9)}"
                     f"{_fmt(row.get('n_atoms'), 'd', 7)}{_fmt(row.get('area'), '.1f', 10)}{translation:>14}"
                     f"{_fmt(row.get('e_gbf'), '.4f', 12)}{_fmt(row.get('max_gamma'), '.3g', 10)}"
                     f"{_fmt(None if fraction is None else 100 * fraction, '.1f', 7)}")
        for flag in row.get("flags", []):
            lines.append(f"    ! {flag}")
    return "\n".join(lines)


@click.command("energy")
@click.option("--potential", "potential", required=True, help="AcePotentialData pk, UUID or label.")
@click.option("--protocol", default=None, help="Preset of protocols/grain_boundary.yaml: fast, balanced.")
@click.option("--sigma", "sigmas", type=int, multiple=True,
              help="A CSL tilt boundary Σ (repeat the option for several); with --low-angle, replaces the preset's list.")
@click.option("--low-angle", "low_angle", default=None,
              help="Low-angle boundaries start:stop:step in degrees, stop included (e.g. 1.5:9.5:1).")
@click.option("--crystal", default=None,
              help="Bulk crystal (pk/UUID or file) [default: the experimental Pnma cell]; it is relaxed first.")
@click.option("--grain-thickness", type=float, default=None, help="Thickness of each grain (Å) [preset].")
@click.option("--translations", default=None, help="Rigid-body translation grid NxM (e.g. 3x3) [preset].")
@click.option("--mu", "mu", multiple=True,
              help="Chemical potential ELEMENT=eV/atom for off-stoichiometric cells (docs/grain_boundaries.md).")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the E_GBf-vs-angle figure (PNG) here.")
@_allow_unusable
@_code
@_mpi
@_walltime
@_submit
@with_profile
def cmd_gb_energy(potential, protocol, sigmas, low_angle, crystal, grain_thickness, translations, mu, plot_file,
                  allow_unusable, code_label, num_mpiprocs, walltime, submit):
    """Formation energies (J/m²) of tilt grain boundaries relaxed with POTENTIAL; prints the table."""
    from aiida import orm

    from ..workflows.grain_boundary import GrainBoundaryWorkChain
    from ..workflows.protocols import get_protocol
    from .ace import load_potential
    from .analysis import resolve_structure

    boundaries = [{"sigma": s} for s in sigmas] + [{"angle": a} for a in (parse_angle_range(low_angle)
                                                                          if low_angle else [])]
    overrides = {}
    if grain_thickness is not None:
        overrides["grain_thickness"] = grain_thickness
    if translations:
        try:
            overrides["translations"] = [int(v) for v in translations.lower().split("x")]
        except ValueError:
            raise click.BadParameter(f"{translations!r}: give NxM, e.g. 3x3", param_hint="--translations") from None
    if mu:
        overrides["chemical_potentials"] = parse_chemical_potentials(mu)
    potential_node = load_potential(potential)
    _potential_gate(potential_node, allow_unusable)
    crystal_node = resolve_structure(crystal, None)[0] if crystal else None
    relax_protocol = get_protocol("grain_boundary", protocol)["relax_protocol"]
    run = _run_inputs(code_label, num_mpiprocs, walltime, get_protocol("relax", relax_protocol)["lammps_protocol"])
    builder = GrainBoundaryWorkChain.get_builder_from_protocol(
        run["lammps"]["code"], potential_node, crystal=crystal_node, protocol=protocol, overrides=overrides,
        boundaries=boundaries or None, options=run["lammps"]["metadata"]["options"], num_mpiprocs=num_mpiprocs)
    builder.relax.allow_unusable_potential = orm.Bool(allow_unusable)
    show_table_and_plot(launch(builder, submit, check=False), format_table, plot_file)


def show_table_and_plot(process, formatter, plot_file: Path | None) -> None:
    """After a `gb` run: print its ``table`` output with ``formatter``, write its ``plot`` PNG to
    ``plot_file``, name the process; a failed process becomes one error line (after what it did output).
    ``process`` None (submitted to the daemon): nothing to show yet."""
    if process is None:
        return
    if "table" in process.outputs:
        click.echo(formatter(process.outputs.table.get_dict()))
    if plot_file is not None and "plot" in process.outputs:
        plot_file.write_bytes(process.outputs.plot.get_content(mode="rb"))
        click.echo(f"plot: {plot_file}")
    click.echo(f"{process.process_label} pk {process.pk}")
    if not process.is_finished_ok:
        raise click.ClickException(f"{process.process_label} pk {process.pk} failed: [{process.exit_status}] "
                                   f"{process.exit_message}; see `verdi process report {process.pk}`")


def _attach() -> None:
    """Put ``energy`` on the ``gb`` group of :mod:`aiida_bzs.cli.grain_boundary` (once it exists)."""
    try:
        from .grain_boundary import cmd_gb
    except ImportError:  # the gb group is not there yet
        return
    cmd_gb.add_command(cmd_gb_energy)


_attach()
