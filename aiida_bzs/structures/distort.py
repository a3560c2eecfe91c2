"""Supercells, strained and rattled copies: the 'crystalline' family of training structures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.build import make_supercell as ase_make_supercell

from .errors import StructureInputError


def make_supercell(atoms: Atoms, repeat: Sequence[int] | Sequence[Sequence[int]]) -> Atoms:
    """Return a supercell of ``atoms``.

    :param repeat: three positive integers (diagonal repeat, e.g. ``(8, 8, 8)`` gives the
        study's 10,240-atom cell) or a 3×3 integer transformation matrix.
    """
    matrix = np.array(repeat, dtype=int)
    if matrix.shape == (3,):
        if (matrix < 1).any():
            raise StructureInputError(f"repeat must be positive integers, got {list(repeat)}")
        sc = atoms.repeat(tuple(matrix))
    elif matrix.shape == (3, 3):
        if round(abs(np.linalg.det(matrix))) < 1:
            raise StructureInputError("supercell matrix is singular")
        sc = ase_make_supercell(atoms, matrix)
    else:
        raise StructureInputError(f"repeat must be 3 integers or a 3x3 matrix, got {repeat!r}")
    sc.info.update(atoms.info)
    return sc


def rattle(atoms: Atoms, stdev: float = 0.05, seed: int = 0) -> Atoms:
    """Return a copy with Gaussian displacements.

    :param stdev: standard deviation of each Cartesian displacement, Å.
    :param seed: random seed; the same seed gives the same structure.
    """
    if stdev < 0:
        raise StructureInputError(f"stdev must be >= 0 Å, got {stdev}")
    new = atoms.copy()
    rng = np.random.default_rng(seed)
    new.positions += rng.normal(0.0, stdev, size=new.positions.shape)
    new.wrap()
    new.info["config_type"] = atoms.info.get("config_type", "crystal") + "_rattled"
    return new


def strain(atoms: Atoms, strain_voigt: Sequence[float]) -> Atoms:
    """Return a homogeneously strained copy (atoms move with the cell).

    :param strain_voigt: six components (e_xx, e_yy, e_zz, e_yz, e_xz, e_xy) of the
        engineering strain (dimensionless, 0.01 = 1 %), or a single number for isotropic strain.
    """
    eps = np.atleast_1d(np.asarray(strain_voigt, dtype=float))
    if eps.shape == (1,):
        eps = np.array([eps[0]] * 3 + [0.0] * 3)
    if eps.shape != (6,):
        raise StructureInputError(f"strain needs 1 or 6 components, got {len(eps)}")
    if (np.abs(eps) >= 0.5).any():
        raise StructureInputError(f"strain components must lie within ±50 %, got {eps.tolist()}")
    exx, eyy, ezz, eyz, exz, exy = eps
    tensor = np.array([[exx, exy / 2, exz / 2], [exy / 2, eyy, eyz / 2], [exz / 2, eyz / 2, ezz]])
    new = atoms.copy()
    new.set_cell(atoms.cell[:] @ (np.eye(3) + tensor), scale_atoms=True)
    new.info["config_type"] = atoms.info.get("config_type", "crystal") + "_strained"
    return new
