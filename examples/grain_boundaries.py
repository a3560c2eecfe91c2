"""Grain boundaries of Pnma BaZrS3 with an ACE potential, then the ACE-vs-DFT parity of the smallest.

    verdi daemon start            # submit() needs the daemon; or pass --run to run here
    python examples/grain_boundaries.py --potential 1234 --protocol balanced --code lmp-mpi@cluster --np 64
    python examples/grain_boundaries.py --potential 1234 --protocol fast --run          # Σ5, minutes on 2 cores
    python examples/grain_boundaries.py --parity 4321 --pw-code pw@cluster --label sigma25  # after the first

The study's boundaries (Σ25, Σ31, Σ35; 1.5°–9.5° low angle) are the `balanced` preset
(protocols/grain_boundary.yaml); the table (E_GBf J/m², γ) and the E_GBf-vs-angle plot are outputs
of the workchain: `verdi process show <pk>`, or `aiida-bzs gb energy` / `aiida-bzs gb dft` for the
same with a printed table.
"""

from __future__ import annotations

import argparse

from aiida import load_profile, orm
from aiida.engine import run_get_node, submit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", help="AcePotentialData pk/UUID (fitted with bzs.fit)")
    parser.add_argument("--code", default="lmp@localhost", help="LAMMPS code with the pace plugin")
    parser.add_argument("--protocol", default="balanced")
    parser.add_argument("--np", type=int, default=1, help="MPI ranks per LAMMPS job")
    parser.add_argument("--parity", help="pk of a finished bzs.grain_boundary: run the DFT parity of it")
    parser.add_argument("--pw-code", default="pw@localhost")
    parser.add_argument("--label", action="append", help="boundary label for the parity (repeatable)")
    parser.add_argument("--run", action="store_true", help="run here instead of submitting to the daemon")
    args = parser.parse_args()

    load_profile()
    launch = (lambda b: run_get_node(b)[1]) if args.run else submit
    if args.parity:
        from aiida_bzs.workflows.grain_boundary_dft import GrainBoundaryDftWorkChain

        builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
            args.pw_code, args.parity, labels=args.label, protocol=args.protocol)
    else:
        from aiida_bzs.workflows.grain_boundary import GrainBoundaryWorkChain

        builder = GrainBoundaryWorkChain.get_builder_from_protocol(
            args.code, orm.load_node(args.potential), protocol=args.protocol, num_mpiprocs=args.np)
    node = launch(builder)
    print(f"{node.process_label}<{node.pk}>: `verdi process show {node.pk}`")


if __name__ == "__main__":
    main()
