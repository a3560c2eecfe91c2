"""Benchmark: pacemaker fit wall time split into set-up (data + TensorFlow graph) and iterations.

Runs the real ``pacemaker`` on the fixed fixture dataset (tests/fixtures/ace/dataset.extxyz,
16 pw.x-labelled BaZrS3 cells) with the fit protocols' parameters and a fixed number of
iterations, then reads the timings from pacemaker's log (the same parsing the CalcJob's parser
uses). Prints one row per protocol; no assertion. On demand only::

    .venv/bin/python benchmarks/ace_fit_timing.py [--protocols fast,balanced] [--iterations 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from ase.io import read

from aiida_bzs.training import dataset as ds
from aiida_bzs.common.pacemaker_input import build_input_yaml
from aiida_bzs.parsers.pacemaker_files import parse_log, parse_metrics_table
from aiida_bzs.workflows.protocols import get_protocol

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ace"


def run(protocol: str, iterations: int, evaluator: str | None) -> dict:
    params = get_protocol("fit", protocol)["parameters"]
    params["max_iterations"] = iterations
    params.pop("ladder", None)
    if evaluator:
        params["backend"] = {"evaluator": evaluator, "batch_size": 100, "display_step": 1}
        if evaluator == "pyace":
            params["backend"]["parallel_mode"] = "serial"
    images = read(FIXTURES / "dataset.extxyz", ":")
    refs = json.loads((FIXTURES / "reference_energies.json").read_text())["reference_energies"]
    frame = ds.pacemaker_dataframe(ds.pack(images, require_labels=True), refs)
    with tempfile.TemporaryDirectory(prefix=f"ace_bench_{protocol}_") as tmp:
        work = Path(tmp)
        ds.write_pacemaker_pickle(frame, work / "train.pckl.gzip")
        content = build_input_yaml(params, ["Ba", "S", "Zr"], "train.pckl.gzip")
        (work / "input.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
        start = time.time()
        subprocess.run([str(Path(sys.executable).parent / "pacemaker"), "input.yaml", "--no-predict"],
                       cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall = time.time() - start
        info = parse_log((work / "log.txt").read_text())
        metrics = parse_metrics_table((work / "metrics.txt").read_text())
    n_iter = int(metrics["iter_num"][-1]) if metrics else 0
    return {"protocol": protocol, "evaluator": content["backend"]["evaluator"], "functions": info["n_functions"],
            "iterations": n_iter, "wall_s": wall, "setup_s": info.get("setup_time", float("nan")),
            "fit_s": info.get("fit_time", float("nan")),
            "per_iteration_s": info.get("fit_time", float("nan")) / max(n_iter, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default="fast,balanced")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--evaluator", choices=["tensorpot", "pyace"], default=None,
                        help="override the protocol's backend")
    args = parser.parse_args()
    print(f"{'protocol':<10} {'backend':<9} {'funcs':>6} {'iters':>5} {'wall/s':>8} {'setup/s':>8} "
          f"{'fit/s':>8} {'s/iter':>8}")
    for protocol in args.protocols.split(","):
        r = run(protocol.strip(), args.iterations, args.evaluator)
        print(f"{r['protocol']:<10} {r['evaluator']:<9} {r['functions']:>6} {r['iterations']:>5} {r['wall_s']:>8.1f} "
              f"{r['setup_s']:>8.1f} {r['fit_s']:>8.1f} {r['per_iteration_s']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
