"""Calcfunctions that make BaZrS3 structures nodes with provenance.

Each wraps one pure builder of :mod:`aiida_bzs.structures`; the builder's seed and parameters are
inputs, so a generated structure can be reproduced (and is cached) from its graph.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ... import structures as builders
from ...common.structure_nodes import atoms_from_structure, structure_from_atoms


def to_structure(atoms) -> orm.StructureData:
    """ASE ``Atoms`` → ``StructureData`` (fast at 10⁵–10⁶ atoms), keeping ``config_type``."""
    node = structure_from_atoms(atoms)
    if "config_type" in atoms.info:
        node.base.attributes.set("config_type", atoms.info["config_type"])
    return node


def to_atoms(structure: orm.StructureData):
    """``StructureData`` → ASE ``Atoms`` with ``info['config_type']`` restored (if recorded)."""
    atoms = atoms_from_structure(structure)
    config_type = structure.base.attributes.get("config_type", None)
    if config_type:
        atoms.info["config_type"] = config_type
    return atoms


def reference_crystal_problem(structure: orm.StructureData | None, name: str) -> str | None:
    """Why ``structure`` cannot serve as the reference crystal (not Pnma BaZrS3 with intact
    octahedra), as an input validator's message naming the input ``name``; None if it can."""
    from ...structures.crystal import check_reference_crystal
    from ...structures.errors import StructureInputError

    if structure is None:
        return None
    try:
        check_reference_crystal(to_atoms(structure))
    except StructureInputError as exc:
        return f"{name} pk {structure.pk}: {exc}"
    return None


@calcfunction
def pnma_crystal(lattice: orm.List | None = None) -> orm.StructureData:
    """The 20-atom Pnma BaZrS3 cell; ``lattice`` = [a, b, c] in Å (default the experimental cell)."""
    args = {} if lattice is None else {"lattice": tuple(lattice.get_list())}
    return to_structure(builders.pnma_crystal(**args))


@calcfunction
def cubic_perovskite(a: orm.Float | None = None) -> orm.StructureData:
    """The 5-atom cubic (Pm-3m) BaZrS3 aristotype; ``a`` in Å."""
    return to_structure(builders.cubic_perovskite(*([] if a is None else [a.value])))


@calcfunction
def make_supercell(structure: orm.StructureData, repeat: orm.List) -> orm.StructureData:
    """Supercell of ``structure``: ``repeat`` is 3 integers or a 3×3 integer matrix."""
    return to_structure(builders.make_supercell(to_atoms(structure), repeat.get_list()))


@calcfunction
def rattle(structure: orm.StructureData, stdev: orm.Float, seed: orm.Int) -> orm.StructureData:
    """Gaussian-rattled copy; ``stdev`` in Å, ``seed`` fixes the displacements."""
    return to_structure(builders.rattle(to_atoms(structure), stdev.value, seed.value))


@calcfunction
def strain(structure: orm.StructureData, strain_voigt: orm.List) -> orm.StructureData:
    """Homogeneously strained copy; ``strain_voigt`` = 1 or 6 dimensionless components."""
    return to_structure(builders.strain(to_atoms(structure), strain_voigt.get_list()))
