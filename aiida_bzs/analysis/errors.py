"""Errors and input guards of the structure analysis, so callers can tell bad input from bugs."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase import Atoms


class AnalysisInputError(ValueError):
    """An analysis got input it cannot use; the message says what to change."""


def require_positive(value: float, name: str) -> float:
    """Return ``value`` as float, or raise if it is not a finite length > 0 (Å or degrees)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise AnalysisInputError(f"{name} must be > 0, got {value!r}; pass a positive value")
    return number


def require_species(atoms: Atoms, symbols: Iterable[str]) -> None:
    """Raise unless every element in ``symbols`` occurs in ``atoms``."""
    present = set(atoms.get_chemical_symbols())
    missing = sorted({s for s in symbols} - present)
    if missing:
        raise AnalysisInputError(
            f"species {missing} not found in the structure (it holds {sorted(present)}); "
            "choose centre/neighbour species that are present"
        )


def require_periodic_cell(atoms: Atoms, what: str) -> float:
    """Return the cell volume in Å³, or raise: ``what`` (a density, an RDF) needs a 3D periodic cell."""
    volume = abs(float(np.linalg.det(atoms.cell[:]))) if len(atoms.cell) else 0.0
    if not all(atoms.pbc) or volume < 1e-6:
        raise AnalysisInputError(
            f"{what} needs a cell periodic in all three directions (pbc={list(map(bool, atoms.pbc))}, "
            f"volume={volume:.3g} Å³); give the structure its simulation cell and set pbc=True"
        )
    return volume


def has_cell(atoms: Atoms) -> bool:
    """True when ``atoms`` has three non-degenerate lattice vectors (volume > 1e-6 Å³)."""
    return abs(float(np.linalg.det(atoms.cell[:]))) > 1e-6
