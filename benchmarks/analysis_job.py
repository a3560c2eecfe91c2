"""Cost of the standard-analysis job (``aiida-bzs-job analyse``) at the study's sizes.

    python benchmarks/analysis_job.py                    # 10k and 100k atoms
    python benchmarks/analysis_job.py --sizes 313600     # the 310k-atom cell of the polycrystals

What a ``bzs.job.analysis`` job does on its computer, without AiiDA: the job folder holds
``frames.npz`` (the packed structure, as ``StructureAnalysisCalculation`` writes it) and
``parameters.json`` (the study's bonds Zr–S 3.1 Å and Ba–S 3.8 Å, S–S contacts below 2.5 Å, g(r)
to 10 Å in 0.02 Å bins, 180 angle bins); the runner is started as a separate process, as the
scheduler would, and its own ``result.json`` gives the wall time and peak memory (MB) of the
analysis. Cells are rattled (0.05 Å) Pnma BaZrS3 supercells, 20 atoms per cell. These figures size
``job_options`` in ``protocols/analysis.yaml``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiida_bzs.analysis.coordination import BOND_CUTOFFS
from aiida_bzs.analysis.standard import bonds_to_dict
from aiida_bzs.scripts import job as runner
from aiida_bzs.structures import make_supercell, pnma_crystal, rattle
from aiida_bzs.training import dataset as ds


def repeat_for(n_atoms: int) -> tuple[int, int, int]:
    """Near-cubic repeats of the 20-atom Pnma cell (a ≈ c ≈ 7.0 Å, b ≈ 9.9 Å) for ~n_atoms atoms."""
    cells = max(1, round(n_atoms / 20))
    na = max(1, round((cells * 9.9 / 7.0) ** (1 / 3)))
    nb = max(1, round(na * 7.0 / 9.9))
    nc = max(1, round(cells / (na * nb)))
    return na, nb, nc


def measure(n_atoms: int) -> dict:
    """One analysis job on a fresh folder; the runner's own figures plus the process wall time (s)."""
    atoms = rattle(make_supercell(pnma_crystal(), repeat_for(n_atoms)), 0.05, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / runner.FRAMES).write_bytes(ds.to_npz_bytes(ds.pack([atoms])))
        params = {"bonds": bonds_to_dict(BOND_CUTOFFS), "contact_species": "S", "contact_cutoff": 2.5,
                  "rdf_r_max": 10.0, "rdf_bin_width": 0.02, "adf_bins": 180}
        (folder / runner.PARAMETERS).write_text(json.dumps(params))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aiida_bzs.scripts.job", "analyse", "--folder", str(folder)],
                       check=True, stderr=subprocess.DEVNULL)
        process = time.perf_counter() - start
        result = json.loads((folder / runner.RESULT_JSON).read_text())
    return {"atoms": len(atoms), "analysis_s": result["wall_time_s"], "process_s": process,
            "peak_mb": result["peak_memory_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="atom counts (approximate)")
    args = parser.parse_args()
    print(f"{'atoms':>9s} {'analysis (s)':>13s} {'process (s)':>12s} {'peak (MB)':>10s}")
    for n in args.sizes:
        row = measure(n)
        print(f"{row['atoms']:9,d} {row['analysis_s']:13.1f} {row['process_s']:12.1f} {row['peak_mb']:10.0f}", flush=True)


if __name__ == "__main__":
    main()
