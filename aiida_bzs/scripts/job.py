"""``aiida-bzs-job``: the program behind the package's Python jobs (γ, parity, analysis, exploration).

Work whose cost grows with atoms × frames does not run in the AiiDA daemon: a CalcJob of
:mod:`aiida_bzs.calculations.jobs` writes its inputs into a folder and this runner does the
numerics there, on whatever computer the job was sent to (a cluster node, with the scheduler's
resources and wall time). No AiiDA import here: the runner reads plain files and writes plain
files, so it needs only the package's pure code (ASE, numpy, pyace) on the remote side.

Tasks (one subcommand each; files are relative to the job's folder):

``grade``
    Per-atom extrapolation grade γ of every frame of ``frames.npz`` (a packed set, see
    :mod:`aiida_bzs.training.dataset`, or one structure in ``LargeStructureData``'s layout) with
    ``potential.yaml`` + ``potential.asi``.
``parity``
    The potential's energies (eV/atom, cohesive) and forces (eV/Å) on a labelled ``dataset.npz``
    against the reference labels, with RMSE/MAE (meV/atom, meV/Å) and a parity plot.
``analyse``
    The study's standard structure analysis (density, CN, bond lengths, g(r), angles, contacts)
    of the one structure in ``frames.npz`` (either layout, as for ``grade``).
``explore``
    Active-learning exploration with the potential: RSS relaxations and short MD (ASE + pyace),
    candidates with their largest γ.
``polycrystal``
    A Voronoi polycrystal of the reference crystal ``crystal.npz`` (random grains, or the grains of
    an Atomsk parameter file): the structure's arrays, the build report and ``polycrystal.txt``
    (the Atomsk file of the grains used).
``interfaces``
    Grain-boundary versus grain-interior analysis of ``structure.npz`` (grain IDs from
    ``grains.npz`` or the structure's own ``grain`` array, optional per-atom γ ``gamma.npy``), with
    CN/γ histograms and slices coloured by grain and by γ.
``dataset_map``
    The dataset map of a training set ``dataset.npz`` (the study's Fig. 1b): per-structure SOAP
    vectors (dscribe) embedded in 2-D (UMAP), coloured by family; ``dataset_map.png``.
``phonons``
    Phonon band structure and DOS (phonopy, finite displacements) of ``crystal.npz`` with the ACE
    potential ``potential.yaml`` (ACE only: no DFT phonons); ``phonons.png``.

Structures (``crystal.npz``, ``structure.npz``, ``grains.npz``) are in the layout of a
``LargeStructureData`` repository file (``cell`` Å, ``pbc``, ``numbers``, ``positions`` Å, per-atom
arrays), so the CalcJob copies such a node's file as it is. ``frames.npz`` (``grade``, ``analyse``)
may be either a packed set or such a structure file: :func:`_read_frames` tells them apart by their
arrays, so a 600k-atom ``LargeStructureData`` is never decoded or re-packed in the daemon.

Every task reads ``parameters.json`` and writes ``result.json`` (summary, timings, warnings) and,
when it has arrays, ``result.npz``. On bad input it writes ``{"error": {"code", "message"}}`` to
``result.json`` and exits with status 2, so the parser can name the problem.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

PARAMETERS = "parameters.json"
RESULT_JSON = "result.json"
RESULT_NPZ = "result.npz"
FRAMES = "frames.npz"
DATASET = "dataset.npz"
POTENTIAL_YAML = "potential.yaml"
ACTIVE_SET = "potential.asi"
PARITY_PNG = "parity.png"
STDOUT = "aiida.out"
CRYSTAL = "crystal.npz"
STRUCTURE = "structure.npz"
GRAINS = "grains.npz"
GAMMA = "gamma.npy"
POLYCRYSTAL_ATOMSK = "polycrystal.txt"
INTERFACES_PNG = "interfaces.png"
SLICE_GRAIN_PNG = "slice_grain.png"
SLICE_GAMMA_PNG = "slice_gamma.png"
#: Per-atom arrays read as grain IDs, in order (as :data:`aiida_bzs.analysis.grain_interfaces.GRAIN_ARRAYS`).
GRAIN_ARRAY_NAMES = ("grain", "grain_id")
#: Keys of the ``polycrystal`` task's parameters: a random build or an Atomsk file, and the clearance.
POLYCRYSTAL_KEYS = ("box", "grains", "seed", "atomsk", "clearance")
#: Keys of the ``interfaces`` task's parameters.
INTERFACES_KEYS = ("boundary_cutoff", "shells", "slice_axis", "slice_thickness", "slice_position")
DATASET_MAP_PNG = "dataset_map.png"
PHONONS_PNG = "phonons.png"
#: Keys of the ``dataset_map`` task's parameters (SOAP: r_cut, sigma in Å; UMAP: n_neighbors, min_dist).
DATASET_MAP_KEYS = ("r_cut", "n_max", "l_max", "sigma", "n_neighbors", "min_dist", "seed", "title")
#: Defaults of the ``dataset_map`` task: the SOAP of the study's map (Å) and UMAP's own defaults.
DATASET_MAP_DEFAULTS = {"r_cut": 5.0, "n_max": 6, "l_max": 4, "sigma": 0.5, "n_neighbors": 15, "min_dist": 0.1,
                        "seed": 42}
#: Fewer structures than this are embedded with PCA: UMAP needs a neighbourhood graph.
UMAP_MIN_STRUCTURES = 8
#: Keys of the ``phonons`` task's parameters.
PHONONS_KEYS = ("supercell", "displacement", "relax", "fmax", "max_steps", "mesh", "band_points", "symprec", "path")
#: Defaults of the ``phonons`` task: supercell repeats, displacement (Å), relaxation with the
#: potential ('cell': cell and positions, symmetry kept; 'positions'; 'none'), force limit (eV/Å),
#: q mesh of the DOS, points per band segment, symmetry tolerance (Å).
PHONONS_DEFAULTS = {"supercell": [2, 2, 2], "displacement": 0.01, "relax": "cell", "fmax": 1e-3, "max_steps": 500,
                    "mesh": [8, 8, 8], "band_points": 51, "symprec": 1e-3}
#: High-symmetry points of the simple orthorhombic Brillouin zone (Pnma), reduced coordinates.
ORTHORHOMBIC_POINTS = {"G": (0.0, 0.0, 0.0), "X": (0.5, 0.0, 0.0), "Y": (0.0, 0.5, 0.0), "Z": (0.0, 0.0, 0.5),
                       "S": (0.5, 0.5, 0.0), "U": (0.5, 0.0, 0.5), "T": (0.0, 0.5, 0.5), "R": (0.5, 0.5, 0.5)}
#: The usual path through it (one connected line).
ORTHORHOMBIC_PATH = ("G", "X", "S", "Y", "G", "Z", "U", "R", "T", "Z")


class JobInputError(ValueError):
    """The job's input files cannot be used; the message names the problem."""

    code = "INVALID_INPUT"


def _peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: Arrays of a structure file in ``LargeStructureData``'s layout that :func:`_read_frames` needs.
STRUCTURE_ARRAYS = ("cell", "numbers", "positions")


def _read_frames(path: str | Path) -> dict[str, np.ndarray]:
    """The packed set (:mod:`aiida_bzs.training.dataset`) in ``path``, which holds either

    - a packed set (``natoms``, ``cells``, …: a ``TrainingSetData`` file, or the frames the CalcJob
      packed from a ``StructureData`` or ``TrajectoryData``), or
    - one structure in ``LargeStructureData``'s layout (``cell`` Å, ``pbc``, ``numbers``,
      ``positions`` Å, per-atom arrays): the node's repository file, copied as it is.

    A structure becomes a one-frame set with exactly the arrays the daemon's ``pack`` of its
    ``Atoms`` gave (int16 numbers, float positions and cell, no labels, config type ``unknown``);
    its other per-atom arrays (``grain``, ``masses``, …) are not read, as ``pack`` dropped them.
    """
    from ..training.dataset import PER_ATOM, PER_STRUCTURE, UNKNOWN_CONFIG_TYPE

    path = Path(path)
    if not path.exists():
        raise JobInputError(f"{path.name} is missing from the job folder")
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        if "natoms" in files:
            missing = [key for key in PER_ATOM + PER_STRUCTURE if key not in files]
            if missing:
                raise JobInputError(f"{path.name} is a packed set without {missing}")
            return {key: npz[key] for key in PER_ATOM + PER_STRUCTURE}
        missing = [key for key in STRUCTURE_ARRAYS if key not in files]
        if missing:
            raise JobInputError(f"{path.name} has neither a packed set's arrays (natoms, cells, …) nor a "
                                f"structure's: no {missing} array(s)")
        numbers = np.asarray(npz["numbers"]).reshape(-1).astype(np.int16)
        positions = np.asarray(npz["positions"], dtype=float)
        cell = np.asarray(npz["cell"], dtype=float)
        pbc = np.broadcast_to(np.asarray(npz["pbc"], dtype=bool) if "pbc" in files else True, (3,))
    n_atoms = len(numbers)
    if positions.shape != (n_atoms, 3) or cell.shape != (3, 3) or n_atoms == 0:
        raise JobInputError(f"{path.name}: positions {positions.shape}, cell {cell.shape} and {n_atoms} atomic "
                            "numbers do not make a structure (N×3 positions, a 3×3 cell, N ≥ 1 numbers)")
    return {
        "numbers": numbers, "positions": positions, "forces": np.full((n_atoms, 3), np.nan),
        "natoms": np.array([n_atoms], dtype=np.int64), "cells": cell.reshape(1, 3, 3),
        "pbc": pbc.reshape(1, 3).copy(), "energy": np.full(1, np.nan), "stress": np.full((1, 6), np.nan),
        "config_type": np.array([UNKNOWN_CONFIG_TYPE]), "source_uuid": np.array([""]),
    }


def _read_structure(path: str | Path, what: str):
    """ASE ``Atoms`` (with every per-atom array) of a structure file in ``LargeStructureData``'s layout."""
    from ase import Atoms

    path = Path(path)
    if not path.exists():
        raise JobInputError(f"{path.name} ({what}) is missing from the job folder")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    missing = [k for k in ("cell", "numbers", "positions") if k not in arrays]
    if missing:
        raise JobInputError(f"{path.name} ({what}) has no {missing} array(s): not a structure file")
    atoms = Atoms(numbers=arrays.pop("numbers"), positions=arrays.pop("positions"), cell=arrays.pop("cell"),
                  pbc=arrays.pop("pbc", True))
    for name, values in arrays.items():
        if values.ndim and len(values) == len(atoms):
            atoms.new_array(name, values)
    return atoms


def _grain_array(arrays) -> np.ndarray | None:
    """The grain IDs among per-atom ``arrays`` (``grain``, else ``grain_id``), or None."""
    name = next((key for key in GRAIN_ARRAY_NAMES if key in arrays), None)
    return None if name is None else np.asarray(arrays[name])


def _check_keys(params: dict, allowed: tuple[str, ...], task: str) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise JobInputError(f"unknown parameter(s) {unknown} for {task}; allowed: {list(allowed)}")


def json_safe(value):
    """``value`` with numpy scalars/arrays as Python numbers/lists and NaN/inf as None (for a Dict)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _calculator(active_set: bool):
    """pyace calculator on ``potential.yaml`` (B-basis), with ``potential.asi`` loaded if asked."""
    from pyace import PyACECalculator

    if not Path(POTENTIAL_YAML).exists():
        raise JobInputError(f"{POTENTIAL_YAML} is missing from the job folder")
    calc = PyACECalculator(POTENTIAL_YAML)
    if active_set:
        if not Path(ACTIVE_SET).exists():
            raise JobInputError(f"{ACTIVE_SET} is missing: γ needs the potential's active set (pace_activeset)")
        calc.set_active_set(ACTIVE_SET)
    return calc


def _progress(label: str, total: int):
    """A progress bar on stderr (the job's stderr file shows how far a long job is)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, file=sys.stderr, mininterval=5.0, disable=total < 2)


# --- tasks ------------------------------------------------------------------------------------


def task_grade(params: dict) -> tuple[dict, dict]:
    """γ per atom of every frame: ``max_gamma``, ``mean_gamma``, fractions above 2 and 5 per frame;
    ``per_atom`` (concatenated, frame order) when ``params['per_atom']``."""
    from ..analysis.extrapolation import RELIABLE_GAMMA, per_atom_gamma
    from ..training.dataset import unpack

    arrays = _read_frames(FRAMES)
    images = unpack(arrays)
    calc = _calculator(active_set=True)
    per_atom, rows = [], []
    with _progress("extrapolation grade", len(images)) as bar:
        for atoms in images:
            atoms.calc = None
            gamma = per_atom_gamma(atoms, calc)
            rows.append((gamma.max(), gamma.mean(), np.mean(gamma > RELIABLE_GAMMA), np.mean(gamma > 5.0)))
            if params.get("per_atom"):
                per_atom.append(gamma)
            bar.update(1)
    table = np.array(rows, dtype=float).reshape(-1, 4)
    out = {"max_gamma": table[:, 0], "mean_gamma": table[:, 1], "fraction_above_2": table[:, 2],
           "fraction_above_5": table[:, 3]}
    if per_atom:
        out["per_atom"] = np.concatenate(per_atom)
    summary = {
        "n_frames": len(images),
        "n_atoms": int(arrays["natoms"].sum()),
        "max": float(table[:, 0].max()),
        "reliable_limit": RELIABLE_GAMMA,
        "n_frames_above_reliable": int(np.sum(table[:, 0] > RELIABLE_GAMMA)),
    }
    if per_atom:
        all_gamma = out["per_atom"]
        summary.update(mean=float(all_gamma.mean()), n_above_reliable=int(np.sum(all_gamma > RELIABLE_GAMMA)),
                       fraction_above_2=float(np.mean(all_gamma > RELIABLE_GAMMA)),
                       fraction_above_5=float(np.mean(all_gamma > 5.0)))
    return summary, out


def task_parity(params: dict) -> tuple[dict, dict]:
    """Parity of the potential on the labelled set: arrays of :func:`predict_parity`, metrics and plot."""
    from ..analysis.ace_parity import (
        DEFINITION,
        parity_figure,
        parity_metrics,
        parity_metrics_by_group,
        predict_parity,
    )
    from ..training.dataset import unpack

    arrays = _read_frames(DATASET)
    if not np.isfinite(arrays["energy"]).all():
        raise JobInputError("the dataset has unlabelled structures (no energy): parity needs DFT labels")
    images = unpack(arrays)
    calc = _calculator(active_set=False)
    parity = predict_parity(images, calc, params.get("reference_energies") or {})
    config_types = [str(c) for c in arrays["config_type"]]
    metrics = parity_metrics(parity)
    metrics["by_config_type"] = parity_metrics_by_group(parity, config_types)
    metrics["units"] = {"energy": "meV/atom", "forces": "meV/Å"}
    metrics["definition"] = DEFINITION
    title = params.get("title") or f"ACE vs DFT on {len(images)} held-out structures"
    fig = parity_figure(parity, title=title, groups=config_types)
    fig.savefig(PARITY_PNG, dpi=150)
    return {"metrics": metrics, "config_types": config_types}, parity


def task_analyse(params: dict) -> tuple[dict, dict]:
    """Standard analysis of the single structure in ``frames.npz`` (a one-frame packed set or a
    ``LargeStructureData`` file, see :func:`_read_frames`); outputs as payloads (see
    :func:`aiida_bzs.analysis.standard.analysis_payloads`)."""
    from ..analysis.standard import analyse_structure, analysis_payloads, parse_bonds
    from ..training.dataset import unpack

    arrays = _read_frames(FRAMES)
    if len(arrays["natoms"]) != 1:
        raise JobInputError(f"{FRAMES} holds {len(arrays['natoms'])} structures; the analysis takes one")
    atoms = unpack(arrays)[0]
    result = analyse_structure(
        atoms, bonds=parse_bonds(params["bonds"]), contact_species=params["contact_species"],
        contact_cutoff=float(params["contact_cutoff"]), r_max=float(params["rdf_r_max"]),
        bin_width=float(params["rdf_bin_width"]), adf_bins=int(params["adf_bins"]),
    )
    payloads = analysis_payloads(atoms, result)
    summary = {"outputs": {name: {"kind": kind, "attributes": attributes}
                           for name, (kind, attributes, _) in payloads.items()},
               "n_atoms": len(atoms)}
    arrays_out = {f"{name}/{key}": value for name, (_, _, data) in payloads.items() for key, value in data.items()}
    return summary, arrays_out


def task_explore(params: dict) -> tuple[dict, dict]:
    """RSS relaxations and short MD with the potential (ASE + pyace); candidates and their max γ."""
    from ..analysis.extrapolation import per_atom_gamma
    from ..structures.rss import random_structures
    from ..training.dataset import pack, unpack
    from ..training.explore import explore

    p = params["explore"]
    seed = int(p["seed"]) + 1000 * int(params.get("generation", 0))
    rss = p["rss"]
    cells = random_structures(int(rss["count"]), rss["composition"], rss["formula_units"], seed=seed,
                              volume_per_atom=tuple(rss["volume_per_atom"])) if rss["count"] else []
    limit = p["md"]["seed_max_atoms"]
    pool = []
    if Path(DATASET).exists():
        pool = [a for a in unpack(_read_frames(DATASET)) if limit is None or len(a) <= int(limit)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(int(p["md"]["seed_count"]), len(pool)), replace=False) if pool else []
    md_seeds = [pool[i] for i in sorted(picks)]
    for atoms in md_seeds:
        atoms.calc = None
    md = {k: v for k, v in p["md"].items() if k not in ("seed_count", "seed_max_atoms")}
    calc = _calculator(active_set=True)
    candidates = explore(md_seeds, cells, calc, relax=p["relax"], md=md, seed=seed)
    if not candidates:
        raise JobInputError("exploration produced no candidate structure (every run failed at once)")
    gamma = np.array([per_atom_gamma(atoms, calc).max() for atoms in candidates])
    for atoms in candidates:
        atoms.info.pop("explore_steps", None)
        atoms.calc = None
    packed = pack(candidates)
    out = {f"candidates/{key}": value for key, value in packed.items()}
    out["max_gamma"] = gamma
    return {"n_candidates": len(candidates), "max_gamma": float(gamma.max()), "seed": seed}, out


def task_polycrystal(params: dict) -> tuple[dict, dict]:
    """Voronoi polycrystal of ``crystal.npz``: ``{box (Å), grains, seed}`` (random seeds and
    orientations) or ``{atomsk (file text), seed (for its random lines)}``, plus ``clearance`` (Å).

    Writes ``polycrystal.txt`` (Atomsk file of the grains used: rebuilds the same structure).
    Arrays: ``cell`` (Å), ``pbc``, ``numbers``, ``positions`` (Å), ``grain`` (1-based ID per atom).
    Summary: the build report of :func:`~aiida_bzs.structures.polycrystal.build_polycrystal`.
    """
    from ..structures.polycrystal import (
        DEFAULT_CLEARANCE,
        build_polycrystal,
        random_spec,
        read_atomsk,
        write_atomsk,
    )

    _check_keys(params, POLYCRYSTAL_KEYS, "polycrystal")
    crystal = _read_structure(CRYSTAL, "the reference crystal")
    seed = params.get("seed")
    if "atomsk" in params:
        if "box" in params or "grains" in params:
            raise JobInputError("give either `atomsk` (an Atomsk parameter file) or `box` and `grains`, not both")
        text = str(params["atomsk"])
        spec = read_atomsk(text if "\n" in text else text + "\n", seed=seed)  # one line would read as a path
    else:
        if "box" not in params or "grains" not in params:
            raise JobInputError("give `box` ([X, Y, Z] Å) and `grains` (count), or `atomsk` (the file's text)")
        spec = random_spec(params["box"], params["grains"], seed)
    clearance = params.get("clearance", DEFAULT_CLEARANCE)
    atoms, report = build_polycrystal(crystal, spec, clearance=clearance, progress=spec.n_grains > 1)
    write_atomsk(spec, POLYCRYSTAL_ATOMSK)
    arrays = {"cell": np.asarray(atoms.cell[:], dtype=float), "pbc": np.asarray(atoms.pbc, dtype=bool),
              "numbers": atoms.numbers.astype(np.int16), "positions": atoms.positions,
              "grain": atoms.arrays["grain"].astype(np.int32)}
    report["seed"] = seed
    report["source"] = "atomsk" if "atomsk" in params else "random"
    return json_safe(report), arrays


def task_interfaces(params: dict) -> tuple[dict, dict]:
    """Boundary vs interior analysis of ``structure.npz`` (see
    :func:`~aiida_bzs.analysis.grain_interfaces.interface_analysis`) and its figures.

    Grain IDs: the ``grain`` (or ``grain_id``) array of ``grains.npz`` when present (same atom
    order), else the structure's own. γ: ``gamma.npy`` (one value per atom) when present.
    Parameters: ``boundary_cutoff`` (Å), ``shells``, ``slice_axis`` (0–2), ``slice_thickness`` (Å),
    ``slice_position`` (fraction of the cell). Writes ``interfaces.png``, ``slice_grain.png`` and,
    with γ, ``slice_gamma.png``. Arrays: per atom ``is_boundary``, ``grain``, ``zr_cn``, ``ba_cn``,
    ``zr_s_length`` (Å), ``gamma``.
    """
    from ..analysis.grain_interfaces import (
        BOUNDARY_CUTOFF,
        SLICE_THICKNESS,
        interface_analysis,
        plot_interfaces,
        plot_slice,
    )

    _check_keys(params, INTERFACES_KEYS, "interfaces")
    atoms = _read_structure(STRUCTURE, "the structure")
    n_atoms = len(atoms)
    if Path(GRAINS).exists():
        with np.load(GRAINS, allow_pickle=False) as npz:
            grain = _grain_array({name: npz[name] for name in GRAIN_ARRAY_NAMES if name in npz.files})
            n_grains_atoms = len(npz["numbers"]) if "numbers" in npz.files else None
        if grain is None:
            raise JobInputError(f"the `grains` structure has no per-atom grain IDs (looked for arrays "
                                f"{list(GRAIN_ARRAY_NAMES)}); pass the as-built polycrystal of bzs.job.polycrystal")
        if len(grain) != n_atoms:
            raise JobInputError(
                f"atom count mismatch: `grains` has {n_grains_atoms if n_grains_atoms is not None else len(grain)} "
                f"atoms, `structure` has {n_atoms}; `grains` must be the same polycrystal, atoms in the same order "
                "(e.g. the as-built structure a relaxation started from)")
    else:
        grain = _grain_array(atoms.arrays)
        if grain is None:
            raise JobInputError(f"no grain IDs: the structure has no per-atom {list(GRAIN_ARRAY_NAMES)} array and no "
                                "`grains` input was given; pass `grains` (the as-built polycrystal, same atom order)")
    gamma = None
    if Path(GAMMA).exists():
        gamma = np.load(GAMMA, allow_pickle=False)
        if gamma.ndim != 1 or len(gamma) != n_atoms:
            raise JobInputError(f"atom count mismatch: `gamma` has {gamma.shape[0] if gamma.ndim else 0} values "
                                f"(shape {gamma.shape}), `structure` has {n_atoms} atoms; give the per-atom γ of "
                                "this structure (bzs.job.grade on it)")
    result = interface_analysis(atoms, grain, gamma, boundary_cutoff=params.get("boundary_cutoff", BOUNDARY_CUTOFF),
                                shells=params.get("shells", 1))
    plot_interfaces(result, INTERFACES_PNG)
    axis, thickness = int(params.get("slice_axis", 2)), params.get("slice_thickness", SLICE_THICKNESS)
    position = float(params.get("slice_position", 0.5))
    plot_slice(atoms, result.grain, SLICE_GRAIN_PNG, axis=axis, thickness=thickness, position=position,
               label="grain")
    if gamma is not None:
        plot_slice(atoms, result.gamma, SLICE_GAMMA_PNG, axis=axis, thickness=thickness, position=position,
                   label="extrapolation grade γ", log=True)
    return json_safe(result.summary()), result.to_arrays()


def _with_defaults(params: dict, allowed: tuple[str, ...], defaults: dict, task: str) -> dict:
    _check_keys(params, allowed, task)
    return {**defaults, **{k: v for k, v in params.items() if v is not None}}


def _soap_vectors(images, p: dict) -> np.ndarray:
    """Per-structure SOAP vectors (dscribe, ``average='inner'``), each scaled to unit length, so
    structures of any size compare; periodic and isolated cells get the same descriptor layout."""
    from dscribe.descriptors import SOAP

    species = sorted({s for atoms in images for s in atoms.get_chemical_symbols()})
    common = {"species": species, "r_cut": float(p["r_cut"]), "n_max": int(p["n_max"]), "l_max": int(p["l_max"]),
              "sigma": float(p["sigma"]), "average": "inner", "sparse": False}
    soaps = {True: SOAP(periodic=True, **common), False: SOAP(periodic=False, **common)}
    vectors = np.zeros((len(images), soaps[True].get_number_of_features()))
    with _progress("SOAP", len(images)) as bar:
        for i, atoms in enumerate(images):
            periodic = bool(np.any(atoms.pbc)) and atoms.cell.rank == 3
            work = atoms.copy()
            work.calc = None
            if not periodic:
                work.pbc = False
            vectors[i] = np.asarray(soaps[periodic].create(work)).reshape(-1)
            bar.update(1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _embed(vectors: np.ndarray, p: dict) -> tuple[np.ndarray, str, dict]:
    """2-D embedding of the rows of ``vectors``: UMAP (seeded), or PCA for fewer than
    :data:`UMAP_MIN_STRUCTURES` rows (too few for a neighbourhood graph; the method is recorded)."""
    n = len(vectors)
    if n < UMAP_MIN_STRUCTURES:
        centred = vectors - vectors.mean(axis=0)
        if n < 2 or not np.any(centred):
            return np.zeros((n, 2)), "PCA", {"why": f"{n} structure(s) or identical descriptors"}
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        xy = np.zeros((n, 2))
        xy[:, : min(2, len(s))] = (u * s)[:, :2]
        return xy, "PCA", {"why": f"{n} structures: fewer than {UMAP_MIN_STRUCTURES}, too few for UMAP"}
    import umap

    neighbours = int(min(int(p["n_neighbors"]), n - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=float(p["min_dist"]),
                        random_state=int(p["seed"]), init="spectral" if n > 4 * neighbours else "pca")
    return np.asarray(reducer.fit_transform(vectors), dtype=float), "UMAP", {"n_neighbors": neighbours}


def task_dataset_map(params: dict) -> tuple[dict, dict]:
    """SOAP vector of every structure of ``dataset.npz`` (a packed set), embedded in 2-D; figure
    ``dataset_map.png`` coloured by family. Parameters (:data:`DATASET_MAP_KEYS`): SOAP ``r_cut``
    and ``sigma`` (Å), ``n_max``, ``l_max``; UMAP ``n_neighbors``, ``min_dist``, ``seed``; ``title``.
    Arrays: ``embedding`` (N × 2, dimensionless), ``config_type``, ``natoms``, ``energy_per_atom``
    (eV/atom, NaN when unlabelled)."""
    from ..report.figures import dataset_map_png
    from ..training.dataset import unpack

    p = _with_defaults(params, DATASET_MAP_KEYS, DATASET_MAP_DEFAULTS, "dataset_map")
    arrays = _read_frames(DATASET)
    images = unpack(arrays)
    if not images:
        raise JobInputError(f"{DATASET} holds no structure")
    start = time.perf_counter()
    vectors = _soap_vectors(images, p)
    soap_s = time.perf_counter() - start
    embedding, method, detail = _embed(vectors, p)
    config_types = np.array([str(c) for c in arrays["config_type"]])
    natoms = np.asarray(arrays["natoms"], dtype=np.int64)
    energy_per_atom = np.asarray(arrays["energy"], dtype=float) / natoms
    title = p.get("title") or f"SOAP + {method} of {len(images)} structures"
    Path(DATASET_MAP_PNG).write_bytes(dataset_map_png(embedding, config_types, title=title, method=method))
    families, counts = np.unique(config_types, return_counts=True)
    summary = {"n_structures": len(images), "n_atoms": int(natoms.sum()), "method": method, **detail,
               "soap": {k: p[k] for k in ("r_cut", "n_max", "l_max", "sigma")}, "n_features": int(vectors.shape[1]),
               "seed": int(p["seed"]), "min_dist": float(p["min_dist"]), "soap_time_s": round(soap_s, 3),
               "config_types": {str(f): int(c) for f, c in zip(families, counts)},
               "units": {"r_cut": "Å", "sigma": "Å", "embedding": "dimensionless", "energy_per_atom": "eV/atom"}}
    return summary, {"embedding": embedding, "config_type": config_types, "natoms": natoms,
                     "energy_per_atom": energy_per_atom}


def _relax_with_symmetry(atoms, calc, mode: str, fmax: float, max_steps: int, symprec: float) -> dict:
    """Relax ``atoms`` in place with the potential, keeping its space group (ASE ``FixSymmetry``):
    'cell' (cell and positions), 'positions' or 'none'. Returns steps, final max force (eV/Å)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms.calc = calc
    if mode == "none":
        return {"mode": mode, "steps": 0, "max_force": float(np.abs(atoms.get_forces()).max())}
    if mode not in ("cell", "positions"):
        raise JobInputError(f"`relax` must be 'cell', 'positions' or 'none', got {mode!r}")
    atoms.set_constraint(FixSymmetry(atoms, symprec=symprec))
    target = FrechetCellFilter(atoms) if mode == "cell" else atoms
    optimiser = BFGS(target, logfile=None)
    converged = bool(optimiser.run(fmax=fmax, steps=max_steps))
    atoms.set_constraint()
    return {"mode": mode, "steps": int(optimiser.nsteps), "converged": converged,
            "max_force": float(np.linalg.norm(atoms.get_forces(), axis=1).max())}


def task_phonons(params: dict) -> tuple[dict, dict]:
    """Phonons of ``crystal.npz`` with the ACE potential (phonopy, finite displacements): band
    structure along the orthorhombic path (:data:`ORTHORHOMBIC_PATH`, or ``path``: a list of point
    names of :data:`ORTHORHOMBIC_POINTS`) and the total DOS; ``phonons.png``. ACE only: nothing
    here is DFT. Arrays: ``band_distance`` (path length, 1/Å without 2π), ``band_frequency`` (THz, points ×
    bands), ``band_segment`` (segment of each point), ``dos_frequency`` (THz), ``dos`` (states/THz),
    ``gamma_frequency`` (THz), ``cell`` and ``positions`` (Å, the relaxed crystal)."""
    from ase import Atoms
    from ase.spacegroup.symmetrize import check_symmetry
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from ..report.figures import phonon_png

    p = _with_defaults(params, PHONONS_KEYS, PHONONS_DEFAULTS, "phonons")
    crystal = _read_structure(CRYSTAL, "the crystal")
    if not crystal.pbc.all():
        raise JobInputError("phonons need a 3-D periodic crystal")
    supercell = [int(x) for x in p["supercell"]]
    if len(supercell) != 3 or min(supercell) < 1:
        raise JobInputError(f"`supercell` must be three repeats ≥ 1, got {p['supercell']}")
    path = [str(x) for x in p.get("path") or ORTHORHOMBIC_PATH]
    unknown = [x for x in path if x not in ORTHORHOMBIC_POINTS]
    if unknown or len(path) < 2:
        raise JobInputError(f"`path` must name ≥ 2 points of {sorted(ORTHORHOMBIC_POINTS)}, got {path}")
    calc = _calculator(active_set=False)
    symprec = float(p["symprec"])
    before = check_symmetry(crystal, symprec)
    relax = _relax_with_symmetry(crystal, calc, str(p["relax"]), float(p["fmax"]), int(p["max_steps"]), symprec)
    after = check_symmetry(crystal, symprec)
    unit = PhonopyAtoms(symbols=crystal.get_chemical_symbols(), cell=crystal.cell[:],
                        scaled_positions=crystal.get_scaled_positions(), masses=crystal.get_masses())
    phonon = Phonopy(unit, supercell_matrix=np.diag(supercell), primitive_matrix=None, symprec=symprec)
    phonon.generate_displacements(distance=float(p["displacement"]))
    cells = phonon.supercells_with_displacements
    forces = []
    with _progress("displacements", len(cells)) as bar:
        for cell in cells:
            atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
            atoms.calc = calc
            f = atoms.get_forces()
            forces.append(f - f.mean(axis=0))  # drift from the finite displacement, not physics
            bar.update(1)
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    n_points = int(p["band_points"])
    qpoints = [np.linspace(ORTHORHOMBIC_POINTS[a], ORTHORHOMBIC_POINTS[b], n_points) for a, b in zip(path, path[1:])]
    phonon.run_band_structure(qpoints, labels=path)
    bands = phonon.get_band_structure_dict()
    phonon.run_mesh([int(x) for x in p["mesh"]])
    phonon.run_total_dos()
    dos = phonon.get_total_dos_dict()
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.asarray(phonon.get_qpoints_dict()["frequencies"][0], dtype=float)
    distances = [np.asarray(d, float) for d in bands["distances"]]
    frequencies = [np.asarray(f, float) for f in bands["frequencies"]]
    title = (f"ACE phonons of {crystal.get_chemical_formula(mode='metal', empirical=True)} ({after.international}), "
             f"{'×'.join(map(str, supercell))} supercell: ACE only, no DFT")
    Path(PHONONS_PNG).write_bytes(phonon_png(distances, frequencies, path, dos["frequency_points"],
                                             dos["total_dos"], title=title))
    all_freq = np.concatenate([f.ravel() for f in frequencies])
    # acoustic modes at Γ are ~0 within numerical noise; anything clearly below is an instability
    imaginary = gamma[3:] < -0.1 if len(gamma) > 3 else np.zeros(0, bool)
    summary = {
        "method": "phonopy finite displacements with the ACE potential (ACE only, no DFT)",
        "n_atoms": len(crystal), "supercell": supercell, "displacement": float(p["displacement"]),
        "n_displacements": len(cells), "spacegroup_before": before.international,
        "spacegroup": after.international, "relax": relax, "path": path, "mesh": [int(x) for x in p["mesh"]],
        "min_frequency": float(all_freq.min()), "max_frequency": float(all_freq.max()),
        "gamma_frequencies": gamma.tolist(), "n_imaginary_gamma_optical": int(imaginary.sum()),
        "cell": np.asarray(crystal.cell[:]).tolist(),
        "units": {"frequency": "THz", "displacement": "Å", "band_distance": "1/Å (phonopy's path length, no 2π)", "dos": "states/THz",
                  "cell": "Å", "max_force": "eV/Å"},
    }
    return json_safe(summary), {
        "band_distance": np.concatenate(distances), "band_frequency": np.concatenate(frequencies),
        "band_segment": np.concatenate([np.full(len(d), i) for i, d in enumerate(distances)]),
        "dos_frequency": np.asarray(dos["frequency_points"], float), "dos": np.asarray(dos["total_dos"], float),
        "gamma_frequency": gamma, "cell": np.asarray(crystal.cell[:], float), "positions": crystal.positions,
    }


TASKS = {"grade": task_grade, "parity": task_parity, "analyse": task_analyse, "explore": task_explore,
         "polycrystal": task_polycrystal, "interfaces": task_interfaces, "dataset_map": task_dataset_map,
         "phonons": task_phonons}


def run(task: str, folder: str | Path = ".") -> int:
    """Run ``task`` in ``folder``; write ``result.json`` (and ``result.npz``); return 0, or 2 on bad input."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(folder)
    start = time.perf_counter()
    meta = {"task": task, "python": sys.version.split()[0], "pid": os.getpid()}
    try:
        params = json.loads(Path(PARAMETERS).read_text()) if Path(PARAMETERS).exists() else {}
        summary, arrays = TASKS[task](params)
    except (JobInputError, KeyError, ValueError) as exc:
        code = getattr(exc, "code", "INVALID_INPUT")
        Path(RESULT_JSON).write_text(json.dumps({"error": {"code": code, "message": str(exc)}, **meta}))
        print(f"aiida-bzs-job {task}: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        Path(RESULT_JSON).write_text(json.dumps({"error": {"code": "OUT_OF_MEMORY", "message": str(exc)}, **meta}))
        return 3
    except Exception as exc:  # noqa: BLE001 - reported to the parser, then re-raised as a status
        Path(RESULT_JSON).write_text(json.dumps(
            {"error": {"code": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"}, **meta}))
        traceback.print_exc()
        return 1
    if arrays:
        np.savez(RESULT_NPZ, **{key: np.asarray(value) for key, value in arrays.items()})
    meta.update(wall_time_s=round(time.perf_counter() - start, 3), peak_memory_mb=round(_peak_memory_mb(), 1))
    Path(RESULT_JSON).write_text(json.dumps({"summary": summary, **meta}, default=float))
    print(f"aiida-bzs-job {task}: done in {meta['wall_time_s']} s", file=sys.stderr)
    return 0


def console(argv: list[str] | None = None) -> None:
    """Entry point of ``aiida-bzs-job TASK [--folder DIR]``."""
    parser = argparse.ArgumentParser(prog="aiida-bzs-job", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--folder", default=".", help="job folder with the input files (default: here)")
    args = parser.parse_args(argv)
    sys.exit(run(args.task, args.folder))


if __name__ == "__main__":  # pragma: no cover
    console()
