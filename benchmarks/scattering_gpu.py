"""GPU (or CPU) scaling of the scattering runner: time, peak GPU memory and pairs/s versus N.

One short script for a lent GPU machine; needs only this package's source tree, debyecalculator
and torch (no AiiDA, installs nothing):

    python benchmarks/scattering_gpu.py --device cuda --sizes 10000 80000 310000 600000

On a machine without a package index, ``benchmarks/scattering_gpu_device.sh`` installs the wheels
that ``benchmarks/gpu_wheels.sh`` fetched here and runs this script.

Structures are spheres of exactly N atoms cut from the Pnma BaZrS3 crystal. Each size computes
I(Q), S(Q), F(Q) and G(r) with the `balanced` protocol's grid (workflows/protocols/scattering.yaml)
through :func:`aiida_bzs.scattering.debye.finite_patterns`, the function the CalcJob
runs. A size is cancelled once it exceeds ``--cap`` seconds, and skipped when the previous
size's throughput predicts more than three times the cap. Prints one table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout, no installation needed


def sphere_of(n_atoms: int):
    """Exactly ``n_atoms`` atoms of BaZrS3 nearest to the centre of a large enough crystal block."""
    import numpy as np

    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.nanoparticle import cut_sphere

    cell = pnma_crystal()
    radius = (3 * n_atoms / (4 * np.pi) * cell.get_volume() / len(cell)) ** (1 / 3) + 3.0
    particle = cut_sphere(cell, radius)
    centre = particle.cell.sum(axis=0) / 2
    order = np.argsort(np.linalg.norm(particle.positions - centre, axis=1), kind="stable")
    return particle[order[:n_atoms]]


def balanced_parameters() -> dict:
    import yaml

    text = (ROOT / "aiida_bzs" / "workflows" / "protocols" / "scattering.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["protocols"]["balanced"]["parameters"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 80_000, 310_000, 600_000])
    parser.add_argument("--cap", type=float, default=120.0, help="seconds per size before it is cancelled")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)

    import torch
    from debyecalculator.debye_calculator import CalculationCancelled

    from aiida_bzs.scattering.debye import DeviceUnavailableError, check_device, finite_patterns, runtime_versions
    from aiida_bzs.scattering.params import validate_parameters

    try:
        check_device(args.device)
    except DeviceUnavailableError as exc:
        sys.exit(f"scattering_gpu.py: {exc}")
    params = validate_parameters({**balanced_parameters(), "device": args.device, "dtype": args.dtype})
    versions = runtime_versions()
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"# {gpu}; debyecalculator {versions['debyecalculator_version']}, torch {versions['torch_version']}; "
          f"Q {params['qmin']}–{params['qmax']} step {params['qstep']} Å⁻¹ ({args.dtype}), r 0–{params['rmax']} Å", flush=True)
    warm = sphere_of(2_000)
    finite_patterns(warm.get_chemical_symbols(), warm.positions, params)  # CUDA context, kernels

    rows, rate = [], None
    for n in sorted(args.sizes):
        pairs = n * (n - 1) // 2
        row = {"n_atoms": n, "pairs": pairs, "time_s": None, "pairs_per_s": None, "peak_gpu_gib": None, "status": "ok"}
        if rate and pairs / rate > 3 * args.cap:  # throughput still grows with N: be generous
            row["status"] = f"skipped: ~{pairs / rate:.0f} s predicted > 3 × cap"
            rows.append(row)
            continue
        atoms = sphere_of(n)
        start = time.perf_counter()

        def cancel_after_cap(_fraction, start=start):
            return time.perf_counter() - start < args.cap

        if args.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            out = finite_patterns(atoms.get_chemical_symbols(), atoms.positions, params, progress=cancel_after_cap)
        except CalculationCancelled:
            row["status"] = f"cancelled after {args.cap:.0f} s"
        except torch.cuda.OutOfMemoryError:
            row["status"] = "out of GPU memory"
        else:
            meta = out["meta"]
            rate = meta["pairs_per_s"]
            row.update(time_s=meta["compute_time_s"], pairs_per_s=rate, sum_time_s=meta["total_sum_time_s"])
            if args.device == "cuda":
                row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        rows.append(row)
        _print_row(row, header=len(rows) == 1)

    print()
    _print_row(None, header=True)
    for row in rows:
        _print_row(row)
    if args.json:
        args.json.write_text(json.dumps({"device": gpu, **versions, "rows": rows}, indent=1))
    return 0


def _print_row(row, header=False):
    if header:
        print(f"{'atoms':>9} {'pairs N(N-1)/2':>16} {'time/s':>9} {'pairs/s':>10} {'peak GPU/GiB':>12}  status")
    if row is None:
        return
    fmt = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
    print(f"{row['n_atoms']:>9} {row['pairs']:>16.3e} {fmt(row['time_s'], '9.2f'):>9} "
          f"{fmt(row['pairs_per_s'], '10.3e'):>10} {fmt(row['peak_gpu_gib'], '12.2f'):>12}  {row['status']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
