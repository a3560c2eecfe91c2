"""The whole study in one provenance graph: ``CampaignWorkChain`` (``bzs.campaign``).

crystal → PBEsol reference relaxation → initial training data (labelled) → active learning →
the two published fits (filtered, full) → melt–quench amorphous (several protocols) → analysis
(crystal vs amorphous) → grain boundaries (+ DFT parity) → polycrystals → scattering → summary
and report. Each stage is the package's own workchain with its own protocol
(``protocols/campaign.yaml`` names them); the campaign only wires their outputs together.

Users start in the middle: a stage whose result is given as an input (``reference_crystal``,
``training_set``, ``potential``, ``amorphous``) is not run, and ``parameters['skip']`` drops
any stage. Contradictions (skipping the fit without a potential, a potential without an element
of the crystal, a missing code) are refused at submission with the input to supply.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from ..calculations.functions.campaign import campaign_summary
from ..calculations.functions.generators import (
    generate_dimers,
    generate_interface,
    generate_perturbed,
    generate_rss,
)
from ..calculations.functions.nanoparticle import cut_nanoparticle
from ..calculations.functions.structures import make_supercell, pnma_crystal
from ..common.codes import code_label, load_code
from ..data.ace_potential import AcePotentialData
from ..data.large_structure import LargeStructureData
from ..data.training_set import TrainingSetData
from .protocols import ProtocolOverrideError, get_protocol, recursive_merge

#: The stages, in the order they run.
STAGES = ("reference", "dataset", "learn", "fit", "amorphous", "analysis", "grain_boundaries",
          "grain_boundary_dft", "polycrystal", "scattering", "report")
STRUCTURE_TYPES = (orm.StructureData, LargeStructureData)
#: Which code input each stage needs (checked at submission for the stages that run).
STAGE_CODES = {
    "reference": ("pw_code",), "dataset": ("pw_code",), "learn": ("pw_code", "pacemaker_code", "lammps_code"),
    "fit": ("pacemaker_code",), "amorphous": ("lammps_code",), "analysis": ("job_code",),
    "grain_boundaries": ("lammps_code",), "grain_boundary_dft": ("pw_code",), "polycrystal": ("lammps_code",),
    "scattering": ("scattering_code",), "report": ("job_code",),
}
#: The code label each code input defaults to (``aiida-bzs setup`` registers them).
CODE_NAMES = {"pw_code": "pw", "pacemaker_code": "pacemaker", "lammps_code": "lmp", "job_code": "bzs_job",
              "scattering_code": "bzs_scatter"}


def _link(manager, name: str):
    """The node (or namespace) linked as ``name``, else None (a node's link managers have no ``get``)."""
    return manager[name] if name in manager else None


def campaign_settings(protocol: str | None = None, overrides: Mapping | None = None) -> dict:
    """The preset ``protocol`` of ``campaign.yaml`` with ``overrides`` merged key by key.

    An unknown top-level key or stage name in ``skip`` raises :class:`ProtocolOverrideError`.
    """
    preset = get_protocol("campaign", protocol)
    unknown = sorted(set(overrides or {}) - set(preset))
    if unknown:
        raise ProtocolOverrideError(f"unknown campaign override(s) {unknown}; keys: {sorted(preset)}")
    settings = recursive_merge(preset, dict(overrides or {}))
    runs = ((overrides or {}).get("amorphous") or {}).get("runs")
    if runs is not None:  # a list of melt-quench runs is replaced whole, not merged run by run
        settings["amorphous"]["runs"] = dict(runs)
    settings["protocol"] = protocol or "default"
    bad = sorted(set(settings.get("skip", [])) - set(STAGES))
    if bad:
        raise ProtocolOverrideError(f"unknown stage(s) in skip: {bad}; stages: {list(STAGES)}")
    return settings


def given_inputs(inputs: Mapping) -> set[str]:
    """The stage-replacing inputs present (see :func:`stages_to_run`)."""
    return {name for name in ("reference_crystal", "training_set", "potential", "amorphous") if inputs.get(name)}


def stages_to_run(settings: Mapping, given: set[str]) -> list[str]:
    """The stages that run: not in ``skip`` and not replaced by a given input.

    ``given`` names the inputs present (``reference_crystal``, ``training_set``, ``potential``,
    ``amorphous``). A given training set replaces ``dataset``; a given potential replaces
    ``learn`` and ``fit`` (and so ``dataset``, which only feeds them); given amorphous structures
    replace ``amorphous``.
    """
    skip = set(settings.get("skip", []))
    replaced = {"reference_crystal": {"reference"}, "training_set": {"dataset"},
                "potential": {"learn", "fit"}, "amorphous": {"amorphous"}}
    for name, stages in replaced.items():
        if name in given:
            skip |= stages
    if {"learn", "fit"} <= skip:
        skip.add("dataset")  # labelled data serves only the fits
    return [stage for stage in STAGES if stage not in skip]


def load_campaign_codes(settings: Mapping, given: set[str], codes: Mapping | None = None) -> dict:
    """The code nodes of the stages that run, by port: ``codes`` (port → label or node) or the
    ``aiida-bzs setup`` labels; a missing one raises ``MissingCodeError`` naming the fix."""
    needed = {port for stage in stages_to_run(settings, given) for port in STAGE_CODES[stage]}
    return {port: load_code((codes or {}).get(port, code_label(CODE_NAMES[port]))) for port in sorted(needed)}


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse contradictory campaigns at submission, naming what to supply."""
    if "parameters" not in inputs:
        return None
    settings = inputs["parameters"].get_dict()
    bad = sorted(set(settings.get("skip", [])) - set(STAGES))
    if bad:
        return f"unknown stage(s) in skip: {bad}; stages: {list(STAGES)}"
    given = given_inputs(inputs)
    run = stages_to_run(settings, given)
    needs_potential = {"amorphous", "grain_boundaries", "polycrystal"} & set(run)
    if needs_potential and not ({"learn", "fit"} & set(run)) and "potential" not in given:
        return (f"the stages {sorted(needs_potential)} need a potential but learn and fit are skipped: "
                f"give `potential` (an AcePotentialData) or do not skip `fit`")
    if ({"learn", "fit"} & set(run)) and "training_set" not in given and "dataset" not in run:
        return "learn/fit need training data but `dataset` is skipped: give `training_set` or do not skip `dataset`"
    if "grain_boundary_dft" in run and "grain_boundaries" not in run:
        return "grain_boundary_dft needs the grain_boundaries stage: skip both or neither"
    gb_potential = (settings.get("grain_boundaries") or {}).get("potential", "filtered")
    if gb_potential not in ("filtered", "full"):
        return f"grain_boundaries.potential {gb_potential!r}: use 'filtered' (the study's) or 'full'"
    training_set = inputs.get("training_set")
    if training_set is not None and "learn" in run:
        from .active_learning import label_settings_problem

        learn = settings.get("learn") or {}
        label_protocol = (learn.get("overrides") or {}).get("label_protocol") or get_protocol(
            "active_learning", learn.get("protocol")).get("label_protocol")
        problem = label_settings_problem(training_set, label_protocol)
        if problem:
            return f"learn: {problem} (campaign parameters learn.overrides.label_protocol)"
    crystal = inputs.get("reference_crystal") or inputs.get("crystal")
    elements = set(crystal.get_kind_names()) if crystal is not None else {"Ba", "Zr", "S"}
    if inputs.get("initial_potential") is not None and "learn" not in run:
        return "`initial_potential` starts the `learn` stage, which does not run: drop it, or give it as `potential`"
    for name in ("potential", "potential_full", "initial_potential"):
        potential = inputs.get(name)
        if potential is not None:
            missing = sorted(elements - set(potential.elements))
            if missing:
                return (f"`{name}` (pk {potential.pk}) has no {missing}: the crystal holds {sorted(elements)}; "
                        f"give a potential fitted to all of them")
    for stage in run:
        for port in STAGE_CODES[stage]:
            if port not in inputs:
                return (f"stage {stage!r} needs the code input `{port}` (e.g. {CODE_NAMES[port]}@localhost from "
                        f"`aiida-bzs setup`), or skip the stage")
    return None


class CampaignWorkChain(WorkChain):
    """The BaZrS3 study end to end; every stage a sub-workchain of this package (see the module)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("parameters", valid_type=orm.Dict,
                   help="Every choice of the campaign (campaign_settings: the per-stage protocols and overrides, "
                        "skip, md_repeat, nanoparticle_radius Å); from get_builder_from_protocol.")
        spec.input("crystal", valid_type=orm.StructureData, required=False,
                   help="Starting crystal (default: the Pnma cell of campaign.md).")
        spec.input("reference_crystal", valid_type=orm.StructureData, required=False,
                   help="A relaxed reference crystal: replaces the `reference` stage.")
        spec.input("training_set", valid_type=TrainingSetData, required=False,
                   help="Labelled starting data (a user's own, or the shipped demo dataset): replaces `dataset`.")
        spec.input("test_set", valid_type=TrainingSetData, required=False,
                   help="A fixed test set for learn/fit (default: split off the starting data).")
        spec.input("potential", valid_type=AcePotentialData, required=False,
                   help="A potential for MD, relaxations and analyses: replaces `learn` and `fit`.")
        spec.input("initial_potential", valid_type=AcePotentialData, required=False,
                   help="Generation 0 of `learn` (fitted on `training_set`, never on `test_set`): learn starts "
                        "exploring with it instead of fitting first (the demo's shipped potential).")
        spec.input("potential_full", valid_type=AcePotentialData, required=False,
                   help="With `potential`: the full-data version for the polycrystals (default: `potential`).")
        spec.input_namespace("amorphous", valid_type=STRUCTURE_TYPES, dynamic=True, required=False,
                             help="Amorphous structures by name: replace the `amorphous` stage.")
        spec.input("measured_xrd", valid_type=orm.XyData, required=False, help="Measured XRD (2θ °, intensity).")
        spec.input("measured_pdf", valid_type=orm.XyData, required=False, help="Measured G(r) (r Å).")
        for port in CODE_NAMES:
            spec.input(port, valid_type=orm.AbstractCode, required=False,
                       help=f"The {CODE_NAMES[port]} code (needed by {sorted(s for s, p in STAGE_CODES.items() if port in p)}).")
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="Run MD with a potential whose fit verdict is 'unusable' (otherwise refused).")
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            if_(cls.runs_reference)(cls.run_reference, cls.inspect_reference),
            if_(cls.runs_dataset)(cls.run_dataset, cls.inspect_dataset),
            if_(cls.runs_learn)(cls.run_learn, cls.inspect_learn),
            if_(cls.runs_fit)(cls.run_fit, cls.inspect_fit),
            cls.run_simulations,
            cls.inspect_simulations,
            cls.run_characterisation,
            cls.inspect_characterisation,
            if_(cls.runs_report)(cls.run_report, cls.inspect_report),
            cls.results,
        )
        spec.output("crystal", valid_type=orm.StructureData, help="The reference crystal every stage used.")
        spec.output("training_set", valid_type=TrainingSetData, required=False, help="The final training data.")
        spec.output("test_set", valid_type=TrainingSetData, required=False, help="The fixed test set.")
        spec.output_namespace("potentials", valid_type=AcePotentialData, dynamic=True, required=False,
                              help="`filtered` and `full` ACE potentials.")
        spec.output_namespace("amorphous", valid_type=STRUCTURE_TYPES, dynamic=True, required=False,
                              help="The melt–quench products by protocol name.")
        spec.output("summary", valid_type=orm.Dict, help="The campaign's numbers (campaign_summary).")
        spec.exit_code(401, "ERROR_REFERENCE_FAILED", message="The reference relaxation failed: {details}")
        spec.exit_code(402, "ERROR_DATASET_FAILED", message="Labelling the initial training data failed: {details}")
        spec.exit_code(403, "ERROR_LEARN_FAILED", message="Active learning failed: {details}")
        spec.exit_code(404, "ERROR_FIT_FAILED", message="The final fit failed: {details}")
        spec.exit_code(410, "ERROR_STAGES_FAILED",
                       message="The campaign finished, but these stages failed (their results are missing from the "
                               "summary): {details}")

    @classmethod
    def get_builder_from_protocol(cls, protocol: str | None = None, overrides: Mapping | None = None, *,
                                  codes: Mapping | None = None, **inputs):
        """A builder with every choice on ``parameters`` (``campaign.yaml`` preset ``protocol`` with
        ``overrides``) and the codes by their ``aiida-bzs setup`` labels (``codes`` maps a port such
        as ``lammps_code`` to another label or node). ``inputs`` sets the other ports
        (``training_set``, ``potential``, ``reference_crystal``, ``amorphous`` …); only the codes of
        the stages that run are loaded, so a user without pw.x can start from a potential.
        """
        settings = campaign_settings(protocol, overrides)
        builder = cls.get_builder()
        builder.parameters = orm.Dict(settings)
        for name, value in inputs.items():
            builder[name] = value
        given = given_inputs(inputs)
        for port, code in load_campaign_codes(settings, given, codes).items():
            builder[port] = code
        return builder

    # -- helpers ----------------------------------------------------------------------------------
    def _stage(self, name: str) -> dict:
        return self.ctx.settings.get(name, {}) or {}

    def _check(self, name: str, node) -> bool:
        """Record a failed sub-process of stage ``name``; True when it finished ok."""
        if node.is_finished_ok:
            return True
        self.ctx.failed[name] = f"{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}"
        self.report(f"stage {name} failed: {self.ctx.failed[name]}")
        return False

    def _with_job_code(self, builder):
        """``builder`` with the campaign's ``job_code`` (the heavy numerics of the sub-workchain run as
        jobs on that computer) when one was given; returns it."""
        if "job_code" in self.inputs:
            builder.job_code = self.inputs.job_code
        return builder

    def _launch(self, futures: dict, name: str, make_builder) -> None:
        """Submit the builder ``make_builder()`` as stage ``name`` into ``futures``; a builder the
        sub-workchain refuses (its input validation, e.g. grains thinner than twice the fitted
        potential's cutoff) is recorded as that stage's failure, like a failed run, and the other
        stages go on."""
        try:
            builder = make_builder()
            builder.metadata.call_link_label = name
            futures[name] = self.submit(builder)
        except (ValueError, TypeError, KeyError) as exc:
            self.ctx.failed[name] = f"refused before it ran: {type(exc).__name__}: {exc}"
            self.report(f"stage {name} failed: {self.ctx.failed[name]}")

    # -- set-up -----------------------------------------------------------------------------------
    def setup(self):
        self.ctx.settings = self.inputs.parameters.get_dict()
        given = given_inputs(self.inputs)
        self.ctx.run = stages_to_run(self.ctx.settings, given)
        self.ctx.failed = {}
        self.ctx.crystal = self.inputs.crystal if "crystal" in self.inputs else pnma_crystal()
        self.ctx.reference = self.inputs.get("reference_crystal", self.ctx.crystal)
        self.ctx.training_set = self.inputs.get("training_set")
        self.ctx.test_set = self.inputs.get("test_set")
        self.ctx.potentials = {}
        if "potential" in self.inputs:
            self.ctx.potentials = {"filtered": self.inputs.potential,
                                   "full": self.inputs.get("potential_full", self.inputs.potential)}
        self.ctx.amorphous = dict(self.inputs.get("amorphous", {}))
        self.ctx.product_kinds = {name: "given" for name in self.ctx.amorphous}  # classification per product
        self.ctx.children = {}
        self.report(f"campaign ({self.ctx.settings.get('protocol')}): stages {', '.join(self.ctx.run)}")

    def runs_reference(self):
        return "reference" in self.ctx.run

    def runs_dataset(self):
        return "dataset" in self.ctx.run

    def runs_learn(self):
        return "learn" in self.ctx.run

    def runs_fit(self):
        return "fit" in self.ctx.run

    def runs_report(self):
        return "report" in self.ctx.run

    # -- reference crystal ------------------------------------------------------------------------
    def run_reference(self):
        """PBEsol vc-relax of the crystal (CrystalRelaxWorkChain)."""
        from .crystal_relax import CrystalRelaxWorkChain

        stage = self._stage("reference")
        builder = CrystalRelaxWorkChain.get_builder_from_protocol(
            code=self.inputs.pw_code, structure=self.ctx.crystal, protocol=stage.get("protocol"),
            overrides=stage.get("overrides"))
        builder.metadata.call_link_label = "reference_relax"
        return ToContext(reference_relax=self.submit(builder))

    def inspect_reference(self):
        node = self.ctx.reference_relax
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_REFERENCE_FAILED.format(details=f"pk {node.pk}: {node.exit_message}")
        self.ctx.reference = _link(node.outputs, "reference") or node.outputs.relaxed_structure
        return None

    # -- initial data -----------------------------------------------------------------------------
    def run_dataset(self):
        """The initial families (perturbed crystal, RSS, interfaces, dimers), labelled with pw.x."""
        from .label import DftLabelWorkChain

        stage = self._stage("dataset")
        structures = {}
        structures.update(generate_perturbed(self.ctx.reference, orm.Dict(stage.get("perturbed", {}))))
        structures.update(generate_rss(orm.Dict({"composition": "BaZrS3", **stage.get("rss", {})})))
        for i in range(int(stage.get("interfaces", 0))):
            structures[f"interface_{i:04d}"] = generate_interface(self.ctx.reference, orm.Dict({"seed": i}))
        if stage.get("dimers"):
            structures.update(generate_dimers(orm.Dict(stage["dimers"])))
        builder = DftLabelWorkChain.get_builder_from_protocol(
            self.inputs.pw_code, structures=structures, protocol=stage.get("label_protocol"))
        builder.metadata.call_link_label = "dataset"
        self.report(f"labelling {len(structures)} initial structures")
        return ToContext(dataset=self.submit(builder))

    def inspect_dataset(self):
        node = self.ctx.dataset
        if "training_set" not in node.outputs:
            return self.exit_codes.ERROR_DATASET_FAILED.format(details=f"pk {node.pk}: {node.exit_message}")
        self.ctx.training_set = node.outputs.training_set
        return None

    # -- potentials -------------------------------------------------------------------------------
    def run_learn(self):
        """Active learning from the starting data (ActiveLearningWorkChain)."""
        from .active_learning import ActiveLearningWorkChain

        stage = self._stage("learn")
        extra = {"crystal": self.ctx.reference, "job_code": self.inputs.job_code} if "job_code" in self.inputs \
            else {"crystal": self.ctx.reference}
        if self.ctx.test_set is not None:
            extra["test_set"] = self.ctx.test_set
        if "initial_potential" in self.inputs:
            extra["initial_potential"] = self.inputs.initial_potential
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            self.ctx.training_set, self.inputs.pacemaker_code, self.inputs.pw_code, protocol=stage.get("protocol"),
            overrides=stage.get("overrides"), lammps_code=self.inputs.lammps_code, **extra)
        builder.allow_unusable_potential = self.inputs.allow_unusable_potential
        builder.metadata.call_link_label = "learn"
        return ToContext(learn=self.submit(builder))

    def inspect_learn(self):
        node = self.ctx.learn
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LEARN_FAILED.format(details=f"pk {node.pk}: {node.exit_message}")
        self.ctx.training_set = node.outputs.training_set
        self.ctx.test_set = node.outputs.test_set
        self.ctx.potentials = {"filtered": node.outputs.potential, "full": node.outputs.potential}
        # The last generation's fit continued from the previous potential: the final fit does the
        # same, so its `full` pacemaker run has the inputs of that one and comes from the cache.
        fits = sorted((c for c in node.called if c.process_label == "FitAceWorkChain"), key=lambda c: c.ctime)
        self.ctx.initial_potential = _link(fits[-1].inputs, "initial_potential") if fits else None
        return None

    def run_fit(self):
        """The two published versions (filtered, full) on the final data (FitAceWorkChain)."""
        from .fit import FitAceWorkChain

        stage = self._stage("fit")
        builder = FitAceWorkChain.get_builder_from_protocol(
            self.inputs.pacemaker_code, self.ctx.training_set, protocol=stage.get("protocol"),
            overrides=stage.get("overrides"), test_set=self.ctx.test_set,
            initial_potential=self.ctx.get("initial_potential"))
        self._with_job_code(builder)
        builder.metadata.call_link_label = "fit"
        return ToContext(fit=self.submit(builder))

    def inspect_fit(self):
        node = self.ctx.fit
        versions = {v: node.outputs[v].potential for v in ("filtered", "full") if v in node.outputs}
        if not versions:
            return self.exit_codes.ERROR_FIT_FAILED.format(details=f"pk {node.pk}: [{node.exit_status}] {node.exit_message}")
        if not node.is_finished_ok:
            self.report(f"FitAceWorkChain<{node.pk}> [{node.exit_status}]: keeping the versions it made {sorted(versions)}")
        self.ctx.potentials = {"filtered": versions.get("filtered", versions.get("full")),
                               "full": versions.get("full", versions.get("filtered"))}
        return None

    # -- simulations with the potential -----------------------------------------------------------
    def _md_cell(self):
        if "md_cell" not in self.ctx:
            self.ctx.md_cell = make_supercell(self.ctx.reference, orm.List(list(self.ctx.settings["md_repeat"])))
        return self.ctx.md_cell

    def run_simulations(self):
        """Melt–quenches (one per run), grain boundaries and polycrystals, side by side."""
        from .grain_boundary import GrainBoundaryWorkChain
        from .melt_quench import MeltQuenchWorkChain
        from .polycrystal import PolycrystalWorkChain

        futures = {}
        allow = self.inputs.allow_unusable_potential

        def melt_quench(run):
            builder = MeltQuenchWorkChain.get_builder_from_protocol(
                self.inputs.lammps_code, self.ctx.potentials["filtered"], structure=self._md_cell(),
                protocol=run.get("protocol"), overrides=run.get("overrides"))
            builder.reference_crystal = self.ctx.reference
            builder.allow_unusable_potential = allow
            return self._with_job_code(builder)

        def grain_boundaries():
            stage = self._stage("grain_boundaries")
            # the study relaxes boundaries with the filtered version; a preset may name the other
            builder = GrainBoundaryWorkChain.get_builder_from_protocol(
                self.inputs.lammps_code, self.ctx.potentials[stage.get("potential", "filtered")], crystal=self.ctx.reference,
                protocol=stage.get("protocol"), overrides=stage.get("overrides"))
            builder.relax.allow_unusable_potential = allow
            return self._with_job_code(builder)

        def polycrystal():
            stage = self._stage("polycrystal")
            builder = PolycrystalWorkChain.get_builder_from_protocol(
                self.inputs.lammps_code, self.ctx.potentials["full"], crystal=self.ctx.reference,
                protocol=stage.get("protocol"), overrides=stage.get("overrides"),
                scattering_code=self.inputs.get("scattering_code"))
            builder.relax.allow_unusable_potential = allow
            return self._with_job_code(builder)

        if "amorphous" in self.ctx.run:
            for name, run in self._stage("amorphous").get("runs", {}).items():
                self._launch(futures, f"melt_quench_{name}", lambda run=run: melt_quench(run))
        if "grain_boundaries" in self.ctx.run:
            self._launch(futures, "grain_boundaries", grain_boundaries)
        if "polycrystal" in self.ctx.run:
            self._launch(futures, "polycrystal", polycrystal)
        if futures:
            self.report(f"running {', '.join(futures)}")
        self.ctx.simulations = list(futures)
        return ToContext(**futures)

    def inspect_simulations(self):
        for name in self.ctx.simulations:
            node = self.ctx[name]
            self.ctx.children[name] = node.uuid
            ok = self._check(name, node)
            if name.startswith("melt_quench_"):
                product = _link(node.outputs, "structure")
                if product is not None:  # a failed stage keeps its quenched structure: analysed, flagged
                    self.ctx.amorphous[name[len("melt_quench_"):]] = product
                    check = _link(node.outputs, "product_check")
                    self.ctx.product_kinds[name[len("melt_quench_"):]] = (
                        check.get("classification") if check is not None else None)
                elif ok:
                    self.ctx.failed[name] = f"MeltQuenchWorkChain<{node.pk}> gave no structure"

    # -- characterisation -------------------------------------------------------------------------
    def run_characterisation(self):
        """Analysis (crystal vs amorphous), scattering, and the DFT parity of the boundaries."""
        from .analysis import StructureAnalysisWorkChain
        from .grain_boundary_dft import GrainBoundaryDftWorkChain
        from .scattering import ScatteringWorkChain

        futures = {}
        structures = {"crystal": self._md_cell(), **{f"amorphous_{k}": v for k, v in self.ctx.amorphous.items()}}
        if "analysis" in self.ctx.run:
            stage = self._stage("analysis")
            builder = StructureAnalysisWorkChain.get_builder_from_protocol(
                structures, protocol=stage.get("protocol"), overrides=stage.get("overrides"),
                code=self.inputs.job_code)
            builder.metadata.call_link_label = "analysis"
            futures["analysis"] = self.submit(builder)
        if "scattering" in self.ctx.run:
            stage = self._stage("scattering")
            radius = float(self.ctx.settings.get("nanoparticle_radius", 12.0))
            a, b, c = self.ctx.reference.cell_lengths
            repeat = [max(1, int(-(-2.2 * radius // length))) for length in (a, b, c)]
            big = make_supercell(self.ctx.reference, orm.List(repeat))
            patterns = {**structures, "nanoparticle": cut_nanoparticle(big, orm.Float(radius))}
            builder = ScatteringWorkChain.get_builder_from_protocol(
                patterns, code=self.inputs.scattering_code, protocol=stage.get("protocol"),
                overrides=stage.get("overrides"), measured_xrd=self.inputs.get("measured_xrd"),
                measured_pdf=self.inputs.get("measured_pdf"))
            # An amorphous product's main XRD peak is a halo: its width is no crystallite size.
            amorphous = {f"amorphous_{name}": ("given as amorphous" if kind == "given" else
                                               f"melt_quench_{name} product ({kind or 'unchecked'})")
                         + ": the main peak is a halo, its width a correlation length, not a crystallite size"
                         for name, kind in self.ctx.product_kinds.items() if kind != "recrystallised"}
            if amorphous:
                scherrer = builder.scherrer.get_dict() if "scherrer" in builder else {}
                builder.scherrer = orm.Dict(scherrer | {"not_crystalline": amorphous})
            builder.metadata.call_link_label = "scattering"
            futures["scattering"] = self.submit(builder)
        gb = self.ctx.get("grain_boundaries")
        if "grain_boundary_dft" in self.ctx.run and gb is not None and gb.is_finished_ok:
            stage = self._stage("grain_boundary_dft")
            builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
                self.inputs.pw_code, gb, protocol=stage.get("protocol"), overrides=stage.get("overrides"))
            builder.metadata.call_link_label = "grain_boundary_dft"
            futures["grain_boundary_dft"] = self.submit(builder)
        self.ctx.characterisation = list(futures)
        return ToContext(**futures)

    def inspect_characterisation(self):
        for name in self.ctx.characterisation:
            self.ctx.children[name] = self.ctx[name].uuid
            self._check(name, self.ctx[name])

    # -- report -----------------------------------------------------------------------------------
    def run_report(self):
        """The report's two jobs: the dataset map (SOAP + UMAP of the final training data, the
        study's Fig. 1b) and the ACE phonons of the reference crystal (Fig. S3, ACE only).

        The HTML itself is a view of the finished graph, not a transformation of data: it is
        rendered client-side from this node (``aiida-bzs report``; ``aiida-bzs campaign run``
        writes it at the end), every figure citing its node.
        """
        from ..calculations.jobs import DatasetMapCalculation, PhononsCalculation, JOB_OPTIONS

        stage = self._stage("report")
        options = {**JOB_OPTIONS, **(stage.get("job_options") or {})}
        futures = {}
        if self.ctx.training_set is not None and stage.get("dataset_map", True) is not False:
            builder = DatasetMapCalculation.get_builder()
            builder.code = self.inputs.job_code
            builder.dataset = self.ctx.training_set
            if isinstance(stage.get("dataset_map"), Mapping) and stage["dataset_map"]:
                builder.parameters = orm.Dict(dict(stage["dataset_map"]))
            builder.metadata = {"options": options, "call_link_label": "dataset_map"}
            futures["dataset_map"] = self.submit(builder)
        potential = self.ctx.potentials.get("full") or self.ctx.potentials.get("filtered")
        if potential is not None and stage.get("phonons", False) is not False:
            builder = PhononsCalculation.get_builder()
            builder.code = self.inputs.job_code
            builder.crystal = self.ctx.reference
            builder.potential = potential
            if isinstance(stage.get("phonons"), Mapping) and stage["phonons"]:
                builder.parameters = orm.Dict(dict(stage["phonons"]))
            builder.metadata = {"options": options, "call_link_label": "phonons"}
            futures["phonons"] = self.submit(builder)
        if futures:
            self.report(f"report jobs: {', '.join(futures)}")
        self.ctx.report_jobs = list(futures)
        return ToContext(**futures)

    def inspect_report(self):
        """A failed report job is noted (exit 410 at the end); the report shows what exists."""
        for name in self.ctx.report_jobs:
            self.ctx.children[name] = self.ctx[name].uuid
            self._check(name, self.ctx[name])

    # -- results ----------------------------------------------------------------------------------
    def _summary_inputs(self) -> dict:
        """The nodes the summary reads, by key (light: Dicts, Floats and the training set)."""
        nodes = {"settings": orm.Dict({"protocol": self.ctx.settings.get("protocol"), "stages": self.ctx.run,
                                       "failed": self.ctx.failed})}
        if self.ctx.training_set is not None:
            nodes["training_set"] = self.ctx.training_set
        if self.ctx.test_set is not None:
            nodes["test_set"] = self.ctx.test_set
        fit = self.ctx.get("fit")
        for version in ("filtered", "full"):
            if fit is not None and version in fit.outputs:
                nodes[f"fit__{version}__test_metrics"] = fit.outputs[version].test_metrics
                nodes[f"fit__{version}__verdict"] = fit.outputs[version].verdict
        for name in self.ctx.simulations:
            node = self.ctx[name]
            if name.startswith("melt_quench_"):
                for port in ("product_check", "density"):
                    if port in node.outputs:
                        nodes[f"{name}__{port}"] = node.outputs[port]
            if name == "grain_boundaries" and "table" in node.outputs:
                nodes["grain_boundaries__table"] = node.outputs.table
            if name == "polycrystal":
                for group in ("build_reports", "gamma_summaries", "interfaces"):
                    for label in (_link(node.outputs, group) or {}):
                        nodes[f"polycrystal__{group}__{label}"] = node.outputs[group][label]
                if "scherrer" in node.outputs:
                    nodes["polycrystal__scherrer"] = node.outputs.scherrer
        for name in self.ctx.characterisation:
            node = self.ctx[name]
            if name == "analysis":
                for key in (_link(node.outputs, "results") or {}):
                    results = node.outputs.results[key]
                    for port in ("density", "coordination_Zr_S", "coordination_Ba_S"):
                        if port in results:
                            nodes[f"analysis__{key}__{port}"] = results[port]
            if name == "scattering" and "scherrer" in node.outputs:
                nodes["scattering__scherrer"] = node.outputs.scherrer
            if name == "grain_boundary_dft" and "table" in node.outputs:
                nodes["grain_boundary_dft__table"] = node.outputs.table
        return nodes

    def results(self):
        self.out("crystal", self.ctx.reference)
        if self.ctx.training_set is not None:
            self.out("training_set", self.ctx.training_set)
        if self.ctx.test_set is not None:
            self.out("test_set", self.ctx.test_set)
        for version, potential in self.ctx.potentials.items():
            self.out(f"potentials.{version}", potential)
        for name, structure in self.ctx.amorphous.items():
            self.out(f"amorphous.{name}", structure)
        summary = campaign_summary(**self._summary_inputs())
        self.out("summary", summary)
        if self.ctx.failed:
            return self.exit_codes.ERROR_STAGES_FAILED.format(details="; ".join(f"{k}: {v}" for k, v in self.ctx.failed.items()))
        return None
