"""Fixtures of the training-data tests: small labelled sets (synthetic labels, seeded), pw.x code."""

from __future__ import annotations

import pytest
from ase import Atoms

from training_helpers import labelled_images


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
