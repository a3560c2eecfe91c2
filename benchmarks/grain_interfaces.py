"""Time and peak memory of the grain-boundary vs grain-interior analysis of a ~310k-atom cell.

    python benchmarks/grain_interfaces.py                    # 28x20x28 Pnma cells, 8 grains
    python benchmarks/grain_interfaces.py --repeat 8,8,8 --grains 50

The structure is a Pnma BaZrS3 supercell (20 atoms per cell; 28×20×28 = 313,600 atoms, a box
of ≈ 198 × 200 × 197 Å) whose atoms get grain IDs from a few random Voronoi seeds (nearest
seed, periodic, scipy cKDTree) and a random log-normal γ: not a physical polycrystal, but the
same number of atoms and boundary pairs to process. Prints seconds and the growth of the
resident set (MiB, ``benchmarks/memory.py``) per step, and the process's peak in GiB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

# benchmarks/memory.py: the script's folder is on sys.path
from memory import Step, rss_mib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout


def build(repeat: tuple[int, int, int], n_grains: int, seed: int):
    """Pnma supercell with Voronoi grain IDs (1 … n_grains) and a per-atom γ."""
    import numpy as np
    from scipy.spatial import cKDTree

    from aiida_bzs.structures import make_supercell, pnma_crystal

    atoms = make_supercell(pnma_crystal(), repeat)
    atoms.wrap()
    box = atoms.cell.lengths()  # orthorhombic
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0.0, 1.0, (n_grains, 3)) * box
    _, nearest = cKDTree(seeds, boxsize=box).query(np.mod(atoms.positions, box))
    atoms.arrays["grain"] = nearest.astype(np.int32) + 1
    gamma = rng.lognormal(mean=-0.5, sigma=0.6, size=len(atoms))
    return atoms, gamma


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", default="28,20,28", help="Pnma cells along a, b, c")
    parser.add_argument("--grains", type=int, default=8, help="number of Voronoi seeds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    repeat = tuple(int(k) for k in args.repeat.split(","))

    import matplotlib.figure  # noqa: F401 - import time is not analysis time
    import matscipy.neighbours  # noqa: F401

    from aiida_bzs.analysis.grain_interfaces import (
        boundary_atoms,
        interface_analysis,
        plot_interfaces,
        plot_slice,
    )

    rows = []
    with Step() as step:
        atoms, gamma = build(repeat, args.grains, args.seed)
    rows.append(("build structure + grain IDs (not analysis)", step))
    with Step() as step:
        flags = boundary_atoms(atoms)
    rows.append(("boundary_atoms", step))
    with Step() as step:
        result = interface_analysis(atoms, gamma=gamma)
    rows.append(("interface_analysis (boundary, Zr–S, Ba–S)", step))
    assert (result.is_boundary == flags).all()
    with Step() as step:
        summary = result.summary()
    rows.append(("summary()", step))
    with tempfile.TemporaryDirectory() as folder, Step() as step:
        plot_interfaces(result, Path(folder) / "cn.png")
        plot_slice(atoms, atoms.arrays["grain"], Path(folder) / "grain.png")
        plot_slice(atoms, gamma, Path(folder) / "gamma.png", label="γ", log=True)
    rows.append(("plot_interfaces + 2 × plot_slice", step))

    print(f"{len(atoms):,} atoms, {summary['n_grains']} grains, "
          f"{summary['n_boundary']:,} boundary atoms ({summary['boundary_fraction']:.1%})")
    print(f"{'step':45s} {'s':>7s} {'peak MiB':>9s}")
    for name, step in rows:
        print(f"{name:45s} {step.seconds:7.2f} {step.peak:9.0f}")
    # ru_maxrss: the kernel's peak for the whole process (Step resets only /proc's VmHWM)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB → GiB
    print(f"process peak resident memory: {peak_gib:.2f} GiB (now {rss_mib('VmRSS') / 1024:.2f} GiB)")


if __name__ == "__main__":
    main()
