"""``aiida-bzs gb dft``: ACE-vs-DFT parity of grain-boundary energies (``bzs.grain_boundary.dft``).

DFT single points on the bulk and boundaries a finished ``aiida-bzs gb energy`` run relaxed, the
parity table (E_GBf ACE and DFT in J/m², error) printed and the parity plot written. Attaches
itself to the ``gb`` group of :mod:`aiida_bzs.cli.grain_boundary`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .gb_energy import _fmt, parse_chemical_potentials, show_table_and_plot
from .utils import launch, with_profile


def format_parity(table: dict) -> str:
    """The ``bzs.gb.dft_parity`` table as text: one line per boundary, flags below, MAE last."""
    bulk = table["bulk"]
    lines = [f"bulk (DFT): {bulk['energy_per_formula_unit_dft']:.4f} eV per formula unit ({bulk['n_atoms']} atoms)",
             (f"{'boundary':<16}{'Σ':>4}{'angle °':>9}{'atoms':>7}{'area Å²':>10}{'ACE J/m²':>10}{'DFT J/m²':>10}"
             f"{'ACE−DFT':>9}")]
    for row in table["rows"]:
        lines.append(f"{row['label']:<16}{_fmt(row.get('sigma'), 'd', 4)}{_fmt(row.get('angle'), '.2f', 9)}"
                     f"{_fmt(row.get('n_atoms'), 'd', 7)}{_fmt(row.get('area'), '.1f', 10)}"
                     f"{_fmt(row.get('e_gbf_ace'), '.4f', 10)}{_fmt(row.get('e_gbf_dft'), '.4f', 10)}"
                     f"{'-' if row.get('error') is None else format(row['error'], '+.4f'):>9}")
        for flag in row.get("flags", []):
            lines.append(f"    ! {flag}")
    summary = table["summary"]
    if summary["n"]:
        lines.append(f"MAE {summary['mae']:.4f} J/m², RMSE {summary['rmse']:.4f} J/m², "
                     f"max |error| {summary['max_abs_error']:.4f} J/m² over {summary['n']} boundaries")
    return "\n".join(lines)


@click.command("dft")
@click.argument("grain_boundary")
@click.option("--code", "code_label", default="pw@localhost", show_default=True, help="pw.x code label.")
@click.option("--protocol", type=click.Choice(["fast", "balanced", "stringent"]), default=None,
              help="Preset of protocols/grain_boundary_dft.yaml [balanced: a cluster's resources].")
@click.option("--label", "labels", multiple=True, help="Only this boundary (repeatable; default all).")
@click.option("--pseudo-family", default=None, help="Pseudopotential family label (default SSSP PBEsol, else pslibrary).")
@click.option("--num-mpiprocs", type=int, default=None, help="MPI ranks per pw.x job [preset].")
@click.option("--max-atoms", type=int, default=None, help="Largest cell accepted [preset].")
@click.option("--mu", "mu", multiple=True, help="DFT chemical potential EL=eV/atom for off-stoichiometric cells.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the parity plot (PNG) here.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_gb_dft(grain_boundary, code_label, protocol, labels, pseudo_family, num_mpiprocs, max_atoms, mu, plot_file,
               submit):
    """DFT parity of the boundaries relaxed by GRAIN_BOUNDARY (a bzs.grain_boundary pk or UUID)."""
    from aiida import orm

    from ..common.codes import MissingCodeError, load_code
    from ..common.pseudos import PseudoFamilyError
    from ..workflows.grain_boundary_dft import GrainBoundaryDftWorkChain
    from ..workflows.protocols import ProtocolOverrideError

    try:
        node = orm.load_node(grain_boundary)
    except Exception as exc:  # NotExistent, MultipleObjectsError
        raise click.ClickException(f"{grain_boundary}: {exc}") from exc
    if not str(getattr(node, "process_type", None) or "").endswith("GrainBoundaryWorkChain"):
        raise click.ClickException(f"pk {node.pk} is a {type(node).__name__}, not a GrainBoundaryWorkChain: pass "
                                   "the pk printed by `aiida-bzs gb energy`")
    try:
        code = load_code(code_label)
    except MissingCodeError as exc:
        raise click.ClickException(str(exc)) from exc
    overrides = {}
    if max_atoms is not None:
        overrides["max_atoms"] = max_atoms
    if mu:
        overrides["chemical_potentials"] = parse_chemical_potentials(mu)
    try:
        builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
            code, node, labels=list(labels) or None, protocol=protocol, overrides=overrides,
            num_mpiprocs=num_mpiprocs, pseudo_family=pseudo_family)
    except (ValueError, ProtocolOverrideError, PseudoFamilyError) as exc:
        raise click.ClickException(str(exc)) from exc
    show_table_and_plot(launch(builder, submit, check=False), format_parity, plot_file)


def _attach() -> None:
    """Put ``dft`` on the ``gb`` group of :mod:`aiida_bzs.cli.grain_boundary`."""
    from .grain_boundary import cmd_gb

    cmd_gb.add_command(cmd_gb_dft)


_attach()
