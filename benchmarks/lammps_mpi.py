"""Benchmark: LAMMPS (pair_style pace, tiny test potential) on 1 rank against N MPI ranks.

The same NVT stage (the input ``bzs.lammps`` writes: ``lammps_input.input_script``) runs on the
wheel's ``lmp`` binary serially and under the wheel's own MPICH launcher (``mpiexec -n N``, what
the computer ``localhost-mpich`` runs for the code ``lmp-mpi``), for each size. Prints the wall
time of the whole run, LAMMPS's MD loop time, the speed-up of the loop and the potential energy
of the last step per atom on both (they must agree). No assertion; on demand only::

    .venv/bin/python benchmarks/lammps_mpi.py --atoms 10240,102400 --steps 20 --np 2

On a machine shared with others, the N-rank figures are only as good as the N cores are idle:
the script prints the load average before each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "md"
#: supercell of the 20-atom Pnma cell for each size offered
REPEATS = {1000: (5, 2, 5), 10240: (8, 8, 8), 102400: (20, 16, 16)}


def _env() -> dict:
    """The code's prepend text as an environment: plugin path, the wheel's MPICH, one thread per rank."""
    from aiida_bzs.common.codes import pace_plugin_dir

    return dict(os.environ, LAMMPS_PLUGIN_PATH=str(pace_plugin_dir()), OMP_NUM_THREADS="1",
                LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")


def write_inputs(folder: Path, atoms, stage) -> None:
    """The files the CalcJob writes: data file, potential, input."""
    from aiida_bzs.calculations import lammps_input as li

    species = li.lammps_species(atoms.get_chemical_symbols(), ["Ba", "S", "Zr"])
    (folder / li.DATA).write_text(li.data_file(atoms, species))
    (folder / li.POTENTIAL).write_bytes((FIXTURES / "tiny.yace").read_bytes())
    (folder / li.INPUT).write_text(li.input_script(stage, species))


def run(folder: Path, ranks: int) -> dict:
    """Run the input in ``folder`` on ``ranks`` ranks: wall s, loop s, tasks LAMMPS reports, last E_pot."""
    from aiida_bzs.calculations import lammps_input as li
    from aiida_bzs.common.codes import lammps_binary, mpich_launcher
    from aiida_bzs.parsers.lammps_output import parse_log

    command = [str(lammps_binary()), "-in", li.INPUT, "-log", li.LOG, "-screen", "none", "-nocite"]
    if ranks > 1:
        command = [str(mpich_launcher()), "-n", str(ranks), *command]
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, env=_env(), check=True)
    wall = time.perf_counter() - start
    text = (folder / li.LOG).read_text()
    log = parse_log(text)
    tasks = next((line.split("with ")[1].split()[0] for line in text.splitlines() if "MPI tasks" in line), "?")
    return {"wall": wall, "loop": log.loop_time_s, "tasks": tasks, "pe": float(log.thermo["potential_energy"][-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", default="10240,102400", help=f"comma-separated sizes from {sorted(REPEATS)}")
    parser.add_argument("--steps", type=int, default=20, help="NVT steps per run (1 fs, 300 K)")
    parser.add_argument("--np", type=int, default=2, help="MPI ranks of the parallel run")
    args = parser.parse_args()

    from aiida_bzs.md.programme import normalise_stage
    from aiida_bzs.common.codes import lammps_binary, mpich_launcher, pace_plugin_dir
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell

    if lammps_binary() is None or mpich_launcher() is None or not (pace_plugin_dir() / "paceplugin.so").is_file():
        sys.exit("needs the LAMMPS wheel with MPICH and the pace plugin: run ./setup.sh")
    stage = normalise_stage({"name": "bench", "ensemble": "nvt", "temperature": 300, "steps": args.steps,
                             "thermo_interval": args.steps, "dump_interval": args.steps})
    print(f"NVT {args.steps} steps, tiny ACE potential; 1 rank vs {args.np} ranks ({os.cpu_count()} cores)")
    print(f"{'atoms':>8} {'ranks':>5} {'load':>5} {'wall s':>8} {'loop s':>8} {'µs/atom/step':>13} "
          f"{'loop speed-up':>13} {'E_pot eV/atom':>15}")
    for n_atoms in (int(a) for a in args.atoms.split(",")):
        atoms = make_supercell(pnma_crystal(), list(REPEATS[n_atoms]))
        with tempfile.TemporaryDirectory(prefix="bzs_lammps_mpi_") as tmp:
            write_inputs(Path(tmp), atoms, stage)
            serial = None
            for ranks in (1, args.np):
                load = os.getloadavg()[0]
                result = run(Path(tmp), ranks)
                serial = serial or result
                per_atom_step = result["loop"] / len(atoms) / args.steps * 1e6
                print(f"{len(atoms):>8} {result['tasks']:>5} {load:>5.2f} {result['wall']:>8.1f} "
                      f"{result['loop']:>8.1f} {per_atom_step:>13.1f} {serial['loop'] / result['loop']:>13.2f} "
                      f"{result['pe'] / len(atoms):>15.8f}", flush=True)


if __name__ == "__main__":
    main()
