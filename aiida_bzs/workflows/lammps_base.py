"""``LammpsBaseWorkChain`` (``bzs.lammps.base``): one stage run to the end, whatever the machine does.

Handlers (BaseRestartWorkChain):
- neighbour-list overflow: double ``neigh_modify one``/``page`` and rerun;
- lost atoms: rerun once with a larger skin and bigger lists; lost again → the study's failure;
- wall time (LAMMPS stopped cleanly) or an interrupted run: continue from the restart file of
  the stopped run (``final.restart``, else the latest periodic one) and join the segments;
- minimisation not converged: continue from the last structure;
- atoms closer than 1 Å, or lost for good: stop at once with ``ERROR_SIMULATION_FAILED``,
  keeping every output of the failed run.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_
from aiida.plugins import CalculationFactory

from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.calculations.functions.md import merge_segments

LammpsCalculation = CalculationFactory("bzs.lammps")

#: Inputs of a stage run that the composing work chains (melt–quench, relax) set themselves.
STAGE_INPUTS = ("lammps.structure", "lammps.potential", "lammps.parameters", "lammps.velocities",
                "lammps.parent_folder")
#: How much the per-atom neighbour list grows on each overflow, and the skin (Å) added after lost atoms.
NEIGHBOUR_GROWTH = 2
LOST_ATOMS_EXTRA_SKIN = 1.0


class LammpsBaseWorkChain(BaseRestartWorkChain):
    """Run a :class:`LammpsCalculation` stage with automated error handling and restarts."""

    _process_class = LammpsCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsCalculation, namespace="lammps")
        spec.expose_outputs(LammpsCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.exit_code(410, "ERROR_SIMULATION_FAILED",
                       message="The simulation failed as the study defines it: {reason}. All outputs up to "
                               "the failure are attached.")

    def setup(self):
        """Copy the calculation inputs into the context, where handlers change them."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(LammpsCalculation, "lammps"))
        self.ctx.settings = self.ctx.inputs.settings.get_dict() if "settings" in self.ctx.inputs else {}
        self.ctx.segments = []  # calculations whose outputs continue each other (walltime restarts)
        self.ctx.lost_atoms_retried = False

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

    def _fail(self, node, reason: str) -> ProcessHandlerReport:
        """Attach the failed run's outputs and stop with the study's failure exit code."""
        self.ctx.is_finished = True
        self.results()
        return ProcessHandlerReport(True, self.exit_codes.ERROR_SIMULATION_FAILED.format(reason=reason))

    # -- handlers (higher priority first) -----------------------------------------------------------
    @process_handler(priority=600, exit_codes=[LammpsCalculation.exit_codes.ERROR_ATOMS_TOO_CLOSE])
    def handle_atoms_too_close(self, node):
        """Atoms closer than the failure distance: the potential broke; nothing to retry."""
        self.report(f"{node.process_label}<{node.pk}>: {node.exit_message}")
        return self._fail(node, "atoms closer than the failure distance")

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
        """Minimiser stopped on iterations/evaluations: continue from its last structure."""
        self.ctx.inputs.structure = node.outputs.structure
        self._fresh_start()
        self.report(f"minimisation {node.process_label}<{node.pk}> not converged; continuing from its structure")
        return ProcessHandlerReport(True)
