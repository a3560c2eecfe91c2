"""Mass and number density of periodic cells (the amorphous density is an output of the quench)."""

from __future__ import annotations

from ase import Atoms
from ase.units import _amu

from .errors import require_periodic_cell

#: 1 u/Å³ in g/cm³ (ASE's CODATA atomic mass unit; 1 Å³ = 1e-24 cm³).
AMU_PER_A3_IN_G_PER_CM3 = _amu * 1e3 / 1e-24


def mass_density(atoms: Atoms) -> float:
    """Mass density in g/cm³ of a 3D-periodic cell (standard atomic masses)."""
    volume = require_periodic_cell(atoms, "a density")
    return float(atoms.get_masses().sum()) / volume * AMU_PER_A3_IN_G_PER_CM3


def number_density(atoms: Atoms) -> float:
    """Number of atoms per Å³ of a 3D-periodic cell."""
    return len(atoms) / require_periodic_cell(atoms, "a density")
