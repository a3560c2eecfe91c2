"""DFT labels (PBEsol pw.x energies, forces, stresses) of a few Pnma BaZrS3 cells (DftLabelWorkChain, bzs.label).

    python examples/label.py                                  # 4 cells of 20 atoms, protocol demo, runs here
    python examples/label.py --count 20 --protocol balanced --code pw@cluster --np 16 --submit

The cells are the Pnma crystal and rattled copies (0.1 Å), each made by a calcfunction, so the
labels trace back to them; the isolated-atom energies (Ba, Zr, S) are computed too, once per
settings. Time: with the `demo` preset (25/200 Ry, Γ) one 20-atom single point takes a few minutes
on 2 cores (the README's single point: about 2½ min), so 4 cells plus 3 atoms take tens of minutes;
`balanced` (converged cutoffs, 0.25 Å⁻¹) is for a cluster. Prints the TrainingSetData PK, the
`excluded` structures and the reference energies (eV).
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def structures(count: int = 4, stdev: float = 0.1) -> dict:
    """The Pnma cell and ``count`` − 1 rattled copies (``stdev`` Å), as stored calcfunction outputs."""
    from aiida_bzs.calculations.functions import structures as fn

    crystal = fn.pnma_crystal()
    cells = {"crystal": crystal}
    for seed in range(1, count):
        cells[f"rattled_{seed:02d}"] = fn.rattle(crystal, orm.Float(stdev), orm.Int(seed))
    return cells


def build(code, cells: dict, protocol: str = "demo", num_mpiprocs: int = 1, pseudo_family: str | None = None):
    """The builder: ``cells`` = {key: StructureData}; every pw.x number on its ``parameters`` input."""
    from aiida_bzs.workflows.label import DftLabelWorkChain

    return DftLabelWorkChain.get_builder_from_protocol(code, structures=cells, protocol=protocol,
                                                       num_mpiprocs=num_mpiprocs, pseudo_family=pseudo_family)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", default="pw@localhost", help="pw.x code")
    parser.add_argument("--protocol", default="demo", help="preset of protocols/label.yaml (demo: 20-atom cells only)")
    parser.add_argument("--count", type=int, default=4, help="cells to label")
    parser.add_argument("--np", type=int, default=1, help="MPI ranks per pw.x job")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    node = launch(build(args.code, structures(args.count), args.protocol, args.np), args.submit)
    if not args.submit:
        for key, why in node.outputs.excluded.get_dict().items():
            print(f"  excluded {key}: {why}")
        if "reference_energies" in node.outputs:
            print(f"  isolated-atom energies (eV): {node.outputs.reference_energies.get_dict()}")


if __name__ == "__main__":
    main()
