"""A real PBEsol pw.x single point through PwBaseWorkChain, built by aiida-quantumespresso's
``get_builder_from_protocol`` with the overrides of protocols/pw.yaml; builder checks without pw.x."""

from __future__ import annotations

import numpy as np
import pytest
from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain
from ase import Atoms

from aiida_bzs.calculations.functions.structures import to_structure
from aiida_bzs.common.codes import MissingCodeError
from aiida_bzs.common.pseudos import PseudoFamilyError
from aiida_bzs.structures.crystal import cubic_perovskite as cubic_atoms
from aiida_bzs.workflows.protocols import (
    ProtocolError,
    ProtocolOverrideError,
    get_protocol,
    list_protocols,
)
from aiida_bzs.workflows.pw_inputs import DEFAULT_WALLTIME, get_pw_builder




def test_protocols_exist():
    assert list_protocols("pw") == ["balanced", "demo", "fast", "stringent"]
    assert get_protocol("pw")["kpoints_distance"] == 0.25  # default: balanced
    with pytest.raises(ProtocolError, match="choose one of"):
        get_protocol("pw", "fastest")


def test_missing_code_and_family_are_named(aiida_profile, pseudo_family):
    from aiida_bzs.calculations.functions.structures import cubic_perovskite

    structure = cubic_perovskite()
    with pytest.raises(MissingCodeError, match="aiida-bzs setup"):
        get_pw_builder(structure, code="pw@nowhere", pseudo_family=pseudo_family.label)
    with pytest.raises(PseudoFamilyError, match="aiida-bzs setup"):
        get_pw_builder(structure, code="pw@nowhere", pseudo_family="no/such/family")


def test_builder_is_aiida_qe_protocol_with_our_overrides(aiida_profile, stand_in_pw, pseudo_family):
    """fast: the pw.yaml numbers win; what pw.yaml does not say comes from aiida-qe's own `fast`."""
    structure = to_structure(cubic_atoms())
    builder = get_pw_builder(structure, stand_in_pw, "fast", pseudo_family.label, num_mpiprocs=2)
    params = builder.pw.parameters.get_dict()
    assert params["CONTROL"].items() >= {"calculation": "scf", "tprnfor": True, "tstress": True,
                                         "disk_io": "low"}.items()
    assert params["SYSTEM"].items() >= {"ecutwfc": 25.0, "ecutrho": 200.0, "occupations": "smearing",
                                        "smearing": "cold", "degauss": 0.02}.items()
    assert params["ELECTRONS"] == {"conv_thr": pytest.approx(5 * 1e-7), "mixing_beta": 0.4, "electron_maxstep": 80}
    assert builder.kpoints_distance.value == 1.0
    options = builder.pw.metadata.options
    assert options.max_wallclock_seconds == 3600 == DEFAULT_WALLTIME
    assert options.resources == {"num_machines": 1, "num_mpiprocs_per_machine": 2} and options.withmpi
    assert set(builder.pw.pseudos) == {"Ba", "Zr", "S"}
    qe = PwBaseWorkChain.get_protocol_inputs("fast")  # not in pw.yaml: aiida-qe's values, unused by an scf
    assert params["CONTROL"]["forc_conv_thr"] == qe["pw"]["parameters"]["CONTROL"]["forc_conv_thr"]
    assert params["CONTROL"]["etot_conv_thr"] == pytest.approx(5 * qe["meta_parameters"]["etot_conv_thr_per_atom"])
    assert builder.max_iterations.value == qe["max_iterations"] and not builder.clean_workdir.value


@pytest.mark.parametrize(("protocol", "scale"), [("balanced", 1.0), ("stringent", 1.25)])
def test_suggested_cutoffs_are_those_of_ba_zr_s_for_every_structure(aiida_profile, stand_in_pw, pseudo_family,
                                                                    protocol, scale):
    """An S2 dimer gets the cutoffs of BaZrS3 (the family's for Ba, Zr and S together), so every
    label and isolated-atom energy of a training set shares one basis."""
    dimer = to_structure(Atoms("S2", positions=[(0, 0, 0), (0, 0, 2.0)], cell=[6.0] * 3, pbc=True))
    system = get_pw_builder(dimer, stand_in_pw, protocol, pseudo_family.label).pw.parameters["SYSTEM"]
    wfc, rho = pseudo_family.get_recommended_cutoffs(elements=("Ba", "Zr", "S"), unit="Ry")
    assert (system["ecutwfc"], system["ecutrho"]) == (wfc * scale, rho * scale)
    assert wfc > pseudo_family.get_recommended_cutoffs(elements=("S",), unit="Ry")[0]


def test_overrides_are_aiida_qe_overrides(aiida_profile, stand_in_pw, pseudo_family):
    structure = to_structure(cubic_atoms())
    builder = get_pw_builder(structure, stand_in_pw, "fast", pseudo_family.label, overrides={
        "kpoints_distance": 0.5, "meta_parameters": {"conv_thr_per_atom": 1e-8},
        "pw": {"parameters": {"SYSTEM": {"ecutwfc": 30.0}}}}, options={"max_wallclock_seconds": 600})
    assert builder.kpoints_distance.value == 0.5
    assert builder.pw.parameters["SYSTEM"]["ecutwfc"] == 30.0 and builder.pw.parameters["SYSTEM"]["ecutrho"] == 200.0
    assert builder.pw.parameters["ELECTRONS"]["conv_thr"] == pytest.approx(5e-8)
    assert builder.pw.metadata.options.max_wallclock_seconds == 600


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"SYSTEM": {"ecutwfc": 30.0}}, "unknown protocol override 'SYSTEM'"),  # the old namelist form
        ({"kpoints_spacing": 0.3}, "unknown protocol override 'kpoints_spacing'"),
        ({"pw": {"parameters": {"SYSTEM": {"degaus": 0.01}}}}, "pw.x keyword 'degaus'"),
    ],
)
def test_unknown_overrides_are_refused(aiida_profile, stand_in_pw, pseudo_family, overrides, match):
    with pytest.raises(ProtocolOverrideError, match=match):
        get_pw_builder(to_structure(cubic_atoms()), stand_in_pw, "fast", pseudo_family.label, overrides=overrides)


@pytest.mark.slow
def test_real_pw_single_point(aiida_profile, bzs_code, pseudo_family):
    """5-atom cubic BaZrS3, Γ only, 20/160 Ry: energy, forces and stress come back as nodes."""
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.functions.structures import cubic_perovskite

    structure = cubic_perovskite()
    builder = get_pw_builder(
        structure,
        code=bzs_code("pw"),
        protocol="fast",
        pseudo_family=pseudo_family.label,
        overrides={"kpoints_distance": 10.0, "pw": {"parameters": {"SYSTEM": {"ecutwfc": 20.0, "ecutrho": 160.0}}}},
    )  # kpoints_distance 10 Å⁻¹: Γ only
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    params = results["output_parameters"].get_dict()
    # Ba 10 + Zr 12 + 3 S × 6 valence electrons in these pslibrary pseudos
    assert params["number_of_electrons"] == pytest.approx(40)
    assert -6000 < params["energy"] < -1000  # eV, order of magnitude of the total energy
    forces = results["output_trajectory"].get_array("forces")[-1]
    assert forces.shape == (5, 3)
    assert np.abs(forces).max() < 1e-3  # every atom on an inversion centre: no forces, eV/Å
    assert results["output_trajectory"].get_array("stress").shape == (1, 3, 3)
    assert node.called[-1].inputs.structure.uuid == structure.uuid
