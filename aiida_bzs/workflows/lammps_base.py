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
``allow_unusable_potential`` is set (``common.potential_quality``).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ExitCode, ProcessHandlerReport, process_handler, while_
from aiida.plugins import CalculationFactory

from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.calculations.functions.md import merge_segments
from aiida_bzs.common.potential_quality import check_potential_usable
from aiida_bzs.common.structure_nodes import summarise_structure

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


def validate_inputs(inputs, _ctx=None):
    """Refuse an unusable potential (fit verdict) before any job starts."""
    lammps = inputs.get("lammps", {})
    error, _ = potential_gate(lammps.get("potential"), inputs.get("allow_unusable_potential"))
    return error


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

    def setup(self):
        """Copy the calculation inputs into the context, where handlers change them."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(LammpsCalculation, "lammps"))
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
        neighbour["page"] = max(int(neighbour["page"]) * NEIGHBOUR_GROWTH, 10 * neighbour["one"])
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
