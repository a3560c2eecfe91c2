"""Extrapolation grade γ of an ACE potential on structures (D-optimality, pyace's active set).

LAMMPS's ``pace/extrapolation`` is not in the available build, so γ is computed afterwards on
dumped frames with pyace. γ ≤ 1 is interpolation; the study treats γ ≤ 2 as reliable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: The study's reliability limit: atoms with γ above this are extrapolated.
RELIABLE_GAMMA = 2.0


def per_atom_gamma(atoms: Atoms, calculator) -> np.ndarray:
    """Per-atom γ of ``atoms`` from a pyace ``PyACECalculator`` with an active set loaded."""
    work = atoms.copy()
    work.calc = calculator
    work.get_potential_energy()
    gamma = calculator.results.get("gamma")
    if gamma is None:
        raise ValueError("the calculator reports no γ; load the potential's active set (.asi) first")
    return np.asarray(gamma, dtype=float)


def max_gamma_per_frame(frames: Sequence[Atoms], calculator, progress: bool = False) -> np.ndarray:
    """Largest per-atom γ of each frame (dimensionless)."""
    iterator = frames
    if progress:
        from tqdm import tqdm

        iterator = tqdm(frames, desc="extrapolation grade", unit="frame")
    return np.array([per_atom_gamma(atoms, calculator).max() for atoms in iterator])
