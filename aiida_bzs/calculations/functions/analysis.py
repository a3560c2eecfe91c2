"""Structure-analysis results as nodes, and the light calcfunctions around them.

The analyses themselves (CN, bond lengths, g(r), angles, contacts) grow with the number of atoms:
they run as the ``bzs.job.analysis`` job (:mod:`aiida_bzs.calculations.jobs`). Here: how a result
payload (:mod:`aiida_bzs.analysis.standard`) becomes a compact ``ArrayData`` (per-atom CN arrays,
histograms, g(r)) with the scalar summary set as attributes, so it can be queried; the mass
density (one pass over the atoms, milliseconds at 600k atoms); and the comparison figures, drawn
from stored histograms.
"""

from __future__ import annotations

import io
import re

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...analysis import angles as _angles
from ...analysis import contacts as _contacts
from ...analysis import coordination as _coordination
from ...analysis import rdf as _rdf
from ...analysis.standard import (
    Payload,
    StructureAnalysis,
    angles_payload,
    contacts_payload,
    coordination_payload,
    density_payload,
    rdf_payload,
)
from ...common.structure_nodes import atoms_from_structure
from ...data.large_structure import LargeStructureData


def payload_node(payload: Payload) -> orm.Dict | orm.ArrayData:
    """The node of a result payload (:mod:`aiida_bzs.analysis.standard`): a Dict, or an
    ArrayData with the payload's attributes set (so the scalars can be queried)."""
    kind, attributes, arrays = payload
    if kind == "dict":
        return orm.Dict(attributes)
    node = orm.ArrayData()
    for name, array in arrays.items():
        node.set_array(name, np.asarray(array))
    for key, value in attributes.items():
        node.base.attributes.set(key, value)
    return node


# --- pure result → node (shared by the single calcfunctions and the analysis job's parser) ----


def density_node(atoms) -> orm.Dict:
    """Density (g/cm³), number density (Å⁻³), volume (Å³), atom counts of ``atoms``."""
    return payload_node(density_payload(atoms))


def coordination_node(result: _coordination.Coordination) -> orm.ArrayData:
    """Per-atom CN arrays, histogram and bond length per CN, with the means as attributes."""
    return payload_node(coordination_payload(result))


def rdf_node(result: _rdf.RadialDistribution) -> orm.ArrayData:
    """g(r) arrays with the species counts and binning as attributes."""
    return payload_node(rdf_payload(result))


def angles_node(result: _angles.BondAngleDistribution) -> orm.ArrayData:
    """Angle histogram arrays with the bond and number of angles as attributes."""
    return payload_node(angles_payload(result))


def contacts_node(result: _contacts.CloseContacts) -> orm.ArrayData:
    """Per-atom contact counts and pair distances, with the summary as attributes."""
    return payload_node(contacts_payload(result))


# --- one calcfunction per analysis ------------------------------------------------------------


@calcfunction
def mass_density(structure: orm.StructureData | LargeStructureData) -> orm.Dict:
    """Mass density (g/cm³), number density (Å⁻³) and volume (Å³) of a 3D-periodic structure."""
    return density_node(atoms_from_structure(structure))


# --- rebuilding pure results from nodes (for plots and tables) ---------------------------------

#: ``plot_comparison`` input keys: ``<kind>_<index>`` or ``<kind>_<index>_<centre>_<neighbour>``.
_RESULT_KEY = re.compile(
    r"^(?:(?P<kind>density|rdf|contacts)_(?P<i>\d+)"
    r"|(?P<bkind>coordination|angles)_(?P<bi>\d+)_(?P<bond>[A-Z][a-z]?_[A-Z][a-z]?))$"
)


def _arrays(node: orm.ArrayData) -> dict[str, np.ndarray]:
    return {name: node.get_array(name) for name in node.get_arraynames()}


def structure_analysis_from_nodes(nodes: dict[str, orm.Data]) -> StructureAnalysis:
    """Rebuild a :class:`StructureAnalysis` from one structure's result nodes.

    ``nodes`` maps ``density``, ``rdf``, ``contacts``, ``coordination_<C>_<N>`` and
    ``angles_<C>_<N>`` to the nodes the calcfunctions of this module returned.
    """
    density = nodes["density"].get_dict()
    rdf_node = nodes["rdf"]
    rdf = _rdf.RadialDistribution.from_arrays(_arrays(rdf_node),
                                              rdf_node.base.attributes.get("counts"))
    contacts_node = nodes["contacts"]
    contacts = _contacts.CloseContacts(
        contacts_node.base.attributes.get("species"),
        contacts_node.base.attributes.get("cutoff"),
        contacts_node.get_array("per_atom"),
        contacts_node.get_array("distances"),
    )
    cns, adfs = {}, {}
    for key, node in nodes.items():
        kind, _, bond = key.partition("_")
        if kind not in ("coordination", "angles"):
            continue
        centre, neighbour = bond.split("_")
        cutoff = node.base.attributes.get("cutoff")
        if kind == "coordination":
            cns[(centre, neighbour)] = _coordination.Coordination.from_arrays(
                centre, neighbour, cutoff, _arrays(node))
        else:
            adfs[(centre, neighbour)] = _angles.BondAngleDistribution.from_arrays(
                centre, neighbour, cutoff, _arrays(node))
    return StructureAnalysis(density["n_atoms"], density["density"], cns, adfs, rdf, contacts)


@calcfunction
def plot_comparison(labels: orm.List, **results: orm.Data) -> dict[str, orm.SinglefileData]:
    """Comparison figures (PNG, 200 dpi) of the analysed structures named in ``labels``.

    ``results`` keys: ``density_<i>``, ``rdf_<i>``, ``contacts_<i>``, ``coordination_<i>_<C>_<N>``
    and ``angles_<i>_<C>_<N>``, with ``i`` the index into ``labels``. Outputs ``overview`` (all
    panels), ``coordination``, ``rdf`` and ``angles``.
    """
    from ...analysis.plots import comparison_pngs

    grouped: dict[int, dict[str, orm.Data]] = {}
    for key, node in results.items():
        match = _RESULT_KEY.match(key)
        if match is None:
            raise ValueError(f"unexpected input {key!r}; see the docstring for the key pattern")
        if match["kind"]:
            grouped.setdefault(int(match["i"]), {})[match["kind"]] = node
        else:
            grouped.setdefault(int(match["bi"]), {})[f"{match['bkind']}_{match['bond']}"] = node
    label_list = labels.get_list()
    analyses = {label_list[i]: structure_analysis_from_nodes(grouped[i]) for i in sorted(grouped)}
    return {
        name: orm.SinglefileData(io.BytesIO(png), filename=f"{name}.png")
        for name, png in comparison_pngs(analyses).items()
    }
