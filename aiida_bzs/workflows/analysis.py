"""``StructureAnalysisWorkChain`` (``bzs.analysis``): the study's standard analyses, compared.

For each structure (e.g. ``crystal`` and ``amorphous``) one analysis job
(``bzs.job.analysis``: ``aiida-bzs-job analyse`` on a computer, with the protocol's resources and
wall time — not a calcfunction in the daemon) records density (g/cm³), CN and mean bond length
per cation (Zr–S 3.1 Å, Ba–S 3.8 Å), total and partial g(r), S–Zr–S and S–Ba–S angle
distributions and S–S close contacts; then ``plot_comparison`` (light: it reads the stored
histograms) draws the comparison figures. One job per structure, all in parallel.
Defaults are the named constants beside the pure functions; ``get_builder_from_protocol``
records them (and the job options of ``protocols/analysis.yaml``) on the node's inputs; bad
input is refused at launch.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from ..analysis.angles import ADF_BINS
from ..analysis.contacts import S_S_CONTACT_CUTOFF
from ..analysis.coordination import BOND_CUTOFFS
from ..analysis.rdf import RDF_BIN_WIDTH, RDF_R_MAX
from ..analysis.errors import AnalysisInputError
from ..analysis.standard import CONTACT_SPECIES, bonds_to_dict, parse_bonds
from ..calculations.functions import analysis as functions
from ..calculations.jobs import (
    StructureAnalysisCalculation,
    check_job_code,
    define_job_inputs,
    job_code_of,
    job_metadata,
)
from ..common.codes import load_code
from ..common.structure_nodes import STRUCTURE_TYPES, summarise_structure
from .protocols import get_protocol, recursive_merge

#: Inputs of the work chain that hold the analysis numbers (a protocol's ``analysis`` section sets them).
ANALYSIS_INPUTS = ("bonds", "contact_species", "contact_cutoff", "rdf_r_max", "rdf_bin_width", "adf_bins", "plot")


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
    problem = check_job_code(inputs, None)
    if problem:
        return problem
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
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(cls.analyse, cls.collect, if_(cls.should_plot)(cls.plot))
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_ANALYSIS", message="the analysis job of {key!r} (pk {pk}) failed: {details}")
        spec.output_namespace("results", dynamic=True,
                              help="Per structure key: density, rdf, contacts, coordination_*, angles_*.")
        spec.output_namespace("plots", valid_type=orm.SinglefileData, dynamic=True, required=False,
                              help="PNG figures: overview, coordination, rdf, angles.")

    @classmethod
    def get_builder_from_protocol(cls, structures: dict, protocol: str | None = None, overrides: dict | None = None,
                                  code=None):
        """Builder with every number on its inputs: the named analysis defaults, the preset's
        ``analysis`` changes and ``job_options`` (``protocols/analysis.yaml``), then ``overrides``
        (same keys; an unknown key raises :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`;
        ``bonds`` and ``job_options`` entries replace or add, since any bond or scheduler option may be named).

        :param structures: ``{key: StructureData | LargeStructureData}``.
        :param code: the ``aiida-bzs-job`` code (label or node); default ``bzs_job@localhost``.
        """
        ports = cls.spec().inputs
        defaults = {name: ports[name].default().value if name != "bonds" else ports[name].default().get_dict()
                    for name in ANALYSIS_INPUTS}
        base = {"analysis": defaults, "job_options": {}}
        preset = get_protocol("analysis", protocol)
        settings = base
        for changes in ({"analysis": preset.get("analysis") or {}, "job_options": preset["job_options"]},
                        overrides or {}):
            changes = {**changes, "analysis": dict(changes.get("analysis") or {})}
            bonds = changes["analysis"].pop("bonds", None)  # a bond set replaces the defaults whole
            settings = recursive_merge(settings, {k: v for k, v in changes.items() if k != "job_options"}, strict=True)
            settings["job_options"] = {**settings["job_options"], **changes.get("job_options", {})}
            if bonds is not None:
                settings["analysis"]["bonds"] = dict(bonds)
        builder = cls.get_builder()
        builder.structures = dict(structures)
        for name, value in settings["analysis"].items():
            builder[name] = orm.to_aiida_type(value)
        builder.job_options = orm.Dict(settings["job_options"])
        if code is not None:
            builder.job_code = load_code(code)
        return builder

    def analyse(self):
        """Submit the standard set on every structure: one job each, all at once."""
        code = job_code_of(self.inputs, None)
        parameters = orm.Dict({
            "bonds": self.inputs.bonds.get_dict(), "contact_species": self.inputs.contact_species.value,
            "contact_cutoff": self.inputs.contact_cutoff.value, "rdf_r_max": self.inputs.rdf_r_max.value,
            "rdf_bin_width": self.inputs.rdf_bin_width.value, "adf_bins": self.inputs.adf_bins.value,
        })
        futures = {}
        for key, structure in self.inputs.structures.items():
            summary = summarise_structure(structure)
            self.report(f"analysing {key!r}: {summary.formula}, {summary.n_atoms:,} atoms")
            futures[f"job_{key}"] = self.submit(StructureAnalysisCalculation, code=code, structure=structure,
                                                parameters=parameters,
                                                metadata=job_metadata(self.inputs, f"analyse_{key}"))
        return ToContext(**futures)

    def collect(self):
        """Expose each job's results under ``results.<key>`` and keep them for the figures."""
        self.ctx.plot_inputs = {"labels": orm.List(list(self.inputs.structures))}
        for index, key in enumerate(self.inputs.structures):
            job = self.ctx[f"job_{key}"]
            if not job.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_ANALYSIS.format(key=key, pk=job.pk, details=job.exit_message)
            for name in job.outputs:
                if name in ("retrieved", "remote_folder"):
                    continue
                node = job.outputs[name]
                self.out(f"results.{key}.{name}", node)
                kind, _, bond = name.partition("_")
                plot_key = f"{kind}_{index}" + (f"_{bond}" if bond else "")
                self.ctx.plot_inputs[plot_key] = node
        return None

    def should_plot(self):
        """Whether the figures are wanted."""
        return self.inputs.plot.value

    def plot(self):
        """Draw the comparison figures from the stored results."""
        figures = functions.plot_comparison(**self.ctx.plot_inputs)
        for name, node in figures.items():
            self.out(f"plots.{name}", node)
