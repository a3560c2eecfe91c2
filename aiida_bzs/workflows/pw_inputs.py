"""Builder for one PBEsol ``pw.x`` single point (energy, forces, stress) from a protocol.

Shared by the demo single point and the DFT labelling workchain so that every label in the
campaign is produced with the same, named settings (``protocols/pw.yaml``).
"""

from __future__ import annotations

from typing import Any

from aiida import orm
from aiida.common.extendeddicts import AttributeDict
from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

from ..common.codes import load_code
from ..common.pseudos import PseudoFamilyError, load_family
from .protocols import get_protocol

#: Wall time per pw.x job in s; labelling cells are small, so an hour is plenty.
DEFAULT_WALLTIME = 3600


def pw_parameters(protocol: dict, structure: orm.StructureData, family) -> dict:
    """Return the pw.x namelists for an SCF with forces and stress (cutoffs in Ry)."""
    if "ecutwfc" in protocol:
        ecutwfc, ecutrho = protocol["ecutwfc"], protocol["ecutrho"]
    else:
        ecutwfc, ecutrho = family.get_recommended_cutoffs(structure=structure, unit="Ry")
        ecutwfc, ecutrho = ecutwfc * protocol["cutoff_scale"], ecutrho * protocol["cutoff_scale"]
    natoms = len(structure.sites)
    return {
        "CONTROL": {"calculation": "scf", "tprnfor": True, "tstress": True, "disk_io": "low"},
        "SYSTEM": {
            "ecutwfc": float(ecutwfc),
            "ecutrho": float(ecutrho),
            "occupations": "smearing",
            "smearing": protocol["smearing"],
            "degauss": protocol["degauss"],
        },
        "ELECTRONS": {
            "conv_thr": protocol["conv_thr_per_atom"] * natoms,
            "mixing_beta": protocol["mixing_beta"],
            "electron_maxstep": protocol["electron_maxstep"],
        },
    }


def get_pw_builder(
    structure: orm.StructureData,
    code: str | orm.AbstractCode = "pw@localhost",
    protocol: str | None = None,
    pseudo_family: str | None = None,
    num_mpiprocs: int = 1,
    overrides: dict[str, Any] | None = None,
):
    """Return a ``PwBaseWorkChain`` builder for a single point of ``structure``.

    :param protocol: preset of ``protocols/pw.yaml`` (fast, balanced, stringent).
    :param pseudo_family: label of an aiida-pseudo family; default SSSP PBEsol, else the
        pslibrary family that ``aiida-bzs setup`` generates.
    :param overrides: nested dict merged into the pw.x namelists (e.g. ``{'SYSTEM': {...}}``).
    """
    settings = get_protocol("pw", protocol)
    family = load_family(pseudo_family)
    missing = sorted(set(structure.get_kind_names()) - {p.element for p in family.nodes})
    if missing:
        raise PseudoFamilyError(
            f"pseudo family {family.label} has no pseudopotential for {missing}; "
            "choose a family covering every element"
        )
    parameters = pw_parameters(settings, structure, family)
    for namelist, values in (overrides or {}).items():
        parameters.setdefault(namelist, {}).update(values)

    builder = PwBaseWorkChain.get_builder()
    builder.pw.code = load_code(code)
    builder.pw.structure = structure
    builder.pw.parameters = orm.Dict(parameters)
    builder.pw.pseudos = family.get_pseudos(structure=structure)
    builder.kpoints_distance = orm.Float(settings["kpoints_distance"])
    builder.pw.metadata.options = AttributeDict(
        {
            "resources": {"num_machines": 1, "num_mpiprocs_per_machine": num_mpiprocs},
            "max_wallclock_seconds": DEFAULT_WALLTIME,
            "withmpi": num_mpiprocs > 1,
        }
    )
    builder.clean_workdir = orm.Bool(False)
    return builder
