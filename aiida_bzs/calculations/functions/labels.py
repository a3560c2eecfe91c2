"""Calcfunctions that turn finished pw.x single points into labels, so every energy, force and
stress in a training set links back to the calculation that produced it.

Units on the way in (aiida-quantumespresso): energy eV (``output_parameters['energy']``),
forces eV/Å and stress GPa (``output_trajectory`` arrays ``forces`` and ``stress``). On the way
out (ASE/pacemaker): eV, eV/Å and eV/Å³ with ASE's sign; see :mod:`aiida_bzs.training.qe_labels`.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...training.qe_labels import attach_labels
from ...data.training_set import DatasetError, TrainingSetData
from .structures import to_atoms

#: Link-label prefixes of :func:`build_training_set`'s per-structure inputs.
PREFIXES = ("structure", "parameters", "trajectory")


def config_type_of(structure: orm.StructureData) -> str:
    """A structure's config_type: the attribute set by the generators, else an extra (set
    later, e.g. on MD snapshots), else 'unknown'."""
    return structure.base.attributes.get("config_type", None) or structure.base.extras.get("config_type", "unknown")


def labelled_atoms(structure: orm.StructureData, parameters: orm.Dict, trajectory: orm.TrajectoryData):
    """ASE ``Atoms`` of ``structure`` with the pw.x energy (eV), forces (eV/Å), stress (eV/Å³)."""
    atoms = to_atoms(structure)
    atoms.info["config_type"] = config_type_of(structure)
    atoms.info["source_uuid"] = structure.uuid
    forces = trajectory.get_array("forces")[-1]
    stress = trajectory.get_array("stress")[-1] if "stress" in trajectory.get_arraynames() else None
    return attach_labels(atoms, parameters["energy"], forces, stress)


@calcfunction
def build_training_set(settings: orm.Dict, reference_energies: orm.Dict | None = None, **labelled) -> TrainingSetData:
    """Collect labelled structures into a ``TrainingSetData``.

    ``labelled`` holds, for each structure ``i``, ``structure_<i>`` (StructureData),
    ``parameters_<i>`` (the pw.x ``output_parameters``) and ``trajectory_<i>`` (its
    ``output_trajectory``). ``settings``: the DFT settings recorded on the set;
    ``reference_energies``: isolated-atom energies in eV.
    """
    suffixes = sorted(key.split("_", 1)[1] for key in labelled if key.startswith("structure_"))
    if not suffixes:
        raise DatasetError("build_training_set got no labelled structures")
    images = []
    for suffix in suffixes:
        missing = [p for p in PREFIXES if f"{p}_{suffix}" not in labelled]
        if missing:
            raise DatasetError(f"structure {suffix}: inputs {missing} are missing")
        images.append(
            labelled_atoms(labelled[f"structure_{suffix}"], labelled[f"parameters_{suffix}"], labelled[f"trajectory_{suffix}"])
        )
    references = reference_energies.get_dict() if reference_energies is not None else {}
    return TrainingSetData.from_atoms(images, references, settings.get_dict(), require_labels=True)


@calcfunction
def isolated_atom_energies(**parameters: orm.Dict) -> orm.Dict:
    """Isolated-atom energies in eV by element, from the ``output_parameters`` of pw.x runs on
    single atoms in a large box (inputs keyed by element symbol)."""
    return orm.Dict({element: float(node["energy"]) for element, node in sorted(parameters.items())})
