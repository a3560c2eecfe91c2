"""Turn pw.x results into ASE labels (no AiiDA here).

aiida-quantumespresso reports the energy in eV, forces in eV/Å and the stress tensor in GPa
with Quantum ESPRESSO's sign (positive = the cell is compressed and pushes outwards). ASE and
pacemaker use eV/Å³ with the opposite sign (stress = (1/V) ∂E/∂ε) in Voigt order.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa


def qe_stress_to_ase(stress_gpa) -> np.ndarray:
    """3×3 stress in GPa (QE sign) → ASE Voigt stress (xx, yy, zz, yz, xz, xy) in eV/Å³."""
    s = -np.asarray(stress_gpa, dtype=float).reshape(3, 3) * GPa
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def attach_labels(atoms: Atoms, energy_ev: float, forces_ev_ang, stress_gpa=None) -> Atoms:
    """Return a copy of ``atoms`` with a ``SinglePointCalculator`` holding the DFT labels.

    :param energy_ev: total (free) energy in eV, the one consistent with the forces.
    :param forces_ev_ang: forces, shape (N, 3), eV/Å.
    :param stress_gpa: optional 3×3 stress in GPa with QE's sign.
    """
    labelled = atoms.copy()
    forces = np.asarray(forces_ev_ang, dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
    results = {"energy": float(energy_ev), "forces": forces}
    if stress_gpa is not None:
        results["stress"] = qe_stress_to_ase(stress_gpa)
    labelled.calc = SinglePointCalculator(labelled, **results)
    return labelled
