"""Spherical nanoparticles cut from a crystal: the finite particles of the scattering study.

The sphere is cut from a supercell just large enough to contain it, centred on the supercell's
centre (or a given point), keeping every atom within the radius. The particle is not
stoichiometric in general (surface termination decides); its composition is recorded.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .errors import StructureInputError

#: Empty margin (Å) around the particle in the non-periodic box given to it; scattering ignores it.
VACUUM = 5.0


def cut_sphere(atoms: Atoms, radius: float, center=None) -> Atoms:
    """Return the atoms of the periodic crystal ``atoms`` within ``radius`` (Å) of a centre.

    :param atoms: periodic cell (e.g. the 20-atom Pnma cell).
    :param radius: sphere radius in Å (diameter 2 nm = radius 10 Å).
    :param center: Cartesian point (Å) in the repeated crystal; default the supercell centre.
    :returns: non-periodic ``Atoms`` centred at the origin-corner of a cubic box of side
        2·radius + 2·VACUUM, with ``info`` config_type 'nanoparticle', radius and diameter (Å).
    """
    radius = float(radius)
    if not np.isfinite(radius) or radius <= 0:
        raise StructureInputError(f"radius must be a positive length in Å, got {radius}")
    cell = np.asarray(atoms.cell[:], dtype=float)
    volume = abs(np.linalg.det(cell))
    if len(atoms) == 0 or volume < 1e-6:
        raise StructureInputError("need a non-empty crystal with a 3D cell to cut a nanoparticle from")
    widths = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    repeat = [int(np.ceil(2 * radius / w)) + 1 for w in widths]
    expected = len(atoms) / volume * 4 / 3 * np.pi * radius**3
    if expected > 5e6:
        raise StructureInputError(f"a {radius} Å sphere would hold ~{expected:.3g} atoms; refusing above 5 million")
    big = atoms.repeat(repeat)
    centre = big.cell.sum(axis=0) / 2 if center is None else np.asarray(center, dtype=float)
    distance = np.linalg.norm(big.positions - centre, axis=1)
    particle = big[distance <= radius]
    if len(particle) == 0:
        raise StructureInputError(f"no atom within {radius} Å of the centre; use a larger radius")
    side = 2 * radius + 2 * VACUUM
    particle.positions += side / 2 - centre
    particle.set_cell([side, side, side])
    particle.pbc = False
    particle.info = {"config_type": "nanoparticle", "radius": radius, "diameter": 2 * radius}
    return particle
