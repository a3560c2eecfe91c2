"""``PolycrystalWorkChain`` (``bzs.polycrystal``): Voronoi polycrystals of 300k–600k atoms,
relaxed with ACE, with per-atom extrapolation grades, boundary chemistry and XRD broadening.

Per model (one per grain count of ``parameters.grains``, one per Atomsk file of ``atomsk``): build
(``bzs.job.polycrystal``, a job: it grows with atoms) → relax (``RelaxWorkChain``, LAMMPS, MPI
resources from the protocol) → γ per atom (``bzs.job.grade``) → boundary vs interior
(``bzs.job.interfaces``: Zr and Ba CN, Zr–S bond length, composition, γ; CN/γ histograms and
slices coloured by grain and by γ). Then the XRD of every relaxed model and of a one-grain crystal
of the same box in the finite (Debye) mode (``bzs.scattering``): peak broadening that grows with
grain count, Scherrer sizes (campaign.md §7–8). All models run side by side. Nothing heavier than
passing nodes runs in the daemon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_bzs.calculations.jobs import (
    ExtrapolationGradeCalculation,
    InterfaceAnalysisCalculation,
    PolycrystalCalculation,
    check_job_code,
    define_job_inputs,
    job_code_of,
    job_metadata,
    unknown_keys_problem,
)
from aiida_bzs.common.structure_nodes import STRUCTURE_TYPES
from aiida_bzs.data.ace_potential import AcePotentialData

from .protocols import get_protocol, recursive_merge
from .relax import RelaxWorkChain
from .scattering import ScatteringWorkChain

#: Keys of the ``parameters`` input (see protocols/polycrystal.yaml).
PARAMETER_KEYS = ("box", "grains", "seed", "clearance", "relax", "gamma", "analysis", "xrd", "single_crystal")

#: Label of the one-grain reference crystal in the XRD outputs.
SINGLE_CRYSTAL = "single_crystal"


def _grain_counts(value) -> list[int]:
    counts = [value] if isinstance(value, int) else list(value or [])
    return [int(n) for n in counts]


def model_labels(parameters: dict, atomsk: Iterable[str] = ()) -> list[str]:
    """Labels of the models: ``grains_<N>`` per grain count, the ``atomsk`` keys as given."""
    return [f"grains_{n}" for n in _grain_counts(parameters.get("grains"))] + list(atomsk)


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse at launch: unknown keys, no model, bad grain counts, a potential missing an element."""
    parameters = inputs["parameters"].get_dict() if "parameters" in inputs else {}
    problem = unknown_keys_problem(parameters, PARAMETER_KEYS)
    if problem:
        return problem
    atomsk = dict(inputs.get("atomsk", {}))
    try:
        counts = _grain_counts(parameters.get("grains"))
    except (TypeError, ValueError):
        return f"`grains` must be a grain count or a list of them, got {parameters.get('grains')!r}"
    if not counts and not atomsk:
        return "no polycrystal to build: give `parameters.grains` (with `box` and `seed`) or `atomsk` files"
    if any(n < 1 for n in counts):
        return f"grain counts must be ≥ 1, got {counts}"
    if counts and ("box" not in parameters or "seed" not in parameters):
        return "random grains need `box` ([X, Y, Z] Å) and `seed` (int) in `parameters`"
    if len(set(model_labels(parameters, atomsk))) != len(counts) + len(atomsk):
        return f"model labels collide: {model_labels(parameters, atomsk)}"
    potential = inputs.get("potential")
    crystal = inputs.get("crystal")
    if potential is not None and crystal is not None:
        from aiida_bzs.common.structure_nodes import atoms_from_structure

        missing = sorted(set(atoms_from_structure(crystal).get_chemical_symbols()) - set(potential.elements))
        if missing:
            return f"the potential has no parameters for {missing} (it covers {potential.elements})"
    code = inputs.get("relax", {}).get("md", {}).get("lammps", {}).get("code")
    problem = check_job_code(inputs, code)
    if problem:
        return problem
    if parameters.get("xrd") and "scattering" not in inputs:
        return "`parameters.xrd` is true but no `scattering` inputs were given (use get_builder_from_protocol)"
    return None


class PolycrystalWorkChain(WorkChain):
    """Voronoi polycrystals: build, relax, γ, boundary chemistry, XRD broadening with grain count."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(RelaxWorkChain, namespace="relax", exclude=("structure", "potential"),
                           namespace_options={"help": "Inputs of every relaxation (LAMMPS code, MPI options in "
                                                      "`md`, relax_type, tolerances)."})
        spec.inputs["relax"].validator = None  # RelaxWorkChain's needs the structure; checked here
        spec.expose_inputs(ScatteringWorkChain, namespace="scattering", exclude=("structures",),
                           namespace_options={"required": False, "populate_defaults": False,
                                              "help": "XRD settings (finite Debye mode) of the relaxed models."})
        spec.inputs["scattering"].validator = None
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential (the study: the full-dataset model).")
        spec.input("crystal", valid_type=STRUCTURE_TYPES, required=False,
                   help="Reference crystal filling the grains (Å); default the experimental Pnma cell.")
        spec.input_namespace("atomsk", valid_type=orm.SinglefileData, dynamic=True, required=False,
                             help="Atomsk --polycrystal parameter files (box, node x y z α β γ), one model each.")
        spec.input("parameters", valid_type=orm.Dict,
                   help=f"{', '.join(PARAMETER_KEYS)} (Å; protocols/polycrystal.yaml).")
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.build,
            cls.inspect_build,
            if_(cls.should_relax)(cls.relax, cls.inspect_relax),
            if_(cls.should_grade)(cls.grade, cls.inspect_grade),
            cls.analyse,
            cls.inspect_analyse,
            if_(cls.should_scatter)(cls.scatter, cls.inspect_scatter),
            cls.results,
        )
        spec.output_namespace("built", valid_type=STRUCTURE_TYPES, dynamic=True,
                              help="Each model as built, with its per-atom `grain` array.")
        spec.output_namespace("build_reports", valid_type=orm.Dict, dynamic=True,
                              help="Grains, removed atoms, composition, density of each build.")
        spec.output_namespace("grain_files", valid_type=orm.SinglefileData, dynamic=True,
                              help="The Atomsk parameter file each model was built from (rebuilds it).")
        spec.output_namespace("structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                              help="Each model relaxed with the potential.")
        spec.output_namespace("energies", valid_type=orm.Float, dynamic=True, help="Relaxed energies (eV).")
        spec.output_namespace("gamma", valid_type=orm.ArrayData, dynamic=True,
                              help="Per-atom extrapolation grade of each relaxed model.")
        spec.output_namespace("gamma_summaries", valid_type=orm.Dict, dynamic=True,
                              help="Max γ and fraction of atoms above 2 and 5 of each model.")
        spec.output_namespace("interfaces", valid_type=orm.Dict, dynamic=True,
                              help="Boundary vs interior: CN of Zr (3.1 Å) and Ba (3.8 Å), Zr–S length Å, "
                                   "composition, γ.")
        spec.output_namespace("interface_arrays", valid_type=orm.ArrayData, dynamic=True,
                              help="Per-atom is_boundary, CNs, Zr–S lengths of each model.")
        spec.output_namespace("plots", valid_type=orm.SinglefileData, dynamic=True,
                              help="<model>_interfaces, <model>_slice_grain, <model>_slice_gamma (PNG).")
        spec.output_namespace("xrd", valid_type=orm.XyData, dynamic=True, help="I(2θ) of each model and the crystal.")
        spec.output("scherrer", valid_type=orm.Dict, required=False,
                    help="Main-peak 2θ, FWHM (°) and Scherrer size (Å, nm) of each model and the crystal.")
        spec.output("xrd_plot", valid_type=orm.SinglefileData, required=False, help="XRD/PDF overlay (PNG).")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_BUILD", message="building {label} (pk {pk}) failed: {detail}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_RELAX", message="relaxing {label} (pk {pk}) failed: {detail}")
        spec.exit_code(403, "ERROR_SUB_PROCESS_FAILED_GRADE", message="the γ job of {label} (pk {pk}) failed: {detail}")
        spec.exit_code(404, "ERROR_SUB_PROCESS_FAILED_ANALYSIS",
                       message="the interface analysis of {label} (pk {pk}) failed: {detail}")
        spec.exit_code(405, "ERROR_SUB_PROCESS_FAILED_SCATTERING", message="the XRD (pk {pk}) failed: {detail}")

    @classmethod
    def get_builder_from_protocol(cls, code, potential, crystal=None, protocol: str | None = None,
                                  overrides: Mapping | None = None, atomsk: Mapping | None = None,
                                  options: Mapping | None = None, num_mpiprocs: int | None = None,
                                  scattering_code=None, gpu_code=None, job_options: Mapping | None = None):
        """A builder from ``protocols/polycrystal.yaml``, every number on its inputs.

        :param code: LAMMPS code (label or node) of the relaxations (an MPI one for ``num_mpiprocs`` > 1).
        :param overrides: keys of the preset (``box``, ``grains``, ``seed``, ``relax_overrides``, ``xrd``,
            …); an unknown key raises :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`.
        :param atomsk: ``{label: SinglefileData or path}`` Atomsk parameter files, one model each (with
            ``overrides={'grains': []}`` they are the only models).
        :param options: scheduler options of the LAMMPS jobs; ``num_mpiprocs`` their ranks.
        :param scattering_code / gpu_code: debyecalculator runner codes of the XRD (default bzs_scatter).
        """
        preset = get_protocol("polycrystal", protocol)
        settings = recursive_merge(preset, overrides, strict=True,
                                   open_keys=("relax_overrides", "analysis", "options", "job_options"))
        ranks = int(num_mpiprocs if num_mpiprocs is not None else settings["num_mpiprocs"])
        relax = RelaxWorkChain.get_builder_from_protocol(
            code, orm.StructureData(), potential, relax_type=settings["relax_type"],
            protocol=settings["relax_protocol"], overrides=settings["relax_overrides"],
            options=recursive_merge(settings["options"], dict(options or {})), num_mpiprocs=ranks)
        builder = cls.get_builder()
        relax_inputs = relax._inputs(prune=True)
        for name in ("structure", "potential"):
            relax_inputs.pop(name, None)
        builder.relax._update(relax_inputs)
        builder.potential = potential
        if crystal is not None:
            builder.crystal = crystal
        files = {}
        for label, item in (atomsk or {}).items():
            files[label] = item if isinstance(item, orm.SinglefileData) else orm.SinglefileData(str(item))
        if files:
            builder.atomsk = files
        builder.parameters = orm.Dict({key: settings[key] for key in PARAMETER_KEYS})
        if settings["xrd"]:
            scattering = ScatteringWorkChain.get_builder_from_protocol(
                {}, code=scattering_code, protocol=settings["scattering_protocol"], gpu_code=gpu_code)
            scattering_inputs = scattering._inputs(prune=True)
            scattering_inputs.pop("structures", None)
            builder.scattering._update(scattering_inputs)
        merged_job_options = recursive_merge(settings.get("job_options") or {}, job_options)
        if merged_job_options:
            builder.job_options = orm.Dict(merged_job_options)
        return builder

    # -- outline ----------------------------------------------------------------------------------
    def setup(self):
        from aiida_bzs.calculations.functions.structures import pnma_crystal

        self.ctx.parameters = self.inputs.parameters.get_dict()
        self.ctx.crystal = self.inputs.crystal if "crystal" in self.inputs else pnma_crystal()
        self.ctx.labels = model_labels(self.ctx.parameters, self.inputs.get("atomsk", {}))
        self.ctx.job_code = job_code_of(self.inputs, self.inputs.relax.md.lammps.code)

    def _build_parameters(self, label: str) -> dict:
        params = self.ctx.parameters
        common = {"clearance": float(params["clearance"])} if "clearance" in params else {}
        if label == SINGLE_CRYSTAL:
            box = [float(x) for x in params["box"]]
            text = f"box {box[0]} {box[1]} {box[2]}\nnode {box[0] / 2} {box[1] / 2} {box[2] / 2} 0 0 0\n"
            return {"atomsk": text, **common}
        if label in self.inputs.get("atomsk", {}):
            text = self.inputs.atomsk[label].get_content()
            return {"atomsk": text, **({"seed": int(params["seed"])} if "seed" in params else {}), **common}
        return {"box": [float(x) for x in params["box"]], "grains": int(label.split("_", 1)[1]),
                "seed": int(params["seed"]), **common}

    def build(self):
        """One polycrystal job per model (and the one-grain crystal for the XRD), all at once."""
        labels = list(self.ctx.labels)
        if self.should_scatter() and self.ctx.parameters.get("single_crystal", True) and "box" in self.ctx.parameters:
            labels.append(SINGLE_CRYSTAL)
        self.ctx.built_labels = labels
        running = {}
        for label in labels:
            running[f"build_{label}"] = self.submit(
                PolycrystalCalculation, code=self.ctx.job_code, crystal=self.ctx.crystal,
                parameters=orm.Dict(self._build_parameters(label)),
                metadata=job_metadata(self.inputs, f"build_{label}"))
        self.report(f"building {', '.join(labels)}")
        return ToContext(**running)

    def inspect_build(self):
        for label in self.ctx.built_labels:
            node = self.ctx[f"build_{label}"]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BUILD.format(
                    label=label, pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
            report = node.outputs.report
            if label != SINGLE_CRYSTAL:
                self.out(f"built.{label}", node.outputs.structure)
                self.out(f"build_reports.{label}", report)
                self.out(f"grain_files.{label}", node.outputs.atomsk)
            self.report(f"{label}: {report['n_atoms']} atoms, {report['n_grains']} grains, "
                        f"{report['removed']['count']} removed within {report['clearance']} Å")
        return None

    def should_relax(self) -> bool:
        return bool(self.ctx.parameters.get("relax", True))

    def relax(self):
        """Every model relaxed with the potential (LAMMPS, resources from the protocol)."""
        running = {}
        for label in self.ctx.labels:
            inputs = AttributeDict(self.exposed_inputs(RelaxWorkChain, namespace="relax"))
            inputs.structure = self.ctx[f"build_{label}"].outputs.structure
            inputs.potential = self.inputs.potential
            inputs.metadata = {"call_link_label": f"relax_{label}"}
            running[f"relax_{label}"] = self.submit(RelaxWorkChain, **inputs)
        return ToContext(**running)

    def inspect_relax(self):
        for label in self.ctx.labels:
            node = self.ctx[f"relax_{label}"]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX.format(
                    label=label, pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
            self.out(f"structures.{label}", node.outputs.structure)
            self.out(f"energies.{label}", node.outputs.energy)
        return None

    def _final(self, label: str):
        """The relaxed structure of ``label``, or the built one when relaxation is off."""
        if self.should_relax():
            return self.ctx[f"relax_{label}"].outputs.structure
        return self.ctx[f"build_{label}"].outputs.structure

    def should_grade(self) -> bool:
        if not self.ctx.parameters.get("gamma", True):
            return False
        if not self.inputs.potential.has_active_set:
            self.report("the potential has no active set: no extrapolation grades")
            return False
        return True

    def grade(self):
        """Per-atom γ of every relaxed model: a job (``bzs.job.grade``)."""
        running = {}
        for label in self.ctx.labels:
            running[f"grade_{label}"] = self.submit(
                ExtrapolationGradeCalculation, code=self.ctx.job_code, potential=self.inputs.potential,
                structure=self._final(label), metadata=job_metadata(self.inputs, f"gamma_{label}"))
        return ToContext(**running)

    def inspect_grade(self):
        for label in self.ctx.labels:
            node = self.ctx[f"grade_{label}"]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_GRADE.format(
                    label=label, pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
            self.out(f"gamma.{label}", node.outputs.gamma)
            self.out(f"gamma_summaries.{label}", node.outputs.summary)
        return None

    def analyse(self):
        """Boundary vs interior of every model (``bzs.job.interfaces``), grains from the build."""
        running = {}
        graded = self.should_grade()
        for label in self.ctx.labels:
            inputs = {"code": self.ctx.job_code, "structure": self._final(label),
                      "grains": self.ctx[f"build_{label}"].outputs.structure,
                      "metadata": job_metadata(self.inputs, f"interfaces_{label}")}
            analysis = self.ctx.parameters.get("analysis") or {}
            if analysis:
                inputs["parameters"] = orm.Dict(analysis)
            if graded:
                inputs["gamma"] = self.ctx[f"grade_{label}"].outputs.gamma
            running[f"interfaces_{label}"] = self.submit(InterfaceAnalysisCalculation, **inputs)
        return ToContext(**running)

    def inspect_analyse(self):
        for label in self.ctx.labels:
            node = self.ctx[f"interfaces_{label}"]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_ANALYSIS.format(
                    label=label, pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
            self.out(f"interfaces.{label}", node.outputs.summary)
            self.out(f"interface_arrays.{label}", node.outputs.arrays)
            for name, plot in node.outputs.plots.items():
                self.out(f"plots.{label}_{name}", plot)
            summary = node.outputs.summary
            boundary, interior = summary["boundary"], summary["interior"]
            if boundary and interior:
                self.report(f"{label}: {100 * summary['boundary_fraction']:.1f} % boundary atoms; Zr CN "
                            f"{boundary['zr_cn_mean']:.2f} (boundary) vs {interior['zr_cn_mean']:.2f} (interior), "
                            f"S/Zr {boundary['s_zr_ratio']:.2f} vs {interior['s_zr_ratio']:.2f}")
        return None

    def should_scatter(self) -> bool:
        return bool(self.ctx.parameters.get("xrd", False))

    def scatter(self):
        """XRD of every model and the one-grain crystal, finite (Debye) mode: broadening with grain count."""
        inputs = AttributeDict(self.exposed_inputs(ScatteringWorkChain, namespace="scattering"))
        structures = {label: self._final(label) for label in self.ctx.labels}
        if SINGLE_CRYSTAL in self.ctx.built_labels:
            structures[SINGLE_CRYSTAL] = self.ctx[f"build_{SINGLE_CRYSTAL}"].outputs.structure
        inputs.structures = structures
        parameters = inputs.parameters.get_dict()
        if parameters.get("mode") == "periodic":  # the window, not the grains, would set the peak width
            inputs.parameters = orm.Dict({k: v for k, v in parameters.items() if k not in ("mode", "rcut")})
            self.report("scattering mode 'periodic' replaced by the finite Debye mode: grain-size broadening")
        inputs.metadata = {"call_link_label": "xrd"}
        node = self.submit(ScatteringWorkChain, **inputs)
        return ToContext(scattering=node)

    def inspect_scatter(self):
        node = self.ctx.scattering
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_SCATTERING.format(
                pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
        for label, pattern in node.outputs.xrd.items():
            self.out(f"xrd.{label}", pattern)
        self.out("scherrer", node.outputs.scherrer)
        if "plot" in node.outputs:
            self.out("xrd_plot", node.outputs.plot)
        sizes = node.outputs.scherrer.get_dict()
        self.report("Scherrer sizes: " + ", ".join(
            f"{label} {sizes[label]['size_nm']:.1f} nm" if sizes[label].get("size_nm") else f"{label} -"
            for label in sorted(sizes)))
        return None

    def results(self):
        return None


__all__ = ["PARAMETER_KEYS", "SINGLE_CRYSTAL", "PolycrystalWorkChain", "model_labels", "validate_inputs"]
