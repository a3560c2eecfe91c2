"""Fixtures of the training-data tests: small labelled sets (synthetic labels, seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import rattle

#: Made-up isolated-atom energies (eV) for the synthetic sets.
FAKE_REFERENCES = {"Ba": -700.0, "Zr": -1300.0, "S": -300.0}


def labelled_images(n: int = 6, seed: int = 0) -> list[Atoms]:
    """``n`` rattled Pnma cells and a S–S dimer with random (seeded) energy, forces, stress."""
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        atoms = rattle(pnma_crystal(), 0.05, seed=seed + k)
        atoms.info["config_type"] = "crystal" if k % 2 else "rss"
        atoms.info["source_uuid"] = f"uuid-{k}"
        energy = float(sum(FAKE_REFERENCES[s] for s in atoms.get_chemical_symbols()) - 5.0 * len(atoms))
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=energy + float(rng.normal(0, 1.0)),
            forces=rng.normal(0, 0.5, size=(len(atoms), 3)),
            stress=rng.normal(0, 0.01, size=6),
        )
        images.append(atoms)
    dimer = Atoms("S2", positions=[(0, 0, 0), (0, 0, 2.0)], cell=[8, 8, 8], pbc=True)
    dimer.info["config_type"] = "dimer"
    dimer.calc = SinglePointCalculator(dimer, energy=2 * FAKE_REFERENCES["S"] - 3.0, forces=[[0, 0, -1.0], [0, 0, 1.0]])
    images.append(dimer)
    return images


@pytest.fixture
def images() -> list[Atoms]:
    return labelled_images()


@pytest.fixture(scope="session")
def training_pw_code(aiida_profile, tmp_path_factory):
    """The real ``pw.x`` as an InstalledCode on a local computer of this session (skips without it).

    Session-scoped so that the module-scoped labelling runs can share it (the top-level
    ``bzs_code`` fixture depends on the function-scoped ``aiida_localhost``).
    """
    from aiida import orm

    from aiida_bzs.common.codes import CODES, configure_computer, executable_path, prepend_text

    path = executable_path("pw")
    if path is None:
        pytest.skip("pw.x not found; run ./setup.sh")
    computer = orm.Computer(
        label="training-localhost",
        hostname="localhost",
        workdir=str(tmp_path_factory.mktemp("training_workdir")),
        transport_type="core.local",
        scheduler_type="core.direct",
    ).store()
    computer.set_minimum_job_poll_interval(0)
    computer.set_default_mpiprocs_per_machine(1)
    computer.configure()
    configure_computer(computer)
    return orm.InstalledCode(
        label="pw",
        computer=computer,
        filepath_executable=str(path),
        default_calc_job_plugin=CODES["pw"][1],
        prepend_text=prepend_text("pw"),
    ).store()
