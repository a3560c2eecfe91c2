"""Random hard-sphere boxes: the study's non-crystalline starting point for melt–quench.

Atoms are dropped one at a time at random positions in a cubic periodic box of the requested mass
density (g/cm³); a position is kept when it respects every species-pair minimum separation (Å)
with the atoms placed before it (random sequential addition). A periodic KD-tree (scipy
``cKDTree``) holds the placed atoms, so 10,240 atoms take seconds, not an O(N²) loop.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from scipy.spatial import cKDTree

from .contacts import separation_violations
from .crystal import BZS_ELEMENTS
from .errors import StructureInputError
from .rss import DEFAULT_MIN_SEPARATION, normalise_separations, parse_composition

#: Hard-sphere minimum separations: the RSS minima scaled down, so that a box at a condensed
#: density can be filled by random sequential addition (its jamming limit is low).
HARD_SPHERE_SEPARATION: dict[tuple[str, str], float] = {
    pair: round(0.8 * d, 2) for pair, d in DEFAULT_MIN_SEPARATION.items()
}
#: Random trials per atom before giving up, and atoms placed between KD-tree rebuilds.
TRIALS_PER_ATOM = 5000
REBUILD_EVERY = 64
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
    index = {el: k for k, el in enumerate(BZS_ELEMENTS)}
    limit = np.zeros((len(BZS_ELEMENTS), len(BZS_ELEMENTS)))
    for (a, b), d in table.items():
        limit[index[a], index[b]] = limit[index[b], index[a]] = d
    reach = float(limit.max())
    if reach >= edge / 2:
        raise StructureInputError(
            f"box edge {edge:.2f} Å is too small for minimum separations up to {reach} Å; use more formula units"
        )

    rng = np.random.default_rng(seed)
    placed = np.zeros((0, 3))
    kinds = np.zeros(0, dtype=int)
    tree = None
    n_tree = 0
    for element in species:
        kind = index[element]
        for _ in range(counts[element]):
            for _trial in range(TRIALS_PER_ATOM):
                candidate = rng.random(3) * edge
                if _fits(candidate, kind, placed, kinds, tree, n_tree, limit, reach, edge):
                    placed = np.vstack([placed, candidate])
                    kinds = np.append(kinds, kind)
                    break
            else:
                raise StructureInputError(
                    f"could not place atom {len(placed) + 1} of {sum(counts.values())} at {density} g/cm³ with "
                    f"minimum separations {table}; lower the density or the separations"
                )
            if len(placed) - n_tree >= REBUILD_EVERY:
                tree, n_tree = cKDTree(placed, boxsize=edge), len(placed)
    symbols = [BZS_ELEMENTS[k] for k in kinds]
    atoms = Atoms(symbols, positions=placed, cell=[edge] * 3, pbc=True)
    atoms = atoms[np.argsort([BZS_ELEMENTS.index(s) for s in symbols], kind="stable")]
    if separation_violations(atoms, table):
        raise StructureInputError("internal check failed: the hard-sphere box violates its separations")
    atoms.info.update({"config_type": "hard_sphere", "hard_sphere_seed": int(seed)})
    return atoms


def _fits(candidate, kind, placed, kinds, tree, n_tree, limit, reach, edge) -> bool:
    """True when ``candidate`` keeps every pair minimum with the atoms placed so far."""
    if tree is not None:
        near = tree.query_ball_point(candidate, reach)
        if near:
            near = np.asarray(near)
            d = tree.data[near] - candidate
            d -= edge * np.round(d / edge)
            if (np.linalg.norm(d, axis=1) < limit[kind, kinds[near]]).any():
                return False
    recent = placed[n_tree:]
    if len(recent):
        d = recent - candidate
        d -= edge * np.round(d / edge)
        if (np.linalg.norm(d, axis=1) < limit[kind, kinds[n_tree:]]).any():
            return False
    return True
