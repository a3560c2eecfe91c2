"""End-to-end cost of ``bzs.analysis`` on one large structure in a temporary AiiDA profile.

    python benchmarks/analysis_aiida.py --repeat 28 20 28      # 313,600 atoms (20 nm box)

Prints seconds for making and storing the StructureData, for the StructureAnalysisWorkChain
(standard set + plots) and the peak resident memory. Compare with
``benchmarks/analysis_standard.py`` (the numerics alone): the difference is AiiDA's cost of
storing and hashing a StructureData with one attribute entry per site.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", nargs=3, type=int, default=(8, 8, 8),
                        help="supercell of the 20-atom Pnma cell (default 8 8 8: 10,240 atoms)")
    parser.add_argument("--no-plot", action="store_true", help="skip the figures")
    args = parser.parse_args(argv)

    from aiida import load_profile, orm
    from aiida.engine import run_get_node
    from aiida.storage.sqlite_temp import SqliteTempBackend

    load_profile(SqliteTempBackend.create_profile("bzs-analysis-benchmark"), allow_switch=True)

    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.structures import make_supercell, pnma_crystal, rattle
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    atoms = rattle(make_supercell(pnma_crystal(), tuple(args.repeat)), 0.1, seed=0)
    rows = []
    start = time.perf_counter()
    node = structure_from_atoms(atoms)
    rows.append(("StructureData from Atoms", time.perf_counter() - start))
    start = time.perf_counter()
    node.store()
    rows.append(("store StructureData", time.perf_counter() - start))
    start = time.perf_counter()
    _, process = run_get_node(StructureAnalysisWorkChain, structures={"structure": node},
                              plot=orm.Bool(not args.no_plot))
    rows.append(("StructureAnalysisWorkChain", time.perf_counter() - start))
    assert process.is_finished_ok, process.exit_message
    analysis = next(c for c in process.called if c.process_label == "standard_analysis")
    rows.append(("  of which standard_analysis", (analysis.mtime - analysis.ctime).total_seconds()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"{len(atoms):,} atoms")
    for name, seconds in rows:
        print(f"  {name:<30} {seconds:8.1f} s")
    print(f"  peak memory {peak:.2f} GiB")


if __name__ == "__main__":
    main()
