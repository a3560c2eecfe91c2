"""Coordination numbers of the cations and their mean bond lengths, per atom and as histograms.

Per-atom arrays are kept aligned with the structure's atoms so that a subset (grain-boundary
atoms, a slab, a region) can be analysed by passing a boolean ``mask``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .errors import AnalysisInputError
from .neighbours import DEFAULT_BACKEND, pair_list

#: Cation–sulfur bond cut-offs of the study in Å, keyed (centre, neighbour): campaign.md §5.
BOND_CUTOFFS: dict[tuple[str, str], float] = {("Zr", "S"): 3.1, ("Ba", "S"): 3.8}


@dataclass(frozen=True)
class Coordination:
    """Per-atom coordination of ``centre`` atoms by ``neighbour`` atoms within ``cutoff`` (Å).

    ``cn[k]`` is the number of neighbours of atom ``k``, or -1 when atom ``k`` is not a
    ``centre`` atom; ``bond_length[k]`` is its mean centre–neighbour distance in Å (NaN for
    non-centres and for CN 0). Both have one entry per atom of the structure.
    """

    centre: str
    neighbour: str
    cutoff: float
    cn: np.ndarray
    bond_length: np.ndarray

    @property
    def label(self) -> str:
        """The bond's name in the study's notation, e.g. ``"Zr–S"``."""
        return f"{self.centre}–{self.neighbour}"

    def histogram(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(cn_values, n_atoms)``: how many centre atoms have CN 0, 1, …, max."""
        return cn_histogram(self.cn, mask)

    def mean_bond_length_by_cn(self, mask: np.ndarray | None = None):
        """Return ``(cn_values, mean bond length in Å, n_atoms)`` for each CN present."""
        return mean_bond_length_by_cn(self.cn, self.bond_length, mask)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Per-atom arrays plus the derived histogram and bond lengths, for storage."""
        values, counts = self.histogram()
        bl_cn, bl_mean, _ = self.mean_bond_length_by_cn()
        return {
            "cn": self.cn,
            "bond_length": self.bond_length,
            "cn_values": values,
            "cn_counts": counts,
            "bond_length_cn": bl_cn,
            "bond_length_mean": bl_mean,
        }

    @classmethod
    def from_arrays(cls, centre: str, neighbour: str, cutoff: float, arrays) -> Coordination:
        """Rebuild from :meth:`to_arrays` output (``arrays`` maps names to arrays)."""
        return cls(centre, neighbour, float(cutoff), np.asarray(arrays["cn"]),
                   np.asarray(arrays["bond_length"]))


def coordination(
    atoms: Atoms,
    centre: str = "Zr",
    neighbour: str = "S",
    cutoff: float | None = None,
    backend: str = DEFAULT_BACKEND,
) -> Coordination:
    """Count ``neighbour`` atoms within ``cutoff`` (Å) of every ``centre`` atom.

    :param cutoff: bond cut-off in Å; default from :data:`BOND_CUTOFFS` (Zr–S 3.1, Ba–S 3.8).
    :param backend: neighbour library, see :mod:`aiida_bzs.analysis.neighbours`.
    """
    if cutoff is None:
        try:
            cutoff = BOND_CUTOFFS[(centre, neighbour)]
        except KeyError:
            raise AnalysisInputError(
                f"no default cut-off for {centre}–{neighbour}; pass cutoff= in Å"
            ) from None
    pairs = pair_list(atoms, centre, neighbour, cutoff, backend=backend)
    is_centre = atoms.numbers == Atoms(centre).numbers[0]
    counts = pairs.counts()
    cn = np.where(is_centre, counts, -1).astype(np.int64)
    length_sum = np.bincount(pairs.centre, weights=pairs.distance, minlength=len(atoms))
    with np.errstate(invalid="ignore", divide="ignore"):
        bond_length = np.where(cn > 0, length_sum / counts, np.nan)
    return Coordination(centre, neighbour, float(cutoff), cn, bond_length)


def _centres(cn: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    selected = cn >= 0
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != cn.shape:
            raise AnalysisInputError(
                f"mask has {mask.shape[0] if mask.ndim else 0} entries but the structure has "
                f"{cn.shape[0]} atoms; pass one boolean per atom"
            )
        selected &= mask
    return selected


def cn_histogram(cn: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cn_values, n_atoms)`` over centre atoms (``cn >= 0``), optionally within ``mask``.

    ``cn_values`` runs 0, 1, …, max CN so that histograms of two structures line up.
    """
    cn = np.asarray(cn)
    selected = cn[_centres(cn, mask)]
    counts = np.bincount(selected) if len(selected) else np.zeros(1, dtype=np.int64)
    return np.arange(len(counts)), counts


def mean_bond_length_by_cn(
    cn: np.ndarray, bond_length: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(cn_values, mean bond length in Å, n_atoms)`` for every CN ≥ 1 that occurs.

    All atoms with a given CN have that many bonds, so this is also the mean over their bonds.
    """
    cn = np.asarray(cn)
    selected = _centres(cn, mask) & (cn > 0)
    values, inverse, n_atoms = np.unique(cn[selected], return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=np.asarray(bond_length)[selected], minlength=len(values))
    return values, sums / np.maximum(n_atoms, 1), n_atoms
