"""Extrapolation grade γ of an ACE potential on structures (D-optimality, pyace's active set).

Two ways to the same per-atom γ (equal to ~1e-8 on a well-conditioned active set,
tests/md/test_pace_extrapolation.py):

- pyace, here (:func:`per_atom_gamma`): any frame in Python, with a linear-time neighbour
  environment (:func:`atomic_environment`; pyace's own builder is quadratic in the number of
  atoms): ~25 µs per atom with the tiny test potential on one core (benchmarks/gamma_scale.py);
- LAMMPS ``pair_style pace/extrapolation`` with ``fix pair ... gamma`` (our plugin build, when
  scripts/build_lammps_pace.sh found LAMMPS sources of 2023 or later): γ during MD, or on dumped
  frames with ``rerun``, at the cost of one B-basis evaluation per atom; :func:`lammps_gamma_lines`
  gives the input lines (docs/md.md, "γ in LAMMPS").

γ ≤ 1 is interpolation; the study treats γ ≤ 2 as reliable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: The study's reliability limit: atoms with γ above this are extrapolated.
RELIABLE_GAMMA = 2.0


def atomic_environment(atoms: Atoms, cutoff: float, elements_mapper_dict: dict):
    """pyace's ``ACEAtomicEnvironment`` of a periodic cell, in linear time (matscipy neighbour list).

    pyace's own builder (``build_atomic_env``, what ``PyACECalculator`` calls) checks all pairs: its
    cost grows with the square of the number of atoms (1.2 s at 10k atoms, 5 s at 20k, ~20 min
    at 310k, benchmarks/gamma_scale.py), while the evaluation itself is linear. This builds the same
    environment: the real atoms first, then one periodic image ("ghost") per (atom, cell shift)
    within ``cutoff`` of a real atom, ``origins`` mapping each ghost to its atom.
    """
    from matscipy.neighbours import neighbour_list
    from pyace.catomicenvironment import ACEAtomicEnvironment

    n_atoms = len(atoms)
    i, j, shifts = neighbour_list("ijS", atoms, cutoff)
    positions = atoms.get_positions()
    is_ghost = np.any(shifts != 0, axis=1)
    ghosts, ghost_index = np.unique(np.c_[j[is_ghost], shifts[is_ghost]], axis=0, return_inverse=True)
    ghost_positions = positions[ghosts[:, 0]] + ghosts[:, 1:] @ np.asarray(atoms.cell)
    neighbour = j.copy()
    neighbour[is_ghost] = n_atoms + ghost_index.ravel()
    neighbour = neighbour[np.argsort(i, kind="stable")]
    bounds = np.cumsum(np.bincount(i, minlength=n_atoms))[:-1]

    species = {}
    for number, symbol in zip(*np.unique(atoms.numbers, return_index=True)):
        name = atoms[int(symbol)].symbol
        key = next((k for k in elements_mapper_dict if (k.decode() if isinstance(k, bytes) else k) == name), None)
        if key is None:
            raise ValueError(f"Unsupported species type: {name}. Supported elements: "
                             f"{sorted(k.decode() if isinstance(k, bytes) else k for k in elements_mapper_dict)}")
        species[number] = elements_mapper_dict[key]
    types = np.vectorize(species.get, otypes=[int])(atoms.numbers)

    env = ACEAtomicEnvironment()
    env.x = np.vstack([positions, ghost_positions]).tolist()
    env.species_type = np.r_[types, types[ghosts[:, 0]]].tolist()
    env.neighbour_list = [part.tolist() for part in np.split(neighbour, bounds)]
    env.origins = np.r_[np.arange(n_atoms), ghosts[:, 0]].tolist()
    return env


def per_atom_gamma(atoms: Atoms, calculator, linear_neighbours: bool = True) -> np.ndarray:
    """Per-atom γ of ``atoms`` from a pyace ``PyACECalculator`` with an active set loaded.

    With ``linear_neighbours`` (default) a fully periodic cell's neighbour environment is built by
    :func:`atomic_environment` (linear time) instead of pyace's quadratic builder: same γ, energy
    and forces (to the active set's conditioning), ~70× faster at 50k atoms. Other cells, or a
    calculator without pyace's attributes, go through pyace's own path.
    """
    work = atoms.copy()
    work.calc = calculator
    fast = (linear_neighbours and len(atoms) > 0 and all(atoms.pbc) and atoms.cell.rank == 3
            and all(hasattr(calculator, name) for name in ("get_atomic_env", "cutoff", "elements_mapper_dict")))
    if fast:
        def get_atomic_env(_atoms):
            calculator.ae = atomic_environment(_atoms, calculator.cutoff, calculator.elements_mapper_dict)
            return calculator.ae

        calculator.get_atomic_env = get_atomic_env  # instance attribute: shadows the method for this call
    try:
        work.get_potential_energy()
    finally:
        if fast:
            del calculator.get_atomic_env
    gamma = calculator.results.get("gamma")
    if gamma is None or len(gamma) != len(atoms):
        raise ValueError("the calculator reports no γ; load the potential's active set (.asi) first")
    return np.asarray(gamma, dtype=float)


def max_gamma_per_frame(frames: Sequence[Atoms], calculator, progress: bool = False) -> np.ndarray:
    """Largest per-atom γ of each frame (dimensionless)."""
    iterator = frames
    if progress:
        from tqdm import tqdm

        iterator = tqdm(frames, desc="extrapolation grade", unit="frame")
    return np.array([per_atom_gamma(atoms, calculator).max() for atoms in iterator])


def lammps_gamma_lines(potential: str, asi: str, species: Sequence[str], every: int = 1,
                       fix_id: str = "pace_gamma") -> list[str]:
    """LAMMPS input lines for per-atom γ with ``pair_style pace/extrapolation``.

    ``potential`` is the B-basis .yaml (pace/extrapolation reads the B-basis, not the .yace),
    ``asi`` its active set, ``species`` the element of each atom type in order. γ is computed on
    every ``every``-th step (other steps cost as much as ``pair_style pace``) and is the per-atom
    vector ``f_<fix_id>`` (dump it: ``dump d all custom N gamma.dump id type x y z f_pace_gamma``);
    ``c_max_<fix_id>`` is its maximum over all atoms, for thermo output or ``fix halt``.
    ``f_<fix_id>`` is valid on multiples of ``every`` only: dump (or ``rerun``) on those steps.
    """
    if every < 1:
        raise ValueError("every must be a positive number of steps")
    return [
        "pair_style pace/extrapolation",
        f"pair_coeff * * {potential} {asi} {' '.join(species)}",
        f"fix {fix_id} all pair {every} pace/extrapolation gamma 1",
        f"compute max_{fix_id} all reduce max f_{fix_id}",
    ]
