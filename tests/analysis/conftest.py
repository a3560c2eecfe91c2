"""Structures for the analysis tests: the Pnma crystal and random BaZrS3 cells at crystal density."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.structures import make_supercell, pnma_crystal


def random_bazrs3(formula_units: int, seed: int, cell=None) -> Atoms:
    """BaZrS3 with uniformly random positions (an ideal gas) in a cell of the crystal's density.

    ``cell`` defaults to a cube; a triclinic one tests the neighbour search in skewed cells.
    """
    crystal = pnma_crystal()
    volume = crystal.get_volume() / 4 * formula_units
    if cell is None:
        cell = np.eye(3) * volume ** (1 / 3)
    else:
        cell = np.asarray(cell, float) * (volume / abs(np.linalg.det(cell))) ** (1 / 3)
    rng = np.random.default_rng(seed)
    symbols = ["Ba"] * formula_units + ["Zr"] * formula_units + ["S"] * 3 * formula_units
    positions = rng.uniform(-0.5, 1.5, (len(symbols), 3)) @ cell  # some outside the cell
    return Atoms(symbols, positions=positions, cell=cell, pbc=True)


@pytest.fixture(scope="session")
def make_random_bazrs3():
    """Factory: :func:`random_bazrs3` (formula_units, seed, cell=None)."""
    return random_bazrs3


@pytest.fixture(scope="session")
def crystal() -> Atoms:
    """The 20-atom Pnma cell (every Zr has 6 S within 3.1 Å, every Ba 8 S within 3.8 Å)."""
    return pnma_crystal()


@pytest.fixture(scope="session")
def crystal_222(crystal) -> Atoms:
    """A 2×2×2 supercell (160 atoms)."""
    return make_supercell(crystal, (2, 2, 2))


@pytest.fixture(scope="session")
def random_cell() -> Atoms:
    """500 atoms of BaZrS3 at random in a triclinic cell at crystal density."""
    return random_bazrs3(100, seed=7, cell=[[1.0, 0, 0], [0.3, 0.9, 0], [-0.2, 0.25, 1.1]])
