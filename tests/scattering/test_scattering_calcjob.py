"""ScatteringCalculation through AiiDA with the real aiida-bzs-scatter on CPU, and its validation."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.calculations.scattering import ScatteringCalculation


def test_real_cpu_run_on_1000_atoms(bzs_code, sphere):
    """A ~1,000-atom sphere (radius 18 Å): curves, versions, device and timings come back as nodes."""
    atoms = sphere(18.0)
    builder = ScatteringCalculation.get_builder()
    builder.code = bzs_code("bzs_scatter")
    builder.structure = orm.StructureData(ase=atoms)
    builder.parameters = orm.Dict({"qmin": 1.0, "qmax": 20.0, "qstep": 0.01, "partials": ["Zr-S"]})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    meta = results["output_parameters"].get_dict()
    assert meta["n_atoms"] == len(atoms) and 900 < len(atoms) < 1100
    assert meta["debyecalculator_version"] == "1.1.1" and meta["device"] == "cpu"
    assert meta["parameters"]["dtype"] == "float32" and meta["pairs_per_s"] > 0
    q, iq = results["iq"].get_x()[1], results["iq"].get_y()[0][1]
    assert q[0] == pytest.approx(1.0) and np.all(iq > 0)
    s = results["sq"].get_y()[0][1]
    assert np.mean(s[q > 18]) == pytest.approx(1.0, abs=0.05)
    assert "Zr_S_gr" in results["partials"].get_arraynames()


@pytest.mark.parametrize(
    "structure, parameters, message",
    [
        ("empty", {}, "the structure is empty"),
        ("unknown", {}, "no X-ray form factor for element(s) ['X']"),
        ("ok", {"qmin": 6.0, "qmax": 2.0}, "Q range reversed"),
        ("ok", {"partials": ["Ba-O"]}, "absent from the structure"),
        ("ok", {"mode": "periodic"}, "needs a structure periodic in all three directions"),
    ],
)
def test_input_validation(aiida_profile, bzs_code, structure, parameters, message):
    node = orm.StructureData(cell=[[10, 0, 0], [0, 10, 0], [0, 0, 10]], pbc=(False, False, False))
    if structure != "empty":
        node.append_atom(position=(0, 0, 0), symbols="Ba")
        node.append_atom(position=(2.5, 0, 0), symbols="X" if structure == "unknown" else "S")
    builder = ScatteringCalculation.get_builder()
    builder.code = bzs_code("bzs_scatter")
    with pytest.raises(ValueError) as info:  # raised on assignment (port validator) or on launch
        builder.structure = node
        builder.parameters = orm.Dict(parameters)
        run_get_node(builder)
    assert message in str(info.value)


def test_exactly_one_structure_input(aiida_profile, bzs_code, sphere):
    from aiida_bzs.calculations.functions.scattering import structure_to_xyz

    structure = orm.StructureData(ase=sphere(5.0))
    xyz = structure_to_xyz(structure)
    assert xyz.base.attributes.get("n_atoms") == len(sphere(5.0)) and xyz.base.attributes.get("elements") == ["Ba", "S", "Zr"]
    builder = ScatteringCalculation.get_builder()
    builder.code = bzs_code("bzs_scatter")
    builder.structure, builder.structure_file = structure, xyz
    with pytest.raises(ValueError, match="exactly one of `structure`"):
        run_get_node(builder)
