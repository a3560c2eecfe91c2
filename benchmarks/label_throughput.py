"""Benchmark: DFT-label throughput through the AiiDA daemon against plain pw.x on the same inputs.

Labels ``--n`` small cells (5-atom cubic BaZrS3, rattled with a fresh seed each run so nothing comes
from the cache) with ``DftLabelWorkChain`` submitted to the daemon of the services profile (PostgreSQL
+ RabbitMQ, ``--workers`` daemon workers; start it with ``aiida-bzs services start``), on
``pw@localhost`` (core.direct: at most cores / ranks jobs at once). Then reruns pw.x by hand on the very
input folders of those calculations, ``--parallel`` at a time, and compares:

- jobs per minute, daemon vs plain;
- AiiDA's overhead per job = (daemon wall − plain wall) × parallel / n (upload, submission, polling,
  retrieval, parsing, provenance), and as a fraction of the mean pw.x time per job;
- the busy fraction of the cores during the daemon run (sum of pw.x wall times / (wall × parallel)).

No assertion; on demand only, on an otherwise idle machine::

    .venv/bin/aiida-bzs services start --workers 2
    .venv/bin/python benchmarks/label_throughput.py --n 200              # tiny jobs (~1 s of pw.x)
    .venv/bin/python benchmarks/label_throughput.py --n 20 --ecut 45     # ~30 s jobs: the overhead fraction
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def structures(n: int, seed: int):
    """``n`` rattled 5-atom cubic cells (σ 0.05 Å), keyed ``cell_00000``…"""
    import numpy as np

    from aiida_bzs.calculations.functions.structures import to_structure
    from aiida_bzs.structures.crystal import cubic_perovskite

    rng = np.random.default_rng(seed)
    cells = {}
    for i in range(n):
        atoms = cubic_perovskite()
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        atoms.info["config_type"] = "rattled"
        cells[f"cell_{i:05d}"] = to_structure(atoms)
    return cells


def run_daemon(n: int, ecut: float, profile: str, seed: int):
    """Submit one DftLabelWorkChain of ``n`` cells to the daemon; wall seconds and the PwCalculations."""
    from aiida import load_profile, orm
    from aiida.engine import submit

    load_profile(profile, allow_switch=True)
    from aiida_bzs.workflows.label import DftLabelWorkChain

    overrides = {"isolated_atom_box": 6.0,
                 "pw": {"kpoints_distance": 5.0,
                        "pw": {"parameters": {"SYSTEM": {"ecutwfc": ecut, "ecutrho": 8 * ecut}}}}}
    builder = DftLabelWorkChain.get_builder_from_protocol("pw@localhost", structures(n, seed), protocol="fast",
                                                          overrides=overrides)
    builder.compute_reference_energies = orm.Bool(False)
    start = time.perf_counter()
    node = submit(builder)
    while not node.is_terminated:
        time.sleep(1.0)
    wall = time.perf_counter() - start
    if not node.is_finished_ok:
        raise SystemExit(f"DftLabelWorkChain<{node.pk}> failed: [{node.exit_status}] {node.exit_message}")
    calcs = [c for c in node.called_descendants if c.process_label == "PwCalculation"]
    return wall, calcs, node


def pw_seconds(calc) -> float:
    """pw.x's own wall time of a calculation (s), from its output parameters."""
    return float(calc.outputs.output_parameters.get("wall_time_seconds", 0.0))


def run_plain(calcs, parallel: int) -> float:
    """pw.x by hand on a copy of each calculation's input folder, ``parallel`` at a time; wall seconds."""
    from aiida_bzs.common.codes import executable_path

    pw = str(executable_path("pw"))
    with tempfile.TemporaryDirectory() as tmp:
        folders = []
        for calc in calcs:
            target = Path(tmp) / str(calc.pk)
            shutil.copytree(calc.get_remote_workdir(), target, ignore=shutil.ignore_patterns("out", "*.save"))
            folders.append(target)
        env = dict(os.environ, OMP_NUM_THREADS="1")

        def one(folder: Path) -> None:
            with open(folder / "plain.out", "w") as out:
                subprocess.run([pw, "-in", "aiida.in"], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                               env=env, check=True)

        start = time.perf_counter()
        with cf.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(one, folders))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="cells to label")
    parser.add_argument("--ecut", type=float, default=15.0, help="ecutwfc (Ry); ecutrho 8×; larger = longer jobs")
    parser.add_argument("--profile", default="bzs-services", help="services profile with a running daemon")
    parser.add_argument("--parallel", type=int, default=os.cpu_count(), help="plain pw.x runs at once")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="rattle seed (fresh: no cache hits)")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    wall, calcs, node = run_daemon(args.n, args.ecut, args.profile, args.seed)
    cached = sum(1 for c in calcs if c.base.caching.is_created_from_cache)
    compute = [pw_seconds(c) for c in calcs]
    mean = sum(compute) / len(compute)
    print(f"daemon: DftLabelWorkChain<{node.pk}>, {len(calcs)} pw.x jobs ({cached} from the cache) in {wall:.1f} s "
          f"→ {60 * len(calcs) / wall:.1f} jobs/min; mean pw.x wall {mean:.2f} s; cores busy "
          f"{100 * sum(compute) / (wall * args.parallel):.0f} %")
    print(f"load average between: {os.getloadavg()[0]:.2f}")
    plain = run_plain(calcs, args.parallel)
    print(f"plain pw.x, {args.parallel} at a time: {plain:.1f} s → {60 * len(calcs) / plain:.1f} jobs/min")
    overhead = (wall - plain) * args.parallel / len(calcs)
    print(f"AiiDA overhead per job: {overhead:.2f} s = {100 * overhead / mean:.0f} % of the mean pw.x time "
          f"({mean:.2f} s)")


if __name__ == "__main__":
    main()
