"""The study's failure test of an MD run: atoms closer than 1 Å, or atoms lost.

Applied to every dumped frame and to the final structure (campaign.md section 3). Distances come
from a neighbour list (matscipy, via ``structures.contacts``), never an O(N²) loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from aiida_bzs.structures.contacts import separation_violations, shortest_distance

#: Two atoms closer than this (Å) mean the simulation failed (the study's definition).
MIN_DISTANCE = 1.0
#: Closest approaches shorter than this (Å) are reported per frame; longer ones read as ``inf``.
PROBE_DISTANCE = 2.5


@dataclass
class FailureReport:
    """Per-frame closest approach (Å, ``inf`` above :data:`PROBE_DISTANCE`), number of pairs
    closer than ``threshold`` (Å) and atom count; the first failing frame and why."""

    min_distance: np.ndarray
    close_pairs: np.ndarray
    n_atoms: np.ndarray
    n_expected: int
    threshold: float
    failed_frame: int | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.failed_frame is not None

    def summary(self) -> dict:
        """JSON-ready scalars: failed, reason, first failing frame, overall closest approach (Å)."""
        finite = self.min_distance[np.isfinite(self.min_distance)]
        return {
            "failed": self.failed,
            "failure_reason": self.reason,
            "failed_frame": self.failed_frame,
            "min_distance": float(finite.min()) if finite.size else None,
            "min_distance_threshold": self.threshold,
            "n_frames_checked": int(len(self.n_atoms)),
            "atoms_lost": int(self.n_expected - self.n_atoms.min()) if len(self.n_atoms) else 0,
        }


def check_frames(frames: Iterable[Atoms], n_expected: int, threshold: float = MIN_DISTANCE) -> FailureReport:
    """Check each frame: fewer than ``n_expected`` atoms, or two atoms closer than ``threshold`` Å."""
    min_d, close, counts = [], [], []
    failed, reason = None, None
    for index, atoms in enumerate(frames):
        d = shortest_distance(atoms, cutoff=max(PROBE_DISTANCE, threshold))
        n_close = len(separation_violations(atoms, threshold)) if d < threshold else 0
        min_d.append(d)
        close.append(n_close)
        counts.append(len(atoms))
        if failed is None and len(atoms) < n_expected:
            failed, reason = index, "lost_atoms"
        elif failed is None and n_close:
            failed, reason = index, "atoms_too_close"
    return FailureReport(np.array(min_d, dtype=float), np.array(close, dtype=int), np.array(counts, dtype=int),
                         int(n_expected), float(threshold), failed, reason)


#: Densest packing fraction of equal spheres (Kepler; Hales's proof).
_KEPLER = np.pi / np.sqrt(18.0)


def max_neighbours_without_contact(radius: float, min_distance: float = MIN_DISTANCE) -> int:
    """Most atoms within ``radius`` (Å) of an atom when no two are closer than ``min_distance`` (Å).

    Spheres of diameter ``min_distance`` around the atom and its neighbours fit in a sphere of
    radius ``radius + min_distance/2`` at no more than the densest packing fraction. A LAMMPS
    neighbour list that needs more entries per atom therefore proves a contact below ``min_distance``.
    """
    half = min_distance / 2.0
    return int(_KEPLER * ((radius + half) / half) ** 3)


def volume_proves_contact(volume: np.ndarray, n_atoms: int, min_distance: float = MIN_DISTANCE) -> np.ndarray:
    """True where a periodic cell of ``volume`` Å³ cannot hold ``n_atoms`` atoms ``min_distance`` Å apart."""
    sphere = np.pi / 6.0 * min_distance**3
    return np.asarray(volume, dtype=float) * _KEPLER < n_atoms * sphere
