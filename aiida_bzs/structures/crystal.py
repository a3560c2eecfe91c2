"""The orthorhombic BaZrS3 perovskite (GdFeO3 type, Pnma, Z = 4, 20 atoms per cell).

Lattice and Wyckoff positions are the campaign's starting point (experimental cell, approximate
fractional positions); relax them with DFT before quantitative use.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import spglib
from ase import Atoms
from ase.spacegroup import crystal

from .errors import StructureInputError

#: Experimental orthorhombic lattice (a, b, c) in Å, Pnma standard setting (b is the long axis).
PNMA_LATTICE: tuple[float, float, float] = (7.06, 9.98, 7.03)

#: Asymmetric unit in the Pnma setting: element -> fractional position (Wyckoff 4c, 4b, 4c, 8d).
PNMA_SITES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("Ba", (0.043, 0.25, 0.992)),
    ("Zr", (0.0, 0.0, 0.5)),
    ("S", (0.489, 0.25, 0.082)),
    ("S", (0.211, 0.036, 0.789)),
)

#: Elements of the campaign; anything else is rejected by builders that expect BaZrS3.
BZS_ELEMENTS = ("Ba", "Zr", "S")


def pnma_crystal(lattice: tuple[float, float, float] = PNMA_LATTICE) -> Atoms:
    """Return the 20-atom Pnma BaZrS3 cell.

    :param lattice: orthorhombic lattice constants (a, b, c) in Å.
    :returns: periodic ASE ``Atoms`` with 4 Ba, 4 Zr and 12 S, sorted Ba, Zr, S.
    """
    if len(lattice) != 3 or min(lattice) <= 0:
        raise StructureInputError(f"lattice must be three positive lengths in Å, got {lattice!r}")
    symbols = [site[0] for site in PNMA_SITES]
    basis = [site[1] for site in PNMA_SITES]
    atoms = crystal(symbols, basis=basis, spacegroup=62, cellpar=[*lattice, 90, 90, 90])
    order = np.argsort([BZS_ELEMENTS.index(s) for s in atoms.get_chemical_symbols()], kind="stable")
    atoms = atoms[order]
    atoms.info["config_type"] = "crystal"
    return atoms


#: Lattice constant of the ideal cubic (Pm-3m) BaZrS3 aristotype in Å, from the Pnma volume
#: per formula unit (495.3 Å³ / 4)^(1/3).
CUBIC_LATTICE = 4.99


def cubic_perovskite(a: float = CUBIC_LATTICE) -> Atoms:
    """Return the 5-atom ideal cubic perovskite BaZrS3 (Pm-3m): Zr at the centre, S on faces.

    A cheap cell for tests and convergence checks; not a stable phase (the Pnma tilts lower
    the energy). ``a`` in Å.
    """
    if a <= 0:
        raise StructureInputError(f"lattice constant must be positive (Å), got {a}")
    atoms = Atoms(
        "BaZrS3",
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=[a, a, a],
        pbc=True,
    )
    atoms.info["config_type"] = "crystal_cubic"
    return atoms


def spacegroup(atoms: Atoms, symprec: float = 1e-3) -> str:
    """Return the international space-group symbol found by spglib (``symprec`` in Å)."""
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise StructureInputError("spglib found no symmetry; is the cell degenerate?")
    return dataset.international


def check_bazrs3_like(atoms: Atoms) -> None:
    """Raise :class:`StructureInputError` unless ``atoms`` holds only Ba, Zr, S in ratio 1:1:3."""
    counts = Counter(atoms.get_chemical_symbols())
    unknown = sorted(set(counts) - set(BZS_ELEMENTS))
    if unknown:
        raise StructureInputError(
            f"elements {unknown} are not part of BaZrS3; builders here expect only Ba, Zr and S"
        )
    n_ba, n_zr, n_s = (counts.get(e, 0) for e in BZS_ELEMENTS)
    if n_ba == 0 or n_ba != n_zr or n_s != 3 * n_ba:
        raise StructureInputError(
            f"composition Ba{n_ba}Zr{n_zr}S{n_s} is not BaZrS3-like (need Ba:Zr:S = 1:1:3)"
        )
