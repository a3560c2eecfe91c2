"""``aiida-bzs demo``: the README's main job, the ``demo`` campaign; ``aiida-bzs single-point``: one
real PBEsol pw.x single point on BaZrS3 (the quickest check that the DFT toolchain works)."""

from __future__ import annotations

from pathlib import Path

import click

from . import cmd_root
from .utils import with_profile


@cmd_root.command("demo")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the report (report.html) and the archive (campaign.aiida) go; default campaign_<pk>.")
@click.option("--submit", is_flag=True, help="Submit to the daemon instead of running here.")
@with_profile
def cmd_demo(output_dir, submit):
    """The whole BaZrS3 study at toy sizes on 2 cores (≤ 20 min): `campaign run --protocol demo`.

    Starts from the shipped demo dataset (demo-grade PBEsol, computed by this package), labels one
    live active-learning generation with pw.x, fits the two ACE versions with pacemaker, melt-quenches
    160 atoms twice in LAMMPS, builds a grain boundary and a 4-grain polycrystal, computes XRD/PDF
    with debyecalculator, and prints the summary; the HTML report and the AiiDA archive go to
    ``--output-dir``.
    """
    from .campaign import run_campaign

    run_campaign("demo", submit=submit, output_dir=output_dir)


@cmd_root.command("single-point")
@click.option("--protocol", default="fast", show_default=True,
              help="Preset of protocols/pw.yaml (overrides of aiida-quantumespresso's PwBaseWorkChain protocol).")
@click.option("--code", default="pw@localhost", show_default=True, help="pw.x code label.")
@click.option("--pseudo-family", default=None, help="Pseudo family label (default: SSSP, else pslibrary US).")
@click.option("--np", "num_mpiprocs", default=2, show_default=True, help="MPI ranks for pw.x.")
@click.option("--kpoints-distance", type=float, default=None, help="Override the k spacing (Å⁻¹).")
@with_profile
def cmd_single_point(protocol, code, pseudo_family, num_mpiprocs, kpoints_distance):
    """Build the 20-atom Pnma BaZrS3 cell and run one PBEsol pw.x single point through AiiDA.

    Prints the total energy (eV), the forces (eV/Å) and the PKs of every node made.
    """
    from aiida.engine import run_get_node

    from ..calculations.functions.structures import pnma_crystal
    from ..common.codes import MissingCodeError, load_code
    from ..common.pseudos import PseudoFamilyError
    from ..workflows.protocols import ProtocolError, ProtocolOverrideError
    from ..workflows.pw_inputs import get_pw_builder

    overrides = {"kpoints_distance": kpoints_distance} if kpoints_distance else None
    try:
        code_node = load_code(code)
        structure = pnma_crystal()
        builder = get_pw_builder(structure, code_node, protocol, pseudo_family, num_mpiprocs, overrides)
    except (MissingCodeError, PseudoFamilyError, ProtocolError, ProtocolOverrideError) as exc:
        raise click.ClickException(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)) from exc
    click.echo(f"structure  pk={structure.pk}  {structure.get_formula()}  (Pnma, {len(structure.sites)} atoms)")
    click.echo(f"running PwBaseWorkChain (protocol {protocol}, {num_mpiprocs} MPI ranks) ...")
    results, node = run_get_node(builder)
    if not node.is_finished_ok:
        raise click.ClickException(
            f"PwBaseWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}; "
            f"inspect with `verdi process report {node.pk}`"
        )
    params = results["output_parameters"].get_dict()
    forces = results["output_trajectory"].get_array("forces")[-1]
    symbols = structure.get_ase().get_chemical_symbols()
    click.echo(f"energy     {params['energy']:.6f} eV  ({params['energy'] / len(symbols):.6f} eV/atom)")
    click.echo(f"wall time  {params.get('wall_time_seconds', float('nan')):.1f} s (pw.x)")
    click.echo("forces (eV/Å):")
    for i, (sym, f) in enumerate(zip(symbols, forces)):
        click.echo(f"  {i:3d} {sym:2s} {f[0]:10.5f} {f[1]:10.5f} {f[2]:10.5f}")
    calc = node.called[-1]
    click.echo(
        f"nodes      PwBaseWorkChain pk={node.pk}  PwCalculation pk={calc.pk}  "
        f"output_parameters pk={results['output_parameters'].pk}  "
        f"output_trajectory pk={results['output_trajectory'].pk}"
    )
    click.echo(f"provenance `verdi process show {node.pk}` / `verdi node graph generate {node.pk}`")
