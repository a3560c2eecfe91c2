"""Fixtures of the ACE tests: the pw.x-labelled BaZrS3 fixture set, a real fitted potential and
the real pacemaker tools as codes on a session-scoped local computer.

(The top-level ``bzs_code`` factory is session-scoped but depends on the function-scoped
``aiida_localhost``; module-scoped workchain runs need their own computer, made here.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ACE_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ace"


@pytest.fixture(scope="session")
def ace_fixtures() -> Path:
    return ACE_FIXTURES


@pytest.fixture(scope="session")
def dataset_images():
    """The 16 pw.x-labelled structures (eV, eV/Å) and isolated-atom energies (eV)."""
    from ase.io import read

    images = read(ACE_FIXTURES / "dataset.extxyz", ":")
    meta = json.loads((ACE_FIXTURES / "reference_energies.json").read_text())
    return images, meta["reference_energies"], meta["dft_settings"]


@pytest.fixture(scope="session")
def ace_training_set(aiida_profile, dataset_images):
    """The fixture dataset as a stored TrainingSetData."""
    from aiida_bzs.data.training_set import TrainingSetData

    images, refs, settings = dataset_images
    node = TrainingSetData.from_atoms(images, reference_energies=refs, dft_settings=settings)
    node.label = "ace fixture dataset"
    return node.store()


@pytest.fixture(scope="session")
def fitted_potential(aiida_profile) -> "AcePotentialData":  # noqa: F821
    """The potential of the stored real pacemaker run ``pacemaker/maxiter`` (no active set)."""
    from aiida_bzs.data.ace_potential import AcePotentialData

    return AcePotentialData.get_or_create(ACE_FIXTURES / "pacemaker" / "maxiter" / "output_potential.yaml")


@pytest.fixture(scope="session")
def ace_computer(aiida_profile, tmp_path_factory):
    """A local computer for this session's calculations (direct scheduler, no poll delay)."""
    from aiida import orm

    from aiida_bzs.common.codes import configure_computer

    computer = orm.Computer(
        label="ace-localhost",
        hostname="localhost",
        workdir=str(tmp_path_factory.mktemp("ace_workdir")),
        transport_type="core.local",
        scheduler_type="core.direct",
    ).store()
    computer.set_minimum_job_poll_interval(0)
    computer.set_default_mpiprocs_per_machine(1)
    computer.configure()
    configure_computer(computer)
    return computer


@pytest.fixture(scope="session")
def ace_code(ace_computer):
    """Factory: ``ace_code('pacemaker')`` → stored InstalledCode of the real executable, or skip."""
    from aiida import orm

    from aiida_bzs.common.codes import CODES, executable_path, prepend_text

    cache = {}

    def factory(name: str):
        if name not in cache:
            path = executable_path(name)
            if path is None:
                pytest.skip(f"executable {CODES[name][0]!r} not found; run ./setup.sh")
            cache[name] = orm.InstalledCode(
                label=name,
                computer=ace_computer,
                filepath_executable=str(path),
                default_calc_job_plugin=CODES[name][1],
                prepend_text=prepend_text(name),
            ).store()
        return cache[name]

    return factory
