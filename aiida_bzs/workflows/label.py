"""``DftLabelWorkChain`` (``bzs.label``): PBEsol single points on many structures → a TrainingSet.

Runs one ``PwBaseWorkChain`` per structure (settings from ``protocols/pw.yaml`` via
:func:`~aiida_bzs.workflows.pw_inputs.get_pw_builder`), at most ``max_concurrent`` at a time,
plus the isolated Ba, Zr and S atoms once per settings. Successes are collected by the
:func:`~aiida_bzs.calculations.functions.labels.build_training_set` calcfunction; every failure
is listed with its exit code in the ``excluded`` output, so nothing is dropped silently and one
failed job never loses the others. Bad input (no structures, unknown elements, atoms closer
than 0.5 Å) is refused at launch, before any DFT job, naming the structure.
"""

from __future__ import annotations

import hashlib
import json
import os

from aiida import orm
from aiida.engine import ToContext, WorkChain, while_

from ..calculations.functions.generators import isolated_atom, training_set_structures
from ..calculations.functions.labels import build_training_set, config_type_of, isolated_atom_energies
from ..common.pseudos import load_family
from ..data.training_set import TrainingSetData
from ..structures.contacts import OVERLAP_DISTANCE, shortest_distance
from ..structures.crystal import BZS_ELEMENTS
from .protocols import get_protocol
from .pw_inputs import get_pw_builder

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
    protocol = inputs.get("protocol")
    try:
        get_protocol("label", protocol.value if protocol is not None else None)
    except KeyError as exc:
        return str(exc)
    return None


def _merge(*overrides: dict | None) -> dict:
    merged: dict = {}
    for override in overrides:
        for namelist, values in (override or {}).items():
            merged.setdefault(namelist, {}).update(values)
    return merged


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
        spec.input("pseudo_family", valid_type=orm.Str, required=False,
                   help="Label of a pseudopotential family; default SSSP PBEsol, else the pslibrary family.")
        spec.input("protocol", valid_type=orm.Str, required=False,
                   help="fast, balanced or stringent (protocols/label.yaml and pw.yaml).")
        spec.input("kpoints_distance", valid_type=orm.Float, required=False,
                   help="k-point spacing in Å⁻¹ (2π included) replacing the protocol's.")
        spec.input("parameter_overrides", valid_type=orm.Dict, required=False,
                   help="pw.x namelist values merged into every calculation, e.g. {'SYSTEM': {'ecutwfc': 30}}.")
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
                   help="Cubic box edge (Å) for isolated atoms (default from the protocol).")
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
        spec.exit_code(401, "ERROR_ALL_FAILED", message="Every structure failed to label; see the `excluded` output.")
        spec.exit_code(402, "ERROR_REFERENCE_ENERGIES", message="Isolated-atom calculations failed for {elements}.")

    # -- steps -------------------------------------------------------------------------------
    def setup(self):
        """Gather structures, resolve the protocol and queue one job per structure."""
        protocol = self.inputs.protocol.value if "protocol" in self.inputs else None
        self.ctx.label_protocol = get_protocol("label", protocol)
        self.ctx.pw_protocol = self.ctx.label_protocol["pw_protocol"]
        structures = dict(self.inputs.get("structures", {}))
        if "training_set" in self.inputs:
            converted = training_set_structures(self.inputs.training_set)
            structures.update({f"training_set_{k}": v for k, v in converted.items()})
        self.ctx.structures = {key: structures[key].uuid for key in sorted(structures)}
        self.ctx.queue = list(self.ctx.structures)
        self.ctx.children = {}
        self.ctx.batch = []
        self.ctx.family = load_family(self.inputs.pseudo_family.value if "pseudo_family" in self.inputs else None).label
        elements = sorted({structures[k].get_kind(s.kind_name).symbol for k in structures for s in structures[k].sites})
        self.ctx.elements = elements
        if "max_concurrent" in self.inputs:
            self.ctx.max_concurrent = self.inputs.max_concurrent.value
            why = f"{self.ctx.max_concurrent} (input)"
        else:
            self.ctx.max_concurrent, why = default_max_concurrent(
                self.inputs.code.computer, self.inputs.num_mpiprocs.value, int(self.ctx.label_protocol["max_concurrent"])
            )
        self.report(f"labelling {len(structures)} structures ({', '.join(elements)}) with protocol "
                    f"{self.ctx.pw_protocol}; at most {why} pw.x jobs at once")

    def _overrides(self, key: str | None) -> dict:
        per_structure = self.inputs.get("structure_overrides", {}).get(key) if key else None
        return _merge(
            self.inputs.parameter_overrides.get_dict() if "parameter_overrides" in self.inputs else None,
            per_structure.get_dict() if per_structure is not None else None,
        )

    def _builder(self, structure: orm.StructureData, key: str | None):
        builder = get_pw_builder(
            structure,
            code=self.inputs.code,
            protocol=self.ctx.pw_protocol,
            pseudo_family=self.ctx.family,
            num_mpiprocs=self.inputs.num_mpiprocs.value,
            overrides=self._overrides(key),
        )
        distance = self.inputs.kpoints_distance.value if "kpoints_distance" in self.inputs else builder.kpoints_distance.value
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
        else:
            builder.kpoints_distance = orm.Float(distance)
        if "max_iterations" in self.inputs:
            builder.max_iterations = self.inputs.max_iterations
        return builder

    def _reference_box(self) -> float:
        if "isolated_atom_box" in self.inputs:
            return self.inputs.isolated_atom_box.value
        return float(self.ctx.label_protocol["isolated_atom_box"])

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
        return bool(self.ctx.queue)

    def launch_batch(self):
        """Submit up to ``max_concurrent`` PwBaseWorkChains; the rest wait for the next batch."""
        limit = self.ctx.max_concurrent
        batch, self.ctx.queue = self.ctx.queue[:limit], self.ctx.queue[limit:]
        self.ctx.batch = batch
        futures = {}
        for key in batch:
            structure = orm.load_node(self.ctx.structures[key])
            builder = self._builder(structure, key if not key.startswith("isolated_") else None)
            builder.metadata.call_link_label = f"label_{key}"[:200]
            futures[f"child_{key}"] = self.submit(builder)
        self.report(f"launched {len(batch)} pw.x labelling jobs; {len(self.ctx.queue)} waiting")
        return ToContext(**futures)

    def inspect_batch(self):
        """Record each finished child; a failure is noted, never fatal to the others."""
        for key in self.ctx.batch:
            self.ctx.children[key] = self.ctx[f"child_{key}"].uuid

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
            return self.exit_codes.ERROR_ALL_FAILED
        settings = self._settings(first)
        kwargs = {"settings": orm.Dict(settings), **labelled}
        if self.ctx.references is not None:
            kwargs["reference_energies"] = self.ctx.references
        training_set = build_training_set(**kwargs)
        self.out("training_set", training_set)
        self.report(f"training set pk {training_set.pk}: {len(training_set)} structures, {len(excluded)} excluded")
        if failed_elements:
            return self.exit_codes.ERROR_REFERENCE_ENERGIES.format(elements=", ".join(failed_elements))
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
            "kpoints_distance": (
                self.inputs.kpoints_distance.value if "kpoints_distance" in self.inputs
                else get_protocol("pw", self.ctx.pw_protocol)["kpoints_distance"]
            ),
            "overrides": self._overrides(None),
            "isolated_atom_box": self._reference_box(),
            "spin_polarised": False,
        }
