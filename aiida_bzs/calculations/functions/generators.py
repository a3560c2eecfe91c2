"""Calcfunctions that generate training structures, so each StructureData records how it was made.

One call makes a whole batch (outputs ``<family>_0000``, ``<family>_0001`` …) from a ``Dict`` of
parameters, which include the seed: the graph alone reproduces every structure. The builders
live in :mod:`aiida_bzs.structures`; each output keeps its ``config_type`` as an attribute.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...structures import dimers as dimer_builders
from ...structures import interface, perturbed, rss
from ...structures.errors import StructureInputError
from .structures import to_atoms, to_structure

#: Parameter names each generator accepts (anything else is a typo and is refused).
RSS_KEYS = ("count", "composition", "formula_units", "seed", "volume_per_atom", "min_separation", "spacegroups")
DIMER_KEYS = ("pairs", "distance_range", "points", "box")
PERTURB_KEYS = ("count", "repeat", "max_strain", "rattle_stdev", "seed")
INTERFACE_KEYS = ("axis", "amorphous_thickness", "gap", "volume_per_atom", "min_separation", "seed")


def _checked(parameters: orm.Dict, allowed: tuple[str, ...], what: str) -> dict:
    values = parameters.get_dict()
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise StructureInputError(f"{what}: unknown parameters {unknown}; allowed {list(allowed)}")
    return values


def _outputs(prefix: str, images) -> dict[str, orm.StructureData]:
    return {f"{prefix}_{i:04d}": to_structure(atoms) for i, atoms in enumerate(images)}


@calcfunction
def generate_rss(parameters: orm.Dict) -> dict[str, orm.StructureData]:
    """Random cells (config_type 'rss'): ``count``, ``composition`` ('BaZrS3'), ``formula_units``
    (list, cycled), ``seed``, ``volume_per_atom`` [min, max] Å³/atom, ``min_separation``
    {'Ba-S': Å, ...}, ``spacegroups`` (list of numbers, optional)."""
    values = _checked(parameters, RSS_KEYS, "generate_rss")
    if "volume_per_atom" in values:
        values["volume_per_atom"] = tuple(values["volume_per_atom"])
    images = rss.random_structures(**{"count": 10, **values})
    return _outputs("rss", images)


@calcfunction
def generate_dimers(parameters: orm.Dict) -> dict[str, orm.StructureData]:
    """Dimers (config_type 'dimer'): ``pairs`` [['Ba', 'S'], ...] (default all six),
    ``distance_range`` [min, max] Å (default per pair from the bonded distance to 6 Å,
    :func:`~aiida_bzs.structures.dimers.default_dimer_range`), ``points`` per pair, cubic ``box``
    edge Å. Each output records its ``dimer_distance`` (Å) as an attribute."""
    values = _checked(parameters, DIMER_KEYS, "generate_dimers")
    if "pairs" in values:
        values["pairs"] = [tuple(p) for p in values["pairs"]]
    if "distance_range" in values:
        values["distance_range"] = tuple(values["distance_range"])
    images = dimer_builders.dimers(**values)
    outputs = _outputs("dimer", images)
    for node, atoms in zip(outputs.values(), images):
        node.base.attributes.set("dimer_distance", atoms.info["dimer_distance"])
    return outputs


@calcfunction
def generate_perturbed(structure: orm.StructureData, parameters: orm.Dict) -> dict[str, orm.StructureData]:
    """Strained and rattled supercells of ``structure``: ``count``, ``repeat`` [n1, n2, n3],
    ``max_strain`` (dimensionless, 0.03 = ±3 %), ``rattle_stdev`` Å, ``seed``."""
    values = _checked(parameters, PERTURB_KEYS, "generate_perturbed")
    images = perturbed.perturbed_cells(to_atoms(structure), **{"count": 10, **values})
    return _outputs("perturbed", images)


@calcfunction
def generate_interface(
    crystal: orm.StructureData, parameters: orm.Dict, amorphous: orm.StructureData | None = None
) -> orm.StructureData:
    """Crystal–amorphous interface cell (config_type 'interface') stacked along ``axis``; the
    amorphous slab is cut from ``amorphous`` or drawn at random. Parameters: ``axis``,
    ``amorphous_thickness`` Å, ``gap`` Å, ``volume_per_atom`` Å³/atom, ``min_separation``, ``seed``."""
    values = _checked(parameters, INTERFACE_KEYS, "generate_interface")
    am = to_atoms(amorphous) if amorphous is not None else None
    return to_structure(interface.crystal_amorphous_interface(to_atoms(crystal), amorphous=am, **values))


@calcfunction
def isolated_atom(element: orm.Str, box: orm.Float) -> orm.StructureData:
    """One atom of ``element`` in a cubic ``box`` (Å): the reference for isolated-atom energies."""
    return to_structure(dimer_builders.isolated_atom(element.value, box.value))


@calcfunction
def training_set_structures(training_set: orm.Data) -> dict[str, orm.StructureData]:
    """The structures of a (possibly unlabelled) ``TrainingSetData`` as StructureData nodes
    (``structure_0000`` …), keeping each ``config_type``, so they can be labelled."""
    return _outputs("structure", training_set.to_atoms())
