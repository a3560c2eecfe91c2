"""``MeltQuenchWorkChain`` (``bzs.melt_quench``): crystal (or random box) → amorphous BaZrS3 by NPT MD.

The programme — heat, hold the melt, quench at a rate in K/s, optional anneals, equilibrate,
minimise — comes from ``protocols/melt_quench.yaml`` (the study's variants) and is turned into
step counts by a calcfunction. Each stage is a :class:`LammpsBaseWorkChain` that starts from the
previous stage's structure and velocities. After each MD stage the frames' extrapolation grade γ
is computed when the potential has an active set. A failed stage (atoms closer than 1 Å, lost
atoms, temperature runaway, density out of its window, energy drift, γ above an aborting
threshold) ends the work chain with a dedicated exit code, and every output up to the failure —
history, density and temperature curves, stage structures — is kept; once the quench has finished
its structure is the output ``quenched_structure``, whatever happens later. A final minimisation
that stops on its iteration limit or on "linesearch alpha is zero" is accepted (its stop criterion
is in the report). The product is compared with the crystal (``product_check``: amorphous,
recrystallised, gas-like, ...). A potential whose fit verdict is "unusable" is refused unless
``allow_unusable_potential`` is set.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_

from aiida_bzs.analysis.density import mass_density
from aiida_bzs.md.programme import (MdInputError, apply_stage_defaults, build_programme,
                                             quench_stage_index, stage_duration_ps)
from aiida_bzs.analysis.md_sanity import SanityInputError, normalise_sanity
from aiida_bzs.analysis.product_check import DEFAULT_CHECK
from aiida_bzs.calculations.functions import md as mdf
from aiida_bzs.calculations.functions.structures import reference_crystal_problem
from aiida_bzs.calculations.jobs import (
    ExtrapolationGradeCalculation,
    check_job_code,
    define_job_inputs,
    job_code_of,
    job_metadata,
)
from aiida_bzs.common.structure_nodes import (LARGE_STRUCTURE_ATOMS, STRUCTURE_TYPES, atoms_from_structure,
                                             summarise_structure)
from aiida_bzs.data.ace_potential import AcePotentialData

from .lammps_base import (
    SANITY_EXIT_CODES,
    STAGE_INPUTS,
    LammpsBaseWorkChain,
    define_sanity_exit_codes,
    fill_run_inputs,
    potential_gate,
    run_inputs,
)
from .protocols import ProtocolOverrideError, get_protocol, recursive_merge

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
    problem = reference_crystal_problem(inputs.get("reference_crystal"), "reference_crystal")
    if problem:
        return problem
    threshold = inputs.get("gamma_threshold")
    if threshold is not None and threshold.value <= 0:
        return f"gamma_threshold must be > 0, got {threshold.value}"
    sanity = inputs.get("sanity")
    if sanity is not None:
        try:
            normalise_sanity(sanity.get_dict())
        except SanityInputError as exc:
            return str(exc)
    check = inputs.get("product_check")
    if check is not None:
        unknown = sorted(set(check.get_dict()) - set(DEFAULT_CHECK))
        if unknown:
            return f"unknown product_check settings {unknown}; allowed: {sorted(DEFAULT_CHECK)}"
    if potential is not None and potential.has_active_set:
        md = inputs.get("md", {})
        problem = check_job_code(inputs, md.get("lammps", {}).get("code"))
        if problem:
            return problem
    error, _ = potential_gate(potential, inputs.get("allow_unusable_potential"))
    return error


class MeltQuenchWorkChain(WorkChain):
    """Multi-stage NPT melt–quench with an ACE potential in LAMMPS (temperatures K, times ps, density g/cm³)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsBaseWorkChain, namespace="md", exclude=STAGE_INPUTS,
                           namespace_options={"help": "Inputs of every stage run: code, options, settings."})
        spec.input("structure", valid_type=STRUCTURE_TYPES, required=False,
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
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="Run even if the potential's fit verdict is 'unusable' (at your own risk).")
        spec.input("sanity", valid_type=orm.Dict, required=False,
                   help="MD sanity thresholds (analysis/md_sanity.py); reference_density defaults to the "
                        "starting structure's (g/cm³).")
        spec.input("product_check", valid_type=orm.Dict, required=False,
                   help="Thresholds of the product check (analysis/product_check.py DEFAULT_CHECK).")
        spec.input("reference_crystal", valid_type=STRUCTURE_TYPES, required=False,
                   help="The crystal the product is compared with (e.g. bzs.crystal_relax's PBEsol reference); "
                        "default the campaign's experimental Pnma cell.")
        spec.input("ace_reference", valid_type=orm.Bool, default=lambda: orm.Bool(True),
                   help="Also relax the reference crystal with the same potential (cell and positions) and give "
                        "the density ratio against it: the study's same-potential comparison.")
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            if_(cls.random_start)(cls.build_random_start),
            while_(cls.has_next_stage)(
                cls.run_stage,
                cls.inspect_stage,
                if_(cls.has_frames_to_grade)(cls.run_grade, cls.inspect_grade),
                cls.next_stage,
            ),
            if_(cls.should_relax_reference)(cls.relax_reference, cls.inspect_reference),
            cls.finalise,
        )
        spec.output("structure", valid_type=STRUCTURE_TYPES, required=False, help="Final (amorphous) structure.")
        spec.output("quenched_structure", valid_type=STRUCTURE_TYPES, required=False,
                    help="Structure at the end of the quench (kept whatever the later stages do).")
        spec.output("product_check", valid_type=orm.Dict, required=False,
                    help="What the product is: classification (amorphous, recrystallised, gas_like, ...), "
                         "density ratio, Zr/Ba CN, g(r) long-range order vs the crystal.")
        spec.output("density", valid_type=orm.Float, required=False, help="Final density (g/cm³).")
        spec.output("ace_crystal", valid_type=STRUCTURE_TYPES, required=False,
                    help="The reference crystal relaxed with the same potential (its density is the "
                         "same-potential reference of the product's).")
        spec.output("history", valid_type=orm.ArrayData, required=False,
                    help="All stages end to end: time ps, temperature and target K, pressure bar, density g/cm³.")
        spec.output("plot", valid_type=orm.SinglefileData, required=False, help="Temperature and density curves (PNG).")
        spec.output("programme", valid_type=orm.List, required=False, help="The stages with their step counts.")
        spec.output("report", valid_type=orm.Dict, required=False, help="Per-stage summary and failure report.")
        spec.output_namespace("stage_structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                              help="Final structure of each finished stage.")
        spec.output_namespace("gamma", valid_type=orm.ArrayData, dynamic=True,
                              help="Max extrapolation grade γ per frame of each MD stage.")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_STAGE", message="Stage {stage} failed: {detail}")
        spec.exit_code(410, "ERROR_SIMULATION_FAILED",
                       message="The simulation failed in stage {stage}: {detail}. Outputs up to the failure are kept.")
        define_sanity_exit_codes(spec)
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_GRADE",
                       message="the γ job of stage {stage} (pk {pk}) failed: {detail}")
        spec.exit_code(420, "ERROR_EXTRAPOLATION",
                       message="Stage {stage}: max γ {gamma:.3g} above the threshold {threshold}; aborted.")

    @classmethod
    def get_builder_from_protocol(cls, code, potential, structure=None, protocol=None, overrides=None,
                                  options=None, num_mpiprocs=None, job_options=None):
        """A builder filled from ``protocols/melt_quench.yaml``, every number on its inputs.

        :param code: the lmp code (label such as ``'lmp@localhost'`` or node); with
            ``num_mpiprocs`` > 1 an MPI code such as ``lmp-mpi@localhost-mpich``.
        :param overrides: protocol keys (``stages`` replaces the list whole; ``stage_defaults``,
            ``hard_sphere``, ``sanity``, ``product_check`` merge key by key; ``timestep`` fs,
            ``start``, ``lammps_protocol``); an unknown top-level key raises
            :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`.
        :param options: scheduler options of the stage runs (``resources``, ``max_wallclock_seconds`` s),
            over the ``lammps_protocol`` preset of ``lammps_base.yaml``.
        :param job_options: scheduler options of the γ jobs.
        """
        preset = get_protocol("melt_quench", protocol)
        allowed = set(preset) | {"start", "hard_sphere", "sanity", "product_check", "stage_defaults", "lammps_protocol"}
        unknown = sorted(set(overrides or {}) - allowed)
        if unknown:
            raise ProtocolOverrideError(f"unknown melt-quench override(s) {unknown}; keys: {sorted(allowed)}")
        settings = recursive_merge(preset, overrides)
        builder = cls.get_builder()
        fill_run_inputs(builder.md, run_inputs(code, settings.get("lammps_protocol"), options=options,
                                               num_mpiprocs=num_mpiprocs))
        builder.potential = potential
        if structure is not None:
            builder.structure = structure
        if settings.get("start", "structure") == "hard_sphere":
            builder.hard_sphere = orm.Dict(settings.get("hard_sphere", {}))
        builder.stages = orm.List(apply_stage_defaults(settings["stages"], settings.get("stage_defaults")))
        builder.timestep = orm.Float(settings.get("timestep", 1.0))
        if settings.get("sanity"):
            builder.sanity = orm.Dict(settings["sanity"])
        if settings.get("product_check"):
            builder.product_check = orm.Dict(settings["product_check"])
        if job_options:
            builder.job_options = orm.Dict(job_options)
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
        self.ctx.quench_index = quench_stage_index(self.ctx.programme)
        self.ctx.quenched = None
        self.ctx.sanity = None
        self.ctx.to_grade = None
        _, warning = potential_gate(self.inputs.potential, self.inputs.allow_unusable_potential)
        if warning:
            self.report(f"WARNING: {warning}")

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
        if self.ctx.sanity is None:  # the reference density is the programme's start, for every stage
            sanity = normalise_sanity(self.inputs.sanity.get_dict() if "sanity" in self.inputs else None)
            if sanity["reference_density"] is None:
                sanity["reference_density"] = mass_density(atoms_from_structure(self.ctx.structure))
            self.ctx.sanity = orm.Dict(sanity)
        inputs.lammps.sanity = self.ctx.sanity
        inputs.allow_unusable_potential = self.inputs.allow_unusable_potential
        inputs.accept_unconverged_minimisation = orm.Bool(True)  # a minimiser out of iterations has done its job
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
            row["sanity_violations"] = (results.get("sanity") or {}).get("violations", [])
            if results.get("minimisation"):
                row["stop_criterion"] = results["minimisation"].get("criterion")
                row["converged"] = results["minimisation"].get("converged")
        self.ctx.summary.append(row)
        if "structure" in outputs and node.is_finished_ok:
            self.out(f"stage_structures.stage_{index}_{stage['name']}", outputs.structure)

        if not node.is_finished_ok:
            detail = node.exit_message or f"exit status {node.exit_status}"
            sanity = {LammpsBaseWorkChain.exit_codes[name].status: name for name in SANITY_EXIT_CODES}
            if node.exit_status in sanity:
                first = row["sanity_violations"][0] if row.get("sanity_violations") else {}
                start = sum(stage_duration_ps(s) for s in self.ctx.programme[:index])
                when = first.get("time", 0.0)
                detail = (f"stage '{stage['name']}' at {when:.3f} ps of the stage ({start + when:.3f} ps into the "
                          f"programme), step {first.get('step')}: {first.get('message', detail)}")
                self.ctx.failure = (sanity[node.exit_status], {"stage": stage["name"], "detail": detail,
                                                               "time": when, "programme_time": start + when})
            elif node.exit_status == LammpsBaseWorkChain.exit_codes.ERROR_SIMULATION_FAILED.status:
                self.ctx.failure = ("ERROR_SIMULATION_FAILED", {"stage": stage["name"], "detail": detail})
            else:
                self.ctx.failure = ("ERROR_SUB_PROCESS_FAILED_STAGE", {"stage": stage["name"], "detail": detail})
            self.report(f"stage '{stage['name']}' failed: {detail}")
            return

        self.ctx.structure = outputs.structure
        self.ctx.velocities = outputs.velocities if "velocities" in outputs else None
        if index == self.ctx.quench_index:
            self.ctx.quenched = outputs.structure
            self.out("quenched_structure", outputs.structure)
        if row.get("stop_criterion") and not row.get("converged"):
            self.report(f"stage '{stage['name']}': minimisation stopped on '{row['stop_criterion']}'; "
                        "its structure is kept as the result")
        if "trajectory" in outputs and stage["ensemble"] != "minimise" and self.inputs.potential.has_active_set:
            steps = list(outputs.trajectory.get_stepids())
            if "gamma" in outputs and list(outputs.gamma.get_array("step")) == steps:
                self._record_gamma(outputs.gamma)  # LAMMPS computed γ with the dump (settings.gamma_in_dump)
            else:
                self.ctx.to_grade = outputs.trajectory

    def has_frames_to_grade(self):
        return self.ctx.failure is None and self.ctx.to_grade is not None

    def run_grade(self):
        """γ of every dumped frame of the stage: a job (``bzs.job.grade``), not a daemon calcfunction."""
        index, stage = self.ctx.index, self.ctx.programme[self.ctx.index]
        code = job_code_of(self.inputs, self.inputs.md.lammps.code)
        running = self.submit(ExtrapolationGradeCalculation, code=code, potential=self.inputs.potential,
                              trajectory=self.ctx.to_grade,
                              metadata=job_metadata(self.inputs, f"gamma_{index}_{stage['name']}"))
        self.ctx.to_grade = None
        self.report(f"stage {index} '{stage['name']}': γ of its frames in {running.process_label}<{running.pk}>")
        return ToContext(grade_run=running)

    def inspect_grade(self):
        """Record the stage's γ per frame; flag (or abort on) γ above ``gamma_threshold``."""
        stage, node = self.ctx.programme[self.ctx.index], self.ctx.grade_run
        if not node.is_finished_ok:
            self.ctx.failure = ("ERROR_SUB_PROCESS_FAILED_GRADE", {"stage": stage["name"], "pk": node.pk,
                                                        "detail": node.exit_message or f"exit {node.exit_status}"})
            self.report(f"stage '{stage['name']}': the γ job failed: {node.exit_message}")
            return
        self._record_gamma(node.outputs.gamma)

    def _record_gamma(self, gamma: orm.ArrayData) -> None:
        """Output the stage's γ per frame; flag (or abort on) γ above ``gamma_threshold``."""
        stage, row = self.ctx.programme[self.ctx.index], self.ctx.summary[-1]
        self.out(f"gamma.stage_{self.ctx.index}_{stage['name']}", gamma)
        worst = float(gamma.get_array("max_gamma").max())
        row["max_gamma"] = worst
        threshold = self.inputs.get("gamma_threshold")
        if threshold is not None and worst > threshold.value:
            self.ctx.gamma_flags.append(stage["name"])
            if self.inputs.gamma_abort.value:
                self.ctx.failure = ("ERROR_EXTRAPOLATION",
                                    {"stage": stage["name"], "gamma": worst, "threshold": threshold.value})
                self.report(f"stage '{stage['name']}': max γ {worst:.3g} > {threshold.value}; aborting")

    def next_stage(self):
        self.ctx.index += 1

    def should_relax_reference(self):
        return bool(self.inputs.ace_reference.value) and (self.ctx.failure is None or self.ctx.quenched is not None)

    def relax_reference(self):
        """The reference crystal relaxed (cell and positions) with the melt–quench's potential."""
        from .relax import RelaxWorkChain

        from aiida_bzs.calculations.functions.structures import pnma_crystal

        crystal = self.inputs.reference_crystal if "reference_crystal" in self.inputs else pnma_crystal()
        builder = RelaxWorkChain.get_builder()
        builder.md = self.exposed_inputs(LammpsBaseWorkChain, namespace="md")
        builder.structure = crystal
        builder.potential = self.inputs.potential
        builder.relax_type = orm.Str("cell")
        builder.allow_unusable_potential = self.inputs.allow_unusable_potential
        builder.metadata.call_link_label = "ace_reference_relax"
        node = self.submit(builder)
        self.report(f"relaxing the reference crystal with the same potential: {node.process_label}<{node.pk}>")
        return ToContext(reference_relax=node)

    def inspect_reference(self):
        node = self.ctx.reference_relax
        if node.is_finished_ok and "structure" in node.outputs:
            self.ctx.ace_crystal = node.outputs.structure
            self.out("ace_crystal", node.outputs.structure)
        else:
            self.report(f"WARNING: the same-potential crystal relaxation {node.process_label}<{node.pk}> failed "
                        f"[{node.exit_status}] {node.exit_message}; the product is compared with the reference only")

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
        product = self.ctx.structure if self.ctx.failure is None else self.ctx.quenched
        if product is not None:
            report["product"] = "final structure" if self.ctx.failure is None else "quenched structure"
            check = self._check_product(product)
            if check is not None:
                report["classification"] = check["classification"]
        self.out("report", orm.Dict(report).store())  # bookkeeping of the work chain itself
        if self.ctx.failure is not None:
            name, fields = self.ctx.failure
            return self.exit_codes[name].format(**fields)
        self.out("structure", self.ctx.structure)
        self.out("density", mdf.structure_density(self.ctx.structure))
        return None

    def _check_product(self, structure):
        """Compare the product with the crystal (calcfunction ``product_check``) and say loudly what it is."""
        n_atoms = summarise_structure(structure).n_atoms
        if n_atoms > LARGE_STRUCTURE_ATOMS:
            self.report(f"product check skipped: {n_atoms} atoms > {LARGE_STRUCTURE_ATOMS}; run `aiida-bzs analyse` "
                        "on the structure (a job, not a calcfunction, at this size)")
            return None
        params = self.inputs.product_check if "product_check" in self.inputs else orm.Dict(DEFAULT_CHECK)
        extra = {}
        if "reference_crystal" in self.inputs:
            extra["crystal"] = self.inputs.reference_crystal
        if self.ctx.get("ace_crystal") is not None:
            extra["ace_crystal"] = self.ctx.ace_crystal
        check = mdf.product_check(structure, params, **extra)
        self.out("product_check", check)
        kind = check["classification"]
        reasons = "; ".join(check["reasons"])
        if "density_ratio_ace" in check.get_dict():
            self.report(f"density {check['product']['density']:.3f} g/cm³ = {check['density_ratio']:.1%} of the reference "
                        f"crystal's, {check['density_ratio_ace']:.1%} of the crystal relaxed with the same potential "
                        f"({check['ace_crystal_density']:.3f} g/cm³); the study: 92.5 %")
        if kind == "amorphous":
            self.report(f"product: amorphous ({reasons})")
        else:
            self.report(f"WARNING: the product is {kind.upper()}, not the study's amorphous phase: {reasons}")
        return check
