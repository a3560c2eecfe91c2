"""``FitAceWorkChain`` (``bzs.fit``): from a labelled dataset to ACE potentials with RMSE,
parity plots and active sets, for the study's two versions in one call.

Per version — ``filtered`` (structures more than ``filter.max_energy_above_min`` eV/atom above
the lowest removed; used for quantitative results) and ``full`` (every structure; more robust
at close contacts) — the chain runs: filter (calcfunction) → train/test split (calcfunction) →
``PacemakerBaseWorkChain`` (pacemaker, restarted after a wall-time kill or out of memory) →
active set (``pace_activeset`` ShellJob on the B-basis .yaml) → parity on the test set
(a ``bzs.job.parity`` job: ArrayData + PNG, per config_type too) → verdict (``bzs.ace.assess_fit`` against
the protocol's ``quality`` thresholds). When the filter removes
nothing the two versions are the same fit and it runs once. When it leaves too few structures for
the filtered fit, the full version is still fitted and a warning says what to add. Numbers come
from ``protocols/fit.yaml``: :meth:`FitAceWorkChain.get_builder_from_protocol` writes every one of
them into the inputs (nothing is read from the YAML at run time); a builder given only ``protocol``
reads the preset when it runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from ..analysis.fit_quality import DEFAULT_THRESHOLDS
from ..calculations.functions.ace import pacemaker_dataset_file
from ..calculations.functions.ace_quality import assess_fit
from ..calculations.functions.training_set import FILTER_KEYS, filter_training_set, split_training_set
from ..calculations.jobs import ParityCalculation, check_job_code, define_job_inputs, job_code_of, job_metadata
from ..calculations.pace_tools import activeset_builder
from ..calculations.pacemaker import PacemakerCalculation
from ..common.codes import MissingCodeError, code_label, load_code
from ..common.fit_checks import FitInputError, check_fit_inputs
from ..common.pacemaker_input import FitParameterError, unmatched_weight_keys, validate_fit_parameters
from ..common.potential_quality import describe_verdict
from ..data.ace_potential import AcePotentialData
from ..data.training_set import DatasetError, TrainingSetData
from .pacemaker_base import PacemakerBaseWorkChain, merge_fit_overrides
from .protocols import ProtocolError, get_protocol, recursive_merge

__all__ = ("FitAceWorkChain", "fit_settings", "minimum_structures", "protocol_settings")

VERSIONS = ("filtered", "full")
#: exit statuses of PacemakerCalculation whose potential is usable (410: max_iterations reached
#: while the loss still fell; 411: the loss had plateaued)
USABLE_FIT_STATUSES = (0, 410, 411)
#: relative difference between pacemaker's test RMSE and the parity's above which the chain says why
METRIC_MISMATCH = 0.05


#: inputs that together hold every number of a protocol (what ``get_builder_from_protocol`` sets)
RECORDED_SETTINGS = ("parameters", "versions", "filter", "split", "min_train_structures", "active_set", "quality")


def fit_settings(inputs: Mapping) -> dict:
    """The settings of a fit: parameters, versions, filter, split, min_train_structures, active_set,
    quality.

    When the inputs hold all of :data:`RECORDED_SETTINGS` and no ``protocol`` (a builder from
    :meth:`FitAceWorkChain.get_builder_from_protocol`), they are the settings: no YAML is read.
    Otherwise the preset ``protocol`` (default ``balanced``) is read and the given inputs are merged
    over it.
    """
    protocol = inputs.get("protocol")
    recorded = protocol is None and all(key in inputs for key in RECORDED_SETTINGS)
    settings = {} if recorded else get_protocol("fit", protocol.value if protocol is not None else None)
    if "parameters" in inputs:
        settings["parameters"] = recursive_merge(settings.get("parameters") or {}, inputs["parameters"].get_dict())
    if "versions" in inputs:
        settings["versions"] = list(inputs["versions"].get_list())
    for key in ("filter", "split"):
        if key in inputs:
            settings[key] = recursive_merge(settings.get(key) or {}, inputs[key].get_dict())
    if "min_train_structures" in inputs:
        settings["min_train_structures"] = int(inputs["min_train_structures"].value)
    if "active_set" in inputs:
        settings["active_set"] = bool(inputs["active_set"].value)
    settings["quality"] = {**DEFAULT_THRESHOLDS, **dict(settings.get("quality") or {})}
    if "quality" in inputs:
        settings["quality"].update(inputs["quality"].get_dict())
    # complete parameters (pacemaker defaults written out), whichever way they came: a preset name
    # (active learning's refits) and get_builder_from_protocol (the campaign's final fit) then give
    # the same PacemakerCalculation inputs, so the second is a cache hit of the first
    settings["parameters"] = validate_fit_parameters(settings.get("parameters") or {})
    return settings


def protocol_settings(protocol: str | None = None, overrides: Mapping | None = None) -> dict:
    """Every number of ``protocol`` (``fit.yaml``) with ``overrides`` merged in, as plain values.

    Keys mirror :class:`FitAceWorkChain`'s inputs: ``parameters`` (complete fitting parameters:
    cutoff Å, ...), ``versions``, ``filter`` (``max_energy_above_min`` eV/atom, ``max_force`` eV/Å,
    ``min_distance`` Å), ``split``, ``min_train_structures``, ``active_set``, ``quality`` (meV/atom,
    meV/Å) and ``base`` (``max_iterations``: most pacemaker runs per version, ``clean_workdir``).
    Overrides merge with :func:`recursive_merge` in strict mode: a key the protocol does not have
    raises :class:`ProtocolOverrideError` naming it (the family names of
    ``parameters.config_type_weights`` and pacemaker's own sub-keys excepted).

    :raises ProtocolError: unknown protocol. :raises ProtocolOverrideError: unknown override key.
    :raises FitParameterError: a fitting parameter with a bad value.
    """
    preset = get_protocol("fit", protocol)
    base = {
        "parameters": validate_fit_parameters(preset["parameters"]),
        "versions": list(preset.get("versions") or VERSIONS),
        "filter": {**{key: None for key in FILTER_KEYS}, **dict(preset.get("filter") or {})},
        "split": {"test_fraction": 0.1, "seed": 0, **dict(preset.get("split") or {})},
        "min_train_structures": int(preset.get("min_train_structures", 1)),
        "active_set": bool(preset.get("active_set", True)),
        "quality": {**DEFAULT_THRESHOLDS, **dict(preset.get("quality") or {})},
        "base": {"max_iterations": 5, "clean_workdir": False, **dict(preset.get("base") or {})},
    }
    merged = merge_fit_overrides(base, overrides, ("parameters",))
    merged["parameters"] = validate_fit_parameters(merged["parameters"])
    merged["filter"] = {key: value for key, value in merged["filter"].items() if value is not None}
    return merged


def split_sizes(n_structures: int, test_fraction: float) -> tuple[int, int]:
    """(train, test) sizes the split calcfunction will produce for ``n_structures``."""
    n_test = int(round(test_fraction * n_structures))
    return n_structures - n_test, n_test


def check_split(n_structures: int, settings: Mapping, label: str) -> str | None:
    """Why ``n_structures`` cannot be split as ``settings['split']`` asks, or None."""
    fraction = float(settings["split"].get("test_fraction", 0.1))
    n_train, n_test = split_sizes(n_structures, fraction)
    minimum = int(settings.get("min_train_structures", 1))
    if n_test < 1:
        return (f"{label}: {n_structures} structures with test_fraction {fraction} leave no test structure; "
                f"need at least {int(round(0.5 / fraction)) if fraction > 0 else 'a positive test_fraction and'} "
                f"structures or a larger test_fraction (or pass test_set)")
    if n_train < minimum:
        return (f"{label}: {n_structures} structures leave {n_train} for training after the test split "
                f"(test_fraction {fraction}); the protocol needs at least {minimum}")
    return None


def minimum_structures(settings: Mapping) -> int:
    """Smallest number of structures that :func:`check_split` accepts for ``settings``."""
    for n in range(1, 100_000):
        if check_split(n, settings, "") is None:
            return n
    return 100_000


def filtered_too_small_message(kept: int, total: int, settings: Mapping) -> str:
    """What the user should add when the filter leaves too few structures for the filtered fit."""
    limit = settings["filter"].get("max_energy_above_min", "?")
    need = minimum_structures(settings)
    return (f"the filter kept {kept} of {total} structures (within {limit} eV/atom of the lowest cohesive "
            f"energy); the filtered fit needs at least {need} (protocol min_train_structures "
            f"{settings.get('min_train_structures', 1)}, test_fraction {settings['split'].get('test_fraction')}). "
            f"Add {need - kept} or more low-energy structures (crystal, rattled or strained cells, relaxed "
            f"amorphous cells), or fit only the full version (--versions full)")


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse at launch what cannot fit: bad protocol/parameters/versions, element or cutoff
    mismatch with the dataset, too few structures for the split."""
    try:
        settings = fit_settings(inputs)
    except ProtocolError as exc:
        return str(exc)
    unknown_quality = sorted(set(settings["quality"]) - set(DEFAULT_THRESHOLDS))
    if unknown_quality:
        return f"unknown quality thresholds {unknown_quality}; allowed: {sorted(DEFAULT_THRESHOLDS)}"
    unknown = sorted(set(settings["versions"]) - set(VERSIONS))
    if unknown or not settings["versions"]:
        return f"versions must be a non-empty subset of {list(VERSIONS)}, got {settings['versions']}"
    training_set = inputs.get("training_set")
    if training_set is None:
        return None
    try:
        check_fit_inputs(training_set, settings["parameters"], inputs.get("test_set"), inputs.get("initial_potential"))
    except (FitInputError, FitParameterError) as exc:
        return str(exc)
    problem = check_job_code(inputs, inputs.get("code"))
    if problem:
        return problem
    if "test_set" not in inputs:
        return check_split(len(training_set), settings, f"training set pk {training_set.pk}")
    return None


class FitAceWorkChain(WorkChain):
    """Fit the filtered and full ACE potentials of a labelled dataset (energies eV, forces eV/Å).

    Outputs per version namespace: ``potential`` (with active set), ``metrics`` (pacemaker's
    train/test RMSE during the fit, meV/atom and meV/Å; convergence, plateau), ``metrics_history``,
    ``test_metrics`` (the test error: parity of the saved potential on the test set, per-atom
    cohesive energy meV/atom and force components meV/Å, overall and ``by_config_type``),
    ``parity`` (ArrayData), ``parity_plot`` (PNG), ``verdict`` (``bzs.ace.assess_fit``),
    ``training_set``, ``test_set``; ``warnings`` (List) when a version had to be skipped.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("training_set", valid_type=TrainingSetData, help="Labelled dataset (eV, eV/Å).")
        spec.input("test_set", valid_type=TrainingSetData, required=False,
                   help="Held-out set; when given, no split is made.")
        spec.input("code", valid_type=orm.AbstractCode, help="The pacemaker code.")
        spec.input("activeset_code", valid_type=orm.AbstractCode, required=False,
                   help=f"pace_activeset code (default: {code_label('pace_activeset')}).")
        spec.input("protocol", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type,
                   help="fast, balanced (default) or stringent (protocols/fit.yaml).")
        spec.input("parameters", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Overrides of the protocol's fitting parameters (merged recursively).")
        spec.input("versions", valid_type=orm.List, required=False, serializer=orm.to_aiida_type,
                   help="Which of ['filtered', 'full'] to fit (protocol default: both).")
        spec.input("filter", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Filter criteria of the filtered version (max_energy_above_min eV/atom, ...).")
        spec.input("split", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="{'test_fraction': 0.1, 'seed': 0}")
        spec.input("min_train_structures", valid_type=orm.Int, required=False, serializer=orm.to_aiida_type,
                   help="Fewest training structures a version may have after the test split (protocol default).")
        spec.input("active_set", valid_type=orm.Bool, required=False, serializer=orm.to_aiida_type,
                   help="Compute the active set (.asi) for extrapolation grades (protocol default: yes).")
        spec.input("initial_potential", valid_type=AcePotentialData, required=False,
                   help="Continue from this potential (e.g. the previous active-learning generation).")
        spec.input("options", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="metadata.options of the pacemaker jobs (e.g. max_wallclock_seconds, s).")
        spec.expose_inputs(PacemakerBaseWorkChain, namespace="base", exclude=("pacemaker",),
                           namespace_options={"required": False, "populate_defaults": True,
                                              "help": "Restarts of each pacemaker fit (PacemakerBaseWorkChain): "
                                                      "max_iterations = most pacemaker runs per version, ..."})
        spec.input("quality", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Overrides of the protocol's verdict thresholds (usable_energy meV/atom, ...).")
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs

        for version in VERSIONS:
            spec.output_namespace(version, required=False, help=f"The {version} potential and its evaluation.")
            spec.output(f"{version}.potential", valid_type=AcePotentialData)
            spec.output(f"{version}.metrics", valid_type=orm.Dict, help="pacemaker's final RMSE, convergence.")
            spec.output(f"{version}.metrics_history", valid_type=orm.ArrayData, required=False)
            spec.output(f"{version}.test_metrics", valid_type=orm.Dict, help="RMSE on the test set.")
            spec.output(f"{version}.parity", valid_type=orm.ArrayData)
            spec.output(f"{version}.parity_plot", valid_type=orm.SinglefileData)
            spec.output(f"{version}.training_set", valid_type=TrainingSetData)
            spec.output(f"{version}.test_set", valid_type=TrainingSetData)
            spec.output(f"{version}.verdict", valid_type=orm.Dict,
                        help="usable / smoke_test / unusable, reasons, test RMSE overall and per config_type.")
        spec.output("warnings", valid_type=orm.List, required=False,
                    help="What the chain could not do as asked (e.g. a filtered version with too few structures).")

        spec.outline(
            cls.setup,
            cls.prepare_datasets,
            cls.run_fits,
            cls.inspect_fits,
            if_(cls.should_compute_active_set)(cls.run_active_sets, cls.inspect_active_sets),
            cls.evaluate,
            cls.inspect_evaluation,
            cls.results,
        )
        spec.exit_code(202, "ERROR_TOO_FEW_STRUCTURES", message="nothing could be fitted: {details}")
        spec.exit_code(201, "ERROR_MISSING_CODE", message="{details}")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_FIT", message="the pacemaker fit of version {version} failed: {details}")
        spec.exit_code(403, "ERROR_SUB_PROCESS_FAILED_PARITY",
                       message="the parity job of version {version} (pk {pk}) failed: {details}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_ACTIVE_SET",
                       message="pace_activeset failed for version {version}: {details}")

    @classmethod
    def get_builder_from_protocol(cls, code, training_set, protocol: str | None = None,
                                  overrides: Mapping | None = None, test_set=None, initial_potential=None,
                                  activeset_code=None, options: Mapping | None = None):
        """A builder whose inputs hold every number of ``protocol`` (``fit.yaml``) with ``overrides``.

        The protocol is read here, once: the node's inputs then record the complete fitting
        parameters, versions, filter, split, min_train_structures, active_set, quality thresholds
        and ``base.max_iterations``, and the chain reads no YAML when it runs.

        :param code: the pacemaker code (node or label such as ``'pacemaker@localhost'``).
        :param training_set: ``TrainingSetData`` (energies eV, forces eV/Å).
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``.
        :param overrides: mapping with the keys of :func:`protocol_settings`, e.g.
            ``{'parameters': {'cutoff': 6.5, 'config_type_weights': {'rss': 0.5}}, 'versions': ['full'],
            'base': {'max_iterations': 3}}``; an unknown key raises ``ProtocolOverrideError``.
        :param options: ``metadata.options`` of the pacemaker jobs (``max_wallclock_seconds`` in s).
        """
        values = protocol_settings(protocol, overrides)
        builder = cls.get_builder()
        builder.code = load_code(code)
        builder.training_set = training_set
        for key in ("parameters", "filter", "split", "quality"):
            builder[key] = orm.Dict(values[key])
        builder.versions = orm.List(list(values["versions"]))
        builder.min_train_structures = orm.Int(values["min_train_structures"])
        builder.active_set = orm.Bool(values["active_set"])
        builder.base.max_iterations = orm.Int(int(values["base"]["max_iterations"]))
        builder.base.clean_workdir = orm.Bool(bool(values["base"]["clean_workdir"]))
        if test_set is not None:
            builder.test_set = test_set
        if initial_potential is not None:
            builder.initial_potential = initial_potential
        if activeset_code is not None:
            builder.activeset_code = load_code(activeset_code)
        if options:
            builder.options = orm.Dict(dict(options))
        return builder

    def setup(self):
        """Resolve the protocol and the codes."""
        self.ctx.settings = fit_settings(self.inputs)
        self.ctx.warnings = []
        self.report(f"fitting versions {self.ctx.settings['versions']} with protocol "
                    f"{self.inputs.protocol.value if 'protocol' in self.inputs else 'default'}")
        if self.ctx.settings.get("active_set", True):
            try:
                self.ctx.activeset_code = (self.inputs.activeset_code if "activeset_code" in self.inputs
                                           else load_code(code_label("pace_activeset")))
            except MissingCodeError as exc:
                return self.exit_codes.ERROR_MISSING_CODE.format(details=str(exc))
        return None

    def prepare_datasets(self):
        """Filter, split and check sizes per version; identical versions share one fit."""
        settings = self.ctx.settings
        self.ctx.sets = {}
        self.ctx.alias = {}
        full = self.inputs.training_set
        for version in settings["versions"]:
            dataset = full
            if version == "filtered":
                try:
                    dataset = filter_training_set(full, orm.Dict(settings["filter"]))
                except DatasetError as exc:  # the filter removed every structure
                    problem = f"{exc}. {filtered_too_small_message(0, len(full), settings)}"
                    if "full" not in settings["versions"]:
                        return self.exit_codes.ERROR_TOO_FEW_STRUCTURES.format(details=problem)
                    self.warn(f"filtered version skipped: {problem}; the full version is still fitted")
                    continue
                self.report(f"filter {settings['filter']} kept {len(dataset)} of {len(full)} structures")
                if "full" in settings["versions"] and len(dataset) == len(full):
                    self.report("the filter removed nothing: 'filtered' and 'full' are the same fit")
                    self.ctx.alias["filtered"] = "full"
                    continue
            if "test_set" in self.inputs:
                self.ctx.sets[version] = {"train": dataset, "test": self.inputs.test_set}
                continue
            problem = check_split(len(dataset), settings, f"{version} set")
            if problem and version == "filtered":
                problem = filtered_too_small_message(len(dataset), len(full), settings)
            if problem:
                if version == "filtered" and "full" in settings["versions"]:
                    self.warn(f"filtered version skipped: {problem}; the full version is still fitted")
                    continue
                return self.exit_codes.ERROR_TOO_FEW_STRUCTURES.format(details=problem)
            self.ctx.sets[version] = split_training_set(dataset, orm.Dict(settings["split"]))
        return None

    def warn(self, message: str) -> None:
        """Report ``message`` and keep it for the ``warnings`` output."""
        self.report(f"WARNING: {message}")
        self.ctx.warnings.append(message)

    def run_fits(self):
        """Submit one PacemakerBaseWorkChain (pacemaker with restarts) per distinct version."""
        futures = {}
        for version, sets in self.ctx.sets.items():
            inputs = AttributeDict(self.exposed_inputs(PacemakerBaseWorkChain, namespace="base"))
            pacemaker = AttributeDict({
                "code": self.inputs.code,
                "training_set": sets["train"],
                "test_set": sets["test"],
                "parameters": orm.Dict(self._version_parameters(version, sets["train"])),
            })
            if "initial_potential" in self.inputs:
                pacemaker.initial_potential = self.inputs.initial_potential
            if "options" in self.inputs:
                pacemaker.metadata = {"options": self.inputs.options.get_dict()}
            inputs.pacemaker = pacemaker
            inputs.metadata = {"call_link_label": f"fit_{version}"}
            futures[f"fit_{version}"] = self.submit(PacemakerBaseWorkChain, **inputs)
            self.report(f"submitted pacemaker fit of {version} (pk {futures[f'fit_{version}'].pk}): "
                        f"{len(sets['train'])} train / {len(sets['test'])} test structures")
        return ToContext(**futures)

    def _version_parameters(self, version: str, training_set) -> dict:
        """The fitting parameters for one version: family weights limited to the families its
        training split holds (the filter or the split may have removed a whole family)."""
        parameters = copy.deepcopy(self.ctx.settings["parameters"])
        weights = parameters.get("config_type_weights") or {}
        absent = unmatched_weight_keys(weights, training_set.config_types)
        if absent:
            self.report(f"{version}: no training structure of {absent}; their weights do not apply")
            parameters["config_type_weights"] = {k: v for k, v in weights.items() if k not in absent}
        return parameters

    def inspect_fits(self):
        """Accept finished fits (also those stopped at max_iterations or on a plateau, flagged in metrics)."""
        self.ctx.potentials = {}
        for version in self.ctx.sets:
            calc = self.ctx[f"fit_{version}"]  # the PacemakerBaseWorkChain
            if calc.exit_status not in USABLE_FIT_STATUSES or "potential" not in calc.outputs:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_FIT.format(
                    version=version, details=f"pk {calc.pk} exit status {calc.exit_status}: {calc.exit_message}")
            runs = sorted((n for n in calc.called if n.process_class is PacemakerCalculation), key=lambda n: n.pk)
            if len(runs) > 1:
                self.report(f"{version}: pacemaker ran {len(runs)} times (restarts: "
                            f"{', '.join(f'pk {n.pk} [{n.exit_status}]' for n in runs[:-1])})")
            last = runs[-1] if runs else calc
            if last.exit_status:
                self.report(f"{version}: {last.exit_message} (potential kept, metrics.converged = False)")
            metrics = calc.outputs.metrics.get_dict()
            self.report(f"{version}: train RMSE {metrics.get('train_rmse_energy', float('nan')):.2f} meV/atom, "
                        f"{metrics.get('train_rmse_forces', float('nan')):.1f} meV/Å")
            self.ctx.potentials[version] = calc.outputs.potential
        return None

    def should_compute_active_set(self):
        return bool(self.ctx.settings.get("active_set", True))

    def run_active_sets(self):
        """pace_activeset on each version's training structures (ShellJob)."""
        futures = {}
        for version, sets in self.ctx.sets.items():
            dataset_file = pacemaker_dataset_file(sets["train"])
            builder = activeset_builder(self.ctx.activeset_code, self.ctx.potentials[version], dataset_file)
            builder.metadata.call_link_label = f"activeset_{version}"
            futures[f"activeset_{version}"] = self.submit(builder)
        return ToContext(**futures)

    def inspect_active_sets(self):
        for version in self.ctx.sets:
            job = self.ctx[f"activeset_{version}"]
            if not job.is_finished_ok or "potential" not in job.outputs:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_ACTIVE_SET.format(
                    version=version, details=f"pk {job.pk} exit status {job.exit_status}: {job.exit_message}")
            self.ctx.potentials[version] = job.outputs.potential
        return None

    def evaluate(self):
        """Parity on the test set, per version: a job each (``bzs.job.parity``), in parallel."""
        code = job_code_of(self.inputs, self.inputs.code)
        futures = {}
        for version, sets in self.ctx.sets.items():
            futures[f"parity_{version}"] = self.submit(
                ParityCalculation, code=code, potential=self.ctx.potentials[version], dataset=sets["test"],
                metadata=job_metadata(self.inputs, f"parity_{version}"))
        return ToContext(**futures)

    def inspect_evaluation(self):
        """Parity (ArrayData, RMSE Dict, PNG) and the verdict, per version."""
        self.ctx.evaluation = {}
        self.ctx.verdicts = {}
        thresholds = orm.Dict(self.ctx.settings["quality"])
        for version in self.ctx.sets:
            potential = self.ctx.potentials[version]
            job = self.ctx[f"parity_{version}"]
            if not job.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_PARITY.format(version=version, pk=job.pk, details=job.exit_message)
            result = {name: job.outputs[name] for name in ("parity", "metrics", "parity_plot")}
            metrics = result["metrics"].get_dict()
            self.report(f"{version}: test RMSE {metrics.get('rmse_energy', float('nan')):.2f} meV/atom, "
                        f"{metrics.get('rmse_forces', float('nan')):.1f} meV/Å on {metrics.get('n_structures')} "
                        f"structures ({metrics.get('definition')})")
            self._explain_metric_mismatch(version, metrics)
            self.ctx.evaluation[version] = result
            verdict = assess_fit(potential, result["metrics"], thresholds)["verdict"]
            self.ctx.verdicts[version] = verdict
            self.report(f"{version}: {describe_verdict(verdict.get_dict())}")
        return None

    def _explain_metric_mismatch(self, version: str, parity: Mapping) -> None:
        """Say why pacemaker's own test RMSE differs from the parity's, when it does."""
        pacemaker = self.ctx[f"fit_{version}"].outputs.metrics.get_dict()
        theirs, ours = pacemaker.get("test_rmse_energy"), parity.get("rmse_energy")
        if theirs is None or ours is None or abs(theirs - ours) <= METRIC_MISMATCH * max(abs(ours), 1e-12):
            return
        self.report(
            f"{version}: pacemaker's test RMSE during the fit was {theirs:.1f} meV/atom, the saved potential's "
            f"is {ours:.1f} meV/atom. The saved one counts: pacemaker evaluates its test set every display_step "
            f"iterations and before 'repulsion: auto' attaches its ZBL core below the shortest training distances, "
            f"which changes test structures with shorter contacts")

    def results(self):
        if self.ctx.warnings:
            self.out("warnings", orm.List(list(self.ctx.warnings)).store())
        for version in self.ctx.settings["versions"]:
            source = self.ctx.alias.get(version, version)
            if source not in self.ctx.sets:
                continue  # skipped (see warnings)
            calc = self.ctx[f"fit_{source}"]
            evaluation = self.ctx.evaluation[source]
            outputs = {
                "potential": self.ctx.potentials[source],
                "metrics": calc.outputs.metrics,
                "test_metrics": evaluation["metrics"],
                "parity": evaluation["parity"],
                "parity_plot": evaluation["parity_plot"],
                "training_set": self.ctx.sets[source]["train"],
                "test_set": self.ctx.sets[source]["test"],
                "verdict": self.ctx.verdicts[source],
            }
            if "metrics_history" in calc.outputs:
                outputs["metrics_history"] = calc.outputs.metrics_history
            for key, node in outputs.items():
                self.out(f"{version}.{key}", node)
