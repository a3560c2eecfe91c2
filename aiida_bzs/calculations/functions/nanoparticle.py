"""Calcfunction cutting a spherical nanoparticle (radius in Å) from a crystal structure."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...data.large_structure import LargeStructureData
from ...structures.nanoparticle import cut_sphere
from .structures import to_atoms, to_structure


@calcfunction
def cut_nanoparticle(structure: orm.StructureData | LargeStructureData, radius: orm.Float) -> orm.StructureData:
    """Sphere of ``radius`` Å cut from the periodic ``structure`` (centred on its supercell's
    centre; either structure node type); a non-periodic StructureData with attributes ``radius``
    and ``diameter`` in Å."""
    atoms = cut_sphere(to_atoms(structure), radius.value)
    node = to_structure(atoms)
    node.base.attributes.set("radius", atoms.info["radius"])
    node.base.attributes.set("diameter", atoms.info["diameter"])
    return node
