"""``DftLabelWorkChain`` (``bzs.label``): PBEsol single points on many structures → a TrainingSet.

Runs one ``PwBaseWorkChain`` per structure, built by aiida-quantumespresso's
``get_builder_from_protocol`` with the overrides of ``protocols/pw.yaml`` (see
:mod:`~aiida_bzs.workflows.pw_inputs`), at most ``max_concurrent`` at a time, plus the isolated
Ba, Zr and S atoms once per settings. :meth:`DftLabelWorkChain.get_builder_from_protocol`
resolves a protocol and overrides into the ``parameters`` input, so every number the labels
depend on (pw.x namelists, k spacing, wall time, resources, isolated-atom box) is on the node. Successes are collected by the
:func:`~aiida_bzs.calculations.functions.labels.build_training_set` calcfunction; every failure
is listed with its exit code in the ``excluded`` output, so nothing is dropped silently and one
failed job never loses the others. Bad input (no structures, unknown elements, atoms closer
than 0.5 Å) is refused at launch, before any DFT job, naming the structure.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aiida import orm
from aiida.engine import ToContext, WorkChain, while_

from ..calculations.functions.generators import isolated_atom, training_set_structures
from ..calculations.functions.labels import (
    build_training_set,
    config_type_of,
    isolated_atom_energies,
)
from ..common.codes import load_code
from ..common.pseudos import PseudoFamilyError, load_family
from ..data.training_set import TrainingSetData
from ..structures.contacts import OVERLAP_DISTANCE, shortest_distance
from ..structures.crystal import BZS_ELEMENTS
from .protocols import ProtocolOverrideError, _load, get_protocol, recursive_merge
from .pw_inputs import (
    builder_from_settings,
    check_namelists,
    merge_pw_overrides,
    pw_settings,
)

#: Extra on a reference-energy Dict: the hash of the settings it was computed with.
REFERENCE_KEY_EXTRA = "bzs_reference_key"

#: Process type whose caching makes relabelling free (``verdi config set caching.enabled_for``).
PW_CALCULATION = "aiida.calculations:quantumespresso.pw"


#: Extra on the workchain node: how many PwBaseWorkChains it runs in all (the CLI's progress total).
PROGRESS_TOTAL_EXTRA = "bzs_progress_total"

#: Schedulers that run jobs on the computer itself: concurrency is bounded by its cores.
DIRECT_SCHEDULERS = ("core.direct",)


def local_cores() -> int:
    """CPU cores this process may use (affinity mask where the OS has one, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_max_concurrent(computer: orm.Computer, num_mpiprocs: int, protocol_limit: int) -> tuple[int, str]:
    """How many pw.x jobs to run at once on ``computer``, and why (one line).

    On a computer whose scheduler runs jobs in place (``core.direct``) the jobs share its cores:
    cores // ``num_mpiprocs`` (MPI ranks per pw.x job), at least 1, at most ``protocol_limit``.
    Cores are this machine's for a local transport, else the computer's
    ``default_mpiprocs_per_machine``. With a batch scheduler (Slurm, PBS, …) the queue shares the
    nodes out, so the protocol's ``max_concurrent`` applies. Oversubscribing cores makes every
    job slower and the whole set no faster.
    """
    ranks = max(1, int(num_mpiprocs))
    if computer.scheduler_type not in DIRECT_SCHEDULERS:
        return protocol_limit, (f"{protocol_limit} (protocol value; {computer.label} queues jobs with "
                                f"{computer.scheduler_type})")
    if computer.transport_type == "core.local":
        cores, source = local_cores(), f"cores of {computer.label} (this machine)"
    else:
        cores, source = computer.get_default_mpiprocs_per_machine(), f"cores (default_mpiprocs_per_machine) of {computer.label}"
        if not cores:
            return protocol_limit, (f"{protocol_limit} (protocol value; set default_mpiprocs_per_machine of "
                                    f"{computer.label} with `verdi computer configure` to bound it by its cores)")
    limit = max(1, min(protocol_limit, cores // ranks))
    return limit, f"{limit} ({cores} {source} / {ranks} MPI rank(s) per pw.x job)"


def _describe(key: str, structure: orm.StructureData) -> str:
    return f"structure {key!r} ({structure.get_formula()}, pk {structure.pk or 'unstored'})"


def check_structure(key: str, structure: orm.StructureData) -> str | None:
    """Why ``structure`` cannot be labelled (unknown elements, overlapping atoms), or None."""
    symbols = sorted({structure.get_kind(site.kind_name).symbol for site in structure.sites})
    unknown = sorted(set(symbols) - set(BZS_ELEMENTS))
    if unknown:
        return f"{_describe(key, structure)} contains {unknown}; only {list(BZS_ELEMENTS)} can be labelled"
    d = shortest_distance(structure.get_ase(), OVERLAP_DISTANCE)
    if d < OVERLAP_DISTANCE:
        return f"{_describe(key, structure)} has atoms {d:.3f} Å apart (< {OVERLAP_DISTANCE} Å): overlapping atoms"
    return None


#: Inputs whose values live in ``parameters`` when it is given (the protocol path's inputs).
PROTOCOL_PATH_INPUTS = ("protocol", "pseudo_family", "kpoints_distance", "parameter_overrides", "isolated_atom_box")


def label_parameters(
    protocol: str | None = None,
    overrides: Mapping | None = None,
    pseudo_family: str | None = None,
    num_mpiprocs: int = 1,
    options: Mapping | None = None,
) -> dict:
    """Every number of a labelling run: ``protocols/label.yaml`` preset ``protocol`` with its
    pw.yaml preset, updated by ``overrides``.

    ``overrides`` keys: ``isolated_atom_box`` (Å), ``max_concurrent``, and ``pw`` —
    aiida-quantumespresso ``PwBaseWorkChain`` overrides (``kpoints_distance``,
    ``meta_parameters.conv_thr_per_atom``, ``pw.parameters.<NAMELIST>.<keyword>``,
    ``pw.metadata.options``, ``max_iterations``, …, see :func:`~.pw_inputs.pw_settings`). Merged by
    :func:`~.protocols.recursive_merge` with ``strict=True``: an unknown key raises
    :class:`~.protocols.ProtocolOverrideError` naming it. Returns ``protocol``, ``pw_protocol``,
    ``qe_protocol``, ``pw`` (complete aiida-qe overrides: namelists with cutoffs in Ry, k spacing
    Å⁻¹, pseudo family, wall time s, resources), ``isolated_atom_box``, ``max_concurrent`` (the
    protocol's upper bound) and ``overrides`` (as given, for the record).
    """
    name = protocol or _load("label")["default_protocol"]
    preset = get_protocol("label", name)
    base = {"isolated_atom_box": float(preset["isolated_atom_box"]),
            "max_concurrent": int(preset["max_concurrent"]), "pw": None}
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ProtocolOverrideError(f"overrides must be a mapping, got {overrides!r}")
    merged = recursive_merge(base, dict(overrides or {}), strict=True)
    pw = pw_settings(preset["pw_protocol"], merged.pop("pw"), pseudo_family, num_mpiprocs, dict(options or {}),
                     where="pw")
    return {
        "protocol": name,
        "pw_protocol": pw["protocol"],
        "qe_protocol": pw["qe_protocol"],
        "pw": pw["overrides"],
        "isolated_atom_box": float(merged["isolated_atom_box"]),
        "max_concurrent": int(merged["max_concurrent"]),
        "overrides": json.loads(json.dumps(dict(overrides or {}))),
    }


def _protocol_path_parameters(inputs) -> dict:
    """``label_parameters`` from the protocol path's inputs (protocol, kpoints_distance, …)."""
    pw: dict[str, Any] = {}
    if "kpoints_distance" in inputs:
        pw["kpoints_distance"] = float(inputs["kpoints_distance"].value)
    if "parameter_overrides" in inputs:
        pw["pw"] = {"parameters": inputs["parameter_overrides"].get_dict()}
    overrides: dict[str, Any] = {"pw": pw} if pw else {}
    if "isolated_atom_box" in inputs:
        overrides["isolated_atom_box"] = float(inputs["isolated_atom_box"].value)
    protocol = inputs.get("protocol")
    family = inputs.get("pseudo_family")
    num_mpiprocs = inputs.get("num_mpiprocs")
    return label_parameters(protocol.value if protocol is not None else None, overrides,
                            family.value if family is not None else None,
                            num_mpiprocs.value if num_mpiprocs is not None else 1)


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse bad input at launch: no structures, unknown elements, overlapping atoms."""
    structures = dict(inputs.get("structures", {}))
    training_set = inputs.get("training_set")
    if not structures and training_set is None:
        return "no structures given: pass `structures` (a namespace of StructureData) or `training_set`"
    for key, structure in structures.items():
        problem = check_structure(key, structure)
        if problem:
            return problem
    if training_set is not None:
        for i, atoms in enumerate(training_set.to_atoms()):
            unknown = sorted(set(atoms.get_chemical_symbols()) - set(BZS_ELEMENTS))
            if unknown:
                return f"training_set structure {i} ({atoms.get_chemical_formula()}) contains {unknown}"
            d = shortest_distance(atoms, OVERLAP_DISTANCE)
            if d < OVERLAP_DISTANCE:
                return f"training_set structure {i} ({atoms.get_chemical_formula()}) has atoms {d:.3f} Å apart"
    unknown_overrides = sorted(set(inputs.get("structure_overrides", {})) - set(structures))
    if unknown_overrides:
        return f"structure_overrides for {unknown_overrides}, which are not in `structures`"
    try:
        if "parameters" in inputs:
            mixed = sorted(set(PROTOCOL_PATH_INPUTS) & set(inputs))
            if mixed:
                return (f"{mixed} given with `parameters`, which holds them already; pass them to "
                        "DftLabelWorkChain.get_builder_from_protocol instead")
            parameters = inputs["parameters"].get_dict()
            missing = sorted({"pw", "qe_protocol", "isolated_atom_box"} - set(parameters))
            if missing:
                return f"`parameters` lacks {missing}; make it with DftLabelWorkChain.get_builder_from_protocol"
        else:
            _protocol_path_parameters(inputs)
        for key, override in inputs.get("structure_overrides", {}).items():
            check_namelists(override.get_dict(), f"structure_overrides.{key}")
    except (KeyError, ProtocolOverrideError, PseudoFamilyError) as exc:
        return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return None


class DftLabelWorkChain(WorkChain):
    """Label structures with PBEsol energies (eV), forces (eV/Å) and stresses (eV/Å³).

    Outputs ``training_set`` (successes), ``excluded`` (structure key → exit status, message,
    structure UUID) and ``reference_energies`` (isolated-atom energies, eV).
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace("structures", valid_type=orm.StructureData, dynamic=True, required=False,
                             help="Structures to label, by key; their config_type attribute (or extra) is kept.")
        spec.input("training_set", valid_type=TrainingSetData, required=False,
                   help="Alternatively or in addition: a training set of (unlabelled) structures.")
        spec.input("code", valid_type=orm.AbstractCode, help="pw.x code.")
        spec.input("parameters", valid_type=orm.Dict, required=False,
                   help="Every number of the run, from get_builder_from_protocol: 'pw' (aiida-quantumespresso "
                        "PwBaseWorkChain overrides: pw.x namelists, kpoints_distance Å⁻¹, pseudo_family, "
                        "metadata.options), 'qe_protocol', 'isolated_atom_box' (Å), and for the record 'protocol', "
                        "'pw_protocol', 'overrides'. Replaces the protocol path's inputs below.")
        spec.input("pseudo_family", valid_type=orm.Str, required=False,
                   help="Protocol path: label of a pseudopotential family; default SSSP PBEsol, else pslibrary.")
        spec.input("protocol", valid_type=orm.Str, required=False,
                   help="Protocol path: fast, balanced or stringent (protocols/label.yaml and pw.yaml, read at run time).")
        spec.input("kpoints_distance", valid_type=orm.Float, required=False,
                   help="Protocol path: k-point spacing in Å⁻¹ (2π included) replacing the protocol's.")
        spec.input("parameter_overrides", valid_type=orm.Dict, required=False,
                   help="Protocol path: pw.x namelist values merged into every calculation, e.g. {'SYSTEM': {'ecutwfc': 30}}.")
        spec.input_namespace("structure_overrides", valid_type=orm.Dict, dynamic=True, required=False,
                             help="Per-structure namelist overrides, keyed like `structures`.")
        spec.input("max_concurrent", valid_type=orm.Int, required=False,
                   help="PwBaseWorkChains running at once (default: the code computer's cores / num_mpiprocs "
                        "on a direct-scheduler computer, else the protocol's; see default_max_concurrent).")
        spec.input("max_iterations", valid_type=orm.Int, required=False,
                   help="Restarts PwBaseWorkChain may try per structure (its default otherwise).")
        spec.input("num_mpiprocs", valid_type=orm.Int, default=lambda: orm.Int(1), help="MPI ranks per pw.x job.")
        spec.input("reference_energies", valid_type=orm.Dict, required=False,
                   help="Isolated-atom energies (eV) to use instead of computing them.")
        spec.input("compute_reference_energies", valid_type=orm.Bool, default=lambda: orm.Bool(True),
                   help="Compute isolated-atom energies (reused when computed before with the same settings).")
        spec.input("isolated_atom_box", valid_type=orm.Float, required=False,
                   help="Protocol path: cubic box edge (Å) for isolated atoms (default from the protocol).")
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            cls.find_reference_energies,
            cls.publish_total,
            while_(cls.has_pending)(cls.launch_batch, cls.inspect_batch),
            cls.results,
        )
        spec.output("training_set", valid_type=TrainingSetData, required=False,
                    help="The successfully labelled structures.")
        spec.output("excluded", valid_type=orm.Dict, help="Structures (and isolated atoms) that failed, with exit codes.")
        spec.output("reference_energies", valid_type=orm.Dict, required=False, help="Isolated-atom energies, eV.")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_ALL_LABELS", message="Every structure failed to label; see the `excluded` output.")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_REFERENCE_ENERGIES", message="Isolated-atom calculations failed for {elements}.")

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: str | orm.AbstractCode,
        structures: Mapping[str, orm.StructureData] | Sequence[orm.StructureData] | None = None,
        training_set: TrainingSetData | None = None,
        protocol: str | None = None,
        overrides: Mapping | None = None,
        pseudo_family: str | None = None,
        options: Mapping | None = None,
        num_mpiprocs: int = 1,
        reference_energies: orm.Dict | Mapping | None = None,
        **_,
    ):
        """A builder with every number of the run on its ``parameters`` input.

        :param code: the pw.x code (or its label).
        :param structures: structures to label, by key (a sequence is keyed ``structure_00000``, …).
        :param training_set: and/or a TrainingSetData of structures.
        :param protocol: preset of ``protocols/label.yaml`` (fast, balanced, stringent).
        :param overrides: ``isolated_atom_box`` (Å), ``max_concurrent`` and ``pw`` (aiida-quantumespresso
            PwBaseWorkChain overrides), merged strictly: an unknown key raises ``ProtocolOverrideError``
            here, before anything runs (see :func:`label_parameters`).
        :param pseudo_family: aiida-pseudo family label (default SSSP PBEsol, else pslibrary US).
        :param options: ``metadata.options`` of every pw.x job (wall time s, queue, account, …).
        :param num_mpiprocs: MPI ranks per pw.x job.
        :param reference_energies: isolated-atom energies (eV) to use instead of computing them.

        ``max_concurrent`` is the override when given, else :func:`default_max_concurrent` for the
        code's computer, bounded by the protocol's.
        """
        code = load_code(code)
        parameters = label_parameters(protocol, overrides, pseudo_family, num_mpiprocs, options)
        protocol_limit = parameters.pop("max_concurrent")
        if "max_concurrent" in (overrides or {}):
            max_concurrent = protocol_limit
        else:
            max_concurrent, _why = default_max_concurrent(code.computer, num_mpiprocs, protocol_limit)
        builder = cls.get_builder()
        builder.code = code
        builder.parameters = orm.Dict(parameters)
        builder.num_mpiprocs = orm.Int(num_mpiprocs)
        builder.max_concurrent = orm.Int(max_concurrent)
        if structures is not None:
            if not isinstance(structures, Mapping):
                structures = {f"structure_{i:05d}": s for i, s in enumerate(structures)}
            builder.structures = dict(structures)
        if training_set is not None:
            builder.training_set = training_set
        if reference_energies is not None:
            builder.reference_energies = (reference_energies if isinstance(reference_energies, orm.Dict)
                                          else orm.Dict(dict(reference_energies)))
            builder.compute_reference_energies = orm.Bool(False)
        return builder

    # -- steps -------------------------------------------------------------------------------
    def setup(self):
        """Gather structures, resolve the settings and queue one job per structure."""
        if "parameters" in self.inputs:
            self.ctx.parameters = self.inputs.parameters.get_dict()
        else:  # protocol path: the YAML is read now, at run time
            self.ctx.parameters = _protocol_path_parameters(self.inputs)
        self.ctx.pw_protocol = self.ctx.parameters.get("pw_protocol", self.ctx.parameters.get("qe_protocol"))
        structures = dict(self.inputs.get("structures", {}))
        if "training_set" in self.inputs:
            converted = training_set_structures(self.inputs.training_set)
            structures.update({f"training_set_{k}": v for k, v in converted.items()})
        self.ctx.structures = {key: structures[key].uuid for key in sorted(structures)}
        self.ctx.queue = list(self.ctx.structures)
        self.ctx.children = {}
        self.ctx.running = []
        self.ctx.family = load_family(self.ctx.parameters["pw"]["pseudo_family"]).label
        elements = sorted({structures[k].get_kind(s.kind_name).symbol for k in structures for s in structures[k].sites})
        self.ctx.elements = elements
        if "max_concurrent" in self.inputs:
            self.ctx.max_concurrent = self.inputs.max_concurrent.value
            why = f"{self.ctx.max_concurrent} (input)"
        else:
            self.ctx.max_concurrent, why = default_max_concurrent(
                self.inputs.code.computer, self.inputs.num_mpiprocs.value,
                int(self.ctx.parameters.get("max_concurrent", get_protocol("label")["max_concurrent"])),
            )
        self.report(f"labelling {len(structures)} structures ({', '.join(elements)}) with protocol "
                    f"{self.ctx.pw_protocol}; at most {why} pw.x jobs at once")

    def _namelist_overrides(self) -> dict:
        """pw.x namelist values given beside the protocol (recorded on the TrainingSet)."""
        overrides = self.ctx.parameters.get("overrides", {})
        return (overrides.get("pw") or {}).get("pw", {}).get("parameters", {})

    def _builder(self, structure: orm.StructureData, key: str | None):
        pw = self.ctx.parameters["pw"]
        per_structure = self.inputs.get("structure_overrides", {}).get(key) if key else None
        if per_structure is not None:
            pw = merge_pw_overrides(pw, {"pw": {"parameters": per_structure.get_dict()}}, f"structure_overrides.{key}")
        builder = builder_from_settings(structure, self.inputs.code,
                                        {"qe_protocol": self.ctx.parameters["qe_protocol"], "overrides": pw})
        distance = builder.kpoints_distance.value
        kpoints = orm.KpointsData()
        kpoints.set_cell_from_structure(structure)
        kpoints.set_kpoints_mesh_from_density(distance)
        mesh = kpoints.get_kpoints_mesh()[0]
        if list(mesh) == [1, 1, 1]:  # large cell: Γ only, with pw.x's faster real-wavefunction path
            gamma = orm.KpointsData()
            gamma.set_kpoints_mesh([1, 1, 1])
            builder.kpoints = gamma
            builder.pop("kpoints_distance", None)
            builder.pw.settings = orm.Dict({"gamma_only": True})
        if "max_iterations" in self.inputs:
            builder.max_iterations = self.inputs.max_iterations
        return builder

    def _reference_box(self) -> float:
        return float(self.ctx.parameters["isolated_atom_box"])

    def _reference_key(self) -> str:
        """Hash of everything an isolated-atom energy depends on (pseudos, namelists, box, code)."""
        probe = orm.StructureData(cell=[[self._reference_box(), 0, 0], [0, self._reference_box(), 0], [0, 0, self._reference_box()]])
        probe.append_atom(position=(0, 0, 0), symbols="S")
        builder = self._builder(probe, None)
        family = load_family(self.ctx.family)
        payload = {
            "parameters": builder.pw.parameters.get_dict(),
            "pseudos": {e: p.md5 for e, p in sorted(family.get_pseudos(elements=BZS_ELEMENTS).items())},
            "box": self._reference_box(),
            "kpoints": list(builder.kpoints.get_kpoints_mesh()[0]) if "kpoints" in builder else builder.kpoints_distance.value,
            "code": self.inputs.code.uuid,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def find_reference_energies(self):
        """Use given or previously computed isolated-atom energies; otherwise queue the atoms."""
        self.ctx.references = None
        if "reference_energies" in self.inputs:
            self.ctx.references = self.inputs.reference_energies
            return
        if not self.inputs.compute_reference_energies.value:
            return
        self.ctx.reference_key = self._reference_key()
        query = orm.QueryBuilder().append(
            orm.Dict, filters={f"extras.{REFERENCE_KEY_EXTRA}": self.ctx.reference_key}, project="*"
        )
        for (node,) in query.iterall():
            if set(BZS_ELEMENTS) <= set(node.get_dict()):
                self.report(f"reusing isolated-atom energies of Dict pk {node.pk} (same settings)")
                self.ctx.references = node
                return
        box = orm.Float(self._reference_box())
        self.ctx.isolated = {}
        for element in BZS_ELEMENTS:  # always all three, so one Dict serves every later set
            atom = isolated_atom(orm.Str(element), box)
            key = f"isolated_{element}"
            self.ctx.isolated[element] = key
            self.ctx.structures[key] = atom.uuid
            self.ctx.queue.insert(0, key)

    def publish_total(self):
        """Record how many pw.x jobs this run makes, for the CLI's progress line (an extra)."""
        self.node.base.extras.set(PROGRESS_TOTAL_EXTRA, len(self.ctx.queue))

    def has_pending(self) -> bool:
        return bool(self.ctx.queue) or bool(self.ctx.running)

    def launch_batch(self):
        """Keep ``max_concurrent`` PwBaseWorkChains in flight: a rolling window, not batches.

        Submits until ``max_concurrent`` run, then waits for the oldest one only; the others keep
        running. A synchronous batch would idle every core until the slowest job of the batch
        ended (measured: 9.2 vs 25.3 jobs/min of plain pw.x, benchmarks/label_throughput.py).
        """
        limit = self.ctx.max_concurrent
        launched = 0
        while self.ctx.queue and len(self.ctx.running) < limit:
            key = self.ctx.queue.pop(0)
            structure = orm.load_node(self.ctx.structures[key])
            builder = self._builder(structure, key if not key.startswith("isolated_") else None)
            builder.metadata.call_link_label = f"label_{key}"[:200]
            self.ctx.running.append([key, self.submit(builder).uuid])  # a list: submission order survives checkpoints
            launched += 1
        if launched:
            self.report(f"launched {launched} pw.x labelling jobs; {len(self.ctx.running)} running, "
                        f"{len(self.ctx.queue)} waiting")
        key, uuid = self.ctx.running[0]
        return ToContext(**{f"child_{key}": orm.load_node(uuid)})

    def inspect_batch(self):
        """Record every child that has ended; a failure is noted, never fatal to the others."""
        still = []
        for key, uuid in self.ctx.running:
            if orm.load_node(uuid).is_terminated:
                self.ctx.children[key] = uuid
            else:
                still.append([key, uuid])
        self.ctx.running = still

    def results(self):
        """Build the TrainingSet from successes; report failures with exit codes."""
        excluded, successes = {}, []
        for key, uuid in self.ctx.children.items():
            child = orm.load_node(uuid)
            structure = orm.load_node(self.ctx.structures[key])
            if child.is_finished_ok:
                successes.append((key, structure, child))
            else:
                excluded[key] = {
                    "exit_status": child.exit_status,
                    "exit_message": child.exit_message or child.process_state.value,
                    "structure_uuid": structure.uuid,
                    "formula": structure.get_formula(),
                    "config_type": config_type_of(structure),
                    "workchain_pk": child.pk,
                }
        if excluded:
            self.report(f"{len(excluded)} structures excluded: " + ", ".join(f"{k} ({v['exit_status']})" for k, v in excluded.items()))
        self.out("excluded", orm.Dict(excluded).store())

        failed_elements = []
        if self.ctx.references is None and "isolated" in self.ctx:
            parameters = {}
            for element, key in self.ctx.isolated.items():
                ok = [c for k, _, c in successes if k == key]
                if ok:
                    parameters[element] = ok[0].outputs.output_parameters
                else:
                    failed_elements.append(element)
            if parameters:
                self.ctx.references = isolated_atom_energies(**parameters)
                if not failed_elements:
                    self.ctx.references.base.extras.set(REFERENCE_KEY_EXTRA, self.ctx.reference_key)
        if self.ctx.references is not None:
            self.out("reference_energies", self.ctx.references)

        labelled = {}
        first = None
        for i, (key, structure, child) in enumerate(s for s in successes if not s[0].startswith("isolated_")):
            labelled[f"structure_{i:05d}"] = structure
            labelled[f"parameters_{i:05d}"] = child.outputs.output_parameters
            labelled[f"trajectory_{i:05d}"] = child.outputs.output_trajectory
            first = first or child
        if first is None:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_ALL_LABELS
        settings = self._settings(first)
        kwargs = {"settings": orm.Dict(settings), **labelled}
        if self.ctx.references is not None:
            kwargs["reference_energies"] = self.ctx.references
        training_set = build_training_set(**kwargs)
        self.out("training_set", training_set)
        self.report(f"training set pk {training_set.pk}: {len(training_set)} structures, {len(excluded)} excluded")
        if failed_elements:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_REFERENCE_ENERGIES.format(elements=", ".join(failed_elements))
        return None

    def _settings(self, child) -> dict:
        """The DFT settings recorded on the TrainingSet (protocol, namelists, pseudos, k spacing)."""
        calcs = sorted(child.called, key=lambda node: node.ctime)
        calc = calcs[-1] if calcs else None
        system = dict(calc.inputs.parameters["SYSTEM"]) if calc is not None else {}
        family = load_family(self.ctx.family)
        return {
            "code": "pw.x (Quantum ESPRESSO)",
            "functional": "PBEsol",
            "protocol": self.ctx.pw_protocol,
            "pseudo_family": self.ctx.family,
            "pseudos_md5": {e: p.md5 for e, p in sorted(family.get_pseudos(elements=self.ctx.elements).items())},
            "ecutwfc": system.get("ecutwfc"),
            "ecutrho": system.get("ecutrho"),
            "smearing": system.get("smearing"),
            "degauss": system.get("degauss"),
            "kpoints_distance": self.ctx.parameters["pw"]["kpoints_distance"],
            "overrides": self._namelist_overrides(),
            "isolated_atom_box": self._reference_box(),
            "spin_polarised": False,
        }
