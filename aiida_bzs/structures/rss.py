"""Random structure search (RSS) cells: the 'de novo exploration' family of training structures.

Random cells of a given composition, with species-pair minimum separations (Å) and a volume per
atom (Å³/atom) drawn from a range, optionally with a random space-group symmetry (AIRSS style).
Atoms are placed one at a time and a position is only accepted when it respects every pair
minimum with the atoms already placed (periodic images included); a cell that cannot be filled
is thrown away and redrawn, and every returned cell is checked again with a neighbour list, so
no returned cell violates the separations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.formula import Formula
from ase.spacegroup import Spacegroup
from scipy.spatial import cKDTree

from .contacts import separation_violations
from .crystal import BZS_ELEMENTS
from .errors import StructureInputError

#: Minimum separations (Å) for random BaZrS3 cells: about 0.8 of the crystal's shortest
#: contacts (Zr–S 2.57, Ba–S 3.1, S–S 3.5 Å); S–S allows S₂ pairs (~2.05 Å) to appear.
DEFAULT_MIN_SEPARATION: dict[tuple[str, str], float] = {
    ("Ba", "Ba"): 3.6,
    ("Ba", "Zr"): 3.3,
    ("Ba", "S"): 2.6,
    ("Zr", "Zr"): 3.0,
    ("Zr", "S"): 2.1,
    ("S", "S"): 1.9,
}

#: Volume per atom (Å³/atom) range for random cells; the Pnma crystal has ~24.8 Å³/atom. Below
#: ~22 Å³/atom most random BaZrS3 cells cannot meet the default separations (Ba-rich ones need more).
DEFAULT_VOLUME_PER_ATOM: tuple[float, float] = (22.0, 34.0)

#: Attempts per atom before a partially filled cell is abandoned, and cells drawn per structure.
TRIALS_PER_ATOM = 200
MAX_CELLS = 200

#: Cell shape limits: no length ratio above this, angles within these bounds (degrees).
MAX_LENGTH_RATIO = 2.0
ANGLE_RANGE = (60.0, 120.0)


def parse_composition(composition: str | Mapping[str, int], formula_units: int = 1) -> dict[str, int]:
    """``'BaZrS3'`` (or ``{'Ba': 1, 'Zr': 1, 'S': 3}``) times ``formula_units`` → element counts.

    Off-stoichiometric compositions (``'Ba2ZrS5'``) are fine; elements must be Ba, Zr or S.
    """
    if isinstance(composition, str):
        try:
            counts: Counter[str] = Counter(Formula(composition.replace(" ", "")).count())
        except ValueError:
            counts = Counter()
        if not counts:
            raise StructureInputError(f"cannot read composition {composition!r}; write it like 'BaZrS3'")
    else:
        counts = Counter({str(k): int(v) for k, v in composition.items()})
    unknown = sorted(set(counts) - set(BZS_ELEMENTS))
    if unknown:
        raise StructureInputError(f"elements {unknown} in composition {composition!r} are not Ba, Zr or S")
    if formula_units < 1 or any(v < 0 for v in counts.values()) or sum(counts.values()) == 0:
        raise StructureInputError(f"composition {composition!r} × {formula_units} has no atoms")
    return {e: counts[e] * formula_units for e in BZS_ELEMENTS if counts.get(e)}


def normalise_separations(min_separation: Mapping | None) -> dict[tuple[str, str], float]:
    """Pair table with sorted keys; accepts ``{'Ba-S': 2.6}`` or ``{('Ba', 'S'): 2.6}`` (Å)."""
    table = dict(DEFAULT_MIN_SEPARATION) if min_separation is None else {}
    for key, value in (min_separation or {}).items():
        pair = tuple(key.split("-")) if isinstance(key, str) else tuple(key)
        if len(pair) != 2 or float(value) < 0:
            raise StructureInputError(f"bad minimum separation {key!r}: {value!r}")
        table[pair] = float(value)
    return {tuple(sorted(k)): v for k, v in table.items()}


def random_cell_vectors(rng: np.random.Generator, volume: float, crystal_system: str = "triclinic") -> np.ndarray:
    """A random cell (rows are vectors, Å) of ``volume`` Å³ whose shape suits ``crystal_system``."""
    lo, hi = ANGLE_RANGE
    while True:
        lengths = rng.uniform(1.0, MAX_LENGTH_RATIO, 3)
        angles = rng.uniform(lo, hi, 3)
        if crystal_system in ("monoclinic",):
            angles[[0, 2]] = 90.0
        elif crystal_system in ("orthorhombic", "tetragonal", "cubic"):
            angles[:] = 90.0
        elif crystal_system in ("trigonal", "hexagonal"):
            angles[:] = (90.0, 90.0, 120.0)
        if crystal_system in ("tetragonal", "trigonal", "hexagonal"):
            lengths[1] = lengths[0]
        elif crystal_system == "cubic":
            lengths[:] = lengths[0]
        from ase.geometry import cellpar_to_cell

        cell = cellpar_to_cell([*lengths, *angles])
        det = abs(np.linalg.det(cell))
        if det > 0.3 * np.prod(lengths):  # reject nearly flat cells
            return cell * (volume / det) ** (1.0 / 3.0)


def crystal_system(number: int) -> str:
    """Crystal system of space group ``number`` (1–230)."""
    for upper, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
                        (167, "trigonal"), (194, "hexagonal"), (230, "cubic")):
        if number <= upper:
            return name
    raise StructureInputError(f"space group {number} is not in 1–230")


def _image_shifts(cell: np.ndarray, reach: float) -> np.ndarray:
    """Lattice translations (Å) that can bring an image within ``reach`` Å of the home cell."""
    inv_heights = np.linalg.norm(np.linalg.inv(cell), axis=0)  # 1 / plane spacings
    n = np.ceil(reach * inv_heights).astype(int)
    grid = np.array(list(product(*(range(-k, k + 1) for k in n))))
    return grid @ cell


#: Placed atoms checked directly (numpy) before they join the KD-tree, which is rebuilt this often.
REBUILD_EVERY = 64


class Placer:
    """Random sequential addition in a periodic cell: an atom is kept only when it respects every
    species-pair minimum (Å) with the atoms placed so far, periodic images included.

    The one placer of the package: RSS cells, interface slabs (:mod:`.interface`) and hard-sphere
    melt–quench boxes (:mod:`.random_start`) all use it, through :func:`place_random`. Placed atoms
    sit in a scipy ``cKDTree`` rebuilt every :data:`REBUILD_EVERY` atoms (the newest are checked
    directly): a periodic tree (``boxsize``, minimum images) in an orthorhombic cell wider than
    twice the largest minimum, so 10⁴ atoms take about a second; otherwise a tree of the atoms'
    periodic images that can come within reach (any cell shape, cells smaller than the minima).
    """

    def __init__(self, cell: np.ndarray, table: Mapping[tuple[str, str], float]):
        self.cell = np.asarray(cell, dtype=float)
        species = sorted({e for pair in table for e in pair} | set(BZS_ELEMENTS))
        self.index = {e: i for i, e in enumerate(species)}
        self.limit = np.zeros((len(species), len(species)))
        for (a, b), value in table.items():
            self.limit[self.index[a], self.index[b]] = self.limit[self.index[b], self.index[a]] = value
        self.reach = float(max(table.values(), default=0.0))
        lengths = np.diag(self.cell).copy()
        diagonal = not np.any(self.cell - np.diag(lengths)) and np.all(lengths > 0)
        self.box = lengths if diagonal and self.reach < lengths.min() / 2 else None
        self.shifts = _image_shifts(self.cell, self.reach)
        self.home = np.all(self.shifts == 0, axis=1)
        self.positions = np.zeros((0, 3))
        self.kinds = np.zeros(0, dtype=int)
        self.symbols: list[str] = []
        self._tree = None
        self._n_tree = 0

    def fits(self, new_positions: np.ndarray, new_symbols: Sequence[str]) -> bool:
        """True when the candidate atoms keep every pair minimum, among themselves and with the rest."""
        new_positions = np.atleast_2d(new_positions)
        new_kinds = np.array([self.index[s] for s in new_symbols], dtype=int)
        for k, (position, kind) in enumerate(zip(new_positions, new_kinds)):
            if not self._clear_of_placed(position, kind):
                return False
            if len(new_positions) > 1 or self.box is None:  # the group's own atoms and images
                delta = new_positions[: k + 1][None, :, :] + self.shifts[:, None, :] - position
                d = np.linalg.norm(delta, axis=2)
                d[self.home, k] = np.inf  # not itself in the home cell
                if (d < self.limit[kind, new_kinds[: k + 1]][None, :]).any():
                    return False
        return True

    def _clear_of_placed(self, position: np.ndarray, kind: int) -> bool:
        if self._tree is not None:
            near = self._tree.query_ball_point(position, self.reach)
            if near:
                near = np.asarray(near)
                d = self._tree.data[near] - position
                if self.box is not None:
                    d -= self.box * np.round(d / self.box)
                    partners = self.kinds[near]
                else:
                    partners = self.kinds[near % self._n_tree]
                if (np.linalg.norm(d, axis=1) < self.limit[kind, partners]).any():
                    return False
        recent = self.positions[self._n_tree:]
        if not len(recent):
            return True
        if self.box is not None:
            d = recent - position
            d -= self.box * np.round(d / self.box)
            return not (np.linalg.norm(d, axis=1) < self.limit[kind, self.kinds[self._n_tree:]]).any()
        delta = recent[None, :, :] + self.shifts[:, None, :] - position
        d = np.linalg.norm(delta, axis=2)
        return not (d < self.limit[kind, self.kinds[self._n_tree:]][None, :]).any()

    def add(self, positions: np.ndarray, symbols: Sequence[str]) -> None:
        self.positions = np.vstack([self.positions, np.atleast_2d(positions)])
        self.kinds = np.concatenate([self.kinds, [self.index[s] for s in symbols]]).astype(int)
        self.symbols += list(symbols)
        if len(self.positions) - self._n_tree >= REBUILD_EVERY and self.reach > 0:
            self._n_tree = len(self.positions)
            if self.box is not None:
                self._tree = cKDTree(np.mod(self.positions, self.box), boxsize=self.box)
            else:
                images = self.positions[None, :, :] + self.shifts[:, None, :]
                self._tree = cKDTree(images.reshape(-1, 3))


def place_random(placer: Placer, symbols: Sequence[str], rng: np.random.Generator, trials: int = TRIALS_PER_ATOM,
                 origin: np.ndarray | None = None, basis: np.ndarray | None = None) -> int:
    """Drop ``symbols`` one at a time at uniform random points ``origin + u @ basis`` (u in [0, 1)³;
    default: anywhere in the placer's cell), keeping each at the first of ``trials`` draws that
    :meth:`Placer.fits`. Returns how many were placed: fewer than asked when one found no room
    (the rest are not tried)."""
    basis = placer.cell if basis is None else np.asarray(basis, dtype=float)
    for count, element in enumerate(symbols):
        for _trial in range(trials):
            position = rng.random(3) @ basis
            if origin is not None:
                position = origin + position
            if placer.fits(position[None, :], [element]):
                placer.add(position[None, :], [element])
                break
        else:
            return count
    return len(symbols)


def _fill(rng, cell, counts, table, spacegroup: Spacegroup | None):
    """Fill ``cell`` with ``counts`` atoms; ``None`` when it gets stuck."""
    placer = Placer(cell, table)
    order = sorted(counts, key=lambda e: -atomic_numbers[e])  # big atoms first
    for element in order:
        if spacegroup is None:
            if place_random(placer, [element] * counts[element], rng) < counts[element]:
                return None
        else:
            remaining = counts[element]
            while remaining:
                for _trial in range(TRIALS_PER_ATOM):
                    frac = spacegroup.equivalent_sites([rng.random(3)], onduplicates="keep", symprec=1e-3)[0]
                    if len(frac) > remaining:
                        continue
                    pos = (np.asarray(frac) % 1.0) @ cell
                    if placer.fits(pos, [element] * len(pos)):
                        placer.add(pos, [element] * len(pos))
                        remaining -= len(pos)
                        break
                else:
                    return None
    atoms = Atoms(placer.symbols, positions=placer.positions, cell=cell, pbc=True)
    return atoms[np.argsort([BZS_ELEMENTS.index(s) for s in atoms.get_chemical_symbols()], kind="stable")]


def random_structure(
    composition: str | Mapping[str, int] = "BaZrS3",
    formula_units: int = 1,
    seed: int = 0,
    volume_per_atom: tuple[float, float] = DEFAULT_VOLUME_PER_ATOM,
    min_separation: Mapping | None = None,
    spacegroup: int | None = None,
) -> Atoms:
    """One random periodic cell.

    :param composition: formula such as ``'BaZrS3'`` or ``'Ba2ZrS5'`` (Ba, Zr, S only).
    :param formula_units: multiplies the composition (the study used 1–4 for BaZrS3).
    :param seed: random seed; the same arguments give the same cell.
    :param volume_per_atom: (min, max) in Å³/atom; the cell volume is drawn uniformly within.
    :param min_separation: species-pair minima in Å (default :data:`DEFAULT_MIN_SEPARATION`).
    :param spacegroup: space-group number for a symmetric cell (atoms placed in orbits of
        random general positions), or ``None`` for P1.
    :returns: ``Atoms`` with ``info['config_type'] = 'rss'`` and the seed/space group in ``info``.
    """
    counts = parse_composition(composition, formula_units)
    table = normalise_separations(min_separation)
    lo, hi = map(float, volume_per_atom)
    if not 0 < lo <= hi:
        raise StructureInputError(f"volume_per_atom must be 0 < min <= max Å³/atom, got {volume_per_atom}")
    n_atoms = sum(counts.values())
    sg = None
    if spacegroup is not None:
        sg = Spacegroup(int(spacegroup))
        system = crystal_system(int(spacegroup))
    else:
        system = "triclinic"
    rng = np.random.default_rng(seed)
    for _ in range(MAX_CELLS):
        cell = random_cell_vectors(rng, n_atoms * rng.uniform(lo, hi), system)
        atoms = _fill(rng, cell, counts, table, sg)
        if atoms is not None and not separation_violations(atoms, table):
            atoms.wrap()
            atoms.info.update({"config_type": "rss", "rss_seed": int(seed)})
            if spacegroup is not None:
                atoms.info["rss_spacegroup"] = int(spacegroup)
            return atoms
    raise StructureInputError(
        f"could not place {counts} in {MAX_CELLS} random cells of {lo}–{hi} Å³/atom with minimum "
        f"separations {table}; allow more volume per atom or smaller separations"
    )


def random_structures(
    count: int,
    composition: str | Mapping[str, int] = "BaZrS3",
    formula_units: Sequence[int] | int = (1, 2, 3, 4),
    seed: int = 0,
    volume_per_atom: tuple[float, float] = DEFAULT_VOLUME_PER_ATOM,
    min_separation: Mapping | None = None,
    spacegroups: Sequence[int] | None = None,
    progress: bool = False,
) -> list[Atoms]:
    """``count`` random cells; formula units cycle through ``formula_units``.

    Structure ``i`` uses seed ``seed + i`` (reproducible one by one). ``spacegroups``: choose
    each cell's space group at random from these (None = all P1); a group whose orbits cannot
    give the composition is skipped for that cell. Units as in :func:`random_structure`.
    """
    if count < 1:
        raise StructureInputError(f"count must be >= 1, got {count}")
    units = [formula_units] if isinstance(formula_units, int) else list(formula_units)
    rng = np.random.default_rng(seed)
    iterator = range(count)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="RSS cells", unit="cell")
    images = []
    for i in iterator:
        fu = units[i % len(units)]
        group = None
        if spacegroups:
            counts = parse_composition(composition, fu)
            options = [g for g in spacegroups if _orbits_can_fit(int(g), counts)]
            group = int(rng.choice(options)) if options else None
        images.append(random_structure(composition, fu, seed + i, volume_per_atom, min_separation, group))
    return images


def _orbits_can_fit(number: int, counts: Mapping[str, int]) -> bool:
    """True when every element count is a multiple of the general-position multiplicity."""
    multiplicity = len(Spacegroup(number).get_symop()) * len(Spacegroup(number).subtrans)
    return all(n % multiplicity == 0 for n in counts.values())
