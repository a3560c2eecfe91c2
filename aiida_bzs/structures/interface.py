"""Crystal–amorphous interfaces: a crystalline slab against an amorphous (or random) slab.

Both slabs share the crystal's in-plane cell, so one periodic cell holds two interfaces normal
to the chosen cell axis. The amorphous part is either cut from a given amorphous sample (e.g. a
melt–quench snapshot; periodic images tile the cut) or drawn at random at a given density.
Atoms that come closer than the species-pair minima (Å) are removed from the amorphous side
and its composition is trimmed back to the crystal's formula ratio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import product

import numpy as np
from ase import Atoms

from .contacts import separation_violations
from .crystal import BZS_ELEMENTS
from .errors import StructureInputError
from .rss import Placer, normalise_separations, place_random

#: Space (Å) between the crystal's periodic plane and the start of the amorphous slab.
DEFAULT_GAP = 1.5

#: Volume per atom (Å³/atom) of a random amorphous slab: ~10 % less dense than the crystal.
DEFAULT_AMORPHOUS_VOLUME_PER_ATOM = 27.5


def _frame(crystal: Atoms, axis: int):
    """In-plane vectors, unit normal and slab height (Å) for stacking along cell vector ``axis``."""
    cell = np.array(crystal.cell[:])
    a1, a2, a3 = cell[(axis + 1) % 3], cell[(axis + 2) % 3], cell[axis]
    normal = np.cross(a1, a2)
    normal /= np.linalg.norm(normal)
    if normal @ a3 < 0:
        normal = -normal
    return cell, normal, float(normal @ a3)


def reduced_formula(atoms: Atoms) -> dict[str, int]:
    """Element counts divided by their greatest common divisor (Ba4Zr4S12 → BaZrS3)."""
    return atoms.symbols.formula.reduce()[0].count()


def _cut_slab(amorphous: Atoms, origin: np.ndarray, basis: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Atoms of the periodic ``amorphous`` sample inside the parallelepiped ``origin + [0,1)³ @ basis``."""
    corners = np.array(list(product((0, 1), repeat=3))) @ basis
    inv_am = np.linalg.inv(amorphous.cell[:])
    frac_corners = corners @ inv_am
    lo = np.floor(frac_corners.min(axis=0)).astype(int) - 1
    hi = np.ceil(frac_corners.max(axis=0)).astype(int) + 1
    shifts = np.array(list(product(*(range(a, b + 1) for a, b in zip(lo, hi))))) @ amorphous.cell[:]
    base = amorphous.get_positions(wrap=True)
    points = (base[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    symbols = np.tile(np.array(amorphous.get_chemical_symbols()), len(shifts))
    frac = points @ np.linalg.inv(basis)
    inside = np.all((frac >= 0) & (frac < 1), axis=1)
    return symbols[inside].tolist(), origin + frac[inside] @ basis


def _remove_contacts(atoms: Atoms, first_removable: int, table) -> Atoms:
    """Greedily delete removable atoms (index ≥ ``first_removable``) until no pair is too close."""
    pairs = separation_violations(atoms, table)
    bad_fixed = [(i, j, d) for i, j, d in pairs if i < first_removable and j < first_removable]
    if bad_fixed:
        i, j, d = bad_fixed[0]
        raise StructureInputError(f"the crystal itself has atoms {i} and {j} only {d:.2f} Å apart")
    removed: set[int] = set()
    live = [(i, j) for i, j, _ in pairs]
    while live:
        counts = Counter(k for pair in live for k in pair if k >= first_removable)
        worst = counts.most_common(1)[0][0]
        removed.add(worst)
        live = [(i, j) for i, j in live if worst not in (i, j)]
    keep = [k for k in range(len(atoms)) if k not in removed]
    return atoms[keep]


def _to_formula_units(
    atoms: Atoms, first: int, ratio: Mapping[str, int], units: int, origin, basis, table, rng: np.random.Generator
) -> Atoms | None:
    """Make the amorphous part (index ≥ ``first``) exactly ``units`` formula units of ``ratio``:
    random excess atoms are deleted, missing ones inserted at random free spots of the slab.
    ``None`` when an atom cannot be inserted."""
    symbols = np.array(atoms.get_chemical_symbols())
    part = np.arange(first, len(atoms))
    drop: list[int] = []
    missing: list[str] = []
    for element in sorted(set(symbols[part]) | set(ratio), key=BZS_ELEMENTS.index):
        idx = part[symbols[part] == element]
        excess = len(idx) - units * ratio.get(element, 0)
        if excess > 0:
            drop.extend(rng.choice(idx, size=excess, replace=False).tolist())
        missing.extend([element] * max(0, -excess))
    kept = atoms[np.setdiff1d(np.arange(len(atoms)), drop)]
    placer = Placer(kept.cell[:], table)
    placer.add(kept.positions, kept.get_chemical_symbols())
    if place_random(placer, missing, rng, origin=origin, basis=basis) < len(missing):
        return None
    return Atoms(placer.symbols, positions=placer.positions, cell=kept.cell, pbc=True)


def _fill_slab(base: Atoms, first: int, ratio, target_units: int, origin, basis, table, rng) -> Atoms:
    """Bring the amorphous part to whole formula units, one unit fewer each time it will not fit."""
    for units in range(target_units, 0, -1):
        for _attempt in range(5):
            done = _to_formula_units(base, first, ratio, units, origin, basis, table, rng)
            if done is not None:
                return done
    raise StructureInputError(
        "could not fit one formula unit into the amorphous slab with the minimum separations; "
        "make it thicker, lower the density or the separations"
    )


def crystal_amorphous_interface(
    crystal: Atoms,
    axis: int = 2,
    amorphous: Atoms | None = None,
    amorphous_thickness: float | None = None,
    gap: float = DEFAULT_GAP,
    volume_per_atom: float = DEFAULT_AMORPHOUS_VOLUME_PER_ATOM,
    min_separation: Mapping | None = None,
    seed: int = 0,
) -> Atoms:
    """Join a crystalline slab and an amorphous slab in one periodic cell along cell vector ``axis``.

    :param crystal: the crystalline slab, e.g. a supercell of the Pnma cell; its two other cell
        vectors define the interface plane (both slabs share them: matched in-plane cell).
    :param amorphous: periodic amorphous sample to cut the second slab from (any size; it is
        tiled periodically); ``None`` draws random positions at ``volume_per_atom`` Å³/atom.
    :param amorphous_thickness: slab thickness normal to the interface, Å (default: the crystal's).
    :param gap: space (Å) between each crystal plane and the amorphous slab.
    :param min_separation: species-pair minima (Å), default those of random structure search.
    :param seed: seeds random placement and the trimming to whole formula units.
    :returns: crystal atoms first, then amorphous ones; ``info`` records config_type
        'interface', the axis and the number of crystal atoms.
    """
    if axis not in (0, 1, 2):
        raise StructureInputError(f"axis must be 0, 1 or 2, got {axis}")
    if not crystal.pbc.all() or crystal.cell.volume < 1e-6:
        raise StructureInputError("the crystal slab must be a periodic cell")
    unknown = sorted(set(crystal.get_chemical_symbols()) - set(BZS_ELEMENTS))
    if unknown:
        raise StructureInputError(f"elements {unknown} are not Ba, Zr or S")
    if gap < 0:
        raise StructureInputError(f"gap must be >= 0 Å, got {gap}")
    table = normalise_separations(min_separation)
    cell, normal, height = _frame(crystal, axis)
    thickness = float(amorphous_thickness or height)
    if thickness <= 0:
        raise StructureInputError(f"amorphous_thickness must be positive Å, got {thickness}")
    new_cell = cell.copy()
    new_cell[axis] = cell[axis] + normal * (2 * gap + thickness)
    origin = cell[axis] + normal * gap
    slab_basis = cell.copy()
    slab_basis[axis] = normal * thickness
    ratio = reduced_formula(crystal)
    rng = np.random.default_rng(seed)

    base = Atoms(crystal.get_chemical_symbols(), positions=crystal.get_positions(wrap=True), cell=new_cell, pbc=True)
    if amorphous is not None:
        if not amorphous.pbc.all() or amorphous.cell.volume < 1e-6:
            raise StructureInputError("the amorphous sample must be a periodic cell (it is tiled to fill the slab)")
        symbols, positions = _cut_slab(amorphous, origin, slab_basis)
        joined = base + Atoms(symbols, positions=positions, cell=new_cell, pbc=True)
        joined = _remove_contacts(joined, len(crystal), table)
        units = max(1, int(round(len(symbols) / sum(ratio.values()))))
    else:
        volume = abs(np.linalg.det(slab_basis))
        units = max(1, int(round(volume / (volume_per_atom * sum(ratio.values())))))
        joined = base
    joined = _fill_slab(joined, len(crystal), ratio, units, origin, slab_basis, table, rng)
    if separation_violations(joined, table):  # guaranteed by construction; checked all the same
        raise StructureInputError("interface construction left close contacts; report this as a bug")
    joined.wrap()
    joined.info.update(
        {"config_type": "interface", "interface_axis": axis, "n_crystal_atoms": len(crystal), "interface_seed": int(seed)}
    )
    return joined
