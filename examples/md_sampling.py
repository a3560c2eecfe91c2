"""The study's MD training families with one potential (MdSamplingWorkChain, bzs.md_sampling).

    python examples/md_sampling.py --potential 1234                       # protocol fast, runs here
    python examples/md_sampling.py --potential 1234 --protocol balanced --submit

NVT melts (3500–4500 K at 1.05–1.20 × the crystal volume), snapshots along an NPT melt–quench and
high-temperature NPT runs of the crystal, in LAMMPS with `pair_style pace`; each run's frames
graded by γ when the potential has an active set. The candidates are what active learning labels
next. Time: `fast` (20-atom cells, sub-picosecond runs) takes minutes on 2 cores; `balanced`
runs picoseconds on 80-atom cells. Prints the candidates' and summaries' PKs.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(code, potential, crystal, protocol: str = "fast", num_mpiprocs: int | None = None):
    """The builder: the ``md_families`` of the active_learning.yaml preset on ``crystal`` (StructureData)."""
    from aiida_bzs.workflows.md_sampling import MdSamplingWorkChain

    return MdSamplingWorkChain.get_builder_from_protocol(code, potential, crystal, protocol=protocol,
                                                        num_mpiprocs=num_mpiprocs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", required=True, help="AcePotentialData pk/UUID (fitted with bzs.fit)")
    parser.add_argument("--code", default="lmp@localhost", help="LAMMPS code with the pace plugin")
    parser.add_argument("--protocol", default="fast", help="preset of protocols/active_learning.yaml (its md_families)")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    from aiida_bzs.calculations.functions.structures import pnma_crystal

    launch(build(args.code, orm.load_node(args.potential), pnma_crystal(), args.protocol), args.submit)


if __name__ == "__main__":
    main()
