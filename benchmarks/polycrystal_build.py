"""Build time and peak memory of the campaign's Voronoi polycrystals (§7) with ``build_polycrystal``.

    python benchmarks/polycrystal_build.py               # the three campaign sizes, Pnma BaZrS3
    python benchmarks/polycrystal_build.py --repeat 3    # best of three

Sizes: 8 grains in a 200 Å box (the study's ``BZS-relaxed-8GB-200box_param.txt`` when ../shared is
there, else ``random_spec`` seed 0), 50 grains in a 200 Å box (``random_spec`` seed 0) and 6 grains in
a 250 Å box (the study's 6-grain file has a 200 Å box, so its nodes are scaled by 1.25 to the 25 nm box
of campaign.md; ``random_spec`` seed 0 without ../shared). Targets on 2 cores: ≤ 10 s for ~310k atoms,
≤ 20 s for ~600k, ≤ 8 GiB. Peak memory is the growth of the resident set during the build (``VmHWM``
after resetting it, benchmarks/memory.py) and the process's absolute ``VmHWM``.
Prints a Markdown table; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from memory import Step, rss_mib  # benchmarks/memory.py (scripts run from benchmarks/)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.polycrystal import (
    PolycrystalSpec,
    build_polycrystal,
    random_spec,
    read_atomsk,
)

ATOMSK_DIR = Path(os.environ.get("BZS_SHARED", ROOT.parent / "shared")) / "data" / "polycrystal"


def specs() -> dict[str, PolycrystalSpec]:
    """The three campaign polycrystals (label -> spec)."""
    eight = ATOMSK_DIR / "BZS-relaxed-8GB-200box_param.txt"
    six = ATOMSK_DIR / "BZS-relaxed-6GB-random_param.txt"
    out = {}
    out["8 grains, 200 Å"] = (read_atomsk(eight) if eight.is_file() else random_spec((200.0,) * 3, 8, 0))
    out["50 grains, 200 Å"] = random_spec((200.0,) * 3, 50, 0)
    if six.is_file():
        study = read_atomsk(six)
        scale = 250.0 / study.box[0]
        out["6 grains, 250 Å"] = PolycrystalSpec((250.0,) * 3, study.seeds * scale, study.angles)
    else:
        out["6 grains, 250 Å"] = random_spec((250.0,) * 3, 6, 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="builds per size; the fastest is reported")
    parser.add_argument("--progress", action="store_true", help="tqdm bar over grains")
    args = parser.parse_args()

    crystal = pnma_crystal()
    build_polycrystal(crystal, random_spec((40.0,) * 3, 2, 0))  # warm-up: imports, Qhull
    print("| polycrystal | atoms | candidates | removed (Ba/Zr/S) | build (s) | peak growth (GiB) "
          "| VmHWM (GiB) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for label, spec in specs().items():
        best = None
        for _ in range(max(1, args.repeat)):
            with Step() as step:
                atoms, report = build_polycrystal(crystal, spec, progress=args.progress)
            if best is None or step.seconds < best[0].seconds:
                best = (step, report, len(atoms))
            del atoms
        step, report, n = best
        removed = report["removed"]
        by = removed["by_element"]
        print(f"| {label} | {n:,} | {report['n_candidates']:,} | {removed['count']:,} "
              f"({by.get('Ba', 0)}/{by.get('Zr', 0)}/{by.get('S', 0)}) | {step.seconds:.2f} "
              f"| {step.peak / 1024:.3f} | {rss_mib('VmHWM') / 1024:.2f} |")


if __name__ == "__main__":
    main()
