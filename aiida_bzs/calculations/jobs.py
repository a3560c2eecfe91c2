"""Python jobs: the heavy numerics of the campaign as CalcJobs of ``aiida-bzs-job``.

Extrapolation grades of frames, parity of a potential on a dataset, the standard analysis of a
300k-atom structure, the active-learning exploration, building a 600k-atom Voronoi polycrystal and
its boundary-vs-interior analysis grow with atoms × frames, so they do not
run in the AiiDA daemon as calcfunctions: they are jobs on a computer (a code for
``aiida-bzs-job`` there, ``bzs_job@<computer>``), with the scheduler's resources and wall time,
and their inputs and outputs in the graph like any code's. The runner
(:mod:`aiida_bzs.scripts.job`) imports no AiiDA; the parsers (:mod:`aiida_bzs.parsers.jobs`)
turn its files into nodes.

Inputs reach the folder without decoding big nodes in the daemon: a ``TrainingSetData`` or
``LargeStructureData`` repository file is copied as is (``local_copy_list``); only a
``StructureData`` or ``TrajectoryData`` is packed here. (:func:`frames_copy`, for the tasks that
read frames, and :func:`structure_copy`, for the polycrystal tasks, both copy a
``LargeStructureData``'s file; the runner reads it for ``grade`` and ``analyse`` as a one-frame set.)
"""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from ..common.structure_nodes import STRUCTURE_TYPES, atoms_from_structure
from ..data.ace_potential import FILENAMES as POTENTIAL_FILES
from ..data.ace_potential import AcePotentialData
from ..data.large_structure import LargeStructureData
from ..data.training_set import TrainingSetData
from ..scripts import job as runner
from ..training import dataset as ds

#: Wall time (s) of a job when neither the caller nor a protocol gives one.
DEFAULT_WALLTIME = 3600


def _pack_trajectory(trajectory: orm.TrajectoryData) -> dict[str, np.ndarray]:
    """Frames of a trajectory as a packed set (positions Å, cells Å), without building Atoms."""
    positions = np.asarray(trajectory.get_positions(), dtype=float)
    n_frames, n_atoms = positions.shape[:2]
    from ase.data import atomic_numbers

    numbers = np.array([atomic_numbers[s] for s in trajectory.symbols], dtype=np.int16)
    cells = trajectory.get_cells()
    cells = np.zeros((n_frames, 3, 3)) if cells is None else np.asarray(cells, dtype=float)
    pbc = np.repeat((np.abs(cells).sum(axis=(1, 2)) > 0)[:, None], 3, axis=1)
    return {
        "numbers": np.tile(numbers, n_frames), "positions": positions.reshape(-1, 3),
        "forces": np.full((n_frames * n_atoms, 3), np.nan), "natoms": np.full(n_frames, n_atoms, dtype=np.int64),
        "cells": cells, "pbc": pbc, "energy": np.full(n_frames, np.nan), "stress": np.full((n_frames, 6), np.nan),
        "config_type": np.array(["frame"] * n_frames), "source_uuid": np.array([trajectory.uuid] * n_frames),
    }


def frames_copy(node, folder, filename: str = runner.FRAMES) -> list[tuple]:
    """Put ``node``'s frames into the job folder as ``filename``, for the runner's ``_read_frames``.

    A ``TrainingSetData`` (a packed set) or a ``LargeStructureData`` (one structure in its own
    layout; nothing decoded here, whatever its size) is copied from its repository as it is; a
    ``StructureData`` or ``TrajectoryData`` is packed here (one frame, or one per trajectory step).
    Returns the ``local_copy_list`` entries (empty when the file was written here).
    """
    if isinstance(node, (TrainingSetData, LargeStructureData)):
        return [(node.uuid, node.FILENAME, filename)]
    if isinstance(node, orm.TrajectoryData):
        arrays = _pack_trajectory(node)
    else:
        atoms = atoms_from_structure(node)
        atoms.calc = None
        arrays = ds.pack([atoms])
    with folder.open(filename, "wb") as handle:
        handle.write(ds.to_npz_bytes(arrays))
    return []


def structure_copy(node, folder, filename: str) -> list[tuple]:
    """Put one structure into the job folder in ``LargeStructureData``'s file layout (``cell`` Å,
    ``pbc``, ``numbers``, ``positions`` Å, per-atom arrays such as ``grain``).

    A ``LargeStructureData``'s repository file is copied as it is (nothing decoded in the daemon);
    a ``StructureData`` is converted here (it is small, or it could not have been stored).
    Returns the ``local_copy_list`` entries (empty when the file was written here).
    """
    if isinstance(node, LargeStructureData):
        return [(node.uuid, node.FILENAME, filename)]
    atoms = atoms_from_structure(node)
    with folder.open(filename, "wb") as handle:
        np.savez(handle, cell=np.asarray(atoms.cell[:], dtype=float), pbc=np.asarray(atoms.pbc, dtype=bool),
                 numbers=atoms.numbers.astype(np.int16), positions=atoms.positions)
    return []


def potential_copy(potential: AcePotentialData, active_set: bool) -> list[tuple]:
    """``local_copy_list`` entries of the potential's B-basis .yaml (and .asi)."""
    entries = [(potential.uuid, POTENTIAL_FILES["yaml"], runner.POTENTIAL_YAML)]
    if active_set:
        entries.append((potential.uuid, POTENTIAL_FILES["asi"], runner.ACTIVE_SET))
    return entries


def _validate_potential_with_active_set(potential: AcePotentialData, _) -> str | None:
    if not potential.has_active_set:
        return (f"potential {potential.pk or ''} has no active set (.asi): run the active-set step "
                "(pace_activeset on the B-basis .yaml, e.g. `aiida-bzs ace activeset`) first")
    return None


class RunnerCalculation(CalcJob):
    """Base of the ``aiida-bzs-job`` CalcJobs: one task, ``parameters.json``, ``result.json``/``.npz``."""

    TASK = ""
    EXTRA_RETRIEVE: tuple[str, ...] = ()
    #: Default wall time (s) of this job; a job class may set its own.
    DEFAULT_WALLTIME: int = DEFAULT_WALLTIME

    @classmethod
    def define(cls, spec):
        """Common options (serial, :attr:`DEFAULT_WALLTIME`, 1 h unless a job sets its own) and exit
        codes of every runner job."""
        super().define(spec)
        options = spec.inputs["metadata"]["options"]
        options["resources"].default = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
        options["withmpi"].default = False
        options["max_wallclock_seconds"].default = cls.DEFAULT_WALLTIME
        spec.input("parameters", valid_type=orm.Dict, required=False, help="Task parameters (see each job).")
        spec.exit_code(300, "ERROR_OUTPUT_MISSING", invalidates_cache=True,
                       message="the runner wrote no {filename}: it did not finish (wall time, node failure?)")
        spec.exit_code(301, "ERROR_OUTPUT_CORRUPT", invalidates_cache=True,
                       message="the runner's output could not be read: {message}")
        spec.exit_code(302, "ERROR_RUNNER_INTERNAL", invalidates_cache=True,
                       message="the runner failed unexpectedly: {message}")
        spec.exit_code(311, "ERROR_OUT_OF_MEMORY", invalidates_cache=True,
                       message="out of memory: {message}; give the job more memory or fewer frames per job")
        spec.exit_code(410, "ERROR_INVALID_INPUT", message="the job's input cannot be used: {message}")

    def runner_parameters(self) -> dict:
        """The content of ``parameters.json``."""
        return self.inputs.parameters.get_dict() if "parameters" in self.inputs else {}

    def write_inputs(self, folder) -> list[tuple]:
        """Write or list the task's input files; return ``local_copy_list`` entries."""
        raise NotImplementedError

    def prepare_for_submission(self, folder):
        """Input files, ``parameters.json`` and ``aiida-bzs-job <task>``."""
        local_copy_list = self.write_inputs(folder)
        with folder.open(runner.PARAMETERS, "w", encoding="utf-8") as handle:
            json.dump(self.runner_parameters(), handle, indent=1)
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [self.TASK]
        codeinfo.stdout_name = runner.STDOUT
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [runner.RESULT_JSON, runner.RESULT_NPZ, runner.STDOUT, *self.EXTRA_RETRIEVE]
        return calcinfo


def _validate_grade_inputs(inputs, _) -> str | None:
    given = [name for name in ("structure", "trajectory", "candidates") if name in inputs]
    if len(given) != 1:
        return f"give exactly one of `structure`, `trajectory` and `candidates` (got {given or 'none'})"
    node = inputs[given[0]]
    elements = set(inputs["potential"].elements or [])
    if isinstance(node, TrainingSetData):
        have = set(node.elements)
    elif isinstance(node, orm.TrajectoryData):
        have = set(node.symbols)
    elif isinstance(node, LargeStructureData):
        have = set(node.elements)
    else:
        have = set(node.get_symbols_set())
    if have - elements:
        return f"{given[0]} has {sorted(have - elements)}, which the potential ({sorted(elements)}) does not describe"
    return None


class ExtrapolationGradeCalculation(RunnerCalculation):
    """Per-atom extrapolation grade γ (dimensionless, D-optimality) of structures or frames.

    ``structure`` (one cell, StructureData or LargeStructureData), ``trajectory`` (every dumped
    frame) or ``candidates`` (a TrainingSetData) with a potential that has its active set.
    Outputs ``gamma`` (ArrayData per frame: ``max_gamma``, ``mean_gamma``, ``fraction_above_2``,
    ``fraction_above_5``; ``step`` for a trajectory; ``per_atom`` for a structure, or whenever
    ``parameters.per_atom``) and ``summary`` (max, frames above γ = 2, reliable limit).
    """

    TASK = "grade"

    @classmethod
    def define(cls, spec):
        """Potential with active set and one of structure / trajectory / candidates."""
        super().define(spec)
        spec.input("potential", valid_type=AcePotentialData, validator=_validate_potential_with_active_set,
                   help="ACE potential with its active set (.asi).")
        spec.input("structure", valid_type=STRUCTURE_TYPES, required=False, help="One structure (Å).")
        spec.input("trajectory", valid_type=orm.TrajectoryData, required=False, help="MD frames (Å).")
        spec.input("candidates", valid_type=TrainingSetData, required=False, help="Many structures.")
        spec.inputs.validator = _validate_grade_inputs
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.grade"
        spec.output("gamma", valid_type=orm.ArrayData, help="γ per frame (and per atom), dimensionless.")
        spec.output("summary", valid_type=orm.Dict, help="Largest γ, frames above the reliable limit 2.")
        spec.default_output_node = "summary"

    def runner_parameters(self) -> dict:
        params = super().runner_parameters()
        params.setdefault("per_atom", "structure" in self.inputs)
        return params

    def write_inputs(self, folder) -> list[tuple]:
        node = next(self.inputs[name] for name in ("structure", "trajectory", "candidates") if name in self.inputs)
        return potential_copy(self.inputs.potential, active_set=True) + frames_copy(node, folder)


def _validate_parity_inputs(inputs, _) -> str | None:
    dataset, potential = inputs["dataset"], inputs["potential"]
    if not dataset.labelled:
        return "the dataset has unlabelled structures: parity needs DFT energies and forces"
    missing = sorted(set(dataset.elements) - set(potential.elements or []))
    if missing:
        return f"the dataset has {missing}, which the potential ({potential.elements}) does not describe"
    return None


class ParityCalculation(RunnerCalculation):
    """ACE vs DFT parity of ``potential`` on a labelled ``dataset`` (usually the held-out test set).

    Outputs ``parity`` (ArrayData: energy_ref/energy_pred in eV/atom, cohesive; forces_ref/
    forces_pred in eV/Å per component; attribute ``config_types``), ``metrics`` (Dict: RMSE/MAE
    in meV/atom and meV/Å, overall and ``by_config_type``) and ``parity_plot`` (PNG).
    """

    TASK = "parity"
    EXTRA_RETRIEVE = (runner.PARITY_PNG,)

    @classmethod
    def define(cls, spec):
        """Potential and labelled dataset."""
        super().define(spec)
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential (B-basis .yaml is used).")
        spec.input("dataset", valid_type=TrainingSetData, help="Labelled structures (eV, eV/Å).")
        spec.inputs.validator = _validate_parity_inputs
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.parity"
        spec.output("parity", valid_type=orm.ArrayData, help="Reference and predicted energies and forces.")
        spec.output("metrics", valid_type=orm.Dict, help="RMSE/MAE, meV/atom and meV/Å.")
        spec.output("parity_plot", valid_type=orm.SinglefileData, help="Parity plot, PNG.")
        spec.default_output_node = "metrics"

    def runner_parameters(self) -> dict:
        params = super().runner_parameters()
        params.setdefault("reference_energies", self.inputs.dataset.reference_energies)
        return params

    def write_inputs(self, folder) -> list[tuple]:
        return potential_copy(self.inputs.potential, active_set=False) + frames_copy(
            self.inputs.dataset, folder, runner.DATASET)


class StructureAnalysisCalculation(RunnerCalculation):
    """The study's standard analysis of one structure as a job: density (g/cm³), CN and bond
    lengths (Å) per bond, total and partial g(r), bond-angle distributions (°), close contacts.

    ``parameters``: ``bonds`` ({'Zr-S': 3.1, …} Å), ``contact_species``, ``contact_cutoff`` (Å),
    ``rdf_r_max`` (Å), ``rdf_bin_width`` (Å), ``adf_bins``. Outputs ``density`` (Dict), ``rdf``,
    ``contacts``, ``coordination_<C>_<N>``, ``angles_<C>_<N>`` (ArrayData with the scalar
    summary as attributes), built by the parser from the runner's payloads.
    """

    TASK = "analyse"

    @classmethod
    def define(cls, spec):
        """One structure and the analysis parameters."""
        super().define(spec)
        spec.input("structure", valid_type=STRUCTURE_TYPES, help="3D-periodic structure (Å).")
        spec.inputs["parameters"].required = True
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.analysis"
        spec.output("density", valid_type=orm.Dict, help="Density g/cm³, number density Å⁻³, volume Å³.")
        spec.output("rdf", valid_type=orm.ArrayData, help="Total and partial g(r), r in Å.")
        spec.output("contacts", valid_type=orm.ArrayData, help="Like-atom close contacts, Å.")
        spec.outputs.dynamic = True  # coordination_<C>_<N>, angles_<C>_<N> per bond
        spec.default_output_node = "density"

    def write_inputs(self, folder) -> list[tuple]:
        return frames_copy(self.inputs.structure, folder)


class ExplorationCalculation(RunnerCalculation):
    """Active-learning exploration with a potential: RSS relaxations and short MD (ASE + pyace)
    from ``seeds``, as a job. ``parameters``: ``explore`` (rss, relax, md, seed; see
    ``protocols/active_learning.yaml``) and ``generation`` (shifts the random seed).
    Outputs ``candidates`` (unlabelled TrainingSetData) and ``max_gamma`` (ArrayData).
    """

    TASK = "explore"

    @classmethod
    def define(cls, spec):
        """Potential with active set, seed structures, exploration settings."""
        super().define(spec)
        spec.input("potential", valid_type=AcePotentialData, validator=_validate_potential_with_active_set,
                   help="ACE potential with its active set (.asi).")
        spec.input("seeds", valid_type=TrainingSetData, required=False, help="Structures to start MD from.")
        spec.inputs["parameters"].required = True
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.explore"
        spec.output("candidates", valid_type=TrainingSetData, help="Explored structures, unlabelled.")
        spec.output("max_gamma", valid_type=orm.ArrayData, help="Largest per-atom γ of each candidate.")

    def write_inputs(self, folder) -> list[tuple]:
        entries = potential_copy(self.inputs.potential, active_set=True)
        if "seeds" in self.inputs:
            entries += frames_copy(self.inputs.seeds, folder, runner.DATASET)
        return entries


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def unknown_keys_problem(params: dict, allowed) -> str | None:
    """The launch refusal for keys of ``params`` not in ``allowed`` (listing both), or None."""
    unknown = sorted(set(params) - set(allowed))
    return f"unknown parameter(s) {unknown}; allowed: {list(allowed)}" if unknown else None


def _validate_polycrystal_parameters(parameters: orm.Dict, _) -> str | None:
    """Keys and types at launch; values (grain count ≥ 1, box ≥ two cells, …) are the runner's (410)."""
    params = parameters.get_dict()
    problem = unknown_keys_problem(params, runner.POLYCRYSTAL_KEYS)
    if problem:
        return problem
    if "atomsk" in params:
        if "box" in params or "grains" in params:
            return "give either `atomsk` (the text of an Atomsk parameter file) or `box` and `grains`, not both"
        if not isinstance(params["atomsk"], str):
            return "`atomsk` must be the text of an Atomsk --polycrystal parameter file (box and node lines)"
    else:
        missing = [k for k in ("box", "grains", "seed") if k not in params]
        if missing:
            return (f"missing {missing}: give `box` ([X, Y, Z] Å), `grains` (count) and `seed` (int) for random "
                    "grains, or `atomsk` (the text of an Atomsk parameter file)")
        box = params["box"]
        if not isinstance(box, (list, tuple)) or len(box) != 3 or not all(_is_number(x) for x in box):
            return f"`box` must be three edge lengths [X, Y, Z] in Å, got {box!r}"
        if isinstance(params["grains"], bool) or not isinstance(params["grains"], int):
            return f"`grains` must be an integer grain count, got {params['grains']!r}"
    if params.get("seed") is not None and (isinstance(params["seed"], bool) or not isinstance(params["seed"], int)):
        return f"`seed` must be an integer, got {params['seed']!r}"
    if "clearance" in params and not _is_number(params["clearance"]):
        return f"`clearance` must be a distance in Å, got {params['clearance']!r}"
    return None


class PolycrystalCalculation(RunnerCalculation):
    """A Voronoi polycrystal of a reference crystal, built where the job runs (pure numpy/scipy;
    :func:`aiida_bzs.structures.polycrystal.build_polycrystal`): ~600k atoms in about 20 s and a few
    GiB of memory (``benchmarks/polycrystal_build.py``), stored without a ``StructureData``.

    ``crystal``: the reference crystal (StructureData or LargeStructureData, Å, 3-D periodic).
    ``parameters``: ``{"box": [X, Y, Z] (Å), "grains": N, "seed": int}`` for seeded random seeds and
    orientations, or ``{"atomsk": "<text of an Atomsk --polycrystal file>", "seed": int (only for
    its ``random`` lines)}``; optional ``"clearance"`` (Å, atoms closer than this across a boundary
    are thinned; default :data:`~aiida_bzs.structures.polycrystal.DEFAULT_CLEARANCE`, 2.0 Å).
    Unknown keys are refused at launch; bad values (grain count < 1, box smaller than two cells, a
    bad Atomsk line) give exit 410 with the runner's message.

    Outputs ``structure`` (LargeStructureData in the orthorhombic box, Å, with the per-atom
    ``grain`` array: grain ID 1…N), ``report`` (Dict: atoms, grains with their atoms, volume
    fractions, diameters (nm) and orientations (Atomsk angles, degrees; rotation matrices), atoms
    removed by the clearance, composition, density g/cm³) and ``atomsk`` (SinglefileData: the
    Atomsk parameter file of the grains used, so a random build can be rebuilt or fed to Atomsk).
    """

    TASK = "polycrystal"
    EXTRA_RETRIEVE = (runner.POLYCRYSTAL_ATOMSK,)
    #: Wall time (s): the build of 600k atoms takes ~20 s; this leaves room for a slow node.
    DEFAULT_WALLTIME = 1800

    @classmethod
    def define(cls, spec):
        """Reference crystal and the box/grains (or Atomsk file) of the polycrystal."""
        super().define(spec)
        spec.input("crystal", valid_type=STRUCTURE_TYPES, help="Reference crystal, 3-D periodic (Å).")
        spec.inputs["parameters"].required = True
        spec.inputs["parameters"].validator = _validate_polycrystal_parameters
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.polycrystal"
        spec.output("structure", valid_type=LargeStructureData,
                    help="The polycrystal (Å), per-atom array `grain` (grain ID, 1-based).")
        spec.output("report", valid_type=orm.Dict, help="Build report: grains, removed atoms, composition.")
        spec.output("atomsk", valid_type=orm.SinglefileData,
                    help="Atomsk parameter file of the grains used (Å, degrees): rebuilds the structure.")
        spec.default_output_node = "report"

    def write_inputs(self, folder) -> list[tuple]:
        return structure_copy(self.inputs.crystal, folder, runner.CRYSTAL)


#: Arrays of a ``gamma`` input read as per-atom γ, in order (``per_atom``: bzs.job.grade of a structure).
GAMMA_ARRAYS = ("per_atom", "gamma")


def _validate_interfaces_parameters(parameters: orm.Dict, _) -> str | None:
    params = parameters.get_dict()
    problem = unknown_keys_problem(params, runner.INTERFACES_KEYS)
    if problem:
        return problem
    for key in ("boundary_cutoff", "slice_thickness", "slice_position"):
        if key in params and not _is_number(params[key]):
            return f"`{key}` must be a number, got {params[key]!r}"
    for key in ("shells", "slice_axis"):
        if key in params and (isinstance(params[key], bool) or not isinstance(params[key], int)):
            return f"`{key}` must be an integer, got {params[key]!r}"
    if params.get("slice_axis", 2) not in (0, 1, 2):
        return f"`slice_axis` must be 0, 1 or 2 (the cell vector normal to the slice), got {params['slice_axis']}"
    return None


def _validate_gamma(gamma: orm.ArrayData, _) -> str | None:
    names = gamma.get_arraynames()
    if not any(name in names for name in GAMMA_ARRAYS):
        return (f"`gamma` has arrays {sorted(names)} but no per-atom γ ({list(GAMMA_ARRAYS)}); pass the `gamma` "
                "output of bzs.job.grade run on this structure (it writes `per_atom` for a structure)")
    return None


class InterfaceAnalysisCalculation(RunnerCalculation):
    """Grain-boundary versus grain-interior analysis of a (relaxed) polycrystal as a job
    (:func:`aiida_bzs.analysis.grain_interfaces.interface_analysis`: one neighbour search, seconds
    at 310k atoms). A boundary atom has an atom of another grain within ``boundary_cutoff``.

    ``structure``: the polycrystal (LargeStructureData or StructureData, Å). ``grains`` (optional):
    a LargeStructureData whose ``grain`` array gives each atom's grain, in the same atom order —
    typically the as-built structure of ``bzs.job.polycrystal``, since a relaxation output need not
    carry the array; without it the structure's own ``grain`` array is used. ``gamma`` (optional):
    per-atom extrapolation grade γ (dimensionless), the ``gamma`` output of ``bzs.job.grade`` on
    this structure (array ``per_atom``). ``parameters`` (optional): ``boundary_cutoff`` (Å, default
    3.8, the Ba–S shell), ``shells`` (widen the layer, default 1), ``slice_axis`` (0–2, default 2),
    ``slice_thickness`` (Å, default 5), ``slice_position`` (fraction of the cell, default 0.5).
    No grain IDs, or a ``grains``/``gamma`` with another atom count, give exit 410 naming it.

    Outputs ``summary`` (Dict: atoms, boundary fraction, and per set — boundary, interior, all —
    composition, S/Zr, Zr and Ba CN histograms and means, Zr–S bond length (Å), γ statistics),
    ``arrays`` (ArrayData per atom: ``is_boundary``, ``grain``, ``zr_cn``, ``ba_cn`` (−1 for other
    elements), ``zr_s_length`` (Å, NaN for other elements), ``gamma``) and ``plots``
    (SinglefileData PNGs: ``interfaces`` — CN and γ histograms —, ``slice_grain`` and, with γ,
    ``slice_gamma``).
    """

    TASK = "interfaces"
    EXTRA_RETRIEVE = (runner.INTERFACES_PNG, runner.SLICE_GRAIN_PNG, runner.SLICE_GAMMA_PNG)
    #: Wall time (s): the analysis of 310k atoms takes seconds, the figures tens of seconds.
    DEFAULT_WALLTIME = 1800

    @classmethod
    def define(cls, spec):
        """Structure, optional grain IDs and γ, analysis parameters."""
        super().define(spec)
        spec.input("structure", valid_type=STRUCTURE_TYPES, help="The (relaxed) polycrystal (Å).")
        spec.input("grains", valid_type=LargeStructureData, required=False,
                   help="Structure whose per-atom `grain` array gives the grains (same atoms, same order).")
        spec.input("gamma", valid_type=orm.ArrayData, required=False, validator=_validate_gamma,
                   help="Per-atom γ (array `per_atom`, from bzs.job.grade on the structure).")
        spec.inputs["parameters"].validator = _validate_interfaces_parameters
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.interfaces"
        spec.output("summary", valid_type=orm.Dict, help="Boundary vs interior: composition, CN, bonds (Å), γ.")
        spec.output("arrays", valid_type=orm.ArrayData, help="Per-atom is_boundary, grain, CNs, Zr–S length (Å), γ.")
        spec.output_namespace("plots", valid_type=orm.SinglefileData, help="Figures, PNG.")
        spec.output("plots.interfaces", valid_type=orm.SinglefileData, help="CN (and γ) histograms, PNG.")
        spec.output("plots.slice_grain", valid_type=orm.SinglefileData, help="Slice coloured by grain, PNG.")
        spec.output("plots.slice_gamma", valid_type=orm.SinglefileData, required=False,
                    help="Slice coloured by γ (log scale), PNG; only with `gamma`.")
        spec.default_output_node = "summary"

    def write_inputs(self, folder) -> list[tuple]:
        entries = structure_copy(self.inputs.structure, folder, runner.STRUCTURE)
        if "grains" in self.inputs:
            entries += structure_copy(self.inputs.grains, folder, runner.GRAINS)
        if "gamma" in self.inputs:
            gamma = self.inputs.gamma
            name = next(n for n in GAMMA_ARRAYS if n in gamma.get_arraynames())
            entries.append((gamma.uuid, f"{name}.npy", runner.GAMMA))  # ArrayData keeps <name>.npy files
        return entries


def _validate_dataset_map_parameters(parameters: orm.Dict, _) -> str | None:
    params = parameters.get_dict()
    problem = unknown_keys_problem(params, runner.DATASET_MAP_KEYS)
    if problem:
        return problem
    for key in ("r_cut", "sigma", "min_dist"):
        if key in params and (not _is_number(params[key]) or params[key] < 0):
            return f"`{key}` must be a non-negative number, got {params[key]!r}"
    for key in ("n_max", "l_max", "n_neighbors", "seed"):
        if key in params and (isinstance(params[key], bool) or not isinstance(params[key], int)):
            return f"`{key}` must be an integer, got {params[key]!r}"
    return None


class DatasetMapCalculation(RunnerCalculation):
    """The dataset map of a training set (the study's Fig. 1b) as a job: one SOAP vector per
    structure (dscribe, averaged over atoms) embedded in 2-D with UMAP, coloured by family.

    A job because it grows with the dataset (SOAP of every atom, a neighbour graph of every
    structure). ``dataset``: a TrainingSetData (its file is copied as is). ``parameters``
    (optional, :data:`~aiida_bzs.scripts.job.DATASET_MAP_KEYS`): SOAP ``r_cut`` and ``sigma`` (Å),
    ``n_max``, ``l_max``; UMAP ``n_neighbors``, ``min_dist``, ``seed``; ``title``. Fewer than
    :data:`~aiida_bzs.scripts.job.UMAP_MIN_STRUCTURES` structures are embedded with PCA (recorded).

    Outputs ``map`` (ArrayData: ``embedding`` N × 2 dimensionless, ``config_type``, ``natoms``,
    ``energy_per_atom`` eV/atom; the job's summary as attributes: method, SOAP settings, counts per
    family) and ``plot`` (SinglefileData, PNG).
    """

    TASK = "dataset_map"
    EXTRA_RETRIEVE = (runner.DATASET_MAP_PNG,)

    @classmethod
    def define(cls, spec):
        """A training set and the SOAP/UMAP settings."""
        super().define(spec)
        spec.input("dataset", valid_type=TrainingSetData, help="The structures to map (labels not needed).")
        spec.inputs["parameters"].validator = _validate_dataset_map_parameters
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.dataset_map"
        spec.output("map", valid_type=orm.ArrayData, help="2-D embedding, config types; summary as attributes.")
        spec.output("plot", valid_type=orm.SinglefileData, help="The map coloured by family, PNG.")

    def write_inputs(self, folder) -> list[tuple]:
        return frames_copy(self.inputs.dataset, folder, runner.DATASET)


def _validate_phonons_parameters(parameters: orm.Dict, _) -> str | None:
    params = parameters.get_dict()
    problem = unknown_keys_problem(params, runner.PHONONS_KEYS)
    if problem:
        return problem
    for key in ("supercell", "mesh"):
        value = params.get(key)
        if value is not None and (not isinstance(value, (list, tuple)) or len(value) != 3
                                  or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in value)):
            return f"`{key}` must be three integers ≥ 1, got {value!r}"
    for key in ("displacement", "fmax", "symprec"):
        if key in params and (not _is_number(params[key]) or params[key] <= 0):
            return f"`{key}` must be a positive number, got {params[key]!r}"
    if params.get("relax", "cell") not in ("cell", "positions", "none"):
        return f"`relax` must be 'cell', 'positions' or 'none', got {params['relax']!r}"
    path = params.get("path")
    if path is not None and (not isinstance(path, (list, tuple)) or len(path) < 2
                             or any(p not in runner.ORTHORHOMBIC_POINTS for p in path)):
        return f"`path` must list ≥ 2 of {sorted(runner.ORTHORHOMBIC_POINTS)}, got {path!r}"
    return None


def _validate_phonons_inputs(inputs, _) -> str | None:
    crystal, potential = inputs["crystal"], inputs["potential"]
    have = set(crystal.elements) if isinstance(crystal, LargeStructureData) else set(crystal.get_symbols_set())
    missing = sorted(have - set(potential.elements or []))
    if missing:
        return f"the crystal has {missing}, which the potential ({potential.elements}) does not describe"
    return None


class PhononsCalculation(RunnerCalculation):
    """Phonon band structure and DOS of a crystal with an ACE potential (phonopy, finite
    displacements; the study's Fig. S3 with ACE only — no DFT phonons here) as a job.

    ``crystal`` (Å, 3-D periodic; the Pnma reference), ``potential`` (its B-basis .yaml).
    ``parameters`` (optional, :data:`~aiida_bzs.scripts.job.PHONONS_DEFAULTS`): ``supercell``
    (repeats), ``displacement`` (Å), ``relax`` ('cell', 'positions' or 'none'; symmetry kept),
    ``fmax`` (eV/Å), ``max_steps``, ``mesh`` (DOS q mesh), ``band_points``, ``symprec`` (Å),
    ``path`` (names of orthorhombic high-symmetry points; default Γ–X–S–Y–Γ–Z–U–R–T–Z).

    Outputs ``phonons`` (ArrayData: band path length 1/Å, frequencies THz, DOS states/THz, Γ
    frequencies THz, relaxed cell and positions Å), ``summary`` (Dict: space group before and
    after relaxing, lowest frequency, imaginary optical modes at Γ) and ``plot`` (PNG).
    """

    TASK = "phonons"
    EXTRA_RETRIEVE = (runner.PHONONS_PNG,)

    @classmethod
    def define(cls, spec):
        """A crystal, a potential and the phonopy settings."""
        super().define(spec)
        spec.input("crystal", valid_type=STRUCTURE_TYPES, help="The crystal (Å), 3-D periodic.")
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential (B-basis .yaml is used).")
        spec.inputs["parameters"].validator = _validate_phonons_parameters
        spec.inputs.validator = _validate_phonons_inputs
        spec.inputs["metadata"]["options"]["parser_name"].default = "bzs.job.phonons"
        spec.output("phonons", valid_type=orm.ArrayData, help="Bands (THz) along the path, DOS, Γ frequencies.")
        spec.output("summary", valid_type=orm.Dict, help="Space group, relaxation, lowest frequency (THz).")
        spec.output("plot", valid_type=orm.SinglefileData, help="Band structure and DOS, PNG (ACE only).")
        spec.default_output_node = "summary"

    def write_inputs(self, folder) -> list[tuple]:
        return potential_copy(self.inputs.potential, active_set=False) + structure_copy(
            self.inputs.crystal, folder, runner.CRYSTAL)


# --- how workchains call the jobs ---------------------------------------------------------------

#: Code label (on a computer) of the runner; ``aiida-bzs setup`` registers ``bzs_job@localhost``.
JOB_CODE_NAME = "bzs_job"

#: Scheduler options of a job when the caller's protocol gives none: one core, one hour.
JOB_OPTIONS = {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1},
               "max_wallclock_seconds": DEFAULT_WALLTIME}


def job_code_beside(code: orm.AbstractCode | None) -> orm.AbstractCode:
    """The ``aiida-bzs-job`` code on the computer of ``code`` (``bzs_job@<computer>``), so heavy
    analysis runs where the simulation ran; ``bzs_job@localhost`` when ``code`` is None.

    :raises MissingCodeError: naming the fix when no such code is set up.
    """
    from ..common.codes import load_code

    computer = code.computer.label if code is not None and code.computer is not None else "localhost"
    return load_code(f"{JOB_CODE_NAME}@{computer}")


def check_job_code(inputs, beside: orm.AbstractCode | None) -> str | None:
    """Validator helper: why no runner code can be found for a workchain's jobs, or None.

    ``inputs['job_code']`` when given, else the runner beside ``beside``; a workchain calls this
    at launch so that a missing runner code fails before the first job, not after hours of MD.
    """
    if "job_code" in inputs:
        return None
    try:
        job_code_beside(beside)
    except LookupError as exc:
        return f"{exc}; or pass `job_code` (an aiida-bzs-job code on the computer that should run γ and analysis)"
    return None


def job_metadata(inputs, label: str) -> dict:
    """``metadata`` of a job called by a workchain: ``job_options`` (or :data:`JOB_OPTIONS`) and a link label."""
    options = dict(JOB_OPTIONS)
    if "job_options" in inputs:
        options.update(inputs["job_options"].get_dict())
    return {"options": options, "call_link_label": label}


def define_job_inputs(spec) -> None:
    """The two inputs every workchain that runs runner jobs has: ``job_code`` and ``job_options``."""
    spec.input("job_code", valid_type=orm.AbstractCode, required=False,
               help="aiida-bzs-job code for γ/parity/analysis jobs; default bzs_job@<computer of the main code>.")
    spec.input("job_options", valid_type=orm.Dict, required=False,
               help="Scheduler options of those jobs (resources, max_wallclock_seconds s, queue_name, …); "
                    "default one core for an hour (calculations/jobs.py JOB_OPTIONS).")


def job_code_of(inputs, beside: orm.AbstractCode | None) -> orm.AbstractCode:
    """``inputs['job_code']`` or the runner beside ``beside``."""
    return inputs["job_code"] if "job_code" in inputs else job_code_beside(beside)
