"""Relax a structure with an ACE potential in LAMMPS, cell included (RelaxWorkChain, bzs.relax).

    python examples/relax.py --potential 1234                         # the Pnma cell, protocol fast, runs here
    python examples/relax.py --potential 1234 --structure 5678 --type positions --protocol balanced --submit

Minimisations are repeated until the volume changes by less than the preset's
`volume_convergence` between two of them; a cell that leaves the density window fails with its
own exit code. Time: seconds for the 20-atom cell on one core; a 310k-atom polycrystal takes
hours (docs/polycrystals.md). Prints the relaxed structure's and energy's PKs.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(code, structure, potential, relax_type: str = "cell", protocol: str = "fast",
          num_mpiprocs: int | None = None):
    """The builder: ``relax_type`` 'positions', 'cell' (all cell vectors), 'volume' (isotropic) or 'normal' (z)."""
    from aiida_bzs.workflows.relax import RelaxWorkChain

    return RelaxWorkChain.get_builder_from_protocol(code, structure, potential, relax_type=relax_type,
                                                   protocol=protocol, num_mpiprocs=num_mpiprocs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", required=True, help="AcePotentialData pk/UUID (fitted with bzs.fit)")
    parser.add_argument("--structure", default=None, help="StructureData pk/UUID (default: the Pnma cell)")
    parser.add_argument("--type", default="cell", help="relax_type: positions, cell, volume or normal")
    parser.add_argument("--code", default="lmp@localhost", help="LAMMPS code with the pace plugin")
    parser.add_argument("--protocol", default="fast", help="preset of protocols/relax.yaml")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    from aiida_bzs.calculations.functions.structures import pnma_crystal

    structure = orm.load_node(args.structure) if args.structure else pnma_crystal()
    launch(build(args.code, structure, orm.load_node(args.potential), args.type, args.protocol), args.submit)


if __name__ == "__main__":
    main()
