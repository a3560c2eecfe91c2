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

from ase.data import atomic_numbers, covalent_radii

from .crystal import BZS_ELEMENTS
from .errors import StructureInputError

#: Edge of the cubic box (Å) for dimers and isolated atoms.
DEFAULT_BOX = 12.0

#: The default scan of a pair starts at this fraction of the sum of the covalent radii (Cordero
#: 2008, ``ase.data.covalent_radii``): near the bonded distance (Zr–S 2.38 Å against 2.55 Å in the
#: crystal, Ba–S 2.72 Å against ≥ 2.95 Å, S–S 1.78 Å against 1.89 Å in S2), where the dimer force is
#: a few eV/Å. A 1.5–1.6 Å Ba–S or Zr–S contact has forces of tens of eV/Å that would dominate the
#: force loss of a fit (docs/training.md, *Dimers*).
DIMER_START_FACTOR = 0.85
#: The default scan ends here (Å), or at half the box if that is smaller: the `balanced` fit
#: cutoff (protocols/fit.yaml) and half the default box, where the pair has nearly dissociated.
DEFAULT_DIMER_MAX = 6.0
#: Default distances per pair.
DEFAULT_DIMER_POINTS = 12


def default_dimer_range(first: str, second: str, box: float = DEFAULT_BOX) -> tuple[float, float]:
    """The default scan (Å) of a ``first``–``second`` dimer: from :data:`DIMER_START_FACTOR` × the
    sum of the covalent radii to min(:data:`DEFAULT_DIMER_MAX`, ``box``/2), both rounded to 0.01 Å."""
    _check_elements([first, second])
    radii = covalent_radii[atomic_numbers[first]] + covalent_radii[atomic_numbers[second]]
    lo = round(DIMER_START_FACTOR * radii, 2)
    hi = round(min(DEFAULT_DIMER_MAX, box / 2), 2)
    if lo > hi:
        raise StructureInputError(
            f"a {box} Å box cannot hold the default {first}–{second} scan from {lo} Å; "
            f"use a box of at least {2 * lo:.1f} Å or give distance_range"
        )
    return lo, hi


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
    distance_range: tuple[float, float] | None = None,
    points: int = DEFAULT_DIMER_POINTS,
    box: float = DEFAULT_BOX,
) -> list[Atoms]:
    """Dimers for every pair in ``pairs`` (default all six Ba/Zr/S pairs) at ``points`` distances
    evenly spaced over ``distance_range`` (Å; default per pair :func:`default_dimer_range`), in a
    cubic ``box`` (Å). One point sits at the start of the range, near the bonded distance by
    default. Each image records ``info['dimer_distance']`` (Å)."""
    pairs = list(pairs) if pairs is not None else list(combinations_with_replacement(BZS_ELEMENTS, 2))
    if points < 1 or not pairs:
        raise StructureInputError("need at least one pair and one distance")
    if distance_range is not None:
        lo, hi = distance_range
        if not 0 < lo <= hi:
            raise StructureInputError(f"distance_range must be 0 < min <= max Å, got {distance_range}")
    images = []
    for a, b in pairs:
        lo, hi = distance_range if distance_range is not None else default_dimer_range(a, b, box)
        images += [dimer(a, b, float(d), box) for d in np.linspace(lo, hi, points)]
    return images


def describe_scan(images: Sequence[Atoms]) -> list[str]:
    """One line per pair of dimer ``images``: the distances (Å) used, e.g. ``'Ba–S: 2.72 Å'``
    for one point or ``'Ba–S: 12 points 2.72–6.00 Å'``, in the order first met."""
    scans: dict[str, list[float]] = {}
    for atoms in images:
        pair = "–".join(atoms.get_chemical_symbols())
        scans.setdefault(pair, []).append(float(atoms.info.get("dimer_distance", atoms.get_distance(0, 1))))
    lines = []
    for pair, distances in scans.items():
        if len(distances) == 1:
            lines.append(f"{pair}: {distances[0]:.2f} Å")
        else:
            lines.append(f"{pair}: {len(distances)} points {min(distances):.2f}–{max(distances):.2f} Å")
    return lines


def isolated_atom(element: str, box: float = DEFAULT_BOX) -> Atoms:
    """One ``element`` atom at the centre of a cubic ``box`` (Å), config_type 'isolated_atom'."""
    _check_elements([element])
    if box <= 0:
        raise StructureInputError(f"box must be positive Å, got {box}")
    atoms = Atoms(element, positions=[np.full(3, box / 2)], cell=[box] * 3, pbc=True)
    atoms.info["config_type"] = "isolated_atom"
    return atoms
