"""Packed training sets: many labelled structures as a few flat numpy arrays (no AiiDA here).

A training set of thousands of cells is stored and filtered as concatenated arrays rather than
as thousands of ``Atoms`` objects: loading, masking and exporting are then vectorised. Units:
positions and cells in Å, energies in eV, forces in eV/Å, stress in eV/Å³ (ASE sign, Voigt
order xx, yy, zz, yz, xz, xy). A missing label is NaN (unlabelled structures, or no stress).
"""

from __future__ import annotations

import gzip
import io
import pickle
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, chemical_symbols

#: config_type given to structures that do not say where they came from.
UNKNOWN_CONFIG_TYPE = "unknown"

#: keys of a packed set; per-atom arrays are concatenated in structure order.
PER_ATOM = ("numbers", "positions", "forces")
PER_STRUCTURE = ("natoms", "cells", "pbc", "energy", "stress", "config_type", "source_uuid")


class DatasetError(ValueError):
    """A training set (or the structures given to build one) cannot be used; says which."""


def _structure_name(atoms: Atoms, index: int) -> str:
    return f"structure {index} ({atoms.get_chemical_formula()}, {atoms.info.get('config_type', UNKNOWN_CONFIG_TYPE)})"


def pack(images: Sequence[Atoms], require_labels: bool = False) -> dict[str, np.ndarray]:
    """Pack ASE ``Atoms`` into flat arrays.

    Labels come from each image's calculator (``get_potential_energy`` in eV, ``get_forces`` in
    eV/Å, ``get_stress`` in eV/Å³ when present); ``info['config_type']`` and
    ``info['source_uuid']`` are kept. Unlabelled images get NaN unless ``require_labels``.
    """
    images = list(images)
    if not images:
        raise DatasetError("no structures given: a training set needs at least one structure")
    natoms = np.array([len(a) for a in images], dtype=np.int64)
    if (natoms == 0).any():
        raise DatasetError(f"structure {int(np.argmin(natoms))} has no atoms")
    n_total = int(natoms.sum())
    energy = np.full(len(images), np.nan)
    stress = np.full((len(images), 6), np.nan)
    forces = np.full((n_total, 3), np.nan)
    start = np.concatenate([[0], np.cumsum(natoms)])
    for i, atoms in enumerate(images):
        calc = atoms.calc
        results = getattr(calc, "results", {}) if calc is not None else {}
        if "energy" not in results or "forces" not in results:
            if require_labels:
                raise DatasetError(f"{_structure_name(atoms, i)} has no energy and forces attached")
            continue
        energy[i] = float(results["energy"])
        f = np.asarray(results["forces"], dtype=float)
        if f.shape != (len(atoms), 3):
            raise DatasetError(f"{_structure_name(atoms, i)}: forces have shape {f.shape}, expected ({len(atoms)}, 3)")
        if not (np.isfinite(energy[i]) and np.isfinite(f).all()):
            raise DatasetError(f"{_structure_name(atoms, i)} has a non-finite energy or force")
        forces[start[i] : start[i + 1]] = f
        if results.get("stress") is not None:
            s = np.asarray(results["stress"], dtype=float)
            stress[i] = s if s.shape == (6,) else s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return {
        "numbers": np.concatenate([a.numbers for a in images]).astype(np.int16),
        "positions": np.concatenate([a.positions for a in images]).astype(float),
        "forces": forces,
        "natoms": natoms,
        "cells": np.array([a.cell[:] for a in images], dtype=float).reshape(-1, 3, 3),
        "pbc": np.array([a.pbc for a in images], dtype=bool).reshape(-1, 3),
        "energy": energy,
        "stress": stress,
        "config_type": np.array([str(a.info.get("config_type", UNKNOWN_CONFIG_TYPE)) for a in images]),
        "source_uuid": np.array([str(a.info.get("source_uuid", "")) for a in images]),
    }


def offsets(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """Start index of every structure in the per-atom arrays, plus the total (length S + 1)."""
    return np.concatenate([[0], np.cumsum(arrays["natoms"])]).astype(np.int64)


def unpack(arrays: Mapping[str, np.ndarray], indices: Iterable[int] | None = None) -> list[Atoms]:
    """Return ``Atoms`` (with a ``SinglePointCalculator`` when labelled) for ``indices`` (all by default)."""
    start = offsets(arrays)
    indices = range(len(arrays["natoms"])) if indices is None else indices
    images = []
    for i in indices:
        sl = slice(start[i], start[i + 1])
        atoms = Atoms(
            numbers=arrays["numbers"][sl].astype(int),
            positions=arrays["positions"][sl].copy(),
            cell=arrays["cells"][i].copy(),
            pbc=arrays["pbc"][i].copy(),
        )
        atoms.info["config_type"] = str(arrays["config_type"][i])
        if arrays["source_uuid"][i]:
            atoms.info["source_uuid"] = str(arrays["source_uuid"][i])
        if np.isfinite(arrays["energy"][i]):
            results = {"energy": float(arrays["energy"][i]), "forces": arrays["forces"][sl].copy()}
            if np.isfinite(arrays["stress"][i]).all():
                results["stress"] = arrays["stress"][i].copy()
            atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


def subset(arrays: Mapping[str, np.ndarray], indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """Return the packed set of the structures at ``indices`` (in that order)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    start = offsets(arrays)
    atom_index = (
        np.concatenate([np.arange(start[i], start[i + 1]) for i in indices]) if len(indices) else np.array([], int)
    )
    out = {key: np.asarray(arrays[key])[indices] for key in PER_STRUCTURE}
    out.update({key: np.asarray(arrays[key])[atom_index] for key in PER_ATOM})
    return out


def concatenate(sets: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join packed sets end to end (structure order kept)."""
    if not sets:
        raise DatasetError("nothing to merge: give at least one training set")
    return {key: np.concatenate([np.asarray(s[key]) for s in sets]) for key in PER_ATOM + PER_STRUCTURE}


def is_labelled(arrays: Mapping[str, np.ndarray]) -> bool:
    """True when every structure has an energy (and therefore forces)."""
    return bool(np.isfinite(arrays["energy"]).all())


def elements(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Chemical symbols present, sorted alphabetically."""
    return sorted(chemical_symbols[z] for z in np.unique(arrays["numbers"]))


def config_type_counts(arrays: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Number of structures per config_type."""
    return dict(sorted(Counter(arrays["config_type"].tolist()).items()))


def reference_energy_sum(arrays: Mapping[str, np.ndarray], reference_energies: Mapping[str, float]) -> np.ndarray:
    """Σ of isolated-atom energies (eV) per structure; raises naming any element without one."""
    missing = sorted(set(elements(arrays)) - set(reference_energies))
    if missing:
        raise DatasetError(
            f"no isolated-atom reference energy for {missing} (have {sorted(reference_energies)}); "
            "label isolated atoms with DftLabelWorkChain or pass reference_energies={'Ba': eV, ...}"
        )
    table = np.zeros(int(arrays["numbers"].max()) + 1)
    for symbol, value in reference_energies.items():
        z = atomic_numbers[symbol]
        if z < len(table):
            table[z] = float(value)
    per_atom = table[arrays["numbers"].astype(np.int64)]
    return np.add.reduceat(per_atom, offsets(arrays)[:-1]) if len(per_atom) else np.zeros(0)


def energy_per_atom(arrays: Mapping[str, np.ndarray], reference_energies: Mapping[str, float] | None = None) -> np.ndarray:
    """Energy per atom (eV/atom); relative to isolated atoms when ``reference_energies`` are given."""
    energy = np.asarray(arrays["energy"], dtype=float)
    if reference_energies:
        energy = energy - reference_energy_sum(arrays, reference_energies)
    return energy / arrays["natoms"]


def max_force(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """Largest force norm in each structure, eV/Å (NaN if unlabelled)."""
    norms = np.linalg.norm(arrays["forces"], axis=1)
    return np.maximum.reduceat(norms, offsets(arrays)[:-1])


def min_distances(arrays: Mapping[str, np.ndarray], cutoff: float) -> np.ndarray:
    """Shortest interatomic distance in each structure (Å, periodic images included), or ``inf``
    when no pair is closer than ``cutoff`` Å (a matscipy neighbour list per structure)."""
    from ..structures.contacts import shortest_distance

    return np.array([shortest_distance(a, cutoff) for a in unpack(arrays)])


def filter_mask(
    arrays: Mapping[str, np.ndarray],
    max_energy_above_min: float | None = None,
    max_force_norm: float | None = None,
    min_distance: float | None = None,
    reference_energies: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Boolean mask of structures to keep.

    :param max_energy_above_min: drop structures more than this many eV/atom above the lowest
        energy per atom in the set (cohesive energy per atom when ``reference_energies`` cover
        every element, so that different compositions compare; raw energy per atom otherwise).
    :param max_force_norm: drop structures with any ``|F|`` above this, eV/Å.
    :param min_distance: drop structures with any pair closer than this, Å.
    """
    keep = np.ones(len(arrays["natoms"]), dtype=bool)
    if max_energy_above_min is not None:
        refs = reference_energies if reference_energies and set(elements(arrays)) <= set(reference_energies) else None
        e = energy_per_atom(arrays, refs)
        keep &= e - np.nanmin(e) <= float(max_energy_above_min)
    if max_force_norm is not None:
        keep &= max_force(arrays) <= float(max_force_norm)
    if min_distance is not None:
        keep &= min_distances(arrays, float(min_distance)) >= float(min_distance)
    return keep


def split_indices(n: int, test_fraction: float, seed: int, train_only=None) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test partition of ``range(n)``: sorted (train, test) index arrays.

    The test part holds ``round(test_fraction * m)`` of the ``m`` eligible structures; those
    flagged in the boolean mask ``train_only`` (e.g. dimers: curve samples, not configurations a
    potential is judged on) always go to train. Same seed, same split; without ``train_only`` the
    split is the one of earlier versions.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    fixed = np.zeros(n, dtype=bool) if train_only is None else np.asarray(train_only, dtype=bool)
    eligible = np.flatnonzero(~fixed)
    order = eligible[np.random.default_rng(seed).permutation(len(eligible))]
    n_test = int(round(test_fraction * len(eligible)))
    return np.sort(np.concatenate([order[n_test:], np.flatnonzero(fixed)])), np.sort(order[:n_test])


def _fmt(values: np.ndarray) -> str:
    # repr of a Python float is the shortest string that reads back to the same double
    return " ".join(map(repr, values.tolist()))


def write_extxyz(arrays: Mapping[str, np.ndarray], handle: io.TextIOBase | str | Path) -> None:
    """Write extended XYZ that ASE reads back bit-exactly (positions, forces, energy, stress).

    ASE's own writer rounds per-atom columns to 8 decimals; this one writes every float with
    the shortest exact representation. Columns: species, pos (Å), forces (eV/Å); key-values:
    energy (eV), stress (eV/Å³, 3×3), config_type, source_uuid, pbc.
    """
    if isinstance(handle, (str, Path)):
        with open(handle, "w") as fh:
            write_extxyz(arrays, fh)
        return
    start = offsets(arrays)
    symbols = np.array(chemical_symbols)[arrays["numbers"].astype(int)]
    for i in range(len(arrays["natoms"])):
        sl = slice(start[i], start[i + 1])
        labelled = np.isfinite(arrays["energy"][i])
        props = "species:S:1:pos:R:3" + (":forces:R:3" if labelled else "")
        head = [f'Lattice="{_fmt(arrays["cells"][i].reshape(-1))}"', f"Properties={props}"]
        if labelled:
            head.append(f"energy={float(arrays['energy'][i])!r}")
            if np.isfinite(arrays["stress"][i]).all():
                s = arrays["stress"][i]
                full = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
                head.append(f'stress="{_fmt(full.reshape(-1))}"')
        head.append(f'config_type="{arrays["config_type"][i]}"')
        if arrays["source_uuid"][i]:
            head.append(f"source_uuid={arrays['source_uuid'][i]}")
        head.append('pbc="' + " ".join("T" if p else "F" for p in arrays["pbc"][i]) + '"')
        columns = [arrays["positions"][sl]] + ([arrays["forces"][sl]] if labelled else [])
        block = np.hstack(columns).tolist()
        lines = [f"{sym} " + " ".join(map(repr, row)) for sym, row in zip(symbols[sl], block)]
        handle.write(f"{int(arrays['natoms'][i])}\n{' '.join(head)}\n" + "\n".join(lines) + "\n")


def pacemaker_dataframe(arrays: Mapping[str, np.ndarray], reference_energies: Mapping[str, float]):
    """pandas DataFrame in pacemaker's layout: ``ase_atoms``, ``energy``, ``forces``,
    ``energy_corrected`` (energy − Σ isolated-atom energies, eV), plus ``config_type``."""
    import pandas as pd

    if not is_labelled(arrays):
        raise DatasetError("the training set holds unlabelled structures; label them before exporting for pacemaker")
    correction = reference_energy_sum(arrays, reference_energies)
    start = offsets(arrays)
    images = unpack(arrays)
    for atoms in images:
        atoms.calc = None
    forces = [arrays["forces"][start[i] : start[i + 1]].copy() for i in range(len(images))]
    return pd.DataFrame(
        {
            "ase_atoms": images,
            "energy": arrays["energy"].astype(float),
            "forces": forces,
            "energy_corrected": arrays["energy"].astype(float) - correction,
            "config_type": arrays["config_type"].astype(str),
        }
    )


def write_pacemaker_pickle(dataframe, path: str | Path) -> None:
    """Write ``dataframe`` as pacemaker reads it: a gzip-compressed pickle (``.pckl.gzip``)."""
    with gzip.open(path, "wb") as fh:
        pickle.dump(dataframe, fh, protocol=4)


def to_npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise a packed set to compressed npz bytes (no pickled objects inside)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: np.asarray(arrays[key]) for key in PER_ATOM + PER_STRUCTURE})
    return buffer.getvalue()


def from_npz_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_npz_bytes`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in PER_ATOM + PER_STRUCTURE}
