"""Fast ASE ↔ ``StructureData`` conversion for large cells (10⁵–10⁶ atoms).

``StructureData(ase=...)`` and ``get_ase()`` append one atom at a time (``get_ase`` copies the
whole ``Atoms`` on every append: quadratic); at 310k atoms they take minutes. These write and
read the node's ``kinds``/``sites`` attributes directly and give the same node content.

Processes that take a structure accept either node type with ``valid_type=STRUCTURE_TYPES`` and
read it through :func:`atoms_from_structure` / :func:`summarise_structure`, which also accept a
:class:`~aiida_bzs.data.large_structure.LargeStructureData` (arrays in the repository, stored and
loaded in a fraction of a second at 600k atoms).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from aiida import orm
from ase import Atoms

from ..data.large_structure import LargeStructureData

#: ``valid_type`` for process inputs that take a structure of any size (Å)
STRUCTURE_TYPES = (orm.StructureData, LargeStructureData)

#: Atoms above which a structure is "large": a process hands it back as a ``LargeStructureData``
#: (storing a ``StructureData`` costs ~0.1 ms per atom), and per-structure checks belong in a job
#: rather than a calcfunction (e.g. the melt-quench product check).
LARGE_STRUCTURE_ATOMS = 20_000


def structure_node(atoms: Atoms, large: bool):
    """Unstored node of ``atoms``: a ``LargeStructureData`` if ``large``, else a ``StructureData``."""
    return LargeStructureData.from_ase(atoms) if large else structure_from_atoms(atoms)


def wants_large(n_atoms: int, template=None, threshold: int = LARGE_STRUCTURE_ATOMS) -> bool:
    """Whether a structure of ``n_atoms`` derived from ``template`` (e.g. a job's input) should be a
    ``LargeStructureData``: when the template is one, or above ``threshold`` atoms."""
    return isinstance(template, LargeStructureData) or n_atoms > threshold


def structure_n_atoms(structure) -> int:
    """Number of atoms of either node type (attributes only; no array is read)."""
    if isinstance(structure, LargeStructureData):
        return structure.n_atoms
    return len(_raw_attributes(structure).get("sites", []))


def structure_from_atoms(atoms: Atoms) -> orm.StructureData:
    """Return an unstored ``StructureData`` equal to ``StructureData(ase=atoms)``.

    One kind per element, named by its symbol, with the masses ASE assigns; positions in Å.
    Atoms with tags or custom masses (which ``StructureData`` would split into extra kinds)
    are converted the slow, exact way.
    """
    masses = atoms.get_masses()
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    uniform = all(np.ptp(masses[symbols == s]) == 0 for s in set(symbols)) if len(atoms) else True
    if atoms.get_tags().any() or not uniform:
        return orm.StructureData(ase=atoms)
    node = orm.StructureData(cell=atoms.cell[:].tolist(), pbc=[bool(p) for p in atoms.pbc])
    kinds, seen = [], set()
    for symbol, mass in zip(symbols, masses):
        if symbol not in seen:
            seen.add(symbol)
            kinds.append(
                {"symbols": (symbol,), "weights": (1.0,), "mass": float(mass), "name": symbol}
            )
    node.base.attributes.set("kinds", kinds)
    positions = map(tuple, atoms.positions.tolist())
    node.base.attributes.set(
        "sites", [{"position": p, "kind_name": s} for s, p in zip(symbols.tolist(), positions)]
    )
    return node


def atoms_from_structure(structure: orm.StructureData | LargeStructureData) -> Atoms:
    """Return the ASE ``Atoms`` of ``structure`` (same as ``get_ase()`` for single-element kinds).

    A ``LargeStructureData`` gives its ``get_ase()``, per-atom arrays (Å, …) included.
    """
    if isinstance(structure, LargeStructureData):
        return structure.get_ase()
    attributes = _raw_attributes(structure)
    kinds = {k["name"]: k for k in attributes.get("kinds", [])}
    if any(len(k["symbols"]) != 1 for k in kinds.values()):
        return structure.get_ase()  # alloy or vacancy kinds: ASE cannot hold them anyway
    sites = attributes.get("sites", [])
    names = [site["kind_name"] for site in sites]
    symbol = {name: kind["symbols"][0] for name, kind in kinds.items()}
    atoms = Atoms(
        symbols=[symbol[n] for n in names],
        positions=np.array([site["position"] for site in sites], dtype=float).reshape(-1, 3),
        cell=attributes["cell"],
        pbc=[attributes.get(f"pbc{k}", False) for k in (1, 2, 3)],
    )
    masses = np.array([kinds[n]["mass"] for n in names], dtype=float)
    if len(atoms) and not np.allclose(masses, atoms.get_masses()):
        atoms.set_masses(masses)
    return atoms


@dataclass(frozen=True)
class StructureSummary:
    """What validators and reports need, read in one pass: elements, atom count, formula, cell."""

    elements: frozenset[str]
    n_atoms: int
    formula: str
    pbc: tuple[bool, bool, bool]
    volume: float


def summarise_structure(structure: orm.StructureData | LargeStructureData) -> StructureSummary:
    """Elements, number of atoms, formula (e.g. ``Ba4S12Zr4``), pbc and volume (Å³).

    ``get_formula()``, ``len(sites)`` and ``pbc`` each reload (and for sites, rebuild) all
    attributes; at 10⁵ atoms that is seconds per call, this is one read. A ``LargeStructureData``
    is summarised from its attributes alone (no array is read).
    """
    if isinstance(structure, LargeStructureData):
        counts = structure.composition
        return StructureSummary(
            elements=frozenset(counts),
            n_atoms=structure.n_atoms,
            formula="".join(f"{el}{n if n > 1 else ''}" for el, n in sorted(counts.items())),
            pbc=tuple(structure.pbc),
            volume=structure.cell_volume,
        )
    attributes = _raw_attributes(structure)
    symbols = {k["name"]: k["symbols"] for k in attributes.get("kinds", [])}
    counts = Counter(site["kind_name"] for site in attributes.get("sites", []))
    per_element: Counter = Counter()
    for name, n in counts.items():
        for symbol in symbols[name]:
            per_element[symbol] += n
    cell = np.array(attributes.get("cell", np.zeros((3, 3))), dtype=float)
    return StructureSummary(
        elements=frozenset(per_element),
        n_atoms=sum(counts.values()),
        formula="".join(f"{el}{n if n > 1 else ''}" for el, n in sorted(per_element.items())),
        pbc=tuple(bool(attributes.get(f"pbc{k}", False)) for k in (1, 2, 3)),
        volume=abs(float(np.linalg.det(cell))),
    )


def _raw_attributes(structure: orm.StructureData) -> dict:
    """The node's attributes read once, without the deep copy ``attributes.get`` makes per call.

    Read-only use: the storage model's dict is returned as is where the backend exposes it.
    """
    try:
        return structure.backend_entity.bare_model.attributes
    except AttributeError:  # a storage backend without a SQLAlchemy model
        return structure.base.attributes.all
