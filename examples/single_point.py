"""Submit a PBEsol single point on a rattled 2×1×2 Pnma BaZrS3 supercell (80 atoms).

    verdi daemon start            # submit() needs the daemon; or replace submit by run
    python examples/single_point.py --protocol balanced --np 4

The structure and every calculation are nodes: `verdi process show <pk>` afterwards.
"""

from __future__ import annotations

import argparse

from aiida import load_profile, orm
from aiida.engine import submit

from aiida_bzs.calculations.functions import structures as fn
from aiida_bzs.workflows.pw_inputs import get_pw_builder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", default="pw@localhost")
    parser.add_argument("--protocol", default="balanced")
    parser.add_argument("--np", type=int, default=2)
    args = parser.parse_args()

    load_profile()
    crystal = fn.pnma_crystal()
    supercell = fn.make_supercell(crystal, orm.List([2, 1, 2]))
    rattled = fn.rattle(supercell, orm.Float(0.05), orm.Int(42))
    builder = get_pw_builder(rattled, code=args.code, protocol=args.protocol, num_mpiprocs=args.np)
    node = submit(builder)
    print(f"submitted PwBaseWorkChain<{node.pk}> on StructureData<{rattled.pk}> ({len(rattled.sites)} atoms)")


if __name__ == "__main__":
    main()
