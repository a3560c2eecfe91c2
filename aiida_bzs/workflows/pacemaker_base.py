"""``PacemakerBaseWorkChain`` (``bzs.pacemaker.base``): one pacemaker fit run to its end, whatever the machine does.

A ``BaseRestartWorkChain`` around :class:`~aiida_bzs.calculations.pacemaker.PacemakerCalculation`,
in the style of aiida-quantumespresso's ``PwBaseWorkChain``. Handlers (highest priority first):

- a failure a rerun cannot fix (no metrics, a pacemaker exception, elements that do not match, a
  NaN loss: exit statuses 303, 312, 400, 420): stop at once with ``ERROR_UNRECOVERABLE_FAILURE``;
- out of memory (311, or the scheduler's 110): halve ``backend.batch_size`` (and a
  ``test_batch_size``) and run again, from the interim potential when there is one; at batch size 1
  stop with ``ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE``;
- stopped before the end (the scheduler's wall time 120, pacemaker killed 304, no final potential
  302): continue the fit **from the retrieved interim potential** (the calculation's
  ``interim_potential`` output, a node, so the restart is in the provenance graph) with the
  iterations that remain; without an interim potential (killed before the first iteration) there
  is nothing to continue: stop with ``ERROR_STOPPED_BEFORE_FIRST_ITERATION``;
- ``max_iterations`` reached (410) or the loss on a plateau (411): the potential is the result
  (as ``FitAceWorkChain`` has always accepted), flagged in ``metrics``.

How pacemaker continues (python-ace 0.4.0rc1, ``pyace/generalfit.py``): ``potential: {filename:
FILE}`` loads the B-basis .yaml with its coefficients as the potential to fit (our
``initial_potential_mode: continue``); ``potential: {initial_potential: FILE, <shape keys>}``
grows FILE ladder-wise to the shape (``extend``). A fit stopped mid-run is continued with
``continue`` and ``max_iterations`` reduced by the iterations it ran (counted from its
``metrics.txt``, a lower bound when ``display_step`` > 1); a ladder fit (``ladder`` set, or an
``extend`` start) continues with ``extend`` from the interim basis, each ladder step again with
the full ``max_iterations``, unless the interim basis already has every function of the target
(then ``continue``). The scipy optimiser restarts its curvature estimate, so the loss of a
continued fit may rise for an iteration or two before it falls again.

Numbers come from ``protocols/fit.yaml`` through :meth:`PacemakerBaseWorkChain.get_builder_from_protocol`
(``base.max_iterations``: at most this many pacemaker runs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ExitCode, ProcessHandlerReport, process_handler, while_

from ..calculations.pacemaker import PacemakerCalculation
from ..common.codes import load_code
from ..common.fit_checks import FitInputError, check_fit_inputs, count_basis_functions
from ..common.pacemaker_input import FitParameterError, halve_batch_size, validate_fit_parameters
from ..data.ace_potential import AcePotentialData
from .protocols import get_protocol, recursive_merge

__all__ = ("OPEN_PARAMETER_KEYS", "PacemakerBaseWorkChain", "continuation_parameters", "merge_fit_overrides")

#: ``parameters`` sub-mappings whose keys are free (family names, scipy options, pacemaker's
#: weighting policy, pacemaker's extra loss and backend keys): merged without the strict check
OPEN_PARAMETER_KEYS = ("config_type_weights", "optimizer_options", "weighting", "loss", "backend")

_CALC = PacemakerCalculation.exit_codes
#: exit statuses after which a rerun gives the same failure
UNRECOVERABLE = ("ERROR_OUTPUT_METRICS_MISSING", "ERROR_PACEMAKER_EXCEPTION", "ERROR_ELEMENTS_MISMATCH",
                 "ERROR_NAN_LOSS")


def merge_fit_overrides(protocol: Mapping, overrides: Mapping | None, parameters_path: tuple[str, ...]) -> dict:
    """``protocol`` updated by ``overrides`` with :func:`recursive_merge` (strict: an unknown key is
    a :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError` naming its path).

    The fitting parameters at ``parameters_path`` must be complete (defaults filled in); under them
    the mappings of :data:`OPEN_PARAMETER_KEYS` take any key (merged non-strictly): pacemaker and
    scipy define those, and :func:`validate_fit_parameters` checks the result.
    """
    overrides = copy.deepcopy(dict(overrides or {}))
    holder = overrides
    for key in parameters_path[:-1]:
        holder = holder.get(key) if isinstance(holder.get(key), dict) else {}
    given = holder.get(parameters_path[-1]) if isinstance(holder, dict) else None
    open_parts = {}
    if isinstance(given, dict):
        open_parts = {key: given.pop(key) for key in OPEN_PARAMETER_KEYS if key in given}
    merged = recursive_merge(dict(protocol), overrides, strict=True)
    params = merged
    for key in parameters_path:
        params = params[key]
    for key, value in open_parts.items():
        current = params.get(key)
        params[key] = (recursive_merge(current, value) if isinstance(current, dict) and isinstance(value, dict)
                       else copy.deepcopy(value))
    return merged


def continuation_parameters(parameters: Mapping, interim: AcePotentialData, remaining_iterations: int,
                            elements) -> dict:
    """Fitting parameters that continue a stopped fit from its ``interim`` potential.

    ``continue`` (refit the interim basis) with ``max_iterations`` = ``remaining_iterations`` (at
    least 1); a ladder fit (``ladder`` set or an ``extend`` start) whose interim basis is smaller
    than the target keeps growing it (``extend``) with the full ``max_iterations`` per step.
    """
    params = validate_fit_parameters(parameters)
    ladder = params["ladder"] is not None or params["initial_potential_mode"] == "extend"
    if ladder and sum(interim.n_functions.values()) < count_basis_functions(params, elements):
        params["initial_potential_mode"] = "extend"
        return params
    params["initial_potential_mode"] = "continue"
    params["max_iterations"] = max(1, int(remaining_iterations))
    return params


def _iterations_run(node) -> int:
    """Iterations the stopped calculation ran (last ``iter_num`` of its metrics.txt; 0 if none)."""
    if "metrics" in node.outputs:
        return int(node.outputs.metrics.get("n_iterations") or 0)
    return 0


class PacemakerBaseWorkChain(BaseRestartWorkChain):
    """Run a :class:`PacemakerCalculation` with automated restarts (wall time, out of memory).

    Inputs: ``pacemaker`` (the calculation's inputs: ``training_set``, ``test_set``, ``parameters``,
    ``initial_potential``, ``code``, ``metadata.options`` with ``max_wallclock_seconds`` in s) and
    ``max_iterations`` (most pacemaker runs, default 5). Outputs: those of the last calculation
    (``potential``, ``metrics`` in meV/atom and meV/Å, ``metrics_history``).
    """

    _process_class = PacemakerCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(PacemakerCalculation, namespace="pacemaker")
        spec.expose_outputs(PacemakerCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.exit_code(403, "ERROR_STOPPED_BEFORE_FIRST_ITERATION",
                       message="{calc} stopped ({reason}) before its first iteration, so there is no interim "
                               "potential to continue from: raise max_wallclock_seconds (pacemaker spends 1.5-4 "
                               "min building its TensorFlow graph before the first iteration) or the memory.")
        spec.exit_code(404, "ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE",
                       message="{calc} ran out of memory with backend.batch_size 1: ask the scheduler for more "
                               "memory, or fit a smaller basis.")
        spec.exit_code(405, "ERROR_UNRECOVERABLE_FAILURE",
                       message="{calc} failed in a way a rerun cannot fix: [{status}] {message}")
        spec.exit_code(406, "ERROR_INVALID_RESTART",
                       message="cannot continue from the interim potential of {calc}: {details}")

    @classmethod
    def get_protocol_inputs(cls, protocol: str | None = None, overrides: Mapping | None = None) -> dict:
        """The inputs that ``protocol`` (``fit.yaml``) and ``overrides`` give, as plain values.

        Keys mirror the builder: ``max_iterations`` (most pacemaker runs), ``clean_workdir`` and
        ``pacemaker.parameters`` (complete fitting parameters: cutoff Å, ...). An override key the
        protocol does not have raises ``ProtocolOverrideError``; bad values ``FitParameterError``.
        """
        preset = get_protocol("fit", protocol)
        base = {
            "max_iterations": int((preset.get("base") or {}).get("max_iterations", 5)),
            "clean_workdir": bool((preset.get("base") or {}).get("clean_workdir", False)),
            "pacemaker": {"parameters": validate_fit_parameters(preset["parameters"])},
        }
        merged = merge_fit_overrides(base, overrides, ("pacemaker", "parameters"))
        merged["pacemaker"]["parameters"] = validate_fit_parameters(merged["pacemaker"]["parameters"])
        return merged

    @classmethod
    def get_builder_from_protocol(cls, code, training_set, protocol: str | None = None,
                                  overrides: Mapping | None = None, test_set=None, initial_potential=None,
                                  options: Mapping | None = None):
        """A builder whose inputs hold every number of ``protocol`` (``fit.yaml``) with ``overrides``.

        :param code: the pacemaker code (node or label such as ``'pacemaker@localhost'``).
        :param training_set: ``TrainingSetData`` (energies eV, forces eV/Å).
        :param overrides: e.g. ``{'pacemaker': {'parameters': {'cutoff': 6.5}}, 'max_iterations': 3}``.
        :param options: ``metadata.options`` of the pacemaker jobs (``max_wallclock_seconds`` s, ...).
        :raises ProtocolOverrideError: for an override key the protocol does not have.
        """
        values = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.max_iterations = orm.Int(values["max_iterations"])
        builder.clean_workdir = orm.Bool(values["clean_workdir"])
        builder.pacemaker.code = load_code(code)
        builder.pacemaker.training_set = training_set
        builder.pacemaker.parameters = orm.Dict(values["pacemaker"]["parameters"])
        if test_set is not None:
            builder.pacemaker.test_set = test_set
        if initial_potential is not None:
            builder.pacemaker.initial_potential = initial_potential
        for key, value in (options or {}).items():  # one by one: the defaults (resources) stay
            builder.pacemaker.metadata.options[key] = value
        return builder

    # -- outline ----------------------------------------------------------------------------------
    def setup(self):
        """Copy the calculation inputs into the context, where the handlers change them."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(PacemakerCalculation, "pacemaker"))
        self.ctx.target_iterations = validate_fit_parameters(self.ctx.inputs.parameters.get_dict())["max_iterations"]
        self.ctx.iterations_done = 0  # over the stopped runs whose interim potential was continued

    def results(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        if self.ctx.iteration > 1:
            self.report(f"fit finished after {self.ctx.iteration} pacemaker runs "
                        f"({self.ctx.iterations_done} iterations in the stopped ones)")
        if node.exit_status:
            self.report(f"the result is {node.process_label}<{node.pk}> [{node.exit_status}]: {node.exit_message}")
        return super().results()  # the last run's outputs (also of a 410/411 run, accepted above)

    # -- helpers ----------------------------------------------------------------------------------
    def _current_parameters(self) -> dict:
        return validate_fit_parameters(self.ctx.inputs.parameters.get_dict())

    def _continue_from_interim(self, node) -> ExitCode | None:
        """Point the next run at ``node``'s interim potential with the iterations that remain.

        :returns: an exit code when the interim potential cannot be used with the data, else None.
        """
        interim = node.outputs.interim_potential
        self.ctx.iterations_done += _iterations_run(node)
        remaining = self.ctx.target_iterations - self.ctx.iterations_done
        training_set = self.ctx.inputs.training_set
        params = continuation_parameters(self._current_parameters(), interim, remaining,
                                         self._current_parameters()["elements"] or training_set.elements)
        try:
            check_fit_inputs(training_set, params, self.ctx.inputs.get("test_set"), interim)
        except (FitInputError, FitParameterError) as exc:
            return self.exit_codes.ERROR_INVALID_RESTART.format(calc=f"{node.process_label}<{node.pk}>",
                                                                details=str(exc))
        self.ctx.inputs.initial_potential = interim
        self.ctx.inputs.parameters = orm.Dict(params)
        mode = params["initial_potential_mode"]
        how = (f"{params['max_iterations']} more iterations" if mode == "continue"
               else f"growing it ladder-wise, {params['max_iterations']} iterations per step")
        self.report(f"continuing from the interim potential AcePotentialData<{interim.pk}> of "
                    f"{node.process_label}<{node.pk}> ({_iterations_run(node)} iterations run): {how}")
        return None

    # -- handlers (higher priority first) -----------------------------------------------------------
    @process_handler(priority=600, exit_codes=[_CALC[name] for name in UNRECOVERABLE])
    def handle_unrecoverable(self, node):
        """No metrics, a pacemaker exception, element mismatch, NaN loss: a rerun fails the same way."""
        self.report(f"{node.process_label}<{node.pk}>: {node.exit_message}")
        return ProcessHandlerReport(True, self.exit_codes.ERROR_UNRECOVERABLE_FAILURE.format(
            calc=f"{node.process_label}<{node.pk}>", status=node.exit_status, message=node.exit_message))

    @process_handler(priority=500, exit_codes=[_CALC.ERROR_OUT_OF_MEMORY, _CALC.ERROR_SCHEDULER_OUT_OF_MEMORY])
    def handle_out_of_memory(self, node):
        """Out of memory: halve the batch size (pacemaker evaluates that many structures at once)."""
        halved = halve_batch_size(self._current_parameters())
        if halved is None:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_OUT_OF_MEMORY_AT_BATCH_SIZE_ONE.format(
                calc=f"{node.process_label}<{node.pk}>"))
        if "interim_potential" in node.outputs:
            failed = self._continue_from_interim(node)
            if failed is not None:
                return ProcessHandlerReport(True, failed)
            continued = self._current_parameters()
            continued["backend"] = halved["backend"]
            halved = continued
        self.ctx.inputs.parameters = orm.Dict(halved)
        self.report(f"{node.process_label}<{node.pk}> ran out of memory; running again with batch_size "
                    f"{halved['backend']['batch_size']}")
        return ProcessHandlerReport(True)

    @process_handler(priority=400, exit_codes=[_CALC.ERROR_SCHEDULER_OUT_OF_WALLTIME, _CALC.ERROR_FIT_INTERRUPTED,
                                               _CALC.ERROR_OUTPUT_POTENTIAL_MISSING])
    def handle_interrupted(self, node):
        """Stopped before the end (wall time, killed): continue from the interim potential."""
        if "interim_potential" not in node.outputs:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_STOPPED_BEFORE_FIRST_ITERATION.format(
                calc=f"{node.process_label}<{node.pk}>", reason=node.exit_message or f"exit {node.exit_status}"))
        failed = self._continue_from_interim(node)
        return ProcessHandlerReport(True, failed) if failed is not None else ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=[_CALC.ERROR_MAX_ITERATIONS_REACHED, _CALC.ERROR_LOSS_PLATEAUED])
    def handle_unconverged(self, node):
        """max_iterations reached (410) or the loss on a plateau (411): the potential is the result."""
        self.ctx.is_finished = True
        self.report(f"{node.process_label}<{node.pk}>: {node.exit_message} The potential is the result "
                    f"(metrics.converged = False)")
        return ProcessHandlerReport(True, ExitCode(0))
