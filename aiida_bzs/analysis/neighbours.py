"""Per-species-pair neighbour lists in periodic cells: the bonds behind CNs, bond lengths and angles.

Two independent libraries do the search, so one can check the other:

* ``matscipy`` (default): cell-list search with per-species-pair cut-offs; 0.5 s for the
  Zr–S and Ba–S bonds of 310k atoms on 2 cores (``benchmarks/analysis_standard.py``).
* ``ovito``: OVITO's ``CutoffNeighborFinder``; about 4× slower at these cut-offs.

Both include every periodic image, so cut-offs may exceed half the cell (small crystal cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .errors import AnalysisInputError, has_cell, require_positive, require_species

#: Neighbour-search libraries understood by :func:`pair_list`.
BACKENDS = ("matscipy", "ovito")
#: The faster of the two at bond cut-offs (measured, see module docstring).
DEFAULT_BACKEND = "matscipy"


@dataclass(frozen=True)
class PairList:
    """Directed bonds ``centre[k] → neighbour[k]`` (atom indices), sorted by centre.

    ``distance`` in Å; ``vector`` (Å) points from the centre to the periodic image of the
    neighbour that lies within the cut-off. A bond between two atoms of the same species
    appears once from each end.
    """

    centre: np.ndarray
    neighbour: np.ndarray
    distance: np.ndarray
    vector: np.ndarray
    n_atoms: int

    def __len__(self) -> int:
        return len(self.centre)

    def counts(self) -> np.ndarray:
        """Number of listed neighbours of every atom (length ``n_atoms``; 0 for non-centres)."""
        return np.bincount(self.centre, minlength=self.n_atoms)


def pair_list(
    atoms: Atoms,
    centre: str,
    neighbour: str,
    cutoff: float,
    backend: str = DEFAULT_BACKEND,
) -> PairList:
    """Return all ``centre``–``neighbour`` bonds shorter than ``cutoff`` (Å).

    :param centre: element symbol of the atoms whose neighbours are listed (e.g. ``"Zr"``).
    :param neighbour: element symbol of the neighbours (e.g. ``"S"``); may equal ``centre``.
    :param cutoff: bond cut-off in Å, > 0.
    :param backend: ``"matscipy"`` or ``"ovito"``.
    """
    cutoff = require_positive(cutoff, "cutoff (Å)")
    require_species(atoms, (centre, neighbour))
    numbers = atoms.numbers
    z_centre, z_neigh = Atoms(centre).numbers[0], Atoms(neighbour).numbers[0]
    if backend == "matscipy":
        i, j, d, vec = _matscipy_pairs(atoms, centre, neighbour, cutoff)
    elif backend == "ovito":
        i, j, d, vec = _ovito_pairs(atoms, np.flatnonzero(numbers == z_centre), cutoff)
    else:
        raise AnalysisInputError(f"unknown neighbour backend {backend!r}; use one of {BACKENDS}")
    keep = (numbers[i] == z_centre) & (numbers[j] == z_neigh) & (d < cutoff)
    i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]
    order = np.argsort(i, kind="stable")
    return PairList(
        centre=i[order].astype(np.int64),
        neighbour=j[order].astype(np.int64),
        distance=d[order],
        vector=vec[order],
        n_atoms=len(atoms),
    )


def _matscipy_pairs(atoms: Atoms, centre: str, neighbour: str, cutoff: float):
    if not has_cell(atoms) and any(atoms.pbc):
        raise AnalysisInputError(
            "the structure is periodic but has no cell (zero volume); give it its cell vectors"
        )
    return neighbour_pairs(atoms, "ijdD", {(centre, neighbour): cutoff})


def neighbour_pairs(atoms: Atoms, quantities: str, cutoff: float | dict):
    """matscipy's ``neighbour_list(quantities, ...)`` for any structure: a periodic cell, a slab,
    or a cluster with or without cell vectors.

    The one neighbour-list call of the package (bond analysis here, close-contact checks in
    :mod:`aiida_bzs.structures.contacts`). ``cutoff``: Å, one value or per species pair
    (``{('Zr', 'S'): 3.2}``). A structure with three cell vectors goes to matscipy as it is
    (non-periodic directions are not wrapped); otherwise every direction that is not periodic or
    has no cell vector gets a non-periodic box around the atoms padded by the cut-off (matscipy
    needs three vectors; such a box only sets its search bins). Pairs are listed from both ends,
    periodic images included.
    """
    from matscipy.neighbours import neighbour_list

    if len(atoms) == 0:
        empty = {"i": np.zeros(0, int), "j": np.zeros(0, int), "d": np.zeros(0), "D": np.zeros((0, 3)),
                 "S": np.zeros((0, 3), int)}
        found = tuple(empty[q] for q in quantities)
        return found[0] if len(found) == 1 else found  # as matscipy does
    if has_cell(atoms):
        return neighbour_list(quantities, atoms, cutoff)
    reach = max(cutoff.values(), default=0.0) if isinstance(cutoff, dict) else float(cutoff)
    cell = np.array(atoms.cell[:], dtype=float)
    pbc = np.array(atoms.pbc, dtype=bool)
    origin = np.zeros(3)
    low, span = atoms.positions.min(axis=0), np.ptp(atoms.positions, axis=0)
    for k in range(3):
        if not pbc[k] or np.linalg.norm(cell[k]) < 1e-9:
            cell[k] = 0.0
            cell[k, k] = max(span[k] + 2 * reach, 1.0)
            pbc[k] = False
            origin[k] = low[k] - reach
    return neighbour_list(quantities, positions=atoms.positions, numbers=atoms.numbers.astype(np.int32),
                          cell=cell, cell_origin=origin, pbc=pbc, cutoff=cutoff)


def _ovito_pairs(atoms: Atoms, centres: np.ndarray, cutoff: float):
    from ovito.data import CutoffNeighborFinder

    data = to_ovito(atoms)
    pairs, vectors = CutoffNeighborFinder(cutoff, data).find_all(centres)
    distance = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    return pairs[:, 0], pairs[:, 1], distance, vectors


def to_ovito(atoms: Atoms):
    """Return an OVITO ``DataCollection`` of ``atoms`` (needs a cell: OVITO has no shrink-wrap)."""
    if not has_cell(atoms):
        raise AnalysisInputError(
            "the ovito backend needs a structure with a cell; use backend='matscipy' for clusters"
        )
    from ovito.io.ase import ase_to_ovito

    return ase_to_ovito(atoms)
