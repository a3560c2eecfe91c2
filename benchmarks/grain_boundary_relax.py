"""Benchmark: build and relax a ~1,000-atom tilt grain boundary on this machine's cores.

Builds the bicrystal the ``bzs.gb.bicrystal`` calcfunction builds (``build_bicrystal``: a
near-CSL boundary of the experimental Pnma cell), writes the LAMMPS input ``bzs.relax`` writes
for a 'normal' relaxation (positions + the cell length along the boundary normal,
``relax.minimisation_stage`` with the chosen relax.yaml preset) and runs it with the wheel's
``lmp`` on 1 rank and under MPICH on ``--np`` ranks. Prints: build seconds, atoms, relaxation wall
and loop seconds, iterations and force evaluations, seconds per force call and per atom-step.
No assertion; on demand only::

    .venv/bin/python benchmarks/grain_boundary_relax.py --sigma 25 --thickness 20 --np 2

The potential is the tiny test potential (``tests/fixtures/md/tiny.yace``, a toy: fewer basis
functions than the study's model, so a production force call costs several times more; the
relaxation path is not the real one either). The per-force-call figure is the planning number:
scale it by the ratio of basis sizes of your potential.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from lammps_mpi import run, write_inputs  # noqa: E402  (same runner and input writer as the MPI benchmark)


def build(sigma: int, thickness: float):
    """The bicrystal (ASE Atoms) and its report; seconds to enumerate and build."""
    from aiida_bzs.structures.crystal import PNMA_LATTICE, pnma_crystal
    from aiida_bzs.structures.grain_boundary import build_bicrystal, csl_tilt_boundaries

    a, _, c = PNMA_LATTICE
    start = time.perf_counter()
    boundaries = [b for b in csl_tilt_boundaries(a, c, max_sigma=sigma) if b.sigma == sigma]
    if not boundaries:
        sys.exit(f"no boundary with Σ{sigma} within the default strain; see `aiida-bzs gb list`")
    atoms, report = build_bicrystal(pnma_crystal(), boundaries[0], thickness)
    return atoms, report, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=int, default=25, help="Σ of the boundary (first of `gb list`)")
    parser.add_argument("--thickness", type=float, default=20.0, help="grain thickness, Å")
    parser.add_argument("--preset", default="balanced", help="relax.yaml preset (ftol, maxiter)")
    parser.add_argument("--np", type=int, default=2, help="MPI ranks of the parallel run (0: skip it)")
    args = parser.parse_args()

    from aiida_bzs.common.codes import lammps_binary, mpich_launcher, pace_plugin_dir
    from aiida_bzs.parsers.lammps_output import parse_log
    from aiida_bzs.workflows.protocols import get_protocol
    from aiida_bzs.workflows.relax import minimisation_stage

    if lammps_binary() is None or not (pace_plugin_dir() / "paceplugin.so").is_file():
        sys.exit("needs the LAMMPS wheel and the pace plugin: run ./setup.sh")
    atoms, report, seconds = build(args.sigma, args.thickness)
    print(f"Σ{report['sigma']} {report['angle_deg']:.2f}° plane {report['plane']}: {len(atoms)} atoms, "
          f"cell {' × '.join(f'{x:.1f}' for x in report['cell'])} Å, removed {report['removed']['count']}, "
          f"built in {seconds:.3f} s")
    stage = minimisation_stage("normal", get_protocol("relax", args.preset), orthogonal=True)
    runs = [1] + ([args.np] if args.np > 1 and mpich_launcher() is not None else [])
    for ranks in runs:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_inputs(folder, atoms, stage)
            result = run(folder, ranks)
            stats = parse_log((folder / "log.lammps").read_text()).minimisation or {}
        calls = stats.get("force_evaluations") or 0
        per_call = result["loop"] / calls if calls else float("nan")
        print(f"{ranks} rank(s) ({result['tasks']} MPI tasks): relaxation {result['wall']:.1f} s wall, loop "
              f"{result['loop']:.1f} s, {stats.get('iterations')} iterations, {calls} force calls → "
              f"{per_call * 1e3:.1f} ms per force call, {per_call / len(atoms) * 1e6:.1f} µs per atom-call; "
              f"stop: {stats.get('criterion')}, |F|max {stats.get('force_max_final', float('nan')):.3g} eV/Å")


if __name__ == "__main__":
    main()
