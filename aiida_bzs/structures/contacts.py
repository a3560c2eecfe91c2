"""Close-contact checks with a neighbour list (matscipy, through
:func:`aiida_bzs.analysis.neighbours.neighbour_pairs`), never an O(N²) loop.

Used by the generators (minimum separations), the labelling workchain (reject overlapping
atoms before any DFT job) and the training-set filters. Distances in Å, periodic images included.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms

#: Atoms closer than this (Å) are treated as overlapping: such a cell is rejected before DFT.
OVERLAP_DISTANCE = 0.5


def _neighbour_pairs(atoms: Atoms, cutoff: float):
    """(i, j, d) of all pairs closer than ``cutoff`` Å (each pair twice, images included)."""
    from aiida_bzs.analysis.neighbours import neighbour_pairs

    return neighbour_pairs(atoms, "ijd", float(cutoff))


def shortest_distance(atoms: Atoms, cutoff: float = 4.0) -> float:
    """Shortest interatomic distance in Å (periodic images included), ``inf`` if none < ``cutoff``.

    A lone atom in a periodic cell reports its distance to its own images.
    """
    _, _, d = _neighbour_pairs(atoms, cutoff)
    return float(d.min()) if len(d) else float("inf")


def separation_violations(atoms: Atoms, min_separation: Mapping[tuple[str, str], float] | float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, d) with i < j closer than their species-pair minimum (Å).

    :param min_separation: a single distance for every pair, or ``{('Ba', 'S'): 2.8, ...}``
        (order-insensitive; pairs not listed have no minimum).
    """
    if isinstance(min_separation, (int, float)):
        table = None
        cutoff = float(min_separation)
    else:
        table = {tuple(sorted(k)): float(v) for k, v in min_separation.items()}
        cutoff = max(table.values(), default=0.0)
    if cutoff <= 0:
        return []
    i, j, d = _neighbour_pairs(atoms, cutoff)
    keep = i <= j
    i, j, d = i[keep], j[keep], d[keep]
    if table is None:
        bad = d < cutoff
    else:
        symbols = np.array(atoms.get_chemical_symbols())
        limit = np.array([table.get(tuple(sorted((a, b))), 0.0) for a, b in zip(symbols[i], symbols[j])])
        bad = d < limit
    return [(int(a), int(b), float(c)) for a, b, c in zip(i[bad], j[bad], d[bad])]
