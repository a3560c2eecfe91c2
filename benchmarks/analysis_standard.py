"""Time and peak memory of the standard structure analysis at 10,240, ~100k and ~310k atoms.

    python benchmarks/analysis_standard.py                     # 8x8x8, 19x13x20, 28x20x28 cells
    python benchmarks/analysis_standard.py --sizes 8,8,8       # one size
    python benchmarks/analysis_standard.py --backends          # also the alternative libraries

Structures are Pnma BaZrS3 supercells rattled by 0.1 Å (a thermal-like crystal: the most bonds
per cation, so the costliest case for the angle distributions). Each size runs in a fresh
process so that its peak resident memory (ru_maxrss, includes OVITO's C++ allocations) is its
own. Steps are the calls the calcfunctions make: density, Zr–S and Ba–S CN, all partial g(r)
to 10 Å (0.02 Å bins), S–Zr–S and S–Ba–S ADFs and S–S contacts. The issue's target on 2 cores:
CN + partial RDFs + ADFs of 310k atoms in < 60 s and < 8 GiB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout

DEFAULT_SIZES = ((8, 8, 8), (19, 13, 20), (28, 20, 28))


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB → GiB


def run_size(repeat, backends: bool, queue) -> None:
    """Run the standard set on one supercell; put ``(n_atoms, [(step, s)], peak GiB of the
    standard set, peak GiB with the alternatives)`` on ``queue``."""
    from aiida_bzs.analysis.angles import bond_angle_distribution
    from aiida_bzs.analysis.contacts import close_contacts
    from aiida_bzs.analysis.coordination import BOND_CUTOFFS, coordination
    from aiida_bzs.analysis.density import mass_density
    from aiida_bzs.analysis.neighbours import pair_list
    from aiida_bzs.analysis.rdf import radial_distribution
    from aiida_bzs.structures import make_supercell, pnma_crystal, rattle

    import matscipy.neighbours  # noqa: F401 - import time is not analysis time
    import ovito.modifiers  # noqa: F401

    atoms = rattle(make_supercell(pnma_crystal(), repeat), 0.1, seed=0)
    steps = []

    def timed(name, func, *args, **kwargs):
        start = time.perf_counter()
        func(*args, **kwargs)
        steps.append((name, time.perf_counter() - start))

    timed("density", mass_density, atoms)
    for bond in BOND_CUTOFFS:
        timed(f"CN {bond[0]}–{bond[1]}", coordination, atoms, *bond)
    timed("partial g(r) to 10 Å", radial_distribution, atoms)
    for bond in BOND_CUTOFFS:
        timed(f"ADF {bond[1]}–{bond[0]}–{bond[1]}", bond_angle_distribution, atoms, *bond)
    timed("S–S contacts", close_contacts, atoms)
    peak_standard = _peak_gib()
    if backends:
        timed("[alt] g(r) via matscipy", radial_distribution, atoms, backend="matscipy")
        for bond, cutoff in BOND_CUTOFFS.items():
            timed(f"[alt] {bond[0]}–{bond[1]} pairs via ovito", pair_list, atoms, *bond, cutoff,
                  backend="ovito")
    queue.put((len(atoms), steps, peak_standard, _peak_gib()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=None,
                        help="supercell repeats a,b,c of the 20-atom cell (default: 3 sizes)")
    parser.add_argument("--backends", action="store_true",
                        help="also time the alternative neighbour/g(r) libraries")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split(",")) for s in args.sizes] if args.sizes else DEFAULT_SIZES
    context = multiprocessing.get_context("spawn")
    print(f"{'atoms':>9}  {'step':<28} {'seconds':>8}")
    summary = []
    for repeat in sizes:
        queue = context.Queue()
        process = context.Process(target=run_size, args=(repeat, args.backends, queue))
        process.start()
        n_atoms, steps, peak, peak_all = queue.get()
        process.join()
        for name, seconds in steps:
            print(f"{n_atoms:>9,}  {name:<28} {seconds:>8.2f}")
        core = sum(s for name, s in steps if not name.startswith("[alt]"))
        print(f"{n_atoms:>9,}  {'standard set, total':<28} {core:>8.2f}   peak memory {peak:.2f} GiB")
        if args.backends:
            print(f"{n_atoms:>9,}  peak memory with the alternatives {peak_all:.2f} GiB")
        summary.append((n_atoms, core, peak))
    print("\natoms      standard set (s)  peak memory (GiB)")
    for n_atoms, core, peak in summary:
        print(f"{n_atoms:<10,} {core:>16.1f}  {peak:>17.2f}")


if __name__ == "__main__":
    main()
