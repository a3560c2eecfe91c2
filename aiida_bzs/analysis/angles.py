"""Bond-angle distributions (ADFs) such as S–Zr–S and S–Ba–S.

An ideal ZrS6 octahedron gives 12 angles of 90° and 3 of 180° per Zr; amorphous BaZrS3
spreads and shifts these peaks as octahedra distort and lower-coordinated Zr appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .coordination import BOND_CUTOFFS
from .errors import AnalysisInputError, require_positive
from .neighbours import DEFAULT_BACKEND, pair_list

#: Number of bins between 0° and 180° (1° each).
ADF_BINS = 180


@dataclass(frozen=True)
class BondAngleDistribution:
    """Histogram of neighbour–centre–neighbour angles on bin centres ``angle`` (degrees).

    ``density`` is normalised to unit area (per degree); ``counts`` are raw angle counts.
    """

    centre: str
    neighbour: str
    cutoff: float
    angle: np.ndarray
    density: np.ndarray
    counts: np.ndarray

    @property
    def label(self) -> str:
        """The angle's name in the study's notation, e.g. ``"S–Zr–S"``."""
        return f"{self.neighbour}–{self.centre}–{self.neighbour}"

    @property
    def n_angles(self) -> int:
        """Total number of angles in the histogram."""
        return int(self.counts.sum())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for storage."""
        return {"angle": self.angle, "density": self.density, "counts": self.counts}

    @classmethod
    def from_arrays(cls, centre, neighbour, cutoff, arrays) -> BondAngleDistribution:
        """Rebuild from :meth:`to_arrays` output."""
        return cls(centre, neighbour, float(cutoff), *(np.asarray(arrays[k]) for k in
                                                        ("angle", "density", "counts")))


def bond_angles(
    atoms: Atoms,
    centre: str = "Zr",
    neighbour: str = "S",
    cutoff: float | None = None,
    mask: np.ndarray | None = None,
    backend: str = DEFAULT_BACKEND,
) -> np.ndarray:
    """Return every neighbour–centre–neighbour angle in degrees, each pair of bonds once.

    :param cutoff: bond cut-off in Å; default from :data:`~.coordination.BOND_CUTOFFS`.
    :param mask: optional boolean per atom; only centre atoms inside it contribute.
    """
    from matscipy.neighbours import first_neighbours, triplet_list

    if cutoff is None:
        cutoff = BOND_CUTOFFS.get((centre, neighbour))
        if cutoff is None:
            raise AnalysisInputError(f"no default cut-off for {centre}–{neighbour}; pass cutoff= in Å")
    pairs = pair_list(atoms, centre, neighbour, cutoff, backend=backend)
    vector, distance, centres = pairs.vector, pairs.distance, pairs.centre
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(atoms),):
            raise AnalysisInputError(f"mask must hold one boolean per atom ({len(atoms)})")
        keep = mask[centres]
        vector, distance, centres = vector[keep], distance[keep], centres[keep]
    if len(centres) == 0:
        return np.zeros(0)
    # all ordered pairs of bonds sharing a centre; keep each unordered pair once
    first, second = triplet_list(first_neighbours(len(atoms), centres.astype(np.int32)))
    once = first < second
    first, second = first[once], second[once]
    cosine = np.einsum("ij,ij->i", vector[first], vector[second]) / (
        distance[first] * distance[second]
    )
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def bond_angle_distribution(
    atoms: Atoms,
    centre: str = "Zr",
    neighbour: str = "S",
    cutoff: float | None = None,
    bins: int = ADF_BINS,
    mask: np.ndarray | None = None,
    backend: str = DEFAULT_BACKEND,
) -> BondAngleDistribution:
    """Histogram of :func:`bond_angles` over 0–180° in ``bins`` bins, normalised per degree."""
    bins = int(require_positive(bins, "bins"))
    if cutoff is None:
        cutoff = BOND_CUTOFFS.get((centre, neighbour))
    angles = bond_angles(atoms, centre, neighbour, cutoff, mask=mask, backend=backend)
    counts, edges = np.histogram(angles, bins=bins, range=(0.0, 180.0))
    width = edges[1] - edges[0]
    density = counts / (max(len(angles), 1) * width)
    return BondAngleDistribution(
        centre, neighbour, float(cutoff) if cutoff is not None else float("nan"),
        0.5 * (edges[1:] + edges[:-1]), density, counts,
    )
