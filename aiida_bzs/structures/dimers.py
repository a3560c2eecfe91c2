"""Dimers and isolated atoms in a large periodic box.

Dimers (Ba–Ba … S–S over a distance range) teach the potential the short-range repulsion and
the binding curve of each pair; isolated atoms give the reference energies (eV) that pacemaker
subtracts (``energy_corrected``). Both sit in a cubic box large enough that periodic images
barely interact, so DFT can use the Γ point only.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement

import numpy as np
from ase import Atoms

from .crystal import BZS_ELEMENTS
from .errors import StructureInputError

#: Edge of the cubic box (Å) for dimers and isolated atoms.
DEFAULT_BOX = 12.0

#: Default dimer distance grid (Å): from a strongly repulsive contact to nearly dissociated.
DEFAULT_DIMER_RANGE = (1.6, 6.0)
DEFAULT_DIMER_POINTS = 12


def _check_elements(elements: Sequence[str]) -> None:
    unknown = sorted(set(elements) - set(BZS_ELEMENTS))
    if unknown:
        raise StructureInputError(f"elements {unknown} are not Ba, Zr or S")


def dimer(first: str, second: str, distance: float, box: float = DEFAULT_BOX) -> Atoms:
    """A ``first``–``second`` pair ``distance`` Å apart along z, centred in a cubic ``box`` (Å)."""
    _check_elements([first, second])
    if distance <= 0 or distance > box / 2:
        raise StructureInputError(f"dimer distance {distance} Å must lie in (0, box/2 = {box / 2}] Å")
    centre = np.full(3, box / 2)
    positions = [centre - [0, 0, distance / 2], centre + [0, 0, distance / 2]]
    atoms = Atoms([first, second], positions=positions, cell=[box] * 3, pbc=True)
    atoms.info.update({"config_type": "dimer", "dimer_distance": float(distance)})
    return atoms


def dimers(
    pairs: Sequence[tuple[str, str]] | None = None,
    distance_range: tuple[float, float] = DEFAULT_DIMER_RANGE,
    points: int = DEFAULT_DIMER_POINTS,
    box: float = DEFAULT_BOX,
) -> list[Atoms]:
    """Dimers for every pair in ``pairs`` (default all six Ba/Zr/S pairs) at ``points``
    distances evenly spaced over ``distance_range`` (Å), in a cubic ``box`` (Å)."""
    pairs = list(pairs) if pairs is not None else list(combinations_with_replacement(BZS_ELEMENTS, 2))
    if points < 1 or not pairs:
        raise StructureInputError("need at least one pair and one distance")
    lo, hi = distance_range
    if not 0 < lo <= hi:
        raise StructureInputError(f"distance_range must be 0 < min <= max Å, got {distance_range}")
    return [dimer(a, b, float(d), box) for a, b in pairs for d in np.linspace(lo, hi, points)]


def isolated_atom(element: str, box: float = DEFAULT_BOX) -> Atoms:
    """One ``element`` atom at the centre of a cubic ``box`` (Å), config_type 'isolated_atom'."""
    _check_elements([element])
    if box <= 0:
        raise StructureInputError(f"box must be positive Å, got {box}")
    atoms = Atoms(element, positions=[np.full(3, box / 2)], cell=[box] * 3, pbc=True)
    atoms.info["config_type"] = "isolated_atom"
    return atoms
