"""Synthetic labelled structures for the training-data tests (seeded, no DFT)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import rattle

#: Made-up isolated-atom energies (eV) for the synthetic sets.
FAKE_REFERENCES = {"Ba": -700.0, "Zr": -1300.0, "S": -300.0}


def labelled_images(n: int = 6, seed: int = 0) -> list[Atoms]:
    """``n`` rattled Pnma cells and a S–S dimer with random (seeded) energy, forces, stress."""
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        atoms = rattle(pnma_crystal(), 0.05, seed=seed + k)
        atoms.info["config_type"] = "crystal" if k % 2 else "rss"
        atoms.info["source_uuid"] = f"uuid-{k}"
        energy = float(sum(FAKE_REFERENCES[s] for s in atoms.get_chemical_symbols()) - 5.0 * len(atoms))
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=energy + float(rng.normal(0, 1.0)),
            forces=rng.normal(0, 0.5, size=(len(atoms), 3)),
            stress=rng.normal(0, 0.01, size=6),
        )
        images.append(atoms)
    dimer = Atoms("S2", positions=[(0, 0, 0), (0, 0, 2.0)], cell=[8, 8, 8], pbc=True)
    dimer.info["config_type"] = "dimer"
    dimer.calc = SinglePointCalculator(dimer, energy=2 * FAKE_REFERENCES["S"] - 3.0, forces=[[0, 0, -1.0], [0, 0, 1.0]])
    images.append(dimer)
    return images
