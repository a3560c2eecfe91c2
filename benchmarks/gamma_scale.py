"""Cost of the extrapolation grade γ at scale: pyace (per_atom_gamma) and LAMMPS (pair_style pace/extrapolation).

    python benchmarks/gamma_scale.py                      # 1k, 10k, 50k atoms; pyace and LAMMPS
    python benchmarks/gamma_scale.py --310k               # and a real 310k-atom cell
    python benchmarks/gamma_scale.py --sizes 1000 --no-lammps
    python benchmarks/gamma_scale.py --potential pot.yaml --asi pot.asi   # another (e.g. paper-sized) basis

Cells are rattled (0.05 Å) Pnma BaZrS3 supercells (20 atoms per cell, near-cubic repeats). Each
measurement runs in a fresh Python process, so that the peak resident memory (Linux ``VmHWM`` after
``/proc/self/clear_refs``; for LAMMPS the child's ``ru_maxrss``) is that step's own.

pyace: ``PyACECalculator(yaml)`` + ``set_active_set(asi)`` (setup), then
:func:`aiida_bzs.analysis.extrapolation.per_atom_gamma` (one evaluation with γ, linear-time
neighbour environment), and, up to ``--quadratic-max`` atoms, the same with pyace's own neighbour
builder (``linear_neighbours=False``, quadratic in the number of atoms: the path before). LAMMPS (needs the plugin with ``pair_style
pace/extrapolation``, scripts/build_lammps_pace.sh): γ of dumped frames with ``rerun`` (what replaces
pyace on a trajectory) and MD steps (NVE) with γ on every step and with plain ``pair_style pace``;
costs are LAMMPS's loop time (setup excluded) per atom and frame/step, on one core.

The cost of ACE scales with the basis: the tiny test potential (tests/fixtures/md/tiny.yaml, 88
functions per element, cutoff 5 Å) is far cheaper than the study's (~900 functions per element,
cutoff 7.17 Å: ~0.2 ms per atom-step, ../shared/toolchain.md); pass that potential to measure it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from memory import Step  # benchmarks/memory.py (scripts run from benchmarks/)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures" / "md"
SPECIES = ["Ba", "S", "Zr"]
TARGET = 310_000  # atoms of the study's largest structures (600k are twice that)


def repeats(n_atoms: int) -> tuple[int, int, int]:
    """Near-cubic repeat of the 20-atom Pnma cell with about ``n_atoms`` atoms."""
    from aiida_bzs.structures.crystal import pnma_crystal

    lengths = pnma_crystal().cell.lengths()
    side = (n_atoms / 20 * lengths.prod()) ** (1 / 3)
    return tuple(max(1, round(side / length)) for length in lengths)


def cell(n_atoms: int, seed: int = 0):
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell, rattle

    return rattle(make_supercell(pnma_crystal(), repeats(n_atoms)), 0.05, seed=seed)


# --- workers (one fresh process each) ---------------------------------------------------------------

def worker_pyace(n_atoms: int, potential: str, asi: str, quadratic_max: int) -> dict:
    from pyace import PyACECalculator

    from aiida_bzs.analysis.extrapolation import per_atom_gamma

    atoms = cell(n_atoms)
    with Step() as setup:
        calc = PyACECalculator(potential)
        calc.set_active_set(asi)
    with Step() as grade:
        gamma = per_atom_gamma(atoms, calc)
    result = {"atoms": len(atoms), "setup_s": setup.seconds, "gamma_s": grade.seconds,
              "gamma_peak_mib": grade.peak, "max_gamma": float(gamma.max())}
    if len(atoms) <= quadratic_max:  # pyace's own (quadratic) neighbour builder, as before
        calc.reset()
        with Step() as old:
            per_atom_gamma(atoms, calc, linear_neighbours=False)
        result.update(quadratic_s=old.seconds, quadratic_peak_mib=old.peak)
    return result


LOOP = re.compile(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms")
MEMORY = re.compile(r"Per MPI rank memory allocation \(min/avg/max\) = [0-9.]+ \| [0-9.]+ \| ([0-9.]+) Mbytes")


def run_lmp(folder: Path, text: str) -> dict:
    """Run ``lmp`` on ``text`` in ``folder``; loop time (s), steps, LAMMPS's own memory (MiB)."""
    from aiida_bzs.common.codes import pace_plugin_dir, venv_bin

    (folder / "in.lammps").write_text(text)
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=str(pace_plugin_dir()), OMP_NUM_THREADS="1",
               LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    subprocess.run([str(venv_bin() / "lmp"), "-in", "in.lammps", "-log", "log.lammps", "-screen", "none"],
                   cwd=folder, env=env, check=True)
    log = (folder / "log.lammps").read_text()
    loop = LOOP.findall(log)[-1]
    memory = MEMORY.findall(log)
    return {"loop_s": float(loop[0]), "steps": int(loop[1]),
            "lammps_mib": float(memory[-1]) if memory else None}


def worker_lammps(n_atoms: int, potential: str, asi: str, yace: str, frames: int, steps: int) -> dict:
    from aiida_bzs.calculations import lammps_input as li

    head = "units metal\natom_style atomic\nboundary p p p\nread_data structure.data\n"
    gamma_lines = (f"pair_style pace/extrapolation\npair_coeff * * {Path(potential).resolve()} "
                   f"{Path(asi).resolve()} {' '.join(SPECIES)}\n"
                   "fix pace_gamma all pair 1 pace/extrapolation gamma 1\n"
                   "compute max_gamma all reduce max f_pace_gamma\n")
    md = "velocity all create 300 1 mom yes rot yes\nfix nve all nve\nthermo 1000\n"
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = cell(n_atoms)
        result["atoms"] = len(first)
        (folder / "structure.data").write_text(li.data_file(first, SPECIES))
        # γ of dumped frames: rerun (positions from a dump, one evaluation with γ per frame)
        with open(folder / "frames.dump", "w") as dump:
            for k in range(frames):
                atoms = first if k == 0 else cell(n_atoms, seed=k)
                pos = atoms.get_positions()
                dump.write(f"ITEM: TIMESTEP\n{k}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n"
                           "ITEM: BOX BOUNDS pp pp pp\n")
                dump.write("".join(f"0 {length:.17g}\n" for length in atoms.cell.lengths()))
                dump.write("ITEM: ATOMS id x y z\n")
                dump.write("".join(f"{i + 1} {x:.17g} {y:.17g} {z:.17g}\n" for i, (x, y, z) in enumerate(pos)))
        run = run_lmp(folder, head + gamma_lines + "thermo_style custom step pe c_max_gamma\n"
                      "rerun frames.dump dump x y z box no\n")
        result.update(rerun_s_per_frame=run["loop_s"] / frames, rerun_lammps_mib=run["lammps_mib"])
        # MD with γ on every step, and plain pair_style pace
        run = run_lmp(folder, head + gamma_lines + md + f"run {steps}\n")
        result.update(md_gamma_s_per_step=run["loop_s"] / steps, md_gamma_lammps_mib=run["lammps_mib"])
        run = run_lmp(folder, head + f"pair_style pace\npair_coeff * * {Path(yace).resolve()} "
                      f"{' '.join(SPECIES)}\n" + md + f"run {steps}\n")
        result.update(md_plain_s_per_step=run["loop_s"] / steps, md_plain_lammps_mib=run["lammps_mib"])
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def spawn(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def has_extrapolation() -> tuple[bool, str]:
    from aiida_bzs.common.codes import pace_plugin_dir, venv_bin

    plugin_dir = pace_plugin_dir()
    if not (plugin_dir / "paceplugin.so").is_file():
        return False, "plugin not built (scripts/build_lammps_pace.sh)"
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=str(plugin_dir),
               LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    listed = subprocess.run([str(venv_bin() / "lmp"), "-log", "none", "-nocite"], input="plugin list\n",
                            capture_output=True, text=True, env=env).stdout
    if "pair style plugin pace/extrapolation" in listed:
        return True, ""
    note = plugin_dir / "paceplugin.no-extrapolation.txt"
    return False, note.read_text().strip() if note.is_file() else "plugin has no pace/extrapolation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--310k", dest="full", action="store_true", help=f"also a {TARGET:,}-atom cell")
    parser.add_argument("--potential", default=str(FIXTURES / "tiny.yaml"), help="B-basis .yaml")
    parser.add_argument("--asi", default=str(FIXTURES / "tiny.asi"), help="active set of --potential")
    parser.add_argument("--yace", default=str(FIXTURES / "tiny.yace"), help="C-tilde .yace of --potential")
    parser.add_argument("--no-lammps", action="store_true")
    parser.add_argument("--quadratic-max", type=int, default=50_000,
                        help="largest cell for pyace's own quadratic neighbour builder")
    parser.add_argument("--frames", type=int, default=3, help="frames for LAMMPS rerun")
    parser.add_argument("--steps", type=int, default=5, help="MD steps for LAMMPS")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        kind, n_atoms = args.worker[0], int(args.worker[1])
        if kind == "pyace":
            result = worker_pyace(n_atoms, args.potential, args.asi, args.quadratic_max)
        else:
            result = worker_lammps(n_atoms, args.potential, args.asi, args.yace, args.frames, args.steps)
        print(json.dumps(result))
        return

    sizes = sorted(set(args.sizes + ([TARGET] if args.full else [])))
    common = ["--potential", args.potential, "--asi", args.asi, "--yace", args.yace,
              "--frames", str(args.frames), "--steps", str(args.steps), "--quadratic-max", str(args.quadratic_max)]
    print(f"potential {args.potential}, active set {args.asi}; one core per process, {os.cpu_count()} cores")
    print("\npyace: PyACECalculator + set_active_set, per_atom_gamma (one evaluation with γ)")
    print("| atoms | setup s | γ s | γ µs/atom | γ peak MiB | pyace's own neighbours: γ s | µs/atom | max γ |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    last = None
    for n in sizes:
        r = spawn("pyace", str(n), *common)
        us = r["gamma_s"] / r["atoms"] * 1e6
        old = (f"{r['quadratic_s']:.2f} | {r['quadratic_s'] / r['atoms'] * 1e6:.1f}" if "quadratic_s" in r
               else "– | –")
        print(f"| {r['atoms']:,} | {r['setup_s']:.2f} | {r['gamma_s']:.2f} | {us:.1f} | {r['gamma_peak_mib']:.0f} "
              f"| {old} | {r['max_gamma']:.3g} |", flush=True)
        last = r
    per_atom = last["gamma_s"] / last["atoms"]
    print(f"\npyace γ of one {TARGET:,}-atom frame (linear from {last['atoms']:,} atoms): "
          f"{per_atom * TARGET:.0f} s, ~{last['gamma_peak_mib'] / last['atoms'] * TARGET:.0f} MiB peak; "
          f"100 frames: {per_atom * TARGET * 100 / 3600:.1f} h on one core")

    if args.no_lammps:
        return
    ok, why = has_extrapolation()
    if not ok:
        print(f"\nLAMMPS γ: not measured ({why})")
        return
    print(f"\nLAMMPS (pair_style pace/extrapolation, one core): rerun {args.frames} frames, MD {args.steps} steps")
    print("| atoms | rerun γ µs/atom·frame | MD γ every step µs/atom·step | MD pace µs/atom·step "
          "| LAMMPS MiB (γ) | peak RSS MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        r = spawn("lammps", str(n), *common)
        a = r["atoms"]
        print(f"| {a:,} | {r['rerun_s_per_frame'] / a * 1e6:.1f} | {r['md_gamma_s_per_step'] / a * 1e6:.1f} "
              f"| {r['md_plain_s_per_step'] / a * 1e6:.1f} | {r['md_gamma_lammps_mib']:.0f} "
              f"| {r['peak_rss_mib']:.0f} |", flush=True)
        last = r
    per_atom = last["rerun_s_per_frame"] / last["atoms"]
    print(f"\nLAMMPS γ of one {TARGET:,}-atom frame (linear from {last['atoms']:,} atoms): {per_atom * TARGET:.0f} s; "
          f"100 frames: {per_atom * TARGET * 100 / 3600:.2f} h on one core")


if __name__ == "__main__":
    main()
