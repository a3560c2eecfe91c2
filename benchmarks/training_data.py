"""Benchmark of the training-data pipeline (prints figures; not a test, no assertions on time).

1. Generate 1,000 RSS cells (BaZrS3, 1–4 formula units, default separations).
2. Build a TrainingSetData of 2,500 labelled structures (~100k atoms, synthetic labels), store
   it in a throw-away profile, load it back, filter it, export extxyz and the pacemaker pickle.

Prints seconds per step and the peak resident memory of the process (MiB). Run::

    .venv/bin/python benchmarks/training_data.py [--rss 1000] [--structures 2500] [--atoms 40]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def step(name: str):
    start = time.perf_counter()
    yield
    print(f"{name:<48} {time.perf_counter() - start:8.2f} s   peak {peak_mib():8.1f} MiB", flush=True)


def synthetic_images(n_structures: int, atoms_per_structure: int, seed: int = 0):
    """Rattled Pnma supercell fragments with random labels (eV, eV/Å, eV/Å³)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell, rattle

    rng = np.random.default_rng(seed)
    base = make_supercell(pnma_crystal(), (1, 2, 1))[:atoms_per_structure]
    images = []
    for i in range(n_structures):
        atoms = rattle(base, 0.05, seed=i)
        atoms.info["config_type"] = ("rss", "crystal", "liquid", "interface")[i % 4]
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=float(-5.0 * len(atoms) + rng.normal()),
            forces=rng.normal(0, 0.5, (len(atoms), 3)),
            stress=rng.normal(0, 0.01, 6),
        )
        images.append(atoms)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rss", type=int, default=1000, help="RSS cells to generate")
    parser.add_argument("--structures", type=int, default=2500, help="structures in the training set")
    parser.add_argument("--atoms", type=int, default=40, help="atoms per structure (≤ 40)")
    args = parser.parse_args()

    from aiida_bzs.structures.rss import random_structures

    print(f"start: peak {peak_mib():.1f} MiB")
    with step(f"generate {args.rss} RSS cells"):
        cells = random_structures(args.rss, seed=0, progress=True)
    print(f"  {sum(len(c) for c in cells)} atoms in {len(cells)} cells")

    with step(f"make {args.structures} synthetic labelled structures"):
        images = synthetic_images(args.structures, args.atoms)
    print(f"  {sum(len(a) for a in images)} atoms")

    from aiida.manage.configuration import create_profile, get_config
    from aiida.manage import get_manager

    with tempfile.TemporaryDirectory() as tmp:
        config = get_config(create=True)
        name = f"bzs-benchmark-{int(time.time())}"
        profile = create_profile(
            config, storage_backend="core.sqlite_dos", storage_config={"filepath": str(Path(tmp) / "storage")},
            name=name, email="benchmark@aiida-bzs",
        )
        try:
            get_manager().load_profile(profile, allow_switch=True)
            from aiida import orm

            from aiida_bzs.calculations.functions.training_set import filter_training_set
            from aiida_bzs.data.training_set import TrainingSetData

            with step("TrainingSetData.from_atoms + store"):
                node = TrainingSetData.from_atoms(images, {"Ba": -700.0, "Zr": -1300.0, "S": -300.0}).store()
            size = len(node.base.repository.get_object_content(TrainingSetData.FILENAME, mode="rb"))
            print(f"  repository file {size / 2**20:.1f} MiB, {len(node.base.attributes.all)} attributes")
            with step("load_node + to_atoms"):
                loaded = orm.load_node(node.pk)
                back = loaded.to_atoms()
            assert len(back) == len(images)
            with step("filter_training_set (energy, force, distance)"):
                kept = filter_training_set(loaded, orm.Dict({"max_energy_above_min": 1.0, "max_force": 3.0, "min_distance": 1.0}))
            print(f"  kept {len(kept)} of {len(loaded)}")
            with step("write_extxyz"):
                loaded.write_extxyz(Path(tmp) / "set.extxyz")
            print(f"  extxyz {(Path(tmp) / 'set.extxyz').stat().st_size / 2**20:.1f} MiB")
            with step("write_pacemaker_pickle"):
                loaded.write_pacemaker_pickle(Path(tmp) / "set.pckl.gzip")
            print(f"  pickle {(Path(tmp) / 'set.pckl.gzip').stat().st_size / 2**20:.1f} MiB")
        finally:
            get_manager().unload_profile()
            config.remove_profile(name)
            config.store()
    print(f"peak resident memory: {peak_mib():.1f} MiB")


if __name__ == "__main__":
    main()
