"""A real PBEsol pw.x single point through PwBaseWorkChain, built by the shared protocol builder."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_bzs.common.codes import MissingCodeError
from aiida_bzs.common.pseudos import PseudoFamilyError
from aiida_bzs.workflows.protocols import ProtocolError, get_protocol, list_protocols
from aiida_bzs.workflows.pw_inputs import get_pw_builder


def test_protocols_exist():
    assert list_protocols("pw") == ["balanced", "fast", "stringent"]
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
        overrides={"SYSTEM": {"ecutwfc": 20.0, "ecutrho": 160.0}},
    )
    builder.kpoints_distance = 10.0  # Γ only
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
