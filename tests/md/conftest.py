"""Fixtures of the MD tests: crystals (the ``lmp`` code and the tiny ACE potentials are in tests/conftest.py)."""

from __future__ import annotations

import pytest

@pytest.fixture
def supercell():
    """Factory: ``supercell((2, 2, 2))`` → StructureData of the Pnma crystal repeated (20 atoms per cell)."""
    from aiida import orm

    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell

    def factory(repeat=(2, 2, 2)):
        return orm.StructureData(ase=make_supercell(pnma_crystal(), list(repeat)))

    return factory
