"""``ActiveLearningWorkChain`` (``bzs.active_learning``): iterative training of an ACE potential.

Generation 0 is the starting potential (``initial_potential``, or a fit of ``training_set``);
each further generation explores with the current potential — RSS relaxations (ASE + pyace,
small cells, in a ``bzs.job.explore`` job) and the study's MD families in LAMMPS (``MdSamplingWorkChain``: NVT melts,
melt–quench snapshots, high-temperature crystal and amorphous cells) — selects the structures it
extrapolates most (γ above ``gamma_threshold``, at most ``per_family`` of each family and
``max_selected`` in all; optionally D-optimal via ``pace_select``), labels them with
``DftLabelWorkChain`` (pw.x), merges them into the dataset and refits with ``FitAceWorkChain``.

Leak-free: one test set is fixed at generation 0 (``test_set``, or ``test_fraction`` of the
initial dataset) and passed to every refit, so no generation trains on it and the test errors
of all generations are comparable (``learning_curve``: total and per family, array + plot).
Optionally ``holdout_fraction`` of each generation's new labels never enters training either.
It stops after ``max_generations`` potentials or when no explored structure exceeds the γ
threshold. Every generation's candidates, selection, dataset and potential are outputs under
``generations``. Numbers come from ``protocols/active_learning.yaml``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from ..analysis.learning_curve import overlap
from ..md.sampling import FAMILIES, SamplingInputError, normalise_families
from ..calculations.functions.ace import pacemaker_dataset_file
from ..calculations.functions.active_learning import (
    EXPLORE_DEFAULTS,
    candidates_file,
    learning_curve,
    learning_summary,
    select_candidates,
    take_indices,
)
from ..calculations.functions.sampling import combine_candidates
from ..calculations.functions.structures import pnma_crystal, reference_crystal_problem
from ..calculations.functions.training_set import merge_training_sets, split_training_set
from ..calculations.jobs import (
    ExplorationCalculation,
    ParityCalculation,
    check_job_code,
    define_job_inputs,
    job_code_of,
    job_metadata,
)
from ..calculations.pace_tools import activeset_builder, select_builder
from ..common.codes import MissingCodeError, code_label, load_code
from ..common.potential_quality import check_potential_usable, describe_verdict, potential_verdict
from ..data.ace_potential import AcePotentialData
from ..data.training_set import TrainingSetData
from .fit import FitAceWorkChain
from .label import DftLabelWorkChain
from .lammps_base import fill_run_inputs, run_inputs
from .md_sampling import MdSamplingWorkChain
from .protocols import ProtocolError, ProtocolOverrideError, get_protocol, recursive_merge

__all__ = ("ActiveLearningWorkChain", "learning_settings")

SELECT_METHODS = ("max_gamma", "pace_select")


#: Override keys allowed beside the preset's own (they have no value in the YAML).
EXTRA_SETTINGS = ("fit_parameters",)


def protocol_settings(protocol: str | None = None, overrides: dict | None = None) -> dict:
    """The preset ``protocol`` of ``active_learning.yaml`` with ``overrides`` merged in.

    Top-level keys and ``explore`` keys must exist (a typo raises
    :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`); ``md_families`` entries and
    ``fit_parameters`` may add keys, which their own validators check at launch.
    """
    preset = get_protocol("active_learning", protocol)
    preset.setdefault("fit_parameters", {})
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(preset))
    if unknown:
        raise ProtocolOverrideError(f"unknown active-learning override(s) {unknown}; keys: {sorted(preset)}")
    if "explore" in overrides:
        recursive_merge(EXPLORE_DEFAULTS, recursive_merge(preset.get("explore") or {}, overrides["explore"]),
                        strict=True)
    return recursive_merge(preset, overrides)


def learning_settings(inputs) -> dict:
    """The recorded ``settings`` (``get_builder_from_protocol``), else the protocol preset; then
    the single inputs (``max_generations`` …) on top."""
    protocol = inputs.get("protocol")
    if "settings" in inputs:
        settings = dict(inputs["settings"].get_dict())
    else:
        settings = get_protocol("active_learning", protocol.value if protocol is not None else None)
    for key in ("max_generations", "max_selected"):
        if key in inputs:
            settings[key] = int(inputs[key].value)
    if "gamma_threshold" in inputs:
        settings["gamma_threshold"] = float(inputs["gamma_threshold"].value)
    if "select_method" in inputs:
        settings["select_method"] = inputs["select_method"].value
    if "explore" in inputs:
        settings["explore"] = recursive_merge(settings["explore"], inputs["explore"].get_dict())
    if "md_families" in inputs:
        settings["md_families"] = recursive_merge(settings.get("md_families") or {}, inputs["md_families"].get_dict())
    for key in ("test_fraction", "holdout_fraction"):
        if key in inputs:
            settings[key] = float(inputs[key].value)
    if "per_family" in inputs:
        settings["per_family"] = int(inputs["per_family"].value)
    if "continue_from_previous" in inputs:
        settings["continue_from_previous"] = bool(inputs["continue_from_previous"].value)
    if "fit_parameters" in inputs:
        settings["fit_parameters"] = inputs["fit_parameters"].get_dict()
    settings.setdefault("fit_parameters", {})
    settings["md_active"] = [f for f in FAMILIES if (settings.get("md_families") or {}).get(f)]
    return settings


def label_settings_problem(training_set: TrainingSetData, label_protocol: str) -> str | None:
    """Why labels made with ``label_protocol`` cannot join ``training_set``, or None.

    Labels of one dataset must come from one DFT setting: a different k-point spacing or cutoff
    shifts energies by far more than the fit error, and merging would teach the potential that
    shift (the reference energies catch a different cutoff, not a different k spacing). A set
    that does not record its pw.x protocol (a user's own data) is not judged.
    """
    protocols = training_set.label_protocols
    if not protocols:
        return None
    recorded = ", ".join(sorted(protocols))
    try:
        wanted = get_protocol("label", label_protocol).get("pw_protocol")
    except ProtocolError as exc:
        return str(exc)
    if wanted and protocols != {wanted}:
        return (f"the training set (pk {training_set.pk}) was labelled with the pw.x protocol {recorded!r}, but new "
                f"labels would use {wanted!r} (label_protocol {label_protocol!r}): one dataset needs one DFT setting; "
                f"set label_protocol to a preset whose pw_protocol is {recorded!r}")
    return None


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
    if settings.get("md_families"):
        try:
            normalise_families(settings["md_families"])
        except SamplingInputError as exc:
            return f"md_families: {exc}"
    try:
        recursive_merge(EXPLORE_DEFAULTS, settings["explore"], strict=True)
    except ProtocolOverrideError as exc:
        return f"explore: {exc}"
    for key in ("test_fraction", "holdout_fraction"):
        if not 0.0 <= float(settings.get(key, 0.0)) < 0.5:
            return f"{key} must lie in [0, 0.5), got {settings.get(key)}"
    potential = inputs.get("initial_potential")
    training_set = inputs.get("training_set")
    if potential is not None and training_set is not None:
        missing = sorted(set(training_set.elements) - set(potential.elements))
        if missing:
            return f"the initial potential (elements {potential.elements}) lacks {missing} present in the training set"
    if potential is not None:
        allow = inputs.get("allow_unusable_potential")
        error, _ = check_potential_usable(potential, bool(allow.value) if allow is not None else False)
        if error:
            return f"initial_potential: {error}"
    if training_set is not None:
        problem = label_settings_problem(training_set, settings["label_protocol"])
        if problem:
            return problem
    test_set = inputs.get("test_set")
    if test_set is not None and training_set is not None:
        shared = overlap(training_set.get_arrays(), test_set.get_arrays())
        if shared:
            return (f"the test set (pk {test_set.pk}) shares {len(shared)} of its {len(test_set)} structures with "
                    f"the training set (pk {training_set.pk}), e.g. test index {shared[0]}; a test set must be "
                    "held out: remove them from one of the two (aiida-bzs dataset split)")
    elif training_set is not None and settings.get("test_fraction", 0.0) > 0:
        n_test = int(round(settings["test_fraction"] * len(training_set)))
        if n_test < 1 or n_test >= len(training_set):
            return (f"test_fraction {settings['test_fraction']} of {len(training_set)} structures leaves "
                    f"{n_test} for the fixed test set; give a test_set or more structures")
    problem = check_job_code(inputs, inputs.get("pacemaker_code"))
    if problem:
        return problem
    return reference_crystal_problem(inputs.get("crystal"), "crystal")


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
        spec.input("settings", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Every number of the run (a preset with overrides, from get_builder_from_protocol); "
                        "replaces `protocol`.")
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
        spec.input("test_set", valid_type=TrainingSetData, required=False,
                   help="The fixed, held-out test set of every generation (default: test_fraction of training_set).")
        spec.input("test_fraction", valid_type=orm.Float, required=False, serializer=orm.to_aiida_type,
                   help="Share of the initial dataset fixed as the test set when no test_set is given.")
        spec.input("holdout_fraction", valid_type=orm.Float, required=False, serializer=orm.to_aiida_type,
                   help="Share of each generation's new labels kept out of training (reported separately).")
        spec.input("continue_from_previous", valid_type=orm.Bool, required=False, serializer=orm.to_aiida_type,
                   help="Refit from the previous generation's potential (its basis); else a fresh fit of the protocol.")
        spec.input("per_family", valid_type=orm.Int, required=False, serializer=orm.to_aiida_type,
                   help="At most this many selected structures per config_type and generation.")
        spec.input("crystal", valid_type=orm.StructureData, required=False,
                   help="Reference crystal the MD families start from (bzs.crystal_relax's; default the Pnma cell).")
        spec.input("md_families", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Overrides of the protocol's MD families (nvt_melt, melt_quench, high_temperature).")
        spec.input("lammps_code", valid_type=orm.AbstractCode, required=False,
                   help=f"LAMMPS with pair_style pace for the MD families (default {code_label('lmp')}).")
        spec.input("lammps_options", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="metadata.options of the LAMMPS jobs (resources, max_wallclock_seconds).")
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   serializer=orm.to_aiida_type,
                   help="Explore with an initial_potential whose fit verdict is 'unusable'.")
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs

        spec.output("potential", valid_type=AcePotentialData, help="The last generation's potential.")
        spec.output("training_set", valid_type=TrainingSetData, help="The final, grown dataset.")
        spec.output("summary", valid_type=orm.Dict, help="Per generation: dataset size, γ, selection, RMSE; stop reason.")
        spec.output("test_set", valid_type=TrainingSetData, help="The fixed test set no generation trained on.")
        spec.output_namespace("learning_curve", required=False,
                              help="curve (ArrayData), table (Dict), plot (PNG): test errors per generation and family.")
        spec.output("learning_curve.curve", valid_type=orm.ArrayData)
        spec.output("learning_curve.table", valid_type=orm.Dict)
        spec.output("learning_curve.plot", valid_type=orm.SinglefileData)
        spec.output_namespace("generations", dynamic=True, valid_type=orm.Data,
                              help="gen_<g>_potential, gen_<g>_training_set, gen_<g>_candidates, gen_<g>_selection ...")

        spec.outline(
            cls.setup,
            cls.fix_test_set,
            if_(cls.needs_initial_fit)(cls.fit, cls.inspect_fit).else_(
                if_(cls.needs_active_set)(cls.run_active_set, cls.inspect_active_set),
                cls.evaluate_initial,
                cls.inspect_initial_parity,
            ),
            cls.record_generation,
            while_(cls.should_explore)(
                cls.explore,
                cls.collect_exploration,
                cls.select,
                if_(cls.has_selection)(
                    cls.label,
                    cls.inspect_label,
                    cls.fit,
                    cls.inspect_fit,
                    if_(cls.has_holdout)(cls.evaluate_holdout, cls.inspect_holdout),
                    cls.record_generation,
                ),
            ),
            cls.results,
        )
        spec.exit_code(201, "ERROR_MISSING_CODE", message="{details}")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_FIT", message="the fit of generation {generation} failed: {details}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_ACTIVE_SET", message="pace_activeset failed: {details}")
        spec.exit_code(403, "ERROR_SUB_PROCESS_FAILED_LABEL", message="DFT labelling of generation {generation} failed: {details}")
        spec.exit_code(405, "ERROR_SUB_PROCESS_FAILED_JOB", message="the {task} job (pk {pk}) failed: {details}")
        spec.exit_code(406, "ERROR_SUB_PROCESS_FAILED_EXPLORATION",
                       message="generation {generation} explored nothing usable: {details}")

    @classmethod
    def get_builder_from_protocol(cls, training_set, pacemaker_code, pw_code, protocol: str | None = None,
                                  overrides: dict | None = None, lammps_code=None, job_code=None,
                                  pseudo_family: str | None = None, **inputs):
        """Builder whose ``settings`` input records every number: the preset ``protocol`` of
        ``active_learning.yaml`` with ``overrides`` (same keys, nested merge; unknown keys raise
        :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError` before anything runs).

        Codes are labels or nodes; ``inputs`` sets other ports (``initial_potential``,
        ``test_set``, ``crystal``, ``job_options``, …).
        """
        builder = cls.get_builder()
        builder.settings = orm.Dict(protocol_settings(protocol, overrides))
        if protocol is not None:
            builder.protocol = orm.Str(protocol)
        builder.training_set = training_set
        builder.pacemaker_code = load_code(pacemaker_code)
        builder.pw_code = load_code(pw_code)
        if lammps_code is not None:
            builder.lammps_code = load_code(lammps_code)
        if job_code is not None:
            builder.job_code = load_code(job_code)
        if pseudo_family is not None:
            builder.pseudo_family = orm.Str(pseudo_family)
        for name, value in inputs.items():
            builder[name] = value
        return builder

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
            self.ctx.lammps_code = (self.inputs.lammps_code if "lammps_code" in self.inputs
                                    else load_code(code_label("lmp"))) if self.ctx.settings["md_active"] else None
        except MissingCodeError as exc:
            return self.exit_codes.ERROR_MISSING_CODE.format(details=str(exc))
        self.ctx.crystal = self.inputs.crystal if "crystal" in self.inputs else None
        self.ctx.holdout = None
        self.ctx.parities = {}
        if "initial_potential" in self.inputs:
            self.ctx.potential = self.inputs.initial_potential
            _, warning = check_potential_usable(self.ctx.potential, bool(self.inputs.allow_unusable_potential.value))
            if warning:
                self.report(f"WARNING: {warning}")
        return None

    def fix_test_set(self):
        """The test set of every generation: given, or split off the initial dataset once (seeded)."""
        if "test_set" in self.inputs:
            self.ctx.test_set = self.inputs.test_set
        else:
            fraction = self.ctx.settings.get("test_fraction", 0.1)
            parts = split_training_set(self.ctx.dataset, orm.Dict({"test_fraction": fraction,
                                                                    "seed": self.ctx.settings.get("split_seed", 0)}))
            self.ctx.dataset, self.ctx.test_set = parts["train"], parts["test"]
        self.out("test_set", self.ctx.test_set)
        self.report(f"fixed test set pk {self.ctx.test_set.pk}: {len(self.ctx.test_set)} structures "
                    f"{self.ctx.test_set.config_types}; training on {len(self.ctx.dataset)}")

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
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_ACTIVE_SET.format(details=f"pk {job.pk}: {job.exit_message}")
        self.ctx.potential = job.outputs.potential
        return None

    def _parity(self, dataset, label: str):
        """A parity job (``bzs.job.parity``) of the current potential on ``dataset``."""
        code = job_code_of(self.inputs, self.inputs.pacemaker_code)
        return self.submit(ParityCalculation, code=code, potential=self.ctx.potential, dataset=dataset,
                           metadata=job_metadata(self.inputs, label))

    def evaluate_initial(self):
        """Generation 0 was given: its errors on the fixed test set start the learning curve (a job)."""
        return ToContext(parity_job=self._parity(self.ctx.test_set, "parity_gen_0"))

    def inspect_initial_parity(self):
        job = self.ctx.parity_job
        if not job.is_finished_ok:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_JOB.format(task="parity", pk=job.pk, details=job.exit_message)
        self.ctx.parities["gen_0"] = job.outputs.parity
        self.ctx.summary_nodes["gen_0_test_metrics"] = job.outputs.metrics
        return None

    # -- fit ------------------------------------------------------------------------------------
    def fit(self):
        """FitAceWorkChain on the current dataset (continuing from the current potential)."""
        settings = self.ctx.settings
        builder = FitAceWorkChain.get_builder()
        builder.training_set = self.ctx.dataset
        builder.test_set = self.ctx.test_set
        builder.code = self.inputs.pacemaker_code
        builder.activeset_code = self.ctx.activeset_code
        builder.protocol = orm.Str(settings["fit_protocol"])
        builder.versions = orm.List(list(settings["fit_versions"]))
        if settings["fit_parameters"]:
            builder.parameters = orm.Dict(settings["fit_parameters"])
        if settings.get("continue_from_previous") and "potential" in self.ctx:
            builder.initial_potential = self.ctx.potential
        for name in ("job_code", "job_options"):
            if name in self.inputs:
                builder[name] = self.inputs[name]
        next_generation = self.ctx.generation + (1 if "potential" in self.ctx else 0)
        builder.metadata.call_link_label = f"fit_gen_{next_generation}"
        self.ctx.fit_generation = next_generation
        return ToContext(fit=self.submit(builder))

    def inspect_fit(self):
        fit = self.ctx.fit
        if not fit.is_finished_ok:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_FIT.format(
                generation=self.ctx.fit_generation, details=f"pk {fit.pk} [{fit.exit_status}] {fit.exit_message}")
        present = [v for v in self.ctx.settings["fit_versions"] if v in fit.outputs]
        if not present:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_FIT.format(
                generation=self.ctx.fit_generation, details=f"pk {fit.pk} made none of {self.ctx.settings['fit_versions']}")
        version = present[0]
        if version != self.ctx.settings["fit_versions"][0]:
            self.report(f"the {self.ctx.settings['fit_versions'][0]} version was not fitted (see FitAceWorkChain<{fit.pk}> "
                        f"warnings); continuing with {version}")
        self.ctx.potential = fit.outputs[version].potential
        self.ctx.generation = self.ctx.fit_generation
        g = self.ctx.generation
        self.ctx.summary_nodes[f"gen_{g}_test_metrics"] = fit.outputs[version].test_metrics
        self.ctx.parities[f"gen_{g}"] = fit.outputs[version].parity
        self.report(f"generation {g}: {describe_verdict(potential_verdict(self.ctx.potential))}")
        return None

    def has_holdout(self):
        return self.ctx.holdout is not None

    def evaluate_holdout(self):
        """Errors of the new potential on the held-out new labels so far (a parity job)."""
        return ToContext(parity_job=self._parity(self.ctx.holdout, f"parity_holdout_gen_{self.ctx.generation}"))

    def inspect_holdout(self):
        job, g = self.ctx.parity_job, self.ctx.generation
        if not job.is_finished_ok:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_JOB.format(task="holdout parity", pk=job.pk, details=job.exit_message)
        self.ctx.summary_nodes[f"gen_{g}_holdout_metrics"] = job.outputs.metrics
        self.out(f"generations.gen_{g}_holdout_metrics", job.outputs.metrics)
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
        """RSS relaxations (an exploration job) and the MD families (LAMMPS) with the current potential, in parallel."""
        g = self.ctx.generation
        settings = self.ctx.settings
        self.ctx.explored = {}
        explore = settings["explore"]
        futures = {}
        if int(explore.get("rss", {}).get("count", 0)) or int(explore.get("md", {}).get("seed_count", 0)):
            full = recursive_merge(EXPLORE_DEFAULTS, explore, strict=True)
            futures["rss_job"] = self.submit(
                ExplorationCalculation, code=job_code_of(self.inputs, self.inputs.pacemaker_code),
                potential=self.ctx.potential, seeds=self.ctx.dataset,
                parameters=orm.Dict({"explore": full, "generation": g + 1}),
                metadata=job_metadata(self.inputs, f"explore_gen_{g + 1}"))
        if not settings["md_active"]:
            return ToContext(**futures)
        if self.ctx.crystal is None:
            self.ctx.crystal = pnma_crystal()
        builder = MdSamplingWorkChain.get_builder()
        # run inputs of the protocol's lammps_base preset (wall time, restarts), then the user's options
        options = self.inputs.lammps_options.get_dict() if "lammps_options" in self.inputs else None
        fill_run_inputs(builder.md, run_inputs(self.ctx.lammps_code, settings.get("lammps_protocol"),
                                               options=options))
        builder.potential = self.ctx.potential
        builder.crystal = self.ctx.crystal
        families = dict(settings["md_families"])
        max_frames = families.pop("max_frames", None)
        builder.families = orm.Dict(families)
        if max_frames:
            builder.max_frames = orm.Int(int(max_frames))
        # The loop's own potentials are explored whatever their verdict: finding where they fail is
        # the point of active learning (a user-given initial potential was gated at launch).
        builder.allow_unusable_potential = orm.Bool(True)
        if "job_code" in self.inputs:
            builder.job_code = self.inputs.job_code
        if "job_options" in self.inputs:
            builder.job_options = self.inputs.job_options
        builder.metadata.call_link_label = f"md_sampling_gen_{g + 1}"
        futures["sampling"] = self.submit(builder)
        return ToContext(**futures)

    def collect_exploration(self):
        """RSS and MD candidates with their γ, as one candidate set of the generation."""
        g = self.ctx.generation + 1
        if "rss_job" in self.ctx:
            job = self.ctx.pop("rss_job")
            if job.is_finished_ok:
                self.ctx.explored["a_rss"] = (job.outputs.candidates, job.outputs.max_gamma)
            else:
                self.report(f"exploration {job.process_label}<{job.pk}> failed [{job.exit_status}] {job.exit_message}")
        if "sampling" in self.ctx:
            node = self.ctx.pop("sampling")
            if node.is_finished_ok and "max_gamma" in node.outputs:
                self.ctx.explored["b_md"] = (node.outputs.candidates, node.outputs.max_gamma)
                self.out(f"generations.gen_{g}_md_sampling", node.outputs.summary)
            else:
                self.report(f"MD sampling {node.process_label}<{node.pk}> gave no candidates "
                            f"[{node.exit_status}] {node.exit_message}")
        if not self.ctx.explored:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_EXPLORATION.format(generation=g, details="no RSS and no MD candidate")
        if len(self.ctx.explored) == 1:
            self.ctx.candidates, self.ctx.max_gamma = next(iter(self.ctx.explored.values()))
        else:
            nodes = {}
            for key, (candidates, gamma) in self.ctx.explored.items():
                nodes[f"candidates_{key}"], nodes[f"gamma_{key}"] = candidates, gamma
            combined = combine_candidates(**nodes)
            self.ctx.candidates, self.ctx.max_gamma = combined["candidates"], combined["max_gamma"]
        self.out(f"generations.gen_{g}_candidates", self.ctx.candidates)
        self.out(f"generations.gen_{g}_max_gamma", self.ctx.max_gamma)
        self.report(f"generation {g}: {len(self.ctx.candidates)} candidates {self.ctx.candidates.config_types}")
        return None

    def select(self):
        """Candidates above the γ threshold (ranked), then optionally pace_select's D-optimal subset."""
        g = self.ctx.generation + 1
        settings = self.ctx.settings
        use_pace_select = settings["select_method"] == "pace_select"
        parameters = {"gamma_threshold": settings["gamma_threshold"], "gamma_ceiling": settings.get("gamma_ceiling"),
                      "max_selected": None if use_pace_select else settings["max_selected"],
                      "per_family": settings.get("per_family")}
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
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_LABEL.format(
                generation=g, details=f"pk {job.pk} [{job.exit_status}] {job.exit_message}")
        new = job.outputs.training_set
        self.out(f"generations.gen_{g}_labelled", new)
        fraction = float(self.ctx.settings.get("holdout_fraction", 0.0))
        n_hold = int(round(fraction * len(new)))
        if fraction > 0 and 1 <= n_hold < len(new):
            parts = split_training_set(new, orm.Dict({"test_fraction": fraction,
                                                      "seed": self.ctx.settings.get("split_seed", 0) + g}))
            new = parts["train"]
            self.out(f"generations.gen_{g}_holdout", parts["test"])
            self.ctx.holdout = (parts["test"] if self.ctx.holdout is None
                                else merge_training_sets(a_previous=self.ctx.holdout, b_new=parts["test"]))
            self.report(f"generation {g}: {n_hold} of the new labels held out (never trained on)")
        self.ctx.dataset = merge_training_sets(a_previous=self.ctx.dataset, b_new=new)
        return None

    def results(self):
        self.out("potential", self.ctx.potential)
        self.out("training_set", self.ctx.dataset)
        if self.ctx.parities:
            curve = learning_curve(self.ctx.test_set, **self.ctx.parities)
            for key in ("curve", "table", "plot"):
                self.out(f"learning_curve.{key}", curve[key])
            for row in curve["table"]["generations"]:
                families = ", ".join(f"{f} {v['rmse_energy']:.0f}/{v['rmse_forces']:.0f}"
                                     for f, v in row["per_family"].items() if v["rmse_energy"] is not None)
                self.report(f"generation {row['generation']}: test RMSE {row['rmse_energy']:.1f} meV/atom, "
                            f"{row['rmse_forces']:.0f} meV/Å (per family, meV/atom / meV/Å: {families})")
        self.out("summary", learning_summary(stop_reason=orm.Str(self.ctx.stop_reason), **self.ctx.summary_nodes))
        self.report(f"stopped: {self.ctx.stop_reason}")
