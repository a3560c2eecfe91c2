"""Voronoi polycrystals of BaZrS3 relaxed with an ACE potential: γ maps, boundary chemistry, XRD.

    verdi daemon start            # submit() needs the daemon; or pass --run to run here
    python examples/polycrystals.py --potential 1234 --protocol balanced --code lmp-mpi@cluster --np 128 \\
        --scatter-code bzs_scatter@gpu                                  # the study's 8 and 50 grains, 20 nm
    python examples/polycrystals.py --potential 1234 --atomsk BZS-relaxed-8GB-200box_param.txt   # your files
    python examples/polycrystals.py --potential 1234 --protocol fast --run                        # 3.5k atoms

Each model is built by a job (bzs.job.polycrystal), relaxed (bzs.relax), graded (bzs.job.grade) and
analysed boundary against interior (bzs.job.interfaces); with XRD, the relaxed models and a
one-grain crystal of the same box are scattered in the finite (Debye) mode (Scherrer sizes).
`aiida-bzs polycrystal relax` does the same and prints the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiida import load_profile, orm
from aiida.engine import run_get_node, submit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", required=True, help="AcePotentialData pk/UUID (the full-dataset model)")
    parser.add_argument("--code", default="lmp@localhost", help="LAMMPS code with the pace plugin")
    parser.add_argument("--protocol", default="balanced")
    parser.add_argument("--np", type=int, default=None, help="MPI ranks per LAMMPS job [protocol]")
    parser.add_argument("--atomsk", action="append", default=[], help="Atomsk parameter file (repeatable)")
    parser.add_argument("--scatter-code", default=None, help="debyecalculator runner code for the XRD")
    parser.add_argument("--run", action="store_true", help="run here instead of submitting to the daemon")
    args = parser.parse_args()

    load_profile()
    from aiida_bzs.workflows.polycrystal import PolycrystalWorkChain

    overrides = {"grains": []} if args.atomsk else None
    builder = PolycrystalWorkChain.get_builder_from_protocol(
        args.code, orm.load_node(args.potential), protocol=args.protocol, overrides=overrides,
        atomsk={Path(p).stem: orm.SinglefileData(Path(p).resolve()) for p in args.atomsk},
        num_mpiprocs=args.np, scattering_code=args.scatter_code)
    node = run_get_node(builder)[1] if args.run else submit(builder)
    print(f"{node.process_label}<{node.pk}>: `verdi process show {node.pk}`")


if __name__ == "__main__":
    main()
