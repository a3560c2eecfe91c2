"""The orthorhombic BaZrS3 perovskite (GdFeO3 type, Pnma, Z = 4, 20 atoms per cell).

Lattice and Wyckoff positions are the campaign's starting point (experimental cell, approximate
fractional positions); relax them with DFT (``bzs.crystal_relax``) before quantitative use.
The builder checks the distances that define the structure — six S around every Zr, eight
around every Ba, no short Ba–S — because a wrong Wyckoff site can still be Pnma with octahedral
Zr (an earlier S2 site put two S 2.83 Å from every Ba and passed a space-group check).
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
    ("S", (0.289, 0.036, 0.711)),
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
    scale = (np.prod(lattice) / np.prod(PNMA_LATTICE)) ** (1.0 / 3.0)
    check_pnma_distances(atoms, scale=scale)
    return atoms


#: Distance windows of sound Pnma BaZrS3 at the experimental cell, in Å (campaign.md §0):
#: every Zr has 6 S in ``ZR_S_WINDOW`` (2.54–2.56 Å to two decimals); every Ba has 8 S in ``BA_S_WINDOW``; no Ba–S is
#: shorter than ``MIN_BA_S`` (rock-salt BaS: 3.19 Å).
ZR_S_WINDOW: tuple[float, float] = (2.535, 2.565)
BA_S_WINDOW: tuple[float, float] = (3.00, 3.50)
MIN_BA_S = 2.95

#: Looser windows for a relaxed reference (DFT or ACE), whose bonds differ by a few per cent
#: from the experimental cell's; Zr–S up to the study's 3.1 Å coordination cut-off.
REFERENCE_ZR_S_WINDOW: tuple[float, float] = (2.40, 2.75)
REFERENCE_BA_S_WINDOW: tuple[float, float] = (2.90, 3.65)
REFERENCE_MIN_BA_S = 2.85


def cation_s_distances(atoms: Atoms, cutoff: float = 4.5) -> dict[str, list[np.ndarray]]:
    """Sorted cation–S distances (Å) within ``cutoff`` for every Zr and every Ba (periodic)."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff)
    symbols = np.array(atoms.get_chemical_symbols())
    to_s = symbols[j] == "S"
    out: dict[str, list[np.ndarray]] = {"Zr": [], "Ba": []}
    for element in out:
        for index in np.flatnonzero(symbols == element):
            out[element].append(np.sort(d[(i == index) & to_s]))
    return out


def pnma_distance_problems(
    atoms: Atoms,
    zr_s: tuple[float, float] = ZR_S_WINDOW,
    ba_s: tuple[float, float] = BA_S_WINDOW,
    min_ba_s: float = MIN_BA_S,
    scale: float = 1.0,
) -> list[str]:
    """What is wrong with the Zr–S octahedra and Ba–S cages of ``atoms`` (empty list: sound).

    Windows in Å are multiplied by ``scale`` (the lattice's linear scale against the
    experimental cell) so a uniformly scaled crystal passes.
    """
    zr_lo, zr_hi = zr_s[0] * scale, zr_s[1] * scale
    ba_lo, ba_hi = ba_s[0] * scale, ba_s[1] * scale
    floor = min_ba_s * scale
    problems = []
    distances = cation_s_distances(atoms)
    for k, d in enumerate(distances["Zr"]):
        inside = int(np.count_nonzero((d >= zr_lo - 1e-6) & (d <= zr_hi + 1e-6)))
        if inside != 6 or (len(d) > 6 and d[6] <= zr_hi):
            problems.append(f"Zr #{k}: {inside} S at {zr_lo:.2f}–{zr_hi:.2f} Å (need 6; nearest "
                            f"{', '.join(f'{x:.2f}' for x in d[:7])} Å)")
    for k, d in enumerate(distances["Ba"]):
        inside = int(np.count_nonzero((d >= ba_lo - 1e-6) & (d <= ba_hi + 1e-6)))
        if len(d) and d[0] < floor:
            problems.append(f"Ba #{k}: S at {d[0]:.2f} Å, below {floor:.2f} Å (rock-salt BaS has 3.19 Å)")
        if inside != 8:
            problems.append(f"Ba #{k}: {inside} S at {ba_lo:.2f}–{ba_hi:.2f} Å (need 8; nearest "
                            f"{', '.join(f'{x:.2f}' for x in d[:9])} Å)")
    return problems


def check_pnma_distances(atoms: Atoms, scale: float = 1.0) -> None:
    """Raise :class:`StructureInputError` unless the built cell has the Pnma BaZrS3 distances."""
    problems = pnma_distance_problems(atoms, scale=scale)
    if problems:
        raise StructureInputError(
            "the Pnma BaZrS3 cell has wrong cation–S distances (check the Wyckoff sites): "
            + "; ".join(problems[:4]) + (f"; … {len(problems) - 4} more" if len(problems) > 4 else "")
        )


def check_reference_crystal(atoms: Atoms, symprec: float = 0.05) -> None:
    """Refuse a "reference crystal" that is not Pnma BaZrS3 with intact ZrS6 octahedra.

    Used for DFT- or ACE-relaxed references before any builder starts from them: composition
    BaZrS3, space group Pnma (spglib, ``symprec`` in Å), every Zr with 6 S and every Ba with 8 S
    in the looser reference windows, no Ba–S below 2.85 Å.
    """
    check_bazrs3_like(atoms)
    group = spacegroup(atoms, symprec=symprec)
    if group != "Pnma":
        raise StructureInputError(
            f"the reference crystal has space group {group}, not Pnma; relax the Pnma cell "
            "(bzs.crystal_relax) without breaking its symmetry, or build it with pnma_crystal()"
        )
    problems = pnma_distance_problems(
        atoms, REFERENCE_ZR_S_WINDOW, REFERENCE_BA_S_WINDOW, REFERENCE_MIN_BA_S)
    if problems:
        raise StructureInputError(
            "the reference crystal has lost the Pnma coordination (Zr CN must be 6, Ba CN 8): "
            + "; ".join(problems[:4])
        )


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


def wyckoff_positions(atoms: Atoms) -> dict[str, tuple[float, float, float]]:
    """Fractional positions of the four Pnma sites (Ba 4c, Zr 4b, S1 4c, S2 8d) in ``atoms``.

    For each site of :data:`PNMA_SITES`, the atom of that element nearest (periodically) to the
    starting representative; a relaxation moves sites by far less than their separation, so this
    reads the relaxed asymmetric unit off a 20-atom cell built by :func:`pnma_crystal`.
    """
    scaled = atoms.get_scaled_positions(wrap=True)
    symbols = np.array(atoms.get_chemical_symbols())
    names = ("Ba", "Zr", "S1", "S2")
    out = {}
    for name, (element, start) in zip(names, PNMA_SITES):
        candidates = np.flatnonzero(symbols == element)
        delta = scaled[candidates] - np.asarray(start)
        delta -= np.round(delta)
        best = candidates[np.argmin(np.linalg.norm(delta @ atoms.cell[:], axis=1))]
        position = np.asarray(start) + (scaled[best] - np.asarray(start) - np.round(scaled[best] - np.asarray(start)))
        out[name] = tuple(float(round(x, 5)) for x in position)
    return out
