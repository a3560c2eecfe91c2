"""What a relaxed reference crystal is: lattice, density, site positions, bonds, residuals (no AiiDA).

Units: lengths Å, volume Å³, density g/cm³, energy eV, forces eV/Å, stress GPa (pressure kbar).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..structures.crystal import (
    PNMA_LATTICE,
    REFERENCE_BA_S_WINDOW,
    REFERENCE_MIN_BA_S,
    REFERENCE_ZR_S_WINDOW,
    cation_s_distances,
    pnma_distance_problems,
    spacegroup,
    wyckoff_positions,
)
from .density import mass_density

__all__ = ("reference_summary",)


def reference_summary(
    atoms: Atoms,
    energy: float | None = None,
    forces: np.ndarray | None = None,
    stress: np.ndarray | None = None,
    experiment: tuple[float, float, float] = PNMA_LATTICE,
) -> dict:
    """Summary of a relaxed Pnma BaZrS3 cell, with ``problems`` listing why it is not a sound
    reference (empty list: sound).

    :param energy: total energy, eV.
    :param forces: (N, 3) eV/Å.
    :param stress: 3×3 GPa.
    :param experiment: experimental (a, b, c) in Å for the deviation in per cent.
    """
    cellpar = atoms.cell.cellpar()
    lattice = [float(x) for x in cellpar[:3]]
    problems: list[str] = []
    try:
        group = spacegroup(atoms, symprec=0.05)
    except Exception as exc:  # noqa: BLE001 - spglib refusal is a problem to report, not a crash
        group = None
        problems.append(str(exc))
    if group != "Pnma":
        problems.append(f"space group {group}, not Pnma")
    if not np.allclose(cellpar[3:], 90.0, atol=0.1):
        problems.append(f"cell angles {np.round(cellpar[3:], 2).tolist()} are not orthorhombic")
    problems += pnma_distance_problems(atoms, REFERENCE_ZR_S_WINDOW, REFERENCE_BA_S_WINDOW, REFERENCE_MIN_BA_S)
    distances = cation_s_distances(atoms)
    zr_s = np.concatenate([d[:6] for d in distances["Zr"]]) if distances["Zr"] else np.zeros(0)
    ba_s = np.concatenate([d[:8] for d in distances["Ba"]]) if distances["Ba"] else np.zeros(0)
    summary = {
        "lattice": lattice,
        "lattice_experiment": list(experiment),
        "lattice_deviation_percent": [100.0 * (x / e - 1.0) for x, e in zip(lattice, experiment)],
        "volume": float(atoms.get_volume()),
        "volume_deviation_percent": float(100.0 * (atoms.get_volume() / np.prod(experiment) - 1.0)),
        "density": float(mass_density(atoms)),
        "spacegroup": group,
        "natoms": len(atoms),
        "zr_s_range": [float(zr_s.min()), float(zr_s.max())] if len(zr_s) else None,
        "ba_s_range": [float(ba_s.min()), float(ba_s.max())] if len(ba_s) else None,
        "problems": problems,
        "units": {"lattice": "Å", "volume": "Å³", "density": "g/cm³", "energy": "eV",
                  "forces": "eV/Å", "stress": "GPa", "pressure": "kbar"},
    }
    if len(atoms) == 20 and not problems:
        summary["wyckoff"] = {k: list(v) for k, v in wyckoff_positions(atoms).items()}
    if energy is not None:
        summary["energy"] = float(energy)
        summary["energy_per_formula_unit"] = float(energy) * 5.0 / len(atoms)
    if forces is not None:
        norms = np.linalg.norm(np.asarray(forces, dtype=float), axis=1)
        symbols = np.array(atoms.get_chemical_symbols())
        summary["max_force"] = float(norms.max())
        summary["max_force_by_element"] = {s: float(norms[symbols == s].max()) for s in sorted(set(symbols))}
    if stress is not None:
        sigma = np.asarray(stress, dtype=float).reshape(3, 3)
        summary["stress_diagonal"] = [float(x) for x in np.diag(sigma)]
        summary["pressure"] = float(-np.trace(sigma) / 3.0 * 10.0)
    return summary
