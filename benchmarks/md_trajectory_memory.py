"""Benchmark: storing a melt–quench trajectory of 10,240 atoms × 100 frames (the study's cell size).

Runs plain ``lmp`` for 100 steps of the 8×8×8 Pnma supercell with a frame every step (the tiny
test potential), then measures what the ``bzs.lammps`` parser does with that dump: reading it
(time, peak Python memory), the failure check on every frame, building the TrajectoryData and
its size in the repository. No assertion; on demand only::

    .venv/bin/python benchmarks/md_trajectory_memory.py [--frames 100] [--repeat 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from md_overhead import run_plain_lmp, setup_profile


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=8, help="n×n×n supercell of the 20-atom cell")
    args = parser.parse_args(argv)

    import numpy as np
    from aiida import orm
    from ase import Atoms

    from aiida_bzs.analysis.md_failure import check_frames
    from aiida_bzs.md.programme import normalise_stage
    from aiida_bzs.calculations import lammps_input as li
    from aiida_bzs.parsers.lammps_output import read_dump
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell

    setup_profile()
    atoms = make_supercell(pnma_crystal(), [args.repeat] * 3)
    species = ["Ba", "S", "Zr"]
    stage = normalise_stage({"name": "bench", "ensemble": "nvt", "temperature": 1000, "steps": args.frames - 1,
                             "timestep": 2.0, "dump_interval": 1, "thermo_interval": 10})
    with tempfile.TemporaryDirectory(prefix="bzs_md_traj_") as tmp:
        folder = Path(tmp)
        lmp_s = run_plain_lmp(folder, atoms, stage, species)
        dump_mb = (folder / li.DUMP).stat().st_size / 1e6

        tracemalloc.start()
        start = time.perf_counter()
        dump = read_dump(folder / li.DUMP)
        read_s = time.perf_counter() - start
        _, read_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    numbers = Atoms(species).numbers
    frames = [Atoms(numbers[t - 1], positions=p, cell=c, pbc=True)
              for t, p, c in zip(dump.types, dump.positions, dump.cells)]
    start = time.perf_counter()
    report = check_frames(frames, n_expected=len(atoms))
    check_s = time.perf_counter() - start

    tracemalloc.start()
    start = time.perf_counter()
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(symbols=frames[0].get_chemical_symbols(), positions=np.array(dump.positions),
                              stepids=dump.steps, cells=dump.cells, pbc=[True] * 3)
    trajectory.store()
    store_s = time.perf_counter() - start
    _, store_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    repo = trajectory.base.repository
    stored_mb = sum(len(repo.get_object_content(name, mode="rb")) for name in repo.list_object_names()) / 1e6

    print(f"{len(atoms)} atoms × {len(frames)} frames (lmp {lmp_s:.1f} s; dump file {dump_mb:.1f} MB)")
    print(f"  read dump          {read_s:6.2f} s   peak Python memory {read_peak / 1e6:7.1f} MB")
    print(f"  failure check      {check_s:6.2f} s   min distance {report.summary()['min_distance']:.2f} Å")
    print(f"  TrajectoryData     {store_s:6.2f} s   peak Python memory {store_peak / 1e6:7.1f} MB, "
          f"stored {stored_mb:.1f} MB ({stored_mb * 1e6 / (len(atoms) * len(frames)):.0f} bytes/atom/frame)")


if __name__ == "__main__":
    main()
