"""PBEsol vc-relax of the 20-atom Pnma BaZrS3 cell: the reference crystal (CrystalRelaxWorkChain, bzs.crystal_relax).

    python examples/crystal_relax.py                                   # protocol fast, runs here
    python examples/crystal_relax.py --protocol moderate --np 2        # a workstation reference
    python examples/crystal_relax.py --protocol balanced --code pw@cluster --np 64 --submit

Time: `fast` (20/160 Ry, Γ, loose thresholds: a smoke test, not a PBEsol lattice) takes minutes on
2 cores; `moderate` about an hour on 2 idle cores; `balanced` and `stringent` are for a cluster
(docs/reference_crystal.md). --submit hands it to the daemon (`verdi daemon start`) and returns.
Prints the PKs of the relaxed cell, the `reference` node and the summary (lattice in Å against
experiment, density g/cm³).
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile


def build(code="pw@localhost", protocol: str = "fast", num_mpiprocs: int = 1, pseudo_family: str | None = None):
    """The builder; the starting cell is the Pnma crystal of the campaign notes, made at run time."""
    from aiida_bzs.workflows.crystal_relax import CrystalRelaxWorkChain

    return CrystalRelaxWorkChain.get_builder_from_protocol(code, protocol=protocol, num_mpiprocs=num_mpiprocs,
                                                           pseudo_family=pseudo_family)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", default="pw@localhost", help="pw.x code")
    parser.add_argument("--protocol", default="fast", help="preset of protocols/crystal_relax.yaml")
    parser.add_argument("--np", type=int, default=1, help="MPI ranks per pw.x job")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    node = launch(build(args.code, args.protocol, args.np), args.submit)
    if not args.submit and "summary" in node.outputs:
        summary = node.outputs.summary.get_dict()
        print(f"  lattice (Å): {summary.get('lattice')}; density {summary.get('density')} g/cm³")


if __name__ == "__main__":
    main()
