"""``StructureAnalysisWorkChain`` (``bzs.analysis``): the study's standard analyses, compared.

For each structure (e.g. ``crystal`` and ``amorphous``) one ``standard_analysis`` calcfunction
(:mod:`aiida_bzs.calculations.functions.analysis`) records density (g/cm³), CN and mean bond
length per cation (Zr–S 3.1 Å, Ba–S 3.8 Å), total and partial g(r), S–Zr–S and S–Ba–S angle
distributions and S–S close contacts; then ``plot_comparison`` draws the comparison figures.
One process per structure, not one per analysis: AiiDA re-hashes a process's input nodes when
storing it, about 30 s for a 310k-atom StructureData.
Defaults are the named constants beside the pure functions; bad input is refused at launch.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain, if_

from ..analysis.angles import ADF_BINS
from ..analysis.contacts import S_S_CONTACT_CUTOFF
from ..analysis.coordination import BOND_CUTOFFS
from ..analysis.rdf import RDF_BIN_WIDTH, RDF_R_MAX
from ..analysis.errors import AnalysisInputError
from ..analysis.standard import CONTACT_SPECIES, bonds_to_dict, parse_bonds
from ..calculations.functions import analysis as functions
from ..common.structure_nodes import STRUCTURE_TYPES, summarise_structure


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse bad input at launch, naming the fix (cut-offs, species, periodicity)."""
    structures = dict(inputs.get("structures", {}))
    if not structures:
        return "no structures given: pass `structures`, e.g. {'crystal': s1, 'amorphous': s2}"
    try:
        bonds = parse_bonds(inputs["bonds"].get_dict())
    except AnalysisInputError as exc:
        return str(exc)
    for name in ("contact_cutoff", "rdf_r_max", "rdf_bin_width", "adf_bins"):
        if inputs[name].value <= 0:
            return f"{name} must be > 0, got {inputs[name].value}"
    species = inputs["contact_species"].value
    for key, structure in structures.items():
        summary = summarise_structure(structure)
        needed = {s for bond in bonds for s in bond} | {species}
        missing = sorted(needed - summary.elements)
        if missing:
            return (f"structure {key!r} ({summary.formula}) has no {missing}; "
                    f"choose bonds/contact_species among {sorted(summary.elements)}")
        if not all(summary.pbc) or summary.volume <= 1e-6:
            return (f"structure {key!r} is not periodic in 3D (pbc={list(summary.pbc)}); density "
                    "and g(r) need a 3D-periodic cell: set pbc=True and a cell")
    return None


class StructureAnalysisWorkChain(WorkChain):
    """Standard structure analysis of one or more structures, with comparison plots.

    Outputs ``results.<key>.{density, rdf, contacts, coordination_<C>_<N>, angles_<C>_<N>}``
    per structure and PNG ``plots.{overview, coordination, rdf, angles}``.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace("structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                             help="Structures by key, e.g. crystal, amorphous; keys label the plots "
                                  "(StructureData or LargeStructureData).")
        spec.input("bonds", valid_type=orm.Dict,
                   default=lambda: orm.Dict(bonds_to_dict(BOND_CUTOFFS)),
                   help="{'Centre-Neighbour': cut-off in Å}; CN, bond lengths and angles per bond.")
        spec.input("contact_species", valid_type=orm.Str,
                   default=lambda: orm.Str(CONTACT_SPECIES),
                   help="Element whose like-atom close contacts are counted.")
        spec.input("contact_cutoff", valid_type=orm.Float,
                   default=lambda: orm.Float(S_S_CONTACT_CUTOFF),
                   help="Close-contact distance, Å.")
        spec.input("rdf_r_max", valid_type=orm.Float, default=lambda: orm.Float(RDF_R_MAX),
                   help="Outer radius of g(r), Å.")
        spec.input("rdf_bin_width", valid_type=orm.Float,
                   default=lambda: orm.Float(RDF_BIN_WIDTH), help="g(r) bin width, Å.")
        spec.input("adf_bins", valid_type=orm.Int, default=lambda: orm.Int(ADF_BINS),
                   help="Number of angle bins over 0–180°.")
        spec.input("plot", valid_type=orm.Bool, default=lambda: orm.Bool(True),
                   help="Draw the comparison figures.")
        spec.inputs.validator = validate_inputs
        spec.outline(cls.analyse, if_(cls.should_plot)(cls.plot))
        spec.output_namespace("results", dynamic=True,
                              help="Per structure key: density, rdf, contacts, coordination_*, angles_*.")
        spec.output_namespace("plots", valid_type=orm.SinglefileData, dynamic=True, required=False,
                              help="PNG figures: overview, coordination, rdf, angles.")

    def analyse(self):
        """Run the standard set on every structure, one calcfunction each."""
        self.ctx.plot_inputs = {"labels": orm.List(list(self.inputs.structures))}
        for index, (key, structure) in enumerate(self.inputs.structures.items()):
            summary = summarise_structure(structure)
            self.report(f"analysing {key!r}: {summary.formula}, {summary.n_atoms:,} atoms")
            results = functions.standard_analysis(
                structure,
                self.inputs.bonds,
                self.inputs.contact_species,
                self.inputs.contact_cutoff,
                self.inputs.rdf_r_max,
                self.inputs.rdf_bin_width,
                self.inputs.adf_bins,
            )
            for name, node in results.items():
                self.out(f"results.{key}.{name}", node)
                kind, _, bond = name.partition("_")
                plot_key = f"{kind}_{index}" + (f"_{bond}" if bond else "")
                self.ctx.plot_inputs[plot_key] = node

    def should_plot(self):
        """Whether the figures are wanted."""
        return self.inputs.plot.value

    def plot(self):
        """Draw the comparison figures from the stored results."""
        figures = functions.plot_comparison(**self.ctx.plot_inputs)
        for name, node in figures.items():
            self.out(f"plots.{name}", node)
