"""``LargeStructureData`` (``bzs.large_structure``): a 10⁵–10⁶-atom structure as numpy arrays.

``StructureData`` keeps one attribute dict per site in the database; storing 310k atoms takes about
a minute (building, serialising and hashing every dict). Here cell (Å), pbc, atomic numbers, positions
(Å) and optional per-atom arrays (``grain_id``, ``gamma``, ``masses``, ...) are one uncompressed
``.npz`` in the node repository, and only summaries (formula, atom count, elements, cell, density)
are attributes, so a 615k-atom polycrystal stores and loads in a fraction of a second and can still
be found with a ``QueryBuilder`` filter on ``attributes.n_atoms`` or ``attributes.formula``.

Why uncompressed: at 615k atoms ``np.savez`` writes 15.4 MB in 0.07 s and reads it in 0.02 s;
``np.savez_compressed`` saves 11 % of the bytes for 1.1 s to write and 0.15 s to read (random
float64 positions hardly compress). Node hashing stays cheap: aiida-core hashes the attributes
(small here) and each repository object's sha256 key, which the object store computes once on write.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from aiida import orm
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, chemical_symbols
from ase.formula import Formula
from ase.geometry import cell_to_cellpar

from ..analysis.density import AMU_PER_A3_IN_G_PER_CM3

__all__ = ["LargeStructureData", "LargeStructureError"]

#: arrays every node has; per-atom arrays may not take these names
CORE_ARRAYS = ("cell", "pbc", "numbers", "positions")
#: largest atomic number accepted (oganesson)
MAX_Z = len(chemical_symbols) - 1


class LargeStructureError(ValueError):
    """Arrays that do not make a structure; the message names the array and what to change."""


def _check_cell(cell) -> np.ndarray:
    cell = np.asarray(cell, dtype=float)
    if cell.shape != (3, 3):
        raise LargeStructureError(
            f"cell must be a 3×3 matrix in Å (one lattice vector per row), got shape {cell.shape}; "
            "for an orthorhombic box pass np.diag([a, b, c])"
        )
    if not np.isfinite(cell).all():
        raise LargeStructureError("cell contains NaN or inf; give finite lattice vectors in Å")
    return cell


def _check_pbc(pbc) -> np.ndarray:
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)) if np.ndim(pbc) == 0 else np.asarray(pbc)
    if pbc.shape != (3,):
        raise LargeStructureError(f"pbc must be one bool or three bools, got {pbc.tolist()!r}")
    return pbc.astype(bool)


def _numbers_from_symbols(symbols: Sequence[str]) -> np.ndarray:
    """Atomic numbers of chemical symbols, naming the first unknown one."""
    unique, inverse = np.unique(np.asarray(symbols, dtype=str), return_inverse=True)
    unknown = [str(s) for s in unique if s not in atomic_numbers or atomic_numbers[s] == 0]
    if unknown:
        raise LargeStructureError(
            f"unknown element(s) {unknown}; use chemical symbols such as 'Ba', 'Zr', 'S'"
        )
    return np.array([atomic_numbers[s] for s in unique], dtype=np.int16)[inverse.reshape(-1)]


def _check_numbers(numbers, n_atoms: int) -> np.ndarray:
    numbers = np.asarray(numbers)
    if numbers.shape != (n_atoms,):
        raise LargeStructureError(
            f"numbers has shape {numbers.shape}, positions has {n_atoms} atoms; give one atomic number per atom"
        )
    if not np.issubdtype(numbers.dtype, np.integer):
        raise LargeStructureError(f"numbers must be integers (atomic numbers), got dtype {numbers.dtype}")
    bad = numbers[(numbers < 1) | (numbers > MAX_Z)]
    if bad.size:
        raise LargeStructureError(
            f"unknown element: atomic number {int(bad[0])} (valid: 1–{MAX_Z}); "
            "vacancies or dummy atoms ('X', 0) cannot be stored"
        )
    return numbers.astype(np.int8)  # Z ≤ 118 fits in int8: 1 byte per atom


def _check_per_atom(arrays: Mapping[str, np.ndarray], n_atoms: int) -> dict[str, np.ndarray]:
    checked = {}
    for name, values in arrays.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise LargeStructureError(f"per-atom array name {name!r} must be a Python identifier, e.g. 'grain_id'")
        if name in CORE_ARRAYS:
            raise LargeStructureError(f"per-atom array name {name!r} is reserved; choose another name")
        values = np.asarray(values)
        if values.dtype == object:
            raise LargeStructureError(f"per-atom array {name!r} has dtype object; give numbers, bools or strings")
        if values.ndim == 0 or len(values) != n_atoms:
            rows = "a scalar" if values.ndim == 0 else f"{len(values)} rows"
            raise LargeStructureError(
                f"per-atom array {name!r} has {rows}, the structure has {n_atoms} atoms; give one row per atom"
            )
        checked[name] = values
    return checked


class LargeStructureData(orm.Data):
    """A periodic or finite structure of any size: cell (Å), pbc, atomic numbers, positions (Å),
    optional per-atom arrays, as one ``structure.npz`` in the repository.

    Build with :meth:`from_ase` or :meth:`from_arrays`; read with :meth:`get_ase` or
    :meth:`get_array`. Query attributes: ``formula`` (Hill, full, e.g. ``Ba4000S12000Zr4000``),
    ``formula_reduced`` (``BaS3Zr``), ``formula_units``, ``composition`` ({element: count}),
    ``elements``, ``n_atoms``, ``cell`` (Å), ``cell_lengths`` (Å), ``cell_angles`` (°),
    ``cell_volume`` (Å³), ``pbc``, ``density`` (g/cm³; None without a cell volume),
    ``per_atom_arrays`` (names).
    """

    FILENAME = "structure.npz"

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_ase(cls, atoms: Atoms, arrays: Mapping[str, np.ndarray] | None = None) -> LargeStructureData:
        """Pack ``atoms`` (positions Å) with its extra ASE arrays (``masses``, ``tags``, ``momenta``,
        ``initial_charges``, custom ones such as ``grain_id``) plus ``arrays`` (one row per atom;
        these replace ASE arrays of the same name). Calculator results and ``atoms.info`` are not kept.
        """
        extra = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
        extra.update(arrays or {})
        return cls.from_arrays(atoms.cell[:], atoms.positions, numbers=atoms.numbers, pbc=atoms.pbc, arrays=extra)

    @classmethod
    def from_arrays(
        cls,
        cell,
        positions,
        numbers=None,
        symbols: Sequence[str] | None = None,
        pbc=True,
        arrays: Mapping[str, np.ndarray] | None = None,
    ) -> LargeStructureData:
        """Build from a 3×3 ``cell`` (Å, rows are lattice vectors), ``positions`` (N×3, Å), atomic
        ``numbers`` or chemical ``symbols`` (N), ``pbc`` and per-atom ``arrays`` (N rows each).

        Raises :class:`LargeStructureError` naming the first array that does not fit.
        """
        cell = _check_cell(cell)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
            raise LargeStructureError(f"positions must be an N×3 array in Å with N ≥ 1, got shape {positions.shape}")
        if not np.isfinite(positions).all():
            raise LargeStructureError("positions contain NaN or inf; give finite Cartesian coordinates in Å")
        n_atoms = len(positions)
        if (numbers is None) == (symbols is None):
            raise LargeStructureError("give either numbers (atomic numbers) or symbols (chemical symbols), not both")
        if symbols is not None:
            if len(symbols) != n_atoms:
                raise LargeStructureError(
                    f"symbols has {len(symbols)} entries, positions has {n_atoms} atoms; give one symbol per atom"
                )
            numbers = _numbers_from_symbols(symbols)
        numbers = _check_numbers(numbers, n_atoms)
        content = {"cell": cell, "pbc": _check_pbc(pbc), "numbers": numbers, "positions": positions}
        content.update(_check_per_atom(arrays or {}, n_atoms))

        buffer = io.BytesIO()
        np.savez(buffer, **content)
        buffer.seek(0)
        node = cls()
        node.base.repository.put_object_from_filelike(buffer, cls.FILENAME)
        # no cache of ``content``: it may share memory with the caller's arrays (e.g. atoms.positions)
        node.base.attributes.set_many(cls._summary_attributes(content))
        return node

    @classmethod
    def from_structure_data(cls, structure: orm.StructureData) -> LargeStructureData:
        """Pack a ``StructureData`` (one kind per element; kind masses kept when not ASE's)."""
        from ..common.structure_nodes import atoms_from_structure

        return cls.from_ase(atoms_from_structure(structure))

    @staticmethod
    def _summary_attributes(content: Mapping[str, np.ndarray]) -> dict:
        """Query attributes from the arrays: counts, formulas, cell metrics (Å, °, Å³), density (g/cm³)."""
        numbers, cell = content["numbers"], content["cell"]
        counts = np.bincount(numbers.astype(np.int64), minlength=MAX_Z + 1)
        composition = {chemical_symbols[z]: int(n) for z, n in enumerate(counts) if n}
        formula = Formula.from_dict(composition)
        reduced, units = formula.reduce()
        volume = abs(float(np.linalg.det(cell)))
        masses = content.get("masses")
        mass = float(masses.sum()) if masses is not None else float(counts @ atomic_masses[: MAX_Z + 1])
        cellpar = cell_to_cellpar(cell)  # a, b, c (Å), α, β, γ (°); 90° next to a zero vector
        return {
            "n_atoms": len(numbers),
            "formula": formula.format("hill"),
            "formula_reduced": reduced.format("hill"),
            "formula_units": units,
            "composition": composition,
            "elements": sorted(composition),
            "cell": cell.tolist(),
            "cell_lengths": cellpar[:3].tolist(),
            "cell_angles": cellpar[3:].tolist(),
            "cell_volume": volume,
            "pbc": [bool(p) for p in content["pbc"]],
            "density": mass / volume * AMU_PER_A3_IN_G_PER_CM3 if volume > 1e-9 else None,
            "per_atom_arrays": sorted(k for k in content if k not in CORE_ARRAYS),
        }

    # -- summaries (attributes: no file read) -------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return self.base.attributes.get("n_atoms")

    def __len__(self) -> int:
        return self.n_atoms

    @property
    def formula(self) -> str:
        """Hill formula with all atoms, e.g. ``Ba4000S12000Zr4000``."""
        return self.base.attributes.get("formula")

    @property
    def formula_reduced(self) -> str:
        """Hill formula of the smallest unit, e.g. ``BaS3Zr``."""
        return self.base.attributes.get("formula_reduced")

    @property
    def composition(self) -> dict[str, int]:
        return dict(self.base.attributes.get("composition"))

    @property
    def elements(self) -> list[str]:
        return list(self.base.attributes.get("elements"))

    @property
    def cell(self) -> np.ndarray:
        """Lattice vectors as rows, Å."""
        return np.array(self.base.attributes.get("cell"))

    @property
    def pbc(self) -> tuple[bool, bool, bool]:
        return tuple(self.base.attributes.get("pbc"))

    @property
    def cell_lengths(self) -> list[float]:
        """``|a|``, ``|b|``, ``|c|`` in Å."""
        return list(self.base.attributes.get("cell_lengths"))

    @property
    def cell_volume(self) -> float:
        """Å³ (0 for a structure without a cell)."""
        return self.base.attributes.get("cell_volume")

    @property
    def density(self) -> float | None:
        """Mass density in g/cm³ (standard masses unless a ``masses`` array was given); None without a cell."""
        return self.base.attributes.get("density")

    @property
    def per_atom_arrays(self) -> list[str]:
        return list(self.base.attributes.get("per_atom_arrays"))

    # -- contents -----------------------------------------------------------------------------
    def get_arrays(self) -> dict[str, np.ndarray]:
        """All arrays (read once from the repository, then cached on this instance, read-only)."""
        cached = getattr(self, "_arrays", None)
        if cached is None:
            with (self.base.repository.open(self.FILENAME, mode="rb") as handle,
                  np.load(handle, allow_pickle=False) as npz):
                cached = {name: npz[name] for name in npz.files}
            for values in cached.values():
                values.flags.writeable = False  # the cache must keep matching the stored file
            self._arrays = cached
        return cached

    def get_array(self, name: str) -> np.ndarray:
        """One array (read-only; copy to modify): ``cell`` (Å), ``pbc``, ``numbers``, ``positions`` (Å)
        or a per-atom array."""
        arrays = self.get_arrays()
        if name not in arrays:
            raise KeyError(f"no array {name!r}; this node has {sorted(arrays)}")
        return arrays[name]

    def get_ase(self) -> Atoms:
        """ASE ``Atoms`` (positions Å) with every per-atom array set as an ASE array (a copy)."""
        arrays = self.get_arrays()
        atoms = Atoms(numbers=arrays["numbers"], positions=arrays["positions"], cell=arrays["cell"],
                      pbc=arrays["pbc"])
        for name in self.per_atom_arrays:
            atoms.new_array(name, arrays[name])
        return atoms

    def to_structure_data(self) -> orm.StructureData:
        """An unstored ``StructureData`` of the same atoms, for a process that needs one.

        Costly at scale: conversion is fast, but storing a ``StructureData`` takes about a minute at
        310k atoms (one database entry per site). Only ``masses`` and ``tags`` survive; other per-atom
        arrays are dropped. Inside a workflow use the ``bzs.structures.unpack`` calcfunction for provenance.
        """
        from ..common.structure_nodes import structure_from_atoms

        return structure_from_atoms(self.get_ase())

    def summary(self) -> dict:
        """The query attributes as one dict (for display)."""
        return dict(self.base.attributes.all)
