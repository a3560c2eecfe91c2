"""Calcfunctions that record the structure analyses of :mod:`aiida_bzs.analysis` in the graph.

Each wraps one pure function; results are compact ``ArrayData`` (per-atom CN arrays, histograms,
g(r)) with the scalar summary also set as attributes, so they can be queried.
``standard_analysis`` runs them all in one process (what the workchain uses, see its docstring).
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
    analyse_structure,
    analysis_payloads,
    angles_payload,
    contacts_payload,
    coordination_payload,
    density_payload,
    parse_bonds,
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


@calcfunction
def coordination(
    structure: orm.StructureData | LargeStructureData, centre: orm.Str, neighbour: orm.Str, cutoff: orm.Float
) -> orm.ArrayData:
    """Per-atom CN and mean bond length (Å) of ``centre`` by ``neighbour`` within ``cutoff`` (Å).

    Arrays: ``cn`` (per atom, -1 for non-centres), ``bond_length`` (Å, NaN where undefined),
    ``cn_values``/``cn_counts`` (histogram), ``bond_length_cn``/``bond_length_mean`` (Å per CN).
    """
    return coordination_node(_coordination.coordination(
        atoms_from_structure(structure), centre.value, neighbour.value, cutoff.value))


@calcfunction
def radial_distribution(
    structure: orm.StructureData | LargeStructureData, r_max: orm.Float, bin_width: orm.Float
) -> orm.ArrayData:
    """Total and partial g(r) up to ``r_max`` (Å) in bins of ``bin_width`` (Å).

    Arrays: ``r`` (Å), ``total``, ``g_<A>_<B>`` for each species pair (heavier element first).
    """
    return rdf_node(_rdf.radial_distribution(
        atoms_from_structure(structure), r_max=r_max.value, bin_width=bin_width.value))


@calcfunction
def bond_angle_distribution(
    structure: orm.StructureData | LargeStructureData,
    centre: orm.Str,
    neighbour: orm.Str,
    cutoff: orm.Float,
    bins: orm.Int,
) -> orm.ArrayData:
    """Neighbour–centre–neighbour angle distribution (degrees), e.g. S–Zr–S with Zr–S < 3.1 Å.

    Arrays: ``angle`` (bin centres, °), ``density`` (per degree, unit area), ``counts``.
    """
    return angles_node(_angles.bond_angle_distribution(
        atoms_from_structure(structure), centre.value, neighbour.value, cutoff.value,
        bins=bins.value))


@calcfunction
def close_contacts(
    structure: orm.StructureData | LargeStructureData, species: orm.Str, cutoff: orm.Float
) -> orm.ArrayData:
    """Like-atom close contacts (e.g. S–S < 2.5 Å).

    Arrays: ``per_atom`` (close partners per atom, -1 for other species), ``distances`` (Å,
    one per pair); attributes: the counts and fraction of atoms in contact.
    """
    return contacts_node(_contacts.close_contacts(
        atoms_from_structure(structure), species.value, cutoff.value))


# --- the whole standard set in one process ----------------------------------------------------


@calcfunction
def standard_analysis(
    structure: orm.StructureData | LargeStructureData,
    bonds: orm.Dict,
    contact_species: orm.Str,
    contact_cutoff: orm.Float,
    rdf_r_max: orm.Float,
    rdf_bin_width: orm.Float,
    adf_bins: orm.Int,
) -> dict[str, orm.Data]:
    """All analyses of one structure; outputs as the single calcfunctions above would give them.

    One process instead of one per analysis because AiiDA re-hashes every input node each time
    a process is stored: for a 310k-atom StructureData that is about 30 s per process.
    ``bonds`` is ``{"Zr-S": 3.1, ...}`` (Å). Outputs: ``density``, ``rdf``, ``contacts``,
    ``coordination_<C>_<N>`` and ``angles_<C>_<N>`` per bond.
    """
    atoms = atoms_from_structure(structure)
    result = analyse_structure(
        atoms,
        bonds=parse_bonds(bonds.get_dict()),
        contact_species=contact_species.value,
        contact_cutoff=contact_cutoff.value,
        r_max=rdf_r_max.value,
        bin_width=rdf_bin_width.value,
        adf_bins=adf_bins.value,
    )
    return {name: payload_node(payload) for name, payload in analysis_payloads(atoms, result).items()}


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
