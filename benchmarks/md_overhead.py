"""Benchmark: cost of the AiiDA wrapper (``bzs.lammps``) against a plain ``lmp`` run of the same input.

For each size, the same NVT stage (pair_style pace, the tiny test potential, 100 dumped frames)
runs twice: plain ``lmp`` in a temporary folder, and as a LammpsCalculation through ``run()`` in a
temporary AiiDA profile (input writing, submission, retrieval, dump parsing, failure check on every
frame). Prints atom-steps per second of both and their ratio, the wrapper's own cost in seconds
(wall time outside LAMMPS's MD loop, minus plain lmp's start-up), and the ratio that cost gives for
a 10,000-step run. No assertion; on demand only::

    .venv/bin/python benchmarks/md_overhead.py --atoms 1000,10240 --steps 1000

(the issue's figure is for 10,000 steps; on a shared 2-core machine run fewer and read the
projected ratio, which scales the measured per-step time to 10,000 steps).
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
#: supercell of the 20-atom Pnma cell for each requested size
REPEATS = {1000: (5, 2, 5), 2000: (5, 4, 5), 10240: (8, 8, 8)}


def _env() -> dict:
    from aiida_bzs.common.codes import pace_plugin_dir

    return dict(os.environ, LAMMPS_PLUGIN_PATH=str(pace_plugin_dir()), OMP_NUM_THREADS="1",
                LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")


def run_plain_lmp(folder: Path, atoms, stage, species) -> float:
    """Write the files the CalcJob would write into ``folder``, run ``lmp`` there; wall seconds."""
    from aiida_bzs.calculations import lammps_input as li
    from aiida_bzs.common.codes import venv_bin

    (folder / li.DATA).write_text(li.data_file(atoms, species))
    (folder / li.POTENTIAL).write_bytes((FIXTURES / "tiny.yace").read_bytes())
    (folder / li.INPUT).write_text(li.input_script(stage, species))
    start = time.perf_counter()
    subprocess.run([str(venv_bin() / "lmp"), "-in", li.INPUT, "-log", li.LOG, "-screen", "none", "-nocite"],
                   cwd=folder, env=_env(), check=True)
    return time.perf_counter() - start


def plain_run(atoms, stage, species) -> tuple[float, float]:
    """Wall seconds of ``lmp`` on the files the CalcJob would write, and LAMMPS's own loop time."""
    from aiida_bzs.calculations import lammps_input as li
    from aiida_bzs.parsers.lammps_output import parse_log

    with tempfile.TemporaryDirectory(prefix="bzs_md_plain_") as tmp:
        elapsed = run_plain_lmp(Path(tmp), atoms, stage, species)
        return elapsed, parse_log((Path(tmp) / li.LOG).read_text()).loop_time_s


def wrapped_run(code, potential, atoms, stage) -> tuple[float, float]:
    """Wall seconds of the LammpsCalculation from launch to parsed outputs, and LAMMPS's own loop time."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.lammps import LammpsCalculation

    from aiida_bzs.common.structure_nodes import structure_from_atoms

    builder = LammpsCalculation.get_builder()
    builder.code = code
    builder.structure = structure_from_atoms(atoms).store()  # the input exists before a run
    builder.potential = potential
    builder.parameters = orm.Dict(stage)
    start = time.perf_counter()
    _, node = run_get_node(builder)
    elapsed = time.perf_counter() - start
    if not node.is_finished_ok:
        raise RuntimeError(f"wrapped run failed: {node.exit_message}")
    return elapsed, node.outputs.results["loop_time_s"]


def setup_profile():
    """A temporary profile with a local computer and the lmp code (serial)."""
    from aiida import load_profile, orm
    from aiida.storage.sqlite_temp import SqliteTempBackend

    from aiida_bzs.common.codes import CODES, executable_path, prepend_text
    from aiida_bzs.data.ace_potential import AcePotentialData

    load_profile(SqliteTempBackend.create_profile("bzs-md-benchmark"), allow_switch=True)
    computer = orm.Computer(label="localhost", hostname="localhost", transport_type="core.local",
                            scheduler_type="core.direct", workdir=tempfile.mkdtemp(prefix="bzs_md_work_")).store()
    computer.set_minimum_job_poll_interval(0)
    computer.configure()
    code = orm.InstalledCode(label="lmp", computer=computer, filepath_executable=str(executable_path("lmp")),
                             default_calc_job_plugin=CODES["lmp"][1], prepend_text=prepend_text("lmp"),
                             with_mpi=False).store()
    potential = AcePotentialData.get_or_create(FIXTURES / "tiny.yaml", yace=FIXTURES / "tiny.yace")
    return code, potential


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", default="1000,10240", help=f"sizes, from {sorted(REPEATS)}")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--frames", type=int, default=100, help="dumped frames per run")
    args = parser.parse_args(argv)

    from aiida_bzs.md.programme import normalise_stage
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell

    code, potential = setup_profile()
    print(f"{'atoms':>7}{'steps':>7}{'plain s':>9}{'wrapped s':>11}{'plain a-s/s':>13}{'wrapped a-s/s':>15}"
          f"{'ratio':>7}{'wrapper s':>11}{'ratio @10k steps':>18}")
    for n in (int(x) for x in args.atoms.split(",")):
        atoms = make_supercell(pnma_crystal(), list(REPEATS[n]))
        stage = normalise_stage({"name": "bench", "ensemble": "nvt", "temperature": 1000, "steps": args.steps,
                                 "timestep": 2.0, "dump_interval": max(args.steps // args.frames, 1),
                                 "thermo_interval": max(args.steps // 100, 1)})
        plain, plain_loop = plain_run(atoms, stage, ["Ba", "S", "Zr"])
        wrapped, wrapped_loop = wrapped_run(code, potential, atoms, stage)
        # what the wrapper adds outside LAMMPS's MD loop (the loop itself is the same input; on a
        # shared machine its duration varies more than the wrapper's cost)
        wrapper = (wrapped - wrapped_loop) - (plain - plain_loop)
        per_step = plain_loop / args.steps
        projected = (plain + per_step * (10000 - args.steps) + wrapper) / (plain + per_step * (10000 - args.steps))
        print(f"{n:>7}{args.steps:>7}{plain:>9.1f}{wrapped:>11.1f}{n * args.steps / plain:>13.3g}"
              f"{n * args.steps / wrapped:>15.3g}{wrapped / plain:>7.2f}{wrapper:>11.1f}{projected:>18.3f}")


if __name__ == "__main__":
    main()
