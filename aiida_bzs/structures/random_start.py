"""Random hard-sphere boxes: the study's non-crystalline starting point for melt–quench.

Atoms are dropped one at a time at random positions in a cubic periodic box of the requested mass
density (g/cm³); a position is kept when it respects every species-pair minimum separation (Å)
with the atoms placed before it (random sequential addition, :class:`.rss.Placer`, shared with
random structure search and interfaces). A periodic KD-tree (scipy ``cKDTree``) holds the placed
atoms, so 10,240 atoms take about a second, not an O(N²) loop.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from .contacts import separation_violations
from .crystal import BZS_ELEMENTS
from .errors import StructureInputError
from .rss import DEFAULT_MIN_SEPARATION, Placer, normalise_separations, parse_composition, place_random

#: Hard-sphere minimum separations: the RSS minima scaled down, so that a box at a condensed
#: density can be filled by random sequential addition (its jamming limit is low).
HARD_SPHERE_SEPARATION: dict[tuple[str, str], float] = {
    pair: round(0.8 * d, 2) for pair, d in DEFAULT_MIN_SEPARATION.items()
}
#: Random trials per atom before giving up.
TRIALS_PER_ATOM = 5000
#: g/cm³ per (u/Å³).
_G_CM3_PER_U_A3 = 1.66053906660


def hard_sphere_box(
    composition: str | Mapping[str, int] = "BaZrS3",
    formula_units: int = 4,
    density: float = 4.0,
    min_separation: Mapping | None = None,
    seed: int = 0,
) -> Atoms:
    """A cubic periodic box of randomly placed atoms with minimum separations.

    :param composition: formula such as ``'BaZrS3'``; multiplied by ``formula_units``.
    :param density: mass density in g/cm³ (sets the box edge, Å).
    :param min_separation: species-pair minima in Å (default :data:`HARD_SPHERE_SEPARATION`).
    :param seed: random seed; the same arguments give the same box.
    :returns: ``Atoms`` sorted Ba, Zr, S with ``info['config_type'] = 'hard_sphere'``.
    """
    counts = parse_composition(composition, formula_units)
    if not np.isfinite(density) or density <= 0:
        raise StructureInputError(f"density must be > 0 g/cm³, got {density}")
    table = normalise_separations(min_separation if min_separation is not None else HARD_SPHERE_SEPARATION)
    mass = sum(atomic_masses[atomic_numbers[el]] * n for el, n in counts.items())
    edge = (mass / density * _G_CM3_PER_U_A3) ** (1.0 / 3.0)
    species = sorted(counts, key=lambda e: -atomic_numbers[e])  # big atoms first
    reach = max(table.values(), default=0.0)
    if reach >= edge / 2:
        raise StructureInputError(
            f"box edge {edge:.2f} Å is too small for minimum separations up to {reach} Å; use more formula units"
        )

    rng = np.random.default_rng(seed)
    placer = Placer(np.eye(3) * edge, table)
    for element in species:
        if place_random(placer, [element] * counts[element], rng, TRIALS_PER_ATOM) < counts[element]:
            raise StructureInputError(
                f"could not place atom {len(placer.positions) + 1} of {sum(counts.values())} at {density} g/cm³ with "
                f"minimum separations {table}; lower the density or the separations"
            )
    atoms = Atoms(placer.symbols, positions=placer.positions, cell=[edge] * 3, pbc=True)
    atoms = atoms[np.argsort([BZS_ELEMENTS.index(s) for s in placer.symbols], kind="stable")]
    if separation_violations(atoms, table):
        raise StructureInputError("internal check failed: the hard-sphere box violates its separations")
    atoms.info.update({"config_type": "hard_sphere", "hard_sphere_seed": int(seed)})
    return atoms

