"""Voronoi polycrystals of a reference crystal in a periodic orthorhombic box (pure numpy/scipy/ASE).

Campaign §7: 8 and 50 grains in a 200 Å box (~310,000 atoms), 6 grains in a 250 Å box (~600,000
atoms), random orientations, atoms closer than a clearance at the grain boundaries removed. The study
used Atomsk (``atomsk --polycrystal``); its parameter files (``box X Y Z``, then one
``node x y z α β γ`` line per grain) are read and written here, so a study file rebuilds the same
tessellation and orientations.

Rotation convention (Atomsk's, from its source)
-----------------------------------------------
``src/modes/mode_polycrystal.f90`` (pierrehirel/atomsk) reads the three angles of a ``node`` line in
degrees, maps them to (−180°, 180°], converts to radians and calls ``EULER2MAT_ZYX(α, β, γ)``
("rotation will be done in the order X, Y, Z"). ``EULER2MAT_ZYX`` in ``src/math.f90`` ("first
rotation around X Cartesian axis, then Y, and finally Z") builds

    M = Rz(γ) · Ry(β) · Rx(α)          (M31 = −sin β, M21 = cos β sin γ, M32 = cos β sin α),

rotations about the *fixed* lab axes, i.e. scipy's extrinsic ``Rotation.from_euler('xyz', (α, β, γ),
degrees=True)``. Atomsk then replaces the template's box vectors H_i by M·H_i (it normalises the
rows of M into ``Hend`` and maps the fractional positions through the rotated box), so M acts
*actively* on the crystal: x_lab = M · x_crystal. Random orientations written by Atomsk come from
``MAT2EULER_ZYX`` (the inverse), so its ``*_param.txt`` files use the same convention.
:func:`rotation_matrix` returns M; :func:`random_spec` writes uniform SO(3) rotations as these angles.

Construction
------------
The Voronoi cell of seed i in the periodic box is the cell of the seed among the seeds and their 26
periodic images (a point of the cell lies within half a box of the seed, so images further away
never win). For each grain, the vertices of that cell (scipy ``Voronoi`` on the 27·N points; the
cube of one box around the seed if Qhull fails) bound the lattice translations to generate: the
rotated crystal, origin at the seed, is filled over the cell's bounding parallelepiped in crystal
coordinates, trimmed to the sphere through the farthest vertex, and an atom is kept when the seed
itself — not another seed, nor a periodic image of its own seed — is its nearest (periodic
``cKDTree`` on the seeds). Kept atoms are wrapped into the box. Atomsk centres each grain's template
on a point near the seed instead, so the atoms differ from Atomsk's by a translation per grain; the
grains, orientations and boundaries are the same.

Clearance
---------
Atomsk's ``mode_polycrystal.f90`` (version of 24 Feb 2023 read here) keeps every atom inside each
cell and removes none at the boundaries (its ``-remove-doubles`` option is left to the user).
Here a periodic ``cKDTree`` on all atoms finds the pairs closer than ``clearance``; a pair conflicts
when its atoms belong to different grains, or to the same grain but meet only through the periodic
boundary (a grain touching its own image across the box face: a seam, since the box is not a lattice
period of the rotated crystal). Conflicts are resolved greedily — repeatedly remove the atoms with
more conflicts than each of their conflicting partners (ties: higher grain ID, then higher index) —
which leaves no conflicting pair and removes fewer atoms than dropping one side of every pair.
Atoms closer than 0.01 Å are always merged (an atom exactly on a cell face is generated twice).

The default clearance, 2.0 Å, is 0.79 × the shortest bond of BaZrS3 (Zr–S 2.54 Å; Ba–S ≥ 3.0 Å,
S–S ≈ 3.5 Å): a cross-boundary pair closer than that is an overlap that the relaxation could not
resolve gracefully, while pairs at 2.0–2.5 Å are only compressed bonds that the ACE relaxation
opens. A larger clearance digs voids into the boundaries, a smaller one leaves near-coincident
atoms (and huge forces).

``random N`` lines (Atomsk draws N seeds and orientations itself) are supported when
:func:`read_atomsk` is given a ``seed``: they become :func:`random_spec` ``(box, N, seed)``; so are
``node x y z random`` lines (one uniform rotation each). Without a seed they are refused, since an
unseeded polycrystal cannot be rebuilt. Atomsk's ``lattice``, Miller-index orientations and
box-relative positions (``box/2``) are refused with the fix to use.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses
from scipy.spatial import QhullError, Voronoi, cKDTree
from scipy.spatial.transform import Rotation

from .errors import StructureInputError
from .grain_boundary import FORMULA_UNIT, composition_report

__all__ = [
    "DEFAULT_CLEARANCE",
    "DUPLICATE_DISTANCE",
    "MMM_ROTATIONS",
    "PolycrystalSpec",
    "build_polycrystal",
    "measure_orientation",
    "orientation_distance_deg",
    "random_spec",
    "read_atomsk",
    "rotation_matrix",
    "write_atomsk",
]

#: Default clearance (Å) at the grain boundaries: 0.79 × the shortest BaZrS3 bond (Zr–S 2.54 Å).
DEFAULT_CLEARANCE = 2.0
#: Atoms closer than this (Å) are duplicates and always merged, whatever the clearance.
DUPLICATE_DISTANCE = 0.01
#: Seeds closer than this (Å, periodic) are coincident: Atomsk refuses them (0.11 Å), so do we.
MIN_SEED_DISTANCE = 0.1
#: Proper rotations of the point group mmm with axes along x, y, z (orthorhombic crystals, Pnma):
#: R and R·P (P in this list) describe the same grain orientation.
MMM_ROTATIONS: tuple[np.ndarray, ...] = tuple(
    np.diag(d).astype(float) for d in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)))
#: Fractions of Ba, Zr, S in BaZrS3.
IDEAL_FRACTIONS = {el: k / sum(FORMULA_UNIT.values()) for el, k in FORMULA_UNIT.items()}
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


@dataclass(frozen=True, eq=False)
class PolycrystalSpec:
    """Box and grains of a Voronoi polycrystal, as in an Atomsk parameter file.

    :ivar box: orthorhombic box edges (X, Y, Z) in Å; the box spans [0, X) × [0, Y) × [0, Z).
    :ivar seeds: (N, 3) grain seeds (Voronoi nodes) in Å, inside the box.
    :ivar angles: (N, 3) Atomsk angles (α, β, γ) in degrees: active rotation Rz(γ)·Ry(β)·Rx(α)
        of the crystal (see :func:`rotation_matrix`).
    """

    box: tuple[float, float, float]
    seeds: np.ndarray = field(repr=False)
    angles: np.ndarray = field(repr=False)

    def __post_init__(self):
        try:
            box = tuple(float(x) for x in self.box)
            seeds = np.array(self.seeds, dtype=float, ndmin=2)
            angles = np.array(self.angles, dtype=float, ndmin=2)
        except (TypeError, ValueError) as exc:
            raise StructureInputError(f"box, seeds and angles must be numbers (Å, degrees): {exc}") from None
        if len(box) != 3 or not all(math.isfinite(x) and x > 0 for x in box):
            raise StructureInputError(f"box must be three positive lengths in Å, got {self.box!r}")
        if seeds.size == 0:
            raise StructureInputError("a polycrystal needs at least one grain (grain count < 1); add a seed")
        if seeds.ndim != 2 or seeds.shape[1] != 3:
            raise StructureInputError(f"seeds must be an (N, 3) array in Å, got shape {seeds.shape}")
        if angles.shape != seeds.shape:
            raise StructureInputError(
                f"angles must be (N, 3) degrees like the seeds {seeds.shape}, got shape {angles.shape}")
        if not (np.isfinite(seeds).all() and np.isfinite(angles).all()):
            raise StructureInputError("seeds (Å) and angles (degrees) must be finite")
        outside = np.flatnonzero(((seeds < 0) | (seeds >= np.asarray(box))).any(axis=1))
        if outside.size:
            k = int(outside[0])
            raise StructureInputError(
                f"seed {k + 1} at {tuple(round(float(x), 6) for x in seeds[k])} Å lies outside the box "
                f"[0, {box[0]:g}) × [0, {box[1]:g}) × [0, {box[2]:g}) Å; move it inside (wrap it by the box)")
        if len(seeds) > 1:
            pairs = cKDTree(seeds, boxsize=np.asarray(box)).query_pairs(MIN_SEED_DISTANCE, output_type="ndarray")
            if len(pairs):
                i, j = (int(x) + 1 for x in pairs[0])
                raise StructureInputError(
                    f"seeds {i} and {j} coincide (closer than {MIN_SEED_DISTANCE} Å, periodic); remove one")
        seeds.setflags(write=False)
        angles.setflags(write=False)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "angles", angles)

    @property
    def n_grains(self) -> int:
        """Number of grains N."""
        return len(self.seeds)

    def rotations(self) -> np.ndarray:
        """(N, 3, 3) active rotation matrices of the grains (x_lab = R · x_crystal)."""
        return rotation_matrix(self.angles)


def rotation_matrix(angles_deg) -> np.ndarray:
    """Atomsk's rotation for ``node`` angles (α, β, γ) in degrees: M = Rz(γ)·Ry(β)·Rx(α).

    Rotations about the fixed lab x, then y, then z (scipy ``from_euler('xyz', …)``), active:
    x_lab = M · x_crystal. Accepts (3,) or (N, 3); returns (3, 3) or (N, 3, 3).
    """
    angles = np.asarray(angles_deg, dtype=float)
    if angles.shape[-1:] != (3,):
        raise StructureInputError(f"angles must be (α, β, γ) in degrees, got shape {angles.shape}")
    return Rotation.from_euler("xyz", angles, degrees=True).as_matrix()


def random_spec(box, n_grains: int, seed: int | None) -> PolycrystalSpec:
    """Seeded random polycrystal: uniform seeds in the box (Å), uniform orientations on SO(3).

    Orientations are drawn with scipy ``Rotation.random`` (Haar measure) and stored as Atomsk angles
    (degrees), so :func:`write_atomsk` gives a file that rebuilds the same polycrystal.
    """
    if isinstance(n_grains, bool) or int(n_grains) != n_grains or n_grains < 1:
        raise StructureInputError(f"grain count must be an integer ≥ 1, got {n_grains!r}")
    try:
        box = np.array([float(x) for x in box])
    except (TypeError, ValueError):
        raise StructureInputError(f"box must be three positive lengths in Å, got {box!r}") from None
    if box.shape != (3,) or not (box > 0).all():
        raise StructureInputError(f"box must be three positive lengths in Å, got {tuple(box)}")
    rng = np.random.default_rng(seed)
    seeds = rng.random((int(n_grains), 3)) * box
    seeds = np.where(seeds >= box, 0.0, seeds)
    angles = Rotation.random(int(n_grains), random_state=rng).as_euler("xyz", degrees=True)
    return PolycrystalSpec(tuple(box), seeds, angles)


# ------------------------------------------------------------------------------------------ Atomsk I/O

def read_atomsk(path_or_text, *, seed: int | None = None) -> PolycrystalSpec:
    """Parse an Atomsk ``--polycrystal`` parameter file (a path, or the text itself).

    Lines: ``box X Y Z`` (Å, first), then ``node x y z α β γ`` (Å, degrees; ``grain`` is an alias)
    or one ``random N``; ``#`` starts a comment. ``random`` needs ``seed`` (see module docstring).
    Errors name the line number and its text.
    """
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise StructureInputError(f"no Atomsk parameter file at {str(path)!r}; pass an existing path or the file's text")
        text, source = path.read_text(), path.name
    else:
        text, source = str(path_or_text), "Atomsk parameters"

    box = None
    seeds: list[list[float]] = []
    angles: list[list[float] | None] = []
    n_random = None
    rng = np.random.default_rng(seed)

    def fail(number, line, problem, fix):
        raise StructureInputError(f"{source}, line {number}: {problem} in {line.strip()!r}; {fix}")

    def numbers(number, line, fields, count, what):
        if len(fields) != count:
            fail(number, line, f"expected {count} numbers ({what}), found {len(fields)}",
                 f"write '{what}'")
        values = []
        for f in fields:
            try:
                value = float(f.replace("°", ""))
            except ValueError:
                fail(number, line, f"field {f!r} is not a number",
                     f"write plain numbers in Å and degrees ('{what}'; no box/2 expressions or Miller indices)")
            if not math.isfinite(value):
                fail(number, line, f"field {f!r} is not finite", f"write '{what}' with finite numbers")
            values.append(value)
        return values

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, *fields = line.split()
        if keyword == "box":
            if box is not None:
                fail(number, raw, "second 'box' line", "keep one 'box X Y Z' line")
            values = numbers(number, raw, fields, 3, "box X Y Z")
            if min(values) <= 0:
                fail(number, raw, "box edges must be positive", "give the box edges X Y Z in Å, all > 0")
            box = tuple(values)
        elif keyword in ("node", "grain"):
            if box is None:
                fail(number, raw, "'node' before 'box'", "put the 'box X Y Z' line first")
            if n_random is not None:
                fail(number, raw, "'node' and 'random' together", "use either node lines or one 'random N' line")
            if len(fields) == 4 and fields[3] == "random":
                if seed is None:
                    fail(number, raw, "random orientation without a seed",
                         "pass read_atomsk(..., seed=...) or write the three angles in degrees")
                position = numbers(number, raw, fields[:3], 3, "node x y z")
                orientation = None
            else:
                values = numbers(number, raw, fields, 6, "node x y z α β γ")
                position, orientation = values[:3], values[3:]
            if any(not 0 <= x < edge for x, edge in zip(position, box)):
                fail(number, raw, f"seed outside the box [0, {box[0]:g}) × [0, {box[1]:g}) × [0, {box[2]:g}) Å",
                     "move the node inside the box (wrap it by the box edges)")
            seeds.append(position)
            angles.append(orientation)
        elif keyword == "random":
            if box is None:
                fail(number, raw, "'random' before 'box'", "put the 'box X Y Z' line first")
            if seeds or n_random is not None:
                fail(number, raw, "'random' with other grains", "use either node lines or one 'random N' line")
            if len(fields) != 1 or not fields[0].isdigit() or int(fields[0]) < 1:
                fail(number, raw, "'random' needs one integer grain count ≥ 1", "write 'random N' with N ≥ 1")
            if seed is None:
                fail(number, raw, "random grains without a seed",
                     "pass read_atomsk(..., seed=...) or build the spec with random_spec(box, N, seed)")
            n_random = int(fields[0])
        elif keyword == "lattice":
            fail(number, raw, "Atomsk's 'lattice' placement is not supported",
                 "write one 'node x y z α β γ' line per grain")
        else:
            fail(number, raw, f"unknown keyword {keyword!r}", "use 'box', 'node' (or 'grain') or 'random'")

    if box is None:
        raise StructureInputError(f"{source}: no 'box X Y Z' line; add one (box edges in Å) before the nodes")
    if n_random is not None:
        return random_spec(box, n_random, seed)
    if not seeds:
        raise StructureInputError(f"{source}: no 'node' lines (grain count < 1); add 'node x y z α β γ' lines")
    missing = [k for k, a in enumerate(angles) if a is None]
    if missing:
        drawn = Rotation.random(len(missing), random_state=rng).as_euler("xyz", degrees=True)
        for k, a in zip(missing, drawn):
            angles[k] = list(a)
    return PolycrystalSpec(box, np.array(seeds), np.array(angles))


def write_atomsk(spec: PolycrystalSpec, path) -> Path:
    """Write ``spec`` as an Atomsk parameter file (Å, degrees; 10 decimals so a read is exact to 1e-10)."""
    path = Path(path)
    lines = ["# Voronoi polycrystal parameters (Atomsk --polycrystal format), written by aiida_bzs",
             "# node x y z (Å) and rotation angles about x, then y, then z (degrees)",
             "box " + " ".join(f"{x:18.10f}" for x in spec.box)]
    lines += ["node " + " ".join(f"{x:18.10f}" for x in (*s, *a)) for s, a in zip(spec.seeds, spec.angles)]
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------ building

def _check_crystal(crystal: Atoms, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell rows (Å) and wrapped fractional positions of the reference crystal; refuse a box
    smaller than two cells: a rotated grain may put the longest cell vector along any edge."""
    if len(crystal) == 0:
        raise StructureInputError("the reference crystal has no atoms; pass e.g. pnma_crystal()")
    cell = np.asarray(crystal.cell[:], dtype=float)
    if not crystal.pbc.all() or abs(np.linalg.det(cell)) < 1e-6:
        raise StructureInputError("the reference crystal must be periodic in 3-D with a non-degenerate cell (Å)")
    longest = float(np.linalg.norm(cell, axis=1).max())
    if box.min() < 2 * longest:
        raise StructureInputError(
            f"box {tuple(float(x) for x in box)} Å is smaller than two unit cells ({2 * longest:.2f} Å, twice the "
            f"longest cell vector) along some edge; enlarge the box to ≥ {2 * longest:.2f} Å in every direction")
    frac = crystal.get_scaled_positions(wrap=True)
    return cell, frac


def _voronoi_vertices(seeds: np.ndarray, box: np.ndarray) -> list[np.ndarray]:
    """Per seed, the vertices (Å, relative to the seed) of its periodic Voronoi cell.

    scipy ``Voronoi`` on the seeds and their 26 images; the cube of one box edge around the seed
    (which always contains the cell) when Qhull fails or returns an open region.
    """
    n = len(seeds)
    cube = (np.array(np.meshgrid([-0.5, 0.5], [-0.5, 0.5], [-0.5, 0.5], indexing="ij")).reshape(3, -1).T
            * box)
    shifts = np.array(np.meshgrid([0, -1, 1], [0, -1, 1], [0, -1, 1], indexing="ij")).reshape(3, -1).T * box
    out = [cube.copy() for _ in range(n)]
    try:
        vor = Voronoi((seeds[None, :, :] + shifts[:, None, :]).reshape(-1, 3))
    except (QhullError, ValueError):  # degenerate input: keep the safe cubes
        return out
    for i in range(n):  # shift (0, 0, 0) comes first, so point i is seed i itself
        region = vor.regions[vor.point_region[i]]
        if not region or -1 in region:
            continue
        vertices = vor.vertices[region] - seeds[i]
        if np.all(np.abs(vertices) <= 0.5 * box + 1e-6):
            out[i] = vertices
    return out


def _grain_atoms(seed, rotation, vertices, cell, frac, seed_tree, box):
    """Unwrapped positions (Å) and basis indices of the rotated crystal inside the Voronoi cell of
    ``seed``, and how many candidate atoms (within the cell's bounding sphere) were generated."""
    inverse = np.linalg.inv(cell)
    f = (vertices @ rotation) @ inverse            # cell vertices in crystal fractional coordinates
    lo = np.floor(f.min(axis=0)).astype(int) - 1   # basis fractions lie in [0, 1)
    hi = np.ceil(f.max(axis=0)).astype(int)
    radius = float(np.linalg.norm(vertices, axis=1).max())
    centre = 0.5 * cell.sum(axis=0)
    reach = float(np.linalg.norm(frac @ cell - centre, axis=1).max())
    axes = [np.arange(a, b + 1) for a, b in zip(lo, hi)]
    n_grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    origins = n_grid @ cell
    origins = origins[np.linalg.norm(origins + centre, axis=1) <= radius + reach + 1e-3]
    basis = frac @ cell
    local = (origins[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    species = np.tile(np.arange(len(basis)), len(origins))
    x = local @ rotation.T
    distance = np.linalg.norm(x, axis=1)
    inside = distance <= radius + 1e-3            # 1 mÅ above Qhull's rounding
    x, species, distance = x[inside], species[inside], distance[inside]
    x += seed
    wrapped = np.mod(x, box)
    wrapped[wrapped >= box] = 0.0
    nearest, _ = seed_tree.query(wrapped, k=1)
    keep = distance <= nearest + 1e-9               # seed i itself (not an image) is the nearest
    return x[keep], species[keep], len(keep)


def _resolve_conflicts(p: np.ndarray, q: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """Boolean mask of atoms to remove so that no conflicting pair (p, q) keeps both atoms.

    Greedy vertex cover: each round removes every atom whose key (number of conflicts, grain ID,
    index) beats all its remaining partners'; each round empties at least the top of every cluster.
    """
    n = len(grain)
    removed = np.zeros(n, dtype=bool)
    index = np.arange(n, dtype=np.int64)
    g_span = int(grain.max()) + 1
    while p.size:
        degree = np.bincount(p, minlength=n) + np.bincount(q, minlength=n)
        key = (degree.astype(np.int64) * g_span + grain) * n + index
        partner_max = np.full(n, -1, dtype=np.int64)
        np.maximum.at(partner_max, p, key[q])
        np.maximum.at(partner_max, q, key[p])
        remove = (degree > 0) & (key > partner_max)
        removed |= remove
        alive = ~(remove[p] | remove[q])
        p, q = p[alive], q[alive]
    return removed


def build_polycrystal(crystal: Atoms, spec: PolycrystalSpec, clearance: float = DEFAULT_CLEARANCE,
                      progress: bool = False) -> tuple[Atoms, dict]:
    """Fill the periodic box of ``spec`` with Voronoi grains of the rotated ``crystal``.

    :param crystal: reference crystal (any 3-D periodic cell, e.g. ``pnma_crystal()`` or a DFT-/
        ACE-relaxed one); grain i is it rotated by ``spec.rotations()[i]``, cell origin at seed i.
    :param spec: box (Å), seeds (Å), Atomsk angles (degrees).
    :param clearance: atoms closer than this (Å) across a grain boundary (or a self-seam at the box
        faces) are thinned until no such pair remains; see the module docstring for the default.
    :param progress: show a tqdm bar over the grains.
    :returns: (periodic ``Atoms`` in the box with ``arrays['grain']`` (1-based) and
        ``info['config_type'] = 'polycrystal'``, report dict: n_atoms, n_grains, box (Å), clearance (Å),
        seeds (Å), grains (per grain: id, n_atoms, n_atoms_before_clearance, volume_fraction,
        diameter_nm, angles_deg, rotation_matrix), removed (count, by_element), counts, composition,
        formula_units, excess, stoichiometric, deviation (fraction − BaZrS3's 0.2/0.2/0.6),
        density_g_cm3, n_candidates (atoms generated before the Voronoi test, a cost figure)).
    """
    if not isinstance(spec, PolycrystalSpec):
        raise StructureInputError("spec must be a PolycrystalSpec (read_atomsk or random_spec)")
    try:
        clearance = float(clearance)
    except (TypeError, ValueError):
        raise StructureInputError(f"clearance must be a distance in Å, got {clearance!r}") from None
    if not math.isfinite(clearance) or clearance < 0:
        raise StructureInputError(f"clearance must be ≥ 0 Å, got {clearance}")
    box = np.asarray(spec.box, dtype=float)
    cell, frac = _check_crystal(crystal, box)
    seeds = np.asarray(spec.seeds, dtype=float)
    rotations = spec.rotations()
    seed_tree = cKDTree(seeds, boxsize=box)
    vertices = _voronoi_vertices(seeds, box)

    grains = range(spec.n_grains)
    if progress:
        from tqdm import tqdm
        grains = tqdm(grains, desc="grains", unit="grain")
    chunks, kinds, ids = [], [], []
    n_candidates = 0
    for i in grains:
        x, species, generated = _grain_atoms(seeds[i], rotations[i], vertices[i], cell, frac, seed_tree, box)
        chunks.append(x)
        kinds.append(species)
        ids.append(np.full(len(x), i + 1, dtype=np.int32))
        n_candidates += generated
    unwrapped = np.concatenate(chunks)
    kind = np.concatenate(kinds)
    grain = np.concatenate(ids)
    del chunks, kinds, ids
    before = np.bincount(grain, minlength=spec.n_grains + 1)[1:]

    positions = np.mod(unwrapped, box)
    positions[positions >= box] = 0.0
    radius = max(clearance, DUPLICATE_DISTANCE)
    pairs = cKDTree(positions, boxsize=box).query_pairs(radius, output_type="ndarray")
    if len(pairs):
        p, q = pairs[:, 0], pairs[:, 1]
        direct = np.linalg.norm(unwrapped[p] - unwrapped[q], axis=1)
        conflict = (grain[p] != grain[q]) | (direct > radius)  # other grain, or own image across a face
        # (exact duplicates are own images too: the same lattice point generated on two faces)
        removed = _resolve_conflicts(p[conflict], q[conflict], grain)
    else:
        removed = np.zeros(len(grain), dtype=bool)
    numbers = crystal.numbers[kind]
    removed_numbers = numbers[removed]
    keep = ~removed
    atoms = Atoms(numbers=numbers[keep], positions=positions[keep], cell=np.diag(box), pbc=True)
    atoms.arrays["grain"] = grain[keep].astype(int)
    atoms.info["config_type"] = "polycrystal"
    del unwrapped, positions

    symbols = atoms.get_chemical_symbols()
    composition = composition_report(symbols)
    after = np.bincount(atoms.arrays["grain"], minlength=spec.n_grains + 1)[1:]
    fractions = before / before.sum()
    volume = float(np.prod(box))
    removed_by_element = Counter(Atoms(numbers=removed_numbers).get_chemical_symbols())
    mass = float(atomic_masses[atoms.numbers].sum())
    report = {
        "n_atoms": len(atoms),
        "n_grains": spec.n_grains,
        "box": tuple(float(x) for x in box),
        "clearance": clearance,
        "seeds": seeds.tolist(),
        "grains": [{
            "id": i + 1,
            "n_atoms": int(after[i]),
            "n_atoms_before_clearance": int(before[i]),
            "volume_fraction": float(fractions[i]),
            "diameter_nm": float((6 * fractions[i] * volume / math.pi) ** (1 / 3) / 10),
            "angles_deg": [float(a) for a in spec.angles[i]],
            "rotation_matrix": rotations[i].tolist(),
        } for i in range(spec.n_grains)],
        "removed": {"count": int(removed.sum()), "by_element": dict(sorted(removed_by_element.items()))},
        **composition,
        "deviation": {el: composition["composition"].get(el, 0.0) - x for el, x in IDEAL_FRACTIONS.items()},
        "density_g_cm3": mass / volume * _AMU_PER_A3_TO_G_PER_CM3,
        "n_candidates": int(n_candidates),
    }
    return atoms, report


# ------------------------------------------------------------------------------------------ orientation

def orientation_distance_deg(r1, r2, symmetry=MMM_ROTATIONS) -> float:
    """Smallest rotation angle (degrees) between orientations r1 and r2 modulo the crystal's
    proper point-group rotations ``symmetry`` (r and r·P are the same orientation)."""
    r1, r2 = np.asarray(r1, dtype=float), np.asarray(r2, dtype=float)
    best = 180.0
    for op in symmetry:
        d = (r1 @ op).T @ r2
        cos = np.clip((np.trace(d) - 1) / 2, -1.0, 1.0)
        best = min(best, math.degrees(math.acos(cos)))
    return best


def _crystal_match(vectors, kinds, rotation, site, cell, frac, numbers):
    """Residuals (Å) of lab vectors from the anchor mapped into the crystal (anchor on ``site``)
    and the matched crystal vectors (Å), same species only."""
    inverse = np.linalg.inv(cell)
    u = vectors @ rotation + frac[site] @ cell
    f = u @ inverse
    residual = np.full(len(u), np.inf)
    target = np.zeros_like(u)
    for z in np.unique(kinds):
        rows = np.flatnonzero(kinds == z)
        sites = frac[numbers == z]
        if not len(sites):
            continue
        delta = f[rows, None, :] - sites[None, :, :]
        delta -= np.round(delta)
        d = np.linalg.norm(delta @ cell, axis=2)
        best = d.argmin(axis=1)
        residual[rows] = d[np.arange(len(rows)), best]
        target[rows] = u[rows] - delta[np.arange(len(rows)), best] @ cell
    return residual, target - frac[site] @ cell


def measure_orientation(atoms: Atoms, grain_id: int, crystal: Atoms, species: str | None = None,
                        radius: float = 10.0, tolerance: float = 0.5) -> np.ndarray:
    """Recover grain ``grain_id``'s rotation (x_lab = R · x_crystal) from its atoms.

    Anchors on the ``species`` atom (default Zr, else the crystal's rarest element) deepest inside
    the grain, proposes rotations that map its nearest same-species neighbour vectors onto the
    crystal's (for every crystal site of that species), keeps the one under which most grain atoms
    within ``radius`` (Å) land within ``tolerance`` (Å) of a crystal site of their element, and
    refines it by Kabsch (scipy ``align_vectors``) on those atoms. Defined modulo the crystal's point
    group (compare with :func:`orientation_distance_deg`). Needs an orthorhombic box.
    """
    if "grain" not in atoms.arrays:
        raise StructureInputError("atoms have no arrays['grain']; build them with build_polycrystal")
    box_cell = np.asarray(atoms.cell[:], dtype=float)
    box = np.diag(box_cell).copy()
    if not np.allclose(box_cell, np.diag(box)) or (box <= 0).any():
        raise StructureInputError("measure_orientation needs an orthorhombic box along x, y, z (Å)")
    grain = atoms.arrays["grain"]
    members = np.flatnonzero(grain == grain_id)
    if not len(members):
        raise StructureInputError(f"grain {grain_id} has no atoms; grain IDs are 1 … {int(grain.max())}")
    cell = np.asarray(crystal.cell[:], dtype=float)
    frac = crystal.get_scaled_positions(wrap=True)
    cnumbers = crystal.numbers
    counts = Counter(crystal.get_chemical_symbols())
    species = species or ("Zr" if "Zr" in counts else min(counts, key=lambda s: (counts[s], s)))
    z_anchor = Atoms(species).numbers[0]
    if z_anchor not in cnumbers:
        raise StructureInputError(f"the crystal has no {species}; choose species= among {sorted(counts)}")

    positions = np.mod(atoms.positions, box)
    positions[positions >= box] = 0.0
    numbers = atoms.numbers
    candidates = members[numbers[members] == z_anchor]
    if not len(candidates):
        raise StructureInputError(f"grain {grain_id} has no {species} atom to anchor on; pass species=")
    others = np.flatnonzero(grain != grain_id)
    depth = (cKDTree(positions[others], boxsize=box).query(positions[candidates])[0] if len(others)
             else np.zeros(len(candidates)))
    own = cKDTree(positions[members], boxsize=box)
    own_anchor = cKDTree(positions[candidates], boxsize=box)

    # same-species neighbour shell of the crystal, per site of that species
    sites = np.flatnonzero(cnumbers == z_anchor)
    images = np.array(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij")).reshape(3, -1).T
    shells = {}
    for s in sites:
        v = ((frac[sites][None, :, :] + images[:, None, :] - frac[s]) @ cell).reshape(-1, 3)
        v = v[np.linalg.norm(v, axis=1) > 1e-6]
        shells[s] = v
    d_nn = min(float(np.linalg.norm(v, axis=1).min()) for v in shells.values())
    cutoff = 1.15 * d_nn
    shells = {s: v[np.linalg.norm(v, axis=1) <= cutoff] for s, v in shells.items()}

    # anchors: full same-species shell first (not on a seam), then deepest inside the grain
    coordination = own_anchor.query_ball_point(positions[candidates], cutoff, return_length=True) - 1
    full = coordination == max(len(v) for v in shells.values())
    order = np.lexsort((-depth, ~full))
    best = (-1, np.inf, np.eye(3), None)
    for anchor in candidates[order[:3]]:
        near = members[own.query_ball_point(positions[anchor], radius, return_sorted=True)]
        vectors = positions[near] - positions[anchor]
        vectors -= np.round(vectors / box) * box
        kinds = numbers[near]
        same = (kinds == z_anchor) & (np.linalg.norm(vectors, axis=1) > 1e-6)
        shell = vectors[same & (np.linalg.norm(vectors, axis=1) <= cutoff)]
        if len(shell) < 2:
            continue
        g1 = shell[np.argmin(np.linalg.norm(shell, axis=1))]
        cos = np.abs(shell @ g1) / (np.linalg.norm(shell, axis=1) * np.linalg.norm(g1))
        if cos.min() > 0.95:
            continue
        g2 = shell[np.argmin(cos)]
        angle = math.acos(np.clip(g1 @ g2 / np.linalg.norm(g1) / np.linalg.norm(g2), -1, 1))
        for s, ref in shells.items():
            lengths = np.linalg.norm(ref, axis=1)
            for c1 in ref[np.abs(lengths - np.linalg.norm(g1)) < 0.3]:
                for c2 in ref[np.abs(lengths - np.linalg.norm(g2)) < 0.3]:
                    a = math.acos(np.clip(c1 @ c2 / np.linalg.norm(c1) / np.linalg.norm(c2), -1, 1))
                    if abs(a - angle) > math.radians(8):
                        continue
                    guess = Rotation.align_vectors([g1, g2], [c1, c2], weights=[10.0, 1.0])[0].as_matrix()
                    residual, _ = _crystal_match(vectors, kinds, guess, s, cell, frac, cnumbers)
                    ok = residual < tolerance
                    score = (int(ok.sum()), float(residual[ok].mean()) if ok.any() else np.inf)
                    if score[0] > best[0] or (score[0] == best[0] and score[1] < best[1]):
                        best = (score[0], score[1], guess, (vectors, kinds, s))
    if best[3] is None:
        raise StructureInputError(
            f"could not match grain {grain_id} to the crystal (too few {species} neighbours within "
            f"{radius} Å); increase radius or choose another species")
    rotation = best[2]
    vectors, kinds, s = best[3]
    for _ in range(2):
        residual, target = _crystal_match(vectors, kinds, rotation, s, cell, frac, cnumbers)
        ok = residual < tolerance
        rotation = Rotation.align_vectors(vectors[ok], target[ok])[0].as_matrix()
    return rotation
