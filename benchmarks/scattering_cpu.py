"""CPU cost of I(Q)+G(r): bare debyecalculator versus the wrapped ScatteringCalculation.

    python benchmarks/scattering_cpu.py [--sizes 10240 40960] [--protocol balanced] [--periodic]

For each size (the study's 8×8×8 crystal block of 10,240 atoms, and 16×8×16 = 40,960) it times,
in one run and with the same parameters and thread count:

* bare, warm: ``DebyeCalculator(...)._get_all(atoms)`` in this process (imports done, warmed up);
* bare, script: a fresh ``python`` that imports debyecalculator and computes, timed from outside
  (start to exit: what running debyecalculator from a script costs);
* CalcJob: ``ScatteringCalculation`` through AiiDA (temporary SQLite profile, local computer) on
  the structure's XYZ file node, as the workchain runs it: submission, upload, a new process of
  ``aiida-bzs-scatter`` (interpreter, torch and debyecalculator imports), polling, parsing, nodes.
  Making that file node from a stored StructureData (``structure_to_xyz``) is timed apart.

Overhead = CalcJob / bare − 1; "runner wall" is the runner process's own time (with its torch and
debyecalculator imports) and "AiiDA" the rest of the CalcJob (submission, upload, polling at 1 s,
retrieval, parsing, storing). Each figure is the minimum of ``--repeat`` interleaved runs.
``--periodic`` adds the periodic mode's compute time on the same cell.
Prints a table; measured figures are quoted in docs/scattering.md.

    python benchmarks/scattering_cpu.py --chunked 80000 full [--max-memory-gb 3] [--threads 2]

``--chunked`` instead times ``finite_patterns`` (finite mode, preset ``--protocol``) on spheres of
the study's 8-grain polycrystal (318,868 atoms; the given numbers of atoms nearest the box centre)
and, for ``full``, on the whole model, each in a fresh process: seconds, peak RSS (VmHWM, reset
after the build where the kernel allows) and the Q windows and memory forecast from ``meta``
(docs/scattering.md, "Memory: Q in chunks"). ``--max-memory-gb 0`` leaves the default budget;
``--max-memory-gb 1000`` forces one window (debyecalculator's own memory use).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD = """
import json, sys
import numpy as np, torch
from ase.io import read
from debyecalculator import DebyeCalculator
p = json.load(open(sys.argv[2]))
atoms = read(sys.argv[1])
calc = DebyeCalculator(qmin=p['qmin'], qmax=p['qmax'], qstep=p['qstep'], device='cpu')
calc._get_all(atoms)
"""


CHUNKED = """
import json, os, sys, time
import numpy as np, torch
import yaml
from pathlib import Path
from aiida_bzs.scattering.debye import finite_patterns
from aiida_bzs.scattering.params import validate_parameters
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.polycrystal import build_polycrystal, read_atomsk

a = json.loads(sys.argv[1])
torch.set_num_threads(a['threads'])
raw = yaml.safe_load(Path(a['protocols']).read_text())['protocols'][a['protocol']]['parameters']
params = validate_parameters({**raw, 'device': 'cpu', 'max_memory_gb': a['max_memory_gb'] or None})
atoms, _ = build_polycrystal(pnma_crystal(), read_atomsk(a['spec']))
if a['n'] != 'full':  # the n atoms nearest the box centre, periodic distances
    box = atoms.cell.lengths()
    d = atoms.positions - box / 2
    d -= box * np.round(d / box)
    atoms = atoms[np.sort(np.argsort(np.einsum('ij,ij->i', d, d))[:int(a['n'])])]
warm = pnma_crystal().repeat(3)
finite_patterns(warm.get_chemical_symbols(), warm.positions, params)  # imports, torch start-up

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024
    return 0

try:  # reset the peak RSS to the current RSS (Linux >= 4.0), so that the build's peak is not counted
    Path('/proc/self/clear_refs').write_text('5')
except OSError:
    pass
base = status('VmRSS')
start = time.perf_counter()
last = [start]

def progress(fraction):
    now = time.perf_counter()
    if now - last[0] > 60 and fraction > 0:
        last[0] = now
        spent = now - start
        print(f'  {fraction:.1%} of the pair sum after {spent / 60:.1f} min; ~{spent / fraction / 60:.1f} min in all; '
              f'RSS {status("VmRSS") / 2**30:.2f} GiB, load {os.getloadavg()[0]:.2f}', file=sys.stderr, flush=True)

out = finite_patterns(atoms.get_chemical_symbols(), atoms.positions, params, progress=progress)
seconds = time.perf_counter() - start
meta = out['meta']
print(json.dumps({'n': len(atoms), 'seconds': seconds, 'peak': status('VmHWM'), 'base': base,
                  'load': os.getloadavg(), **{k: meta[k] for k in ('q_chunks', 'q_chunk_points', 'n_q', 'n_pairs',
                  'memory_forecast_bytes', 'memory_forecast_unchunked_bytes', 'memory_budget_bytes', 'num_threads')}}))
"""


def chunked_main(args) -> int:
    """``--chunked``: finite_patterns on spheres of the 8-grain polycrystal and on all of it, one process each."""
    spec = Path(args.spec)
    if not spec.is_file():
        sys.exit(f"{spec}: no Atomsk parameter file (the study's BZS-relaxed-8GB-200box_param.txt)")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    print(f"# finite mode on CPU, {args.threads} torch threads, protocol {args.protocol}, "
          f"max_memory_gb {args.max_memory_gb or 'default'}", flush=True)
    print("| atoms | load (1 min, start) | Q windows | forecast GiB (unchunked) | seconds | pairs/s | peak RSS GiB | growth GiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in args.chunked:
        load = os.getloadavg()[0]
        job = {"n": n, "threads": args.threads, "protocol": args.protocol, "max_memory_gb": args.max_memory_gb,
               "spec": str(spec), "protocols": str(ROOT / "aiida_bzs/workflows/protocols/scattering.yaml")}
        done = subprocess.run([sys.executable, "-c", CHUNKED, json.dumps(job)], stdout=subprocess.PIPE, text=True,
                              env=env, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {r['n']:,} | {load:.2f} | {r['q_chunks']} × {r['q_chunk_points']} | "
              f"{r['memory_forecast_bytes'] / 2**30:.2f} ({r['memory_forecast_unchunked_bytes'] / 2**30:.1f}) | "
              f"{r['seconds']:.1f} | {r['n_pairs'] / r['seconds']:.3e} | {r['peak'] / 2**30:.2f} | "
              f"{(r['peak'] - r['base']) / 2**30:.2f} |", flush=True)
    return 0


def temporary_code():
    """A temporary SQLite profile with a local computer and the aiida-bzs-scatter code."""
    from aiida import load_profile, orm
    from aiida.storage.sqlite_temp import SqliteTempBackend

    from aiida_bzs.common.codes import executable_path, prepend_text

    load_profile(SqliteTempBackend.create_profile("bzs-benchmark"), allow_switch=True)
    computer = orm.Computer(label="localhost", hostname="localhost", transport_type="core.local",
                            scheduler_type="core.direct", workdir=tempfile.mkdtemp(prefix="bzs-bench-")).store()
    computer.configure(safe_interval=0.0)
    computer.set_minimum_job_poll_interval(1.0)  # default 10 s would add up to 10 s of latency per job
    exe = executable_path("bzs_scatter")
    if exe is None:
        sys.exit("aiida-bzs-scatter not found: pip install -e . first")
    return orm.InstalledCode(label="bzs_scatter", computer=computer, filepath_executable=str(exe),
                             default_calc_job_plugin="bzs.scattering", prepend_text=prepend_text("bzs_scatter")).store()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_240, 40_960])
    parser.add_argument("--protocol", default="balanced", choices=["fast", "balanced", "stringent"])
    parser.add_argument("--periodic", action="store_true", help="also time the periodic mode")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions; the minimum is reported")
    parser.add_argument("--chunked", nargs="+", metavar="ATOMS|full",
                        help="instead: finite_patterns on spheres of the 8-grain polycrystal / the whole model")
    parser.add_argument("--max-memory-gb", type=float, default=3.0, help="--chunked: max_memory_gb (0: default budget)")
    parser.add_argument("--threads", type=int, default=2, help="--chunked: torch threads")
    parser.add_argument("--spec", default="/work/shared/data/polycrystal/BZS-relaxed-8GB-200box_param.txt",
                        help="--chunked: Atomsk parameter file of the polycrystal")
    args = parser.parse_args(argv)
    if args.chunked:
        return chunked_main(args)

    import torch
    import yaml
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_bzs.scattering.debye import make_calculator
    from aiida_bzs.scattering.params import validate_parameters
    from aiida_bzs.calculations.functions.scattering import structure_to_xyz
    from aiida_bzs.calculations.scattering import ScatteringCalculation
    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.structures.crystal import pnma_crystal

    protocol = yaml.safe_load((ROOT / "aiida_bzs/workflows/protocols/scattering.yaml").read_text())
    raw = dict(protocol["protocols"][args.protocol]["parameters"])
    params = validate_parameters(raw)
    code = temporary_code()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    print(f"# CPU, {threads} threads, load average {os.getloadavg()[0]:.1f}; protocol {args.protocol}: "
          f"Q {params['qmin']}–{params['qmax']} step {params['qstep']:.4g} Å⁻¹, {params['dtype']}", flush=True)
    calc = make_calculator(params, "cpu")
    calc._get_all(pnma_crystal().repeat((3, 3, 3)))  # warm-up

    rows = []
    for n in args.sizes:
        repeat = {10_240: (8, 8, 8), 40_960: (16, 8, 16), 81_920: (16, 16, 16)}.get(n)
        if repeat is None:
            k = max(1, round((n / 20) ** (1 / 3)))
            repeat = (k, k, k)
        atoms = pnma_crystal().repeat(repeat)
        structure = structure_from_atoms(atoms).store()  # the workchain's input exists already
        start = time.perf_counter()
        xyz = structure_to_xyz(structure)
        to_file = time.perf_counter() - start
        builder = ScatteringCalculation.get_builder()
        builder.code = code
        builder.structure_file = xyz
        builder.parameters = orm.Dict(raw)
        warm, cold, wrapped, metas = [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            atoms.write(Path(tmp) / "s.xyz")
            (Path(tmp) / "p.json").write_text(json.dumps(params))
            cold_cmd = [sys.executable, "-c", COLD, str(Path(tmp) / "s.xyz"), str(Path(tmp) / "p.json")]
            for _ in range(args.repeat):  # interleaved, so that a busy spell hits all three alike
                start = time.perf_counter()
                calc._get_all(atoms)
                warm.append(time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run(cold_cmd, capture_output=True, text=True, check=True)
                cold.append(time.perf_counter() - start)
                start = time.perf_counter()
                _, node = run_get_node(builder)
                wrapped.append(time.perf_counter() - start)
                metas.append(node.outputs.output_parameters.get_dict() if node.is_finished_ok else {})
        meta = metas[wrapped.index(min(wrapped))]
        warm, cold, wrapped = min(warm), min(cold), min(wrapped)
        row = {"n": len(atoms), "warm": warm, "cold": cold, "calcjob": wrapped, "to_file": to_file,
               "runner_compute": meta.get("compute_time_s"), "runner_wall": meta.get("wall_time_s")}
        if args.periodic:
            periodic = {**raw, "mode": "periodic"}
            builder.parameters = orm.Dict(periodic)
            _, pnode = run_get_node(builder)
            row["periodic"] = pnode.outputs.output_parameters["compute_time_s"] if pnode.is_finished_ok else None
        rows.append(row)

    head = f"{'atoms':>7} {'pairs':>10} {'bare warm/s':>11} {'bare script/s':>13} {'XYZ node/s':>10} {'CalcJob/s':>9} " \
           f"{'runner compute/s':>16} {'runner wall/s':>13} {'AiiDA/s':>7} " \
           f"{'overhead vs warm':>16} {'vs script':>9} {'pairs/s (warm)':>14}"
    if args.periodic:
        head += f" {'periodic/s':>10}"
    print(head)
    for r in rows:
        pairs = r["n"] * (r["n"] - 1) // 2
        line = (f"{r['n']:>7} {pairs:>10.3e} {r['warm']:>11.2f} {r['cold']:>13.2f} {r['to_file']:>10.2f} {r['calcjob']:>9.2f} "
                f"{r['runner_compute'] or float('nan'):>16.2f} {r['runner_wall'] or float('nan'):>13.2f} "
                f"{r['calcjob'] - (r['runner_wall'] or float('nan')):>7.2f} {r['calcjob'] / r['warm'] - 1:>16.0%} "
                f"{r['calcjob'] / r['cold'] - 1:>9.0%} {pairs / r['warm']:>14.3e}")
        if args.periodic:
            line += f" {r.get('periodic') or float('nan'):>10.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
