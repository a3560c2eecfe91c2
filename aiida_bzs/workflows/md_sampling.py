"""``MdSamplingWorkChain`` (``bzs.md_sampling``): the study's MD training families, run in LAMMPS.

Three of the study's six training families come from MD with the current potential
(campaign.md §1): ``nvt_melt`` — liquids at 3500–4500 K in cells 1.05–1.20 × the crystal volume;
``melt_quench`` — snapshots along an NPT quench of a melt; ``high_temperature`` — crystal and
amorphous cells held hot (NPT). Each run is a :class:`LammpsBaseWorkChain` on the computer of the
``md`` code (not ASE in the daemon); dumped frames at the family's interval become unlabelled
candidates with the family as ``config_type``; frames with atoms closer than 1 Å (the study's
failure) are dropped, and a run that fails keeps the frames it made before failing. With an
active set, each candidate gets its largest γ (a ``bzs.job.grade`` job per run) so the active-learning loop can select by γ.
Settings: ``md.sampling.FAMILY_DEFAULTS``, set per protocol in ``active_learning.yaml``.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_

from ..md.sampling import SamplingInputError, family_runs, normalise_families
from ..calculations.functions.sampling import (
    combine_candidates,
    sampling_summary,
    trajectory_candidates,
)
from ..calculations.functions.structures import make_supercell, strain
from ..calculations.jobs import ExtrapolationGradeCalculation, check_job_code, define_job_inputs, job_code_of, job_metadata
from ..calculations.functions.training_set import merge_training_sets
from ..data.ace_potential import AcePotentialData
from ..data.training_set import TrainingSetData
from .lammps_base import STAGE_INPUTS, LammpsBaseWorkChain, fill_run_inputs, potential_gate, run_inputs
from .protocols import ProtocolOverrideError, get_protocol, recursive_merge

__all__ = ("MdSamplingWorkChain",)

#: Closest approach (Å) a kept frame may have: the study's failure criterion.
MIN_DISTANCE = 1.0


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Known families with sane numbers; a potential that is not "unusable"; elements covered."""
    try:
        normalise_families(inputs["families"].get_dict())
    except SamplingInputError as exc:
        return str(exc)
    except KeyError:
        return "give the MD families to run (families Dict)"
    potential = inputs.get("potential")
    error, _ = potential_gate(potential, inputs.get("allow_unusable_potential"))
    if error:
        return error
    crystal = inputs.get("crystal")
    if potential is not None and crystal is not None:
        missing = sorted(set(crystal.get_kind_names()) - set(potential.elements))
        if missing:
            return f"the potential (elements {potential.elements}) has no parameters for {missing}"
    if potential is not None and potential.has_active_set:
        return check_job_code(inputs, inputs.get("md", {}).get("lammps", {}).get("code"))
    return None


class MdSamplingWorkChain(WorkChain):
    """MD training families (temperatures K, durations ps, intervals ps) → candidates with config_type."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsBaseWorkChain, namespace="md", exclude=STAGE_INPUTS,
                           namespace_options={"help": "Inputs of every LAMMPS run: code, options, settings."})
        spec.input("potential", valid_type=AcePotentialData, help="The current ACE potential (with active set for γ).")
        spec.input("crystal", valid_type=orm.StructureData,
                   help="The reference crystal (e.g. bzs.crystal_relax's); repeated by families.repeat.")
        spec.input("amorphous", valid_type=orm.StructureData, required=False,
                   help="Amorphous cell for high_temperature; default: the melt_quench family's product.")
        spec.input("families", valid_type=orm.Dict, serializer=orm.to_aiida_type,
                   help="{nvt_melt: {...}, melt_quench: {...}, high_temperature: {...}, timestep: fs, repeat: [n1, n2, n3]}")
        spec.input("sanity", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="MD sanity thresholds of every run (analysis.md_sanity); default its defaults.")
        spec.input("max_frames", valid_type=orm.Int, required=False, serializer=orm.to_aiida_type,
                   help="At most this many frames kept per run (evenly spread).")
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   serializer=orm.to_aiida_type, help="Run even when the potential's fit verdict is 'unusable'.")
        spec.inputs.validator = validate_inputs
        spec.output("candidates", valid_type=TrainingSetData, required=False,
                    help="Unlabelled frames, config_type = family.")
        spec.output("max_gamma", valid_type=orm.ArrayData, required=False, help="Largest γ per candidate.")
        spec.output("amorphous", valid_type=orm.StructureData, required=False,
                    help="The quenched structure of the melt_quench family.")
        spec.output("summary", valid_type=orm.Dict, help="Per run: family, process, exit status, frames kept.")
        define_job_inputs(spec)
        spec.outline(cls.setup, while_(cls.has_ready_runs)(cls.run_ready, cls.inspect_runs),
                     if_(cls.should_grade)(cls.run_grades), cls.results)
        spec.exit_code(401, "ERROR_NO_CANDIDATES", message="No MD run produced a usable frame: {details}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_GRADE", message="The γ job of {name} (pk {pk}) failed: {detail}")

    @classmethod
    def get_builder_from_protocol(cls, code, potential, crystal, protocol: str | None = None,
                                  overrides: dict | None = None, amorphous=None, options: dict | None = None,
                                  num_mpiprocs: int | None = None):
        """Builder with the MD families of the ``active_learning.yaml`` preset ``protocol`` (its
        ``md_families``) and the LAMMPS run inputs of ``lammps_base.yaml``, all on the inputs.

        :param code: LAMMPS code (label or node).
        :param crystal: the reference crystal (Å).
        :param overrides: ``families`` (merged into the preset's, family by family: temperatures K,
            durations ps, …), ``max_frames``, ``sanity``, ``lammps_protocol``; another key raises
            :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`.
        :param options: scheduler options of the LAMMPS jobs; ``num_mpiprocs``: ranks per job.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - {"families", "max_frames", "sanity", "lammps_protocol"})
        if unknown:
            raise ProtocolOverrideError(f"unknown MD-sampling override(s) {unknown}; keys: families, max_frames, "
                                        "sanity, lammps_protocol")
        families = recursive_merge(get_protocol("active_learning", protocol).get("md_families") or {},
                                   overrides.get("families"))
        max_frames = overrides.get("max_frames", families.pop("max_frames", None))
        builder = cls.get_builder()
        fill_run_inputs(builder.md, run_inputs(code, overrides.get("lammps_protocol"), options=options,
                                               num_mpiprocs=num_mpiprocs))
        builder.potential = potential
        builder.crystal = crystal
        if amorphous is not None:
            builder.amorphous = amorphous
        builder.families = orm.Dict(families)
        if max_frames:
            builder.max_frames = orm.Int(int(max_frames))
        if overrides.get("sanity"):
            builder.sanity = orm.Dict(overrides["sanity"])
        return builder

    def setup(self):
        spec = self.inputs.families.get_dict()
        families = normalise_families(spec)
        self.ctx.runs = family_runs(families)
        self.ctx.pending = [run["name"] for run in self.ctx.runs]
        self.ctx.by_name = {run["name"]: run for run in self.ctx.runs}
        crystal = self.inputs.crystal
        repeat = list(spec.get("repeat", [1, 1, 1]))
        if repeat != [1, 1, 1]:
            crystal = make_supercell(crystal, orm.List(repeat))
        self.ctx.starts = {"crystal": crystal}
        if "amorphous" in self.inputs:
            self.ctx.starts["amorphous"] = self.inputs.amorphous
        self.ctx.velocities = {}
        self.ctx.unavailable = set()
        self.ctx.candidate_sets = {}
        self.ctx.rows = []
        _, warning = potential_gate(self.inputs.potential, self.inputs.allow_unusable_potential)
        if warning:
            self.report(f"WARNING: {warning}")
        self.report(f"{len(self.ctx.runs)} MD runs: {', '.join(self.ctx.pending)}")

    def _ready(self):
        return [name for name in self.ctx.pending if self.ctx.by_name[name]["start"] in self.ctx.starts]

    def has_ready_runs(self):
        if self._ready():
            return True
        for name in list(self.ctx.pending):  # their start never came (the melt or quench failed)
            run = self.ctx.by_name[name]
            self.ctx.rows.append({"name": name, "family": run["family"], "skipped": f"no {run['start']} start"})
            self.report(f"run {name} skipped: no {run['start']} structure")
        self.ctx.pending = []
        return False

    def run_ready(self):
        """Submit every run whose start structure exists (all in parallel)."""
        futures = {}
        for name in self._ready():
            run = self.ctx.by_name[name]
            self.ctx.pending.remove(name)
            structure = self.ctx.starts[run["start"]]
            if abs(run["volume_scale"] - 1.0) > 1e-12:
                structure = strain(structure, orm.List([run["volume_scale"] ** (1.0 / 3.0) - 1.0]))
            inputs = AttributeDict(self.exposed_inputs(LammpsBaseWorkChain, namespace="md"))
            inputs.lammps = AttributeDict(inputs.lammps)
            inputs.lammps.structure = structure
            inputs.lammps.potential = self.inputs.potential
            inputs.lammps.parameters = orm.Dict(run["stage"])
            if "sanity" in self.inputs:
                inputs.lammps.sanity = self.inputs.sanity
            if run["start"] in self.ctx.velocities:
                inputs.lammps.velocities = self.ctx.velocities[run["start"]]
            inputs.allow_unusable_potential = self.inputs.allow_unusable_potential
            inputs.metadata = {"call_link_label": name}
            futures[f"run_{name}"] = self.submit(LammpsBaseWorkChain, **inputs)
        return ToContext(**futures)

    def inspect_runs(self):
        """Frames of every finished run become candidates; the melt and the quench feed later runs."""
        for key in [k for k in list(self.ctx.keys()) if k.startswith("run_")]:
            node = self.ctx.pop(key)
            name = key[len("run_"):]
            run = self.ctx.by_name[name]
            outputs = node.outputs
            row = {"name": name, "family": run["family"], "process": node.pk, "exit_status": node.exit_status}
            if not node.is_finished_ok:
                row["failure"] = node.exit_message
                self.report(f"run {name} ({node.process_label}<{node.pk}>) failed [{node.exit_status}] "
                            f"{node.exit_message}; its frames before the failure are kept")
            if run["family"] and "trajectory" in outputs:
                params = {"config_type": run["family"], "skip_frames": run["skip_frames"], "min_distance": MIN_DISTANCE}
                if "max_frames" in self.inputs:
                    params["max_frames"] = self.inputs.max_frames.value
                result = trajectory_candidates(outputs.trajectory, orm.Dict(params))
                row.update({k: result["summary"][k] for k in ("n_frames", "n_kept", "n_close_contacts")})
                if "candidates" in result:
                    self.ctx.candidate_sets[name] = result["candidates"]
            if node.is_finished_ok and "structure" in outputs:
                if name == "melt_quench_melt":
                    self.ctx.starts["melt"] = outputs.structure
                    if "velocities" in outputs:
                        self.ctx.velocities["melt"] = outputs.velocities
                elif name == "melt_quench_quench" and "amorphous" not in self.ctx.starts:
                    self.ctx.starts["amorphous"] = outputs.structure
                    self.out("amorphous", outputs.structure)
            self.ctx.rows.append(row)

    def _candidate_sets(self) -> dict:
        return {f"s{k:02d}_{name}": node for k, (name, node) in enumerate(sorted(self.ctx.candidate_sets.items()))}

    def should_grade(self):
        return bool(self.ctx.candidate_sets) and self.inputs.potential.has_active_set

    def run_grades(self):
        """γ of each run's candidates: one job each (``bzs.job.grade``), in parallel."""
        code = job_code_of(self.inputs, self.inputs.md.lammps.code)
        futures = {}
        for key, node in self._candidate_sets().items():
            futures[f"grade_{key}"] = self.submit(
                ExtrapolationGradeCalculation, code=code, potential=self.inputs.potential, candidates=node,
                metadata=job_metadata(self.inputs, f"gamma_{key}"))
        return ToContext(**futures)

    def results(self):
        self.out("summary", sampling_summary(orm.List(self.ctx.rows)))
        if not self.ctx.candidate_sets:
            return self.exit_codes.ERROR_NO_CANDIDATES.format(
                details="; ".join(f"{r['name']}: {r.get('failure') or r.get('skipped') or 'no frames'}"
                                  for r in self.ctx.rows))
        sets = self._candidate_sets()
        if self.inputs.potential.has_active_set:
            nodes = {}
            for key, node in sets.items():
                job = self.ctx[f"grade_{key}"]
                if not job.is_finished_ok:
                    return self.exit_codes.ERROR_SUB_PROCESS_FAILED_GRADE.format(name=key, pk=job.pk, detail=job.exit_message)
                nodes[f"candidates_{key}"] = node
                nodes[f"gamma_{key}"] = job.outputs.gamma
            combined = combine_candidates(**nodes)
            self.out("candidates", combined["candidates"])
            self.out("max_gamma", combined["max_gamma"])
            candidates = combined["candidates"]
        else:
            candidates = merge_training_sets(**sets) if len(sets) > 1 else next(iter(sets.values()))
            self.out("candidates", candidates)
        self.report(f"{len(candidates)} candidates: {candidates.config_types}")
        return None
