"""Planning figures for the campaign's 300k–600k-atom polycrystals: storage, force calls, XRD.

    .venv/bin/python benchmarks/polycrystal_scale.py --parts store            # 1. AiiDA store/load
    .venv/bin/python benchmarks/polycrystal_scale.py --parts relax            # 2. LAMMPS force calls, 1 and 2 ranks
    .venv/bin/python benchmarks/polycrystal_scale.py --parts xrd              # 3. Debye XRD on CPU
    .venv/bin/python benchmarks/polycrystal_scale.py --parts xrd --xrd-sizes 40000 --xrd-full never  # quick

Run the parts one at a time on a shared machine (each loads the cores on its own). Models are
built with ``build_polycrystal`` from Pnma BaZrS3 as ``benchmarks/polycrystal_build.py`` does:
8 grains in a 200 Å box (the study's ``BZS-relaxed-8GB-200box_param.txt``, ~319k atoms) and
6 grains in a 250 Å box (the study's 6-grain file, seeds scaled by 1.25, ~625k atoms).

1. ``store``: the model as ``LargeStructureData`` with its per-atom ``grain`` array in the ``bzs``
   profile (``--profile``; a few nodes are added to it): seconds and peak resident-memory growth to
   create the node (``from_ase``), to ``.store()`` it, and to ``orm.load_node(pk).get_ase()`` in a
   fresh Python process (so that the load reads the database and repository, not this process's
   caches), and the size of the repository file (MB).
2. ``relax``: a position minimisation of the 8-grain model limited to a few iterations
   (``minimisation_stage('positions', {maxiter, maxeval, ftol, etol: 0})``: ``minimize 0 1e-8 5 20``)
   with the tiny test potential ``tests/fixtures/md/tiny.yace`` on 1 rank and on ``--np`` ranks
   (``benchmarks/lammps_mpi.py``'s ``write_inputs``/``run``: the wheel's ``lmp`` with the pace plugin,
   MPICH ``mpiexec``). Reports LAMMPS's loop seconds / force evaluations = seconds per force call,
   µs per atom and call, and the peak RSS of the largest LAMMPS process (``ru_maxrss`` of the
   children of a forked helper that runs only that LAMMPS; per rank on N ranks). The tiny potential
   is a toy (rcut 5 Å, 88 functions per element, 1 density); a production model costs more per call
   (scale by basis size and neighbour count).
3. ``xrd``: the finite-mode (Debye) I(Q) of the 8-grain model on CPU as the package computes it
   (``aiida_bzs.scattering.debye.finite_patterns``, ``scattering.yaml`` preset ``balanced``: Q 1–30 Å⁻¹,
   step 0.0025, float32), first on spheres carved from the model's centre (``--xrd-sizes``, default
   40k and 80k atoms), then on the whole model if the N² extrapolation from the largest sphere is
   ≤ ``--xrd-limit-min`` and the memory forecast fits (``--xrd-full auto``; ``always`` / ``never``).
   debyecalculator's self-scattering term holds two N × nQ float32 tensors: ~28 GiB at 319k atoms
   and 11,600 Q points, more than a 24 GiB machine has (``always`` there means an out-of-memory kill).
   torch threads: ``--threads`` (default: the cores this process may use).

Prints the load average before each part and a Markdown table per part; no assertions, not a test.
Measured figures are quoted in docs/polycrystals.md ("Benchmarks").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from memory import Step  # benchmarks/memory.py

MODELS = {"8": "8 grains, 200 Å", "6": "6 grains, 250 Å"}


def load_banner(part: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"\n## {part}: {len(os.sched_getaffinity(0))} cores, load average {one:.2f} / {five:.2f} / {fifteen:.2f} "
          "(1 / 5 / 15 min)", flush=True)


def build_model(key: str):
    """ASE ``Atoms`` (``arrays['grain']``) of model ``key`` ('8' or '6'), and the build seconds."""
    # the study's grains, as benchmarks/polycrystal_build.py builds them
    from polycrystal_build import specs

    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.polycrystal import build_polycrystal

    start = time.perf_counter()
    atoms, _ = build_polycrystal(pnma_crystal(), specs()[MODELS[key]])
    return atoms, time.perf_counter() - start


# ---------------------------------------------------------------------------------------- 1. store

def child_load(profile: str, pk: int) -> dict:
    """In a fresh process: ``load_node(pk).get_ase()``; seconds, peak MiB, atoms, grain count."""
    import aiida
    from aiida import orm

    aiida.load_profile(profile, allow_switch=True)
    from aiida_bzs.data.large_structure import LargeStructureData  # noqa: F401  plugin import outside the timing

    orm.QueryBuilder().append(orm.Node).count()  # open the database outside the timing
    with Step() as load:
        atoms = orm.load_node(pk).get_ase()
    return {"load_s": load.seconds, "load_mib": load.peak, "n_atoms": len(atoms),
            "grains": int(np.unique(atoms.arrays["grain"]).size)}


def part_store(models: list[str], profile: str) -> None:
    import aiida

    from aiida_bzs.data.large_structure import LargeStructureData
    from aiida_bzs.structures.crystal import pnma_crystal

    aiida.load_profile(profile, allow_switch=True)
    LargeStructureData.from_ase(pnma_crystal()).store()  # warm-up: imports, database, repository
    load_banner(f"1. store/load in profile {profile!r} ({aiida.get_profile().storage_backend})")
    rows = []
    for key in models:
        atoms, build_s = build_model(key)
        with Step() as create:
            node = LargeStructureData.from_ase(atoms, arrays={"grain": atoms.arrays["grain"]})
        with Step() as store:
            node.store()
        size = len(node.base.repository.get_object_content(LargeStructureData.FILENAME, mode="rb"))
        out = subprocess.run([sys.executable, __file__, "--child-load", profile, str(node.pk)],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"load child failed:\n{out.stderr}")
        loaded = json.loads(out.stdout.strip().splitlines()[-1])
        assert loaded["n_atoms"] == len(atoms)
        rows.append((MODELS[key], len(atoms), loaded["grains"], build_s, create, store, loaded, size, node.pk))
        print(f"  {MODELS[key]}: pk {node.pk}", file=sys.stderr, flush=True)
        del atoms, node
    print("| model | atoms | grains | build s | create node s (MiB) | store s (MiB) "
          "| load_node+get_ase s (MiB) | repository MB | pk |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, n, grains, build_s, create, store, loaded, size, pk in rows:
        print(f"| {label} | {n:,} | {grains} | {build_s:.2f} | {create.seconds:.3f} ({create.peak:.0f}) "
              f"| {store.seconds:.3f} ({store.peak:.0f}) | {loaded['load_s']:.3f} ({loaded['load_mib']:.0f}) "
              f"| {size / 1e6:.1f} | {pk} |", flush=True)


# ---------------------------------------------------------------------------------------- 2. relax

def _measured_run(folder: str, ranks: int) -> dict:
    """In a forked helper whose only child is this LAMMPS run: ``lammps_mpi.run`` + peak RSS (MiB)."""
    from lammps_mpi import run

    result = run(Path(folder), ranks)
    result["maxrss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    return result


def part_relax(ranks_list: list[int], maxiter: int, maxeval: int, ftol: float) -> None:
    from lammps_mpi import write_inputs

    from aiida_bzs.calculations import lammps_input as li
    from aiida_bzs.common.codes import lammps_binary, mpich_launcher, pace_plugin_dir
    from aiida_bzs.parsers.lammps_output import parse_log
    from aiida_bzs.workflows.relax import minimisation_stage

    if lammps_binary() is None or mpich_launcher() is None or not (pace_plugin_dir() / "paceplugin.so").is_file():
        sys.exit("needs the LAMMPS wheel with MPICH and the pace plugin: run ./setup.sh")
    atoms, _ = build_model("8")
    stage = minimisation_stage("positions", {"ftol": ftol, "etol": 0.0, "maxiter": maxiter, "maxeval": maxeval},
                               orthogonal=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bzs_polycrystal_scale_") as tmp:
        start = time.perf_counter()
        write_inputs(Path(tmp), atoms, stage)
        write_s = time.perf_counter() - start
        data_mb = (Path(tmp) / li.DATA).stat().st_size / 1e6
        print(f"# {len(atoms):,} atoms (8 grains, 200 Å); inputs written in {write_s:.1f} s "
              f"({data_mb:.0f} MB data file); minimize {stage['etol']} {stage['ftol']} {maxiter} {maxeval}, "
              "tiny test potential (toy: rcut 5 Å, 88 functions/element)", flush=True)
        for ranks in ranks_list:
            load_banner(f"2. relax, {ranks} rank(s)")
            with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
                result = pool.submit(_measured_run, tmp, ranks).result()
            text = (Path(tmp) / li.LOG).read_text()
            stats = parse_log(text).minimisation or {}
            memory = next((line.split("|")[-1].strip() for line in text.splitlines()  # min | avg | max
                           if "memory allocation" in line), "?")
            rows.append((ranks, result, stats, memory))
            print(f"  {ranks} rank(s): wall {result['wall']:.1f} s, loop {result['loop']:.1f} s", file=sys.stderr,
                  flush=True)
    n = len(atoms)
    print("| atoms | ranks | wall s | loop s | iterations | force calls | s per call | µs per atom-call "
          "| loop speed-up | peak RSS per process (MiB) | LAMMPS estimate, max rank | E_pot eV/atom |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    serial = rows[0][1]["loop"]
    for ranks, result, stats, memory in rows:
        calls = stats.get("force_evaluations") or float("nan")
        per_call = result["loop"] / calls
        print(f"| {n:,} | {result['tasks']} | {result['wall']:.1f} | {result['loop']:.1f} "
              f"| {stats.get('iterations', '?')} | {calls} | {per_call:.2f} | {per_call / n * 1e6:.2f} "
              f"| {serial / result['loop']:.2f} | {result['maxrss_mib']:.0f} | {memory} "
              f"| {result['pe'] / n:.6f} |", flush=True)


# ------------------------------------------------------------------------------------------ 3. xrd

def carve_sphere(atoms, n_target: int):
    """The ``n_target`` atoms nearest the box centre (a sphere), periodic distances."""
    box = atoms.cell.lengths()
    d = atoms.positions - box / 2
    d -= box * np.round(d / box)
    order = np.argsort(np.einsum("ij,ij->i", d, d))[:n_target]
    return atoms[np.sort(order)]


def mem_available_mib() -> float:
    """``MemAvailable`` of this machine in MiB (Linux)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def part_xrd(sizes: list[int], full: str, limit_min: float, threads: int) -> None:
    """Debye I(Q) of spheres of the 8-grain model, then of the whole model if time and memory allow.

    Memory: debyecalculator's pair sum is batched (bounded), but its self-scattering term
    ``sum((occupancy[:, None] * form_factors[element_index]) ** 2)`` materialises two N × nQ
    tensors of the working dtype: 2·N·nQ·4 B in float32 (7.1 GB at 80k atoms and 11,600 Q points).
    The forecast column is that term; the whole model runs in ``auto`` only if it fits in 80 % of
    ``MemAvailable`` as well as in the time limit.
    """
    import torch
    import yaml

    from aiida_bzs.scattering.debye import finite_patterns
    from aiida_bzs.scattering.params import validate_parameters
    from aiida_bzs.structures.crystal import pnma_crystal

    torch.set_num_threads(threads)
    preset = yaml.safe_load((ROOT / "aiida_bzs/workflows/protocols/scattering.yaml").read_text())
    params = validate_parameters({**preset["protocols"]["balanced"]["parameters"], "device": "cpu"})
    n_q = len(np.arange(params["qmin"], params["qmax"], params["qstep"]))
    itemsize = torch.tensor([], dtype=getattr(torch, params["dtype"])).element_size()

    def forecast_mib(n_atoms: int) -> float:
        return 2 * n_atoms * n_q * itemsize / 2**20

    warm = pnma_crystal().repeat(3)
    finite_patterns(warm.get_chemical_symbols(), warm.positions, params)  # imports, torch start-up
    atoms, _ = build_model("8")
    print(f"# finite (Debye) mode on CPU, torch {torch.get_num_threads()} threads; scattering.yaml balanced: "
          f"Q {params['qmin']}–{params['qmax']} Å⁻¹ step {params['qstep']} ({n_q:,} Q points), {params['dtype']}",
          flush=True)
    rows = []

    def measure(label, model):
        load_banner(f"3. XRD, {label}, {len(model):,} atoms")
        with Step() as step:
            out = finite_patterns(model.get_chemical_symbols(), model.positions, params)
        meta = out["meta"]
        rows.append((label, len(model), meta["n_pairs"], step.seconds, meta["n_pairs"] / step.seconds, step.peak,
                     False))
        print(f"  {label}, {len(model):,} atoms: {step.seconds:.1f} s, peak growth {step.peak:.0f} MiB",
              file=sys.stderr, flush=True)

    for n in sorted(sizes):
        measure("sphere of the 8-grain model", carve_sphere(atoms, n))
    n = len(atoms)
    pairs = n * (n - 1) // 2
    run_full = full == "always"
    if rows:
        _, n_big, pairs_big, seconds_big, rate, _, _ = rows[-1]
        estimate = pairs / rate  # N² from the largest sphere (its fixed costs included: an upper bound)
        if len(rows) > 1:  # seconds = a + b·pairs through the two largest spheres
            _, _, pairs_small, seconds_small, _, _, _ = rows[-2]
            slope = (seconds_big - seconds_small) / (pairs_big - pairs_small)
            linear = seconds_big + slope * (pairs - pairs_big)
        else:
            linear = float("nan")
        available = mem_available_mib()
        print(f"# whole model, {n:,} atoms: extrapolated {estimate / 60:.1f} min (N² from {n_big:,} atoms; "
              f"{linear / 60:.1f} min from a + b·pairs), memory forecast {forecast_mib(n) / 1024:.1f} GiB "
              f"(MemAvailable {available / 1024:.1f} GiB); limits {limit_min} min, 80 % of MemAvailable", flush=True)
        if full == "auto":
            run_full = estimate <= limit_min * 60 and forecast_mib(n) <= 0.8 * available
    if run_full:
        measure("8 grains, 200 Å (whole box)", atoms)
    elif rows:
        rows.append(("8 grains, 200 Å (whole box), EXTRAPOLATED", n, pairs, estimate, rate, float("nan"), True))
    print("| model | atoms | pairs | seconds | pairs/s | peak growth (MiB) | forecast 2·N·nQ·4 B (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, n, pairs, seconds, rate, peak, extrapolated in rows:
        print(f"| {label} | {n:,} | {pairs:.3e} | {'~' if extrapolated else ''}{seconds:.1f} | {rate:.3e} "
              f"| {'not run' if extrapolated else f'{peak:.0f}'} | {forecast_mib(n):.0f} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="see the module docstring for what each part measures")
    parser.add_argument("--parts", default="store,relax,xrd", help="comma-separated: store, relax, xrd")
    parser.add_argument("--models", default="8,6", help="store part: '8' (200 Å) and/or '6' (250 Å), comma-separated")
    parser.add_argument("--profile", default="bzs", help="AiiDA profile of the store part")
    parser.add_argument("--np", type=int, default=2, help="MPI ranks of the parallel relax run")
    parser.add_argument("--maxiter", type=int, default=5, help="relax: minimiser iterations")
    parser.add_argument("--maxeval", type=int, default=20, help="relax: force evaluations at most")
    parser.add_argument("--ftol", type=float, default=1e-8, help="relax: force tolerance (eV/Å), tight so the limits stop it")
    parser.add_argument("--xrd-sizes", type=int, nargs="*", default=[40_000, 80_000],
                        help="xrd: atoms of the spheres carved from the 8-grain model")
    parser.add_argument("--xrd-full", choices=["auto", "always", "never"], default="auto",
                        help="xrd: the whole ~319k-atom model (auto: if the extrapolated time is within --xrd-limit-min "
                             "and the memory forecast within 80 %% of MemAvailable)")
    parser.add_argument("--xrd-limit-min", type=float, default=15.0, help="xrd: minutes allowed for the whole model")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="xrd: torch threads")
    parser.add_argument("--child-load", nargs=2, metavar=("PROFILE", "PK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_load:
        print(json.dumps(child_load(args.child_load[0], int(args.child_load[1]))))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"store", "relax", "xrd"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}")
    for part in parts:
        if part == "store":
            part_store([m.strip() for m in args.models.split(",")], args.profile)
        elif part == "relax":
            part_relax(sorted({1, args.np}), args.maxiter, args.maxeval, args.ftol)
        else:
            part_xrd(args.xrd_sizes, args.xrd_full, args.xrd_limit_min, args.threads)


if __name__ == "__main__":
    main()
