"""Batches of strained and rattled supercells: the 'crystalline' family of training structures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from .distort import make_supercell, rattle, strain
from .errors import StructureInputError

#: Default largest strain component (dimensionless, 0.03 = ±3 %) and rattle amplitude (Å).
DEFAULT_MAX_STRAIN = 0.03
DEFAULT_RATTLE_STDEV = 0.05


def perturbed_cells(
    atoms: Atoms,
    count: int,
    repeat: Sequence[int] = (1, 1, 1),
    max_strain: float = DEFAULT_MAX_STRAIN,
    rattle_stdev: float = DEFAULT_RATTLE_STDEV,
    seed: int = 0,
) -> list[Atoms]:
    """``count`` copies of the ``repeat`` supercell, each strained and rattled at random.

    :param max_strain: each of the six Voigt strain components is uniform in ±``max_strain``
        (dimensionless; shear components halved so the cell stays well shaped).
    :param rattle_stdev: Gaussian displacement per Cartesian component, Å.
    :param seed: copy ``i`` uses seed ``seed + i``.
    :returns: ``Atoms`` with ``config_type`` '<parent>_perturbed' and the strain in ``info``.
    """
    if count < 1:
        raise StructureInputError(f"count must be >= 1, got {count}")
    if not 0 <= max_strain < 0.5:
        raise StructureInputError(f"max_strain must lie in [0, 0.5), got {max_strain}")
    base = make_supercell(atoms, repeat)
    parent = atoms.info.get("config_type", "crystal")
    images = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        eps = rng.uniform(-max_strain, max_strain, 6) * np.array([1, 1, 1, 0.5, 0.5, 0.5])
        new = rattle(strain(base, eps), rattle_stdev, seed=seed + i)
        new.info.update({"config_type": f"{parent}_perturbed", "strain_voigt": eps.tolist(), "rattle_stdev": rattle_stdev})
        images.append(new)
    return images
