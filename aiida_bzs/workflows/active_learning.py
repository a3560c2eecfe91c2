"""``ActiveLearningWorkChain`` (``bzs.active_learning``): iterative training of an ACE potential.

Generation 0 is the starting potential (``initial_potential``, or a fit of ``training_set``);
each further generation explores with the current potential (RSS relaxations and short MD,
ASE + pyace), selects the structures it extrapolates most (γ above ``gamma_threshold``, at most
``max_selected``; optionally D-optimal via ``pace_select``), labels them with
``DftLabelWorkChain`` (pw.x), merges them into the dataset and refits with ``FitAceWorkChain``.
It stops after ``max_generations`` potentials or when no explored structure exceeds the γ
threshold. Every generation's candidates, selection, dataset and potential are outputs under
``generations``. Numbers come from ``protocols/active_learning.yaml``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from ..calculations.functions.active_learning import (
    candidates_file,
    explore_with_potential,
    learning_summary,
    select_candidates,
    take_indices,
)
from ..calculations.functions.ace import pacemaker_dataset_file
from ..calculations.functions.training_set import merge_training_sets
from ..calculations.pace_tools import activeset_builder, select_builder
from ..common.codes import MissingCodeError, code_label, load_code
from ..data.ace_potential import AcePotentialData
from ..data.training_set import TrainingSetData
from .fit import FitAceWorkChain, deep_update
from .label import DftLabelWorkChain
from .protocols import ProtocolError, get_protocol

__all__ = ("ActiveLearningWorkChain", "learning_settings")

SELECT_METHODS = ("max_gamma", "pace_select")


def learning_settings(inputs) -> dict:
    """Protocol preset with the user's overrides applied."""
    protocol = inputs.get("protocol")
    settings = get_protocol("active_learning", protocol.value if protocol is not None else None)
    for key in ("max_generations", "max_selected"):
        if key in inputs:
            settings[key] = int(inputs[key].value)
    if "gamma_threshold" in inputs:
        settings["gamma_threshold"] = float(inputs["gamma_threshold"].value)
    if "select_method" in inputs:
        settings["select_method"] = inputs["select_method"].value
    if "explore" in inputs:
        settings["explore"] = deep_update(settings["explore"], inputs["explore"].get_dict())
    settings["fit_parameters"] = inputs["fit_parameters"].get_dict() if "fit_parameters" in inputs else {}
    return settings


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse at launch: unknown protocol, generation limit < 1, bad threshold or method."""
    try:
        settings = learning_settings(inputs)
    except ProtocolError as exc:
        return str(exc)
    if settings["max_generations"] < 1:
        return f"max_generations must be >= 1 (generation 0 is the starting potential), got {settings['max_generations']}"
    if settings["gamma_threshold"] <= 0:
        return f"gamma_threshold must be positive, got {settings['gamma_threshold']}"
    if settings["max_selected"] < 1:
        return f"max_selected must be >= 1, got {settings['max_selected']}"
    if settings["select_method"] not in SELECT_METHODS:
        return f"select_method must be one of {SELECT_METHODS}, got {settings['select_method']!r}"
    potential = inputs.get("initial_potential")
    training_set = inputs.get("training_set")
    if potential is not None and training_set is not None:
        missing = sorted(set(training_set.elements) - set(potential.elements))
        if missing:
            return f"the initial potential (elements {potential.elements}) lacks {missing} present in the training set"
    return None


class ActiveLearningWorkChain(WorkChain):
    """Refine an ACE potential generation by generation (energies eV, forces eV/Å, γ dimensionless)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("training_set", valid_type=TrainingSetData, help="Initial labelled dataset.")
        spec.input("initial_potential", valid_type=AcePotentialData, required=False,
                   help="Generation 0; without it, generation 0 is fitted from training_set.")
        spec.input("pacemaker_code", valid_type=orm.AbstractCode)
        spec.input("activeset_code", valid_type=orm.AbstractCode, required=False,
                   help=f"default {code_label('pace_activeset')}")
        spec.input("select_code", valid_type=orm.AbstractCode, required=False,
                   help=f"pace_select (for select_method pace_select), default {code_label('pace_select')}")
        spec.input("pw_code", valid_type=orm.AbstractCode, help="pw.x for the DFT labels.")
        spec.input("pseudo_family", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type)
        spec.input("protocol", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type,
                   help="fast, balanced (default) or stringent (protocols/active_learning.yaml).")
        spec.input("max_generations", valid_type=orm.Int, required=False, serializer=orm.to_aiida_type,
                   help="Number of potentials, generation 0 included.")
        spec.input("gamma_threshold", valid_type=orm.Float, required=False, serializer=orm.to_aiida_type)
        spec.input("max_selected", valid_type=orm.Int, required=False, serializer=orm.to_aiida_type,
                   help="At most this many structures labelled per generation.")
        spec.input("select_method", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type,
                   help="max_gamma (rank by γ) or pace_select (D-optimal among those above threshold).")
        spec.input("explore", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Overrides of the exploration settings (rss, relax, md, seed).")
        spec.input("fit_parameters", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Overrides of the fit protocol's pacemaker parameters.")
        spec.input("label_overrides", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Extra DftLabelWorkChain inputs: kpoints_distance (Å⁻¹), parameter_overrides.")
        spec.inputs.validator = validate_inputs

        spec.output("potential", valid_type=AcePotentialData, help="The last generation's potential.")
        spec.output("training_set", valid_type=TrainingSetData, help="The final, grown dataset.")
        spec.output("summary", valid_type=orm.Dict, help="Per generation: dataset size, γ, selection, RMSE; stop reason.")
        spec.output_namespace("generations", dynamic=True, valid_type=orm.Data,
                              help="gen_<g>_potential, gen_<g>_training_set, gen_<g>_candidates, gen_<g>_selection ...")

        spec.outline(
            cls.setup,
            if_(cls.needs_initial_fit)(cls.fit, cls.inspect_fit).else_(
                if_(cls.needs_active_set)(cls.run_active_set, cls.inspect_active_set)),
            cls.record_generation,
            while_(cls.should_explore)(
                cls.explore,
                cls.select,
                if_(cls.has_selection)(
                    cls.label,
                    cls.inspect_label,
                    cls.fit,
                    cls.inspect_fit,
                    cls.record_generation,
                ),
            ),
            cls.results,
        )
        spec.exit_code(302, "ERROR_MISSING_CODE", message="{details}")
        spec.exit_code(310, "ERROR_FIT_FAILED", message="the fit of generation {generation} failed: {details}")
        spec.exit_code(320, "ERROR_ACTIVE_SET_FAILED", message="pace_activeset failed: {details}")
        spec.exit_code(330, "ERROR_LABEL_FAILED", message="DFT labelling of generation {generation} failed: {details}")
        spec.exit_code(340, "ERROR_SELECT_FAILED", message="pace_select failed in generation {generation}: {details}")

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self):
        self.ctx.settings = learning_settings(self.inputs)
        self.ctx.generation = 0
        self.ctx.dataset = self.inputs.training_set
        self.ctx.summary_nodes = {}
        self.ctx.stop_reason = None
        self.ctx.selected = None
        try:
            self.ctx.activeset_code = (self.inputs.activeset_code if "activeset_code" in self.inputs
                                       else load_code(code_label("pace_activeset")))
            if self.ctx.settings["select_method"] == "pace_select":
                self.ctx.select_code = (self.inputs.select_code if "select_code" in self.inputs
                                        else load_code(code_label("pace_select")))
        except MissingCodeError as exc:
            return self.exit_codes.ERROR_MISSING_CODE.format(details=str(exc))
        if "initial_potential" in self.inputs:
            self.ctx.potential = self.inputs.initial_potential
        return None

    def needs_initial_fit(self):
        return "initial_potential" not in self.inputs

    def needs_active_set(self):
        return not self.ctx.potential.has_active_set

    def run_active_set(self):
        """The given potential lacks an active set: build it on the initial dataset."""
        builder = activeset_builder(self.ctx.activeset_code, self.ctx.potential,
                                    pacemaker_dataset_file(self.ctx.dataset))
        builder.metadata.call_link_label = "activeset_gen_0"
        return ToContext(activeset=self.submit(builder))

    def inspect_active_set(self):
        job = self.ctx.activeset
        if not job.is_finished_ok or "potential" not in job.outputs:
            return self.exit_codes.ERROR_ACTIVE_SET_FAILED.format(details=f"pk {job.pk}: {job.exit_message}")
        self.ctx.potential = job.outputs.potential
        return None

    # -- fit ------------------------------------------------------------------------------------
    def fit(self):
        """FitAceWorkChain on the current dataset (continuing from the current potential)."""
        settings = self.ctx.settings
        builder = FitAceWorkChain.get_builder()
        builder.training_set = self.ctx.dataset
        builder.code = self.inputs.pacemaker_code
        builder.activeset_code = self.ctx.activeset_code
        builder.protocol = orm.Str(settings["fit_protocol"])
        builder.versions = orm.List(list(settings["fit_versions"]))
        if settings["fit_parameters"]:
            builder.parameters = orm.Dict(settings["fit_parameters"])
        if settings.get("continue_from_previous") and "potential" in self.ctx:
            builder.initial_potential = self.ctx.potential
        next_generation = self.ctx.generation + (1 if "potential" in self.ctx else 0)
        builder.metadata.call_link_label = f"fit_gen_{next_generation}"
        self.ctx.fit_generation = next_generation
        return ToContext(fit=self.submit(builder))

    def inspect_fit(self):
        fit = self.ctx.fit
        if not fit.is_finished_ok:
            return self.exit_codes.ERROR_FIT_FAILED.format(
                generation=self.ctx.fit_generation, details=f"pk {fit.pk} [{fit.exit_status}] {fit.exit_message}")
        version = self.ctx.settings["fit_versions"][0]
        self.ctx.potential = fit.outputs[version].potential
        self.ctx.generation = self.ctx.fit_generation
        self.ctx.summary_nodes[f"gen_{self.ctx.generation}_test_metrics"] = fit.outputs[version].test_metrics
        return None

    def record_generation(self):
        g = self.ctx.generation
        self.out(f"generations.gen_{g}_potential", self.ctx.potential)
        self.out(f"generations.gen_{g}_training_set", self.ctx.dataset)
        self.ctx.summary_nodes[f"gen_{g}_potential"] = self.ctx.potential
        self.ctx.summary_nodes[f"gen_{g}_training_set"] = self.ctx.dataset
        self.report(f"generation {g}: potential pk {self.ctx.potential.pk}, {len(self.ctx.dataset)} structures")

    # -- loop -----------------------------------------------------------------------------------
    def should_explore(self):
        if self.ctx.stop_reason:
            return False
        if self.ctx.generation + 1 >= self.ctx.settings["max_generations"]:
            self.ctx.stop_reason = f"generation limit ({self.ctx.settings['max_generations']} potentials)"
            return False
        return True

    def explore(self):
        """RSS relaxations and MD with the current potential (calcfunction, ASE + pyace)."""
        g = self.ctx.generation
        result = explore_with_potential(self.ctx.potential, self.ctx.dataset,
                                        orm.Dict(self.ctx.settings["explore"]), orm.Int(g + 1))
        self.ctx.candidates = result["candidates"]
        self.ctx.max_gamma = result["max_gamma"]
        self.out(f"generations.gen_{g + 1}_candidates", self.ctx.candidates)
        self.out(f"generations.gen_{g + 1}_max_gamma", self.ctx.max_gamma)

    def select(self):
        """Candidates above the γ threshold (ranked), then optionally pace_select's D-optimal subset."""
        g = self.ctx.generation + 1
        settings = self.ctx.settings
        use_pace_select = settings["select_method"] == "pace_select"
        parameters = {"gamma_threshold": settings["gamma_threshold"], "gamma_ceiling": settings.get("gamma_ceiling"),
                      "max_selected": None if use_pace_select else settings["max_selected"]}
        result = select_candidates(self.ctx.candidates, self.ctx.max_gamma, orm.Dict(parameters))
        summary = result["summary"].get_dict()
        self.out(f"generations.gen_{g}_selection", result["summary"])
        self.ctx.summary_nodes[f"gen_{g}_selection"] = result["summary"]
        if "selected" not in result:
            self.ctx.selected = None
            self.ctx.stop_reason = (f"no explored structure above γ = {settings['gamma_threshold']} "
                                    f"(largest {summary['max_gamma']:.3g})")
            self.report(self.ctx.stop_reason)
            return None
        self.ctx.selected = result["selected"]
        if use_pace_select and len(self.ctx.selected) > settings["max_selected"]:
            builder = select_builder(self.ctx.select_code, self.ctx.potential, candidates_file(self.ctx.selected),
                                     settings["max_selected"])
            builder.metadata.call_link_label = f"pace_select_gen_{g}"
            return ToContext(pace_select=self.submit(builder))
        return None

    def has_selection(self):
        if self.ctx.selected is None:
            return False
        if "pace_select" in self.ctx:
            job = self.ctx.pop("pace_select")
            if not job.is_finished_ok or "selected" not in job.outputs:
                self.report(f"pace_select pk {job.pk} failed ({job.exit_message}); keeping the γ ranking")
                self.ctx.selected = take_indices(self.ctx.selected, orm.List(list(range(self.ctx.settings["max_selected"]))))
            else:
                self.ctx.selected = take_indices(self.ctx.selected, job.outputs.selected)
        return True

    def label(self):
        """DFT labels for the selected structures, with the dataset's isolated-atom energies."""
        g = self.ctx.generation + 1
        self.out(f"generations.gen_{g}_selected", self.ctx.selected)
        builder = DftLabelWorkChain.get_builder()
        builder.training_set = self.ctx.selected
        builder.code = self.inputs.pw_code
        if "pseudo_family" in self.inputs:
            builder.pseudo_family = self.inputs.pseudo_family
        builder.protocol = orm.Str(self.ctx.settings["label_protocol"])
        references = self.ctx.dataset.reference_energies
        if references:
            builder.reference_energies = orm.Dict(references)
            builder.compute_reference_energies = orm.Bool(False)
        overrides = self.inputs.label_overrides.get_dict() if "label_overrides" in self.inputs else {}
        if "kpoints_distance" in overrides:
            builder.kpoints_distance = orm.Float(overrides["kpoints_distance"])
        if "parameter_overrides" in overrides:
            builder.parameter_overrides = orm.Dict(overrides["parameter_overrides"])
        builder.metadata.call_link_label = f"label_gen_{g}"
        self.report(f"generation {g}: labelling {len(self.ctx.selected)} structures")
        return ToContext(label=self.submit(builder))

    def inspect_label(self):
        g = self.ctx.generation + 1
        job = self.ctx.label
        if "training_set" not in job.outputs:
            return self.exit_codes.ERROR_LABEL_FAILED.format(
                generation=g, details=f"pk {job.pk} [{job.exit_status}] {job.exit_message}")
        new = job.outputs.training_set
        self.out(f"generations.gen_{g}_labelled", new)
        self.ctx.dataset = merge_training_sets(a_previous=self.ctx.dataset, b_new=new)
        return None

    def results(self):
        self.out("potential", self.ctx.potential)
        self.out("training_set", self.ctx.dataset)
        self.out("summary", learning_summary(stop_reason=orm.Str(self.ctx.stop_reason), **self.ctx.summary_nodes))
        self.report(f"stopped: {self.ctx.stop_reason}")
