"""Melt–quench of BaZrS3 with an ACE potential in LAMMPS: an amorphous model (MeltQuenchWorkChain, bzs.melt_quench).

    python examples/melt_quench.py --potential 1234                          # protocol demo, 160 atoms, runs here
    python examples/melt_quench.py --potential 1234 --protocol quench_1e13 --repeat 8 8 8 \\
        --code lmp-mpi@cluster --np 64 --submit                              # the study's main protocol, 10,240 atoms

The crystal supercell is heated, melted, quenched and minimised at zero pressure (NPT); every
stage is checked for the study's failure (atoms closer than 1 Å, lost atoms), temperature runaway,
density out of its window and energy drift, and the product is classified against the crystal
(amorphous, recrystallised, gas-like, collapsed). An `unusable` potential is refused. Time: `demo`
(a few thousand 2 fs steps on 160 atoms) takes minutes on 2 cores; the study's presets (80 ps
melts, 1e13 K/s quenches of 10,240 atoms) are cluster runs. Prints the structure, density and
product-check PKs.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(code, potential, structure, protocol: str = "demo", num_mpiprocs: int | None = None):
    """The builder: every stage, temperature (K), duration (ps) and rate (K/s) on its inputs."""
    from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain

    return MeltQuenchWorkChain.get_builder_from_protocol(code, potential, structure=structure, protocol=protocol,
                                                        num_mpiprocs=num_mpiprocs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", required=True, help="AcePotentialData pk/UUID (fitted with bzs.fit)")
    parser.add_argument("--code", default="lmp@localhost", help="LAMMPS code with the pace plugin")
    parser.add_argument("--protocol", default="demo", help="preset of protocols/melt_quench.yaml")
    parser.add_argument("--repeat", type=int, nargs=3, default=[2, 2, 2], help="supercell of the 20-atom Pnma cell")
    parser.add_argument("--np", type=int, default=None, help="MPI ranks per LAMMPS job (an MPI code)")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    from aiida_bzs.calculations.functions.structures import make_supercell, pnma_crystal

    structure = make_supercell(pnma_crystal(), orm.List(list(args.repeat)))
    launch(build(args.code, orm.load_node(args.potential), structure, args.protocol, args.np), args.submit)


if __name__ == "__main__":
    main()
