"""``MeltQuenchWorkChain`` (``bzs.melt_quench``): crystal (or random box) → amorphous BaZrS3 by NPT MD.

The programme — heat, hold the melt, quench at a rate in K/s, optional anneals, equilibrate,
minimise — comes from ``protocols/melt_quench.yaml`` (the study's variants) and is turned into
step counts by a calcfunction. Each stage is a :class:`LammpsBaseWorkChain` that starts from the
previous stage's structure and velocities. After each MD stage the frames' extrapolation grade γ
is computed when the potential has an active set. A failed stage (atoms closer than 1 Å, lost
atoms, γ above an aborting threshold) ends the work chain with a dedicated exit code, and every
output up to the failure — history, density and temperature curves, stage structures — is kept.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_

from aiida_bzs.analysis.md_programme import MdInputError, apply_stage_defaults, build_programme
from aiida_bzs.calculations.functions import md as mdf
from aiida_bzs.common.codes import load_code
from aiida_bzs.common.structure_nodes import atoms_from_structure, summarise_structure
from aiida_bzs.data.ace_potential import AcePotentialData

from .lammps_base import STAGE_INPUTS, LammpsBaseWorkChain
from .protocols import get_protocol

#: Composition of a random start without a structure.
DEFAULT_COMPOSITION = "BaZrS3"


def validate_inputs(inputs, _ctx=None):
    """Before submission: a start, a runnable programme, a potential covering the elements."""
    stages, timestep = inputs.get("stages"), inputs.get("timestep")
    if stages is not None:
        try:
            build_programme(stages.get_list(), timestep.value if timestep is not None else 1.0)
        except MdInputError as exc:
            return str(exc)
    structure, hard_sphere = inputs.get("structure"), inputs.get("hard_sphere")
    if structure is None and hard_sphere is None:
        return "give a starting structure, or a hard_sphere Dict for a random start"
    potential = inputs.get("potential")
    if potential is not None:
        if structure is not None:
            elements = set(summarise_structure(structure).elements)
        else:
            from aiida_bzs.structures.rss import parse_composition

            elements = set(parse_composition(hard_sphere.get("composition", DEFAULT_COMPOSITION)))
        missing = sorted(elements - set(potential.elements))
        if missing:
            return (f"the potential has no parameters for {missing} (it covers {potential.elements}); "
                    "use a potential fitted for every element of the structure")
    threshold = inputs.get("gamma_threshold")
    if threshold is not None and threshold.value <= 0:
        return f"gamma_threshold must be > 0, got {threshold.value}"
    return None


class MeltQuenchWorkChain(WorkChain):
    """Multi-stage NPT melt–quench with an ACE potential in LAMMPS (temperatures K, times ps, density g/cm³)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsBaseWorkChain, namespace="md", exclude=STAGE_INPUTS,
                           namespace_options={"help": "Inputs of every stage run: code, options, settings."})
        spec.input("structure", valid_type=orm.StructureData, required=False,
                   help="Starting structure (crystal supercell); with hard_sphere, only its composition and size.")
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential.")
        spec.input("stages", valid_type=orm.List,
                   help="Protocol stages: ensemble, temperature (K), duration (ps) or rate (K/s), ...")
        spec.input("timestep", valid_type=orm.Float, default=lambda: orm.Float(1.0), help="Timestep (fs).")
        spec.input("hard_sphere", valid_type=orm.Dict, required=False,
                   help="Random hard-sphere start: composition, formula_units, density (g/cm³), seed.")
        spec.input("gamma_threshold", valid_type=orm.Float, required=False,
                   help="Flag (or abort with gamma_abort) when a frame's max γ exceeds this.")
        spec.input("gamma_abort", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="Abort at the first stage whose max γ exceeds gamma_threshold.")
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            if_(cls.random_start)(cls.build_random_start),
            while_(cls.has_next_stage)(cls.run_stage, cls.inspect_stage),
            cls.finalise,
        )
        spec.output("structure", valid_type=orm.StructureData, required=False, help="Final (amorphous) structure.")
        spec.output("density", valid_type=orm.Float, required=False, help="Final density (g/cm³).")
        spec.output("history", valid_type=orm.ArrayData, required=False,
                    help="All stages end to end: time ps, temperature and target K, pressure bar, density g/cm³.")
        spec.output("plot", valid_type=orm.SinglefileData, required=False, help="Temperature and density curves (PNG).")
        spec.output("programme", valid_type=orm.List, required=False, help="The stages with their step counts.")
        spec.output("report", valid_type=orm.Dict, required=False, help="Per-stage summary and failure report.")
        spec.output_namespace("stage_structures", valid_type=orm.StructureData, dynamic=True,
                              help="Final structure of each finished stage.")
        spec.output_namespace("gamma", valid_type=orm.ArrayData, dynamic=True,
                              help="Max extrapolation grade γ per frame of each MD stage.")
        spec.exit_code(401, "ERROR_STAGE_FAILED", message="Stage {stage} failed: {detail}")
        spec.exit_code(410, "ERROR_SIMULATION_FAILED",
                       message="The simulation failed in stage {stage}: {detail}. Outputs up to the failure are kept.")
        spec.exit_code(420, "ERROR_EXTRAPOLATION",
                       message="Stage {stage}: max γ {gamma:.3g} above the threshold {threshold}; aborted.")

    @classmethod
    def get_builder_from_protocol(cls, code, potential, structure=None, protocol=None, overrides=None,
                                  options=None):
        """A builder filled from ``protocols/melt_quench.yaml``.

        :param code: the lmp code (label such as ``'lmp@localhost'`` or node).
        :param overrides: replaces protocol keys (``stages``, ``stage_defaults``, ``timestep``,
            ``hard_sphere``, ``start``).
        :param options: metadata options of the stage runs (``resources``, ``max_wallclock_seconds``).
        """
        settings = {**get_protocol("melt_quench", protocol), **(overrides or {})}
        builder = cls.get_builder()
        builder.md.lammps.code = load_code(code)
        if options:
            builder.md.lammps.metadata.options = options
        builder.potential = potential
        if structure is not None:
            builder.structure = structure
        if settings.get("start", "structure") == "hard_sphere":
            builder.hard_sphere = orm.Dict(settings.get("hard_sphere", {}))
        builder.stages = orm.List(apply_stage_defaults(settings["stages"], settings.get("stage_defaults")))
        builder.timestep = orm.Float(settings.get("timestep", 1.0))
        return builder

    # -- outline ----------------------------------------------------------------------------------
    def setup(self):
        """Turn the stages into a programme with step counts (a calcfunction: it is provenance)."""
        self.ctx.programme_node = mdf.stage_programme(self.inputs.stages, self.inputs.timestep)
        self.ctx.programme = self.ctx.programme_node.get_list()
        self.ctx.index = 0
        self.ctx.structure = self.inputs.get("structure")
        self.ctx.velocities = None
        self.ctx.thermo = {}
        self.ctx.summary = []
        self.ctx.failure = None
        self.ctx.gamma_flags = []

    def random_start(self):
        return "hard_sphere" in self.inputs

    def build_random_start(self):
        """A random hard-sphere box with the structure's composition and atom count (if given)."""
        params = dict(self.inputs.hard_sphere.get_dict())
        if self.ctx.structure is not None:
            from collections import Counter
            from math import gcd

            counts = Counter(atoms_from_structure(self.ctx.structure).get_chemical_symbols())
            units = 0
            for n in counts.values():
                units = gcd(units, n)
            params["composition"] = "".join(f"{el}{n // units}" for el, n in sorted(counts.items()))
            params["formula_units"] = units
        self.ctx.structure = mdf.hard_sphere_start(orm.Dict(params))

    def has_next_stage(self):
        return self.ctx.failure is None and self.ctx.index < len(self.ctx.programme)

    def run_stage(self):
        """Run stage ``index`` from the previous stage's structure (and velocities, for MD)."""
        stage = self.ctx.programme[self.ctx.index]
        inputs = AttributeDict(self.exposed_inputs(LammpsBaseWorkChain, namespace="md"))
        inputs.lammps = AttributeDict(inputs.lammps)
        inputs.lammps.structure = self.ctx.structure
        inputs.lammps.potential = self.inputs.potential
        inputs.lammps.parameters = orm.Dict(stage)
        if self.ctx.velocities is not None and stage["ensemble"] != "minimise":
            inputs.lammps.velocities = self.ctx.velocities
        inputs.metadata = {"call_link_label": f"stage_{self.ctx.index}_{stage['name']}"}
        running = self.submit(LammpsBaseWorkChain, **inputs)
        self.report(f"stage {self.ctx.index} '{stage['name']}' ({stage['ensemble']}): {running.process_label}<{running.pk}>")
        return ToContext(stage_run=running)

    def inspect_stage(self):
        """Keep the stage's outputs; stop on failure; compute γ per frame when an active set exists."""
        index, stage = self.ctx.index, self.ctx.programme[self.ctx.index]
        node = self.ctx.stage_run
        outputs = node.outputs
        if "thermo" in outputs:
            self.ctx.thermo[f"stage_{index}"] = outputs.thermo
        row = {"name": stage["name"], "ensemble": stage["ensemble"], "process": node.pk,
               "exit_status": node.exit_status}
        if "results" in outputs:
            results = outputs.results.get_dict()
            row.update({k: results.get(k) for k in ("final_step", "temperature", "pressure", "density",
                                                      "potential_energy", "wall_time_s")})
            row["failure"] = results.get("failure")
        self.ctx.summary.append(row)
        if "structure" in outputs and node.is_finished_ok:
            self.out(f"stage_structures.stage_{index}_{stage['name']}", outputs.structure)

        if not node.is_finished_ok:
            detail = node.exit_message or f"exit status {node.exit_status}"
            if node.exit_status == LammpsBaseWorkChain.exit_codes.ERROR_SIMULATION_FAILED.status:
                self.ctx.failure = ("ERROR_SIMULATION_FAILED", {"stage": stage["name"], "detail": detail})
            else:
                self.ctx.failure = ("ERROR_STAGE_FAILED", {"stage": stage["name"], "detail": detail})
            self.report(f"stage '{stage['name']}' failed: {detail}")
            return

        self.ctx.structure = outputs.structure
        self.ctx.velocities = outputs.velocities if "velocities" in outputs else None
        if "trajectory" in outputs and stage["ensemble"] != "minimise" and self.inputs.potential.has_active_set:
            gamma = mdf.extrapolation_grades(outputs.trajectory, self.inputs.potential)
            self.out(f"gamma.stage_{index}_{stage['name']}", gamma)
            worst = float(gamma.get_array("max_gamma").max())
            row["max_gamma"] = worst
            threshold = self.inputs.get("gamma_threshold")
            if threshold is not None and worst > threshold.value:
                self.ctx.gamma_flags.append(stage["name"])
                if self.inputs.gamma_abort.value:
                    self.ctx.failure = ("ERROR_EXTRAPOLATION",
                                        {"stage": stage["name"], "gamma": worst, "threshold": threshold.value})
                    self.report(f"stage '{stage['name']}': max γ {worst:.3g} > {threshold.value}; aborting")
                    return
        self.ctx.index += 1

    def finalise(self):
        """History, curves and report (also after a failure); the final structure and its density."""
        self.out("programme", self.ctx.programme_node)
        if self.ctx.thermo:
            history = mdf.stage_history(self.ctx.programme_node, **self.ctx.thermo)
            self.out("history", history["history"])
            self.out("plot", history["plot"])
        report = {"stages": self.ctx.summary, "gamma_flagged_stages": self.ctx.gamma_flags,
                  "failed": self.ctx.failure is not None}
        if self.ctx.failure is not None:
            report["failure"] = {"exit_code": self.ctx.failure[0], **self.ctx.failure[1]}
        self.out("report", orm.Dict(report).store())  # bookkeeping of the work chain itself
        if self.ctx.failure is not None:
            name, fields = self.ctx.failure
            return self.exit_codes[name].format(**fields)
        self.out("structure", self.ctx.structure)
        self.out("density", mdf.structure_density(self.ctx.structure))
        return None
