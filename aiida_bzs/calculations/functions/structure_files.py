"""Calcfunction that turns a user's structure file (extxyz, LAMMPS data) into a StructureData.

The file is stored as a ``SinglefileData`` first, so the structure's origin stays in the graph.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...common.structure_nodes import structure_from_atoms
from ...structures.files import read_structure


@calcfunction
def structure_from_file(
    file: orm.SinglefileData, format: orm.Str | None = None, types: orm.List | None = None
) -> orm.StructureData:
    """Read ``file`` (positions in Å; last frame) into a StructureData.

    :param format: ASE format name (default from the file name: ``.xyz``/``.extxyz``, ``.data``/``.lmp``).
    :param types: elements of LAMMPS atom types 1, 2, … when the data file has no Masses section.
    """
    with file.as_path() as path:
        atoms = read_structure(
            path,
            format=format.value if format is not None else None,
            types=types.get_list() if types is not None else None,
        )
    return structure_from_atoms(atoms)
