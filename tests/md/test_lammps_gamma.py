"""γ computed by LAMMPS during the MD (settings.gamma_in_dump: pair_style pace/extrapolation, the
dump's f_pace_gamma column) equals pyace's on the same frames, and a melt–quench then needs no
separate grade job."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.analysis.extrapolation import per_atom_gamma
from aiida_bzs.common.codes import pace_plugin_dir
from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain

STAGE = {"name": "hot", "ensemble": "nvt", "temperature": 2500, "steps": 40, "thermo_interval": 10, "dump_interval": 10}


@pytest.fixture
def gamma_plugin(lmp_code):
    note = pace_plugin_dir() / "paceplugin.no-extrapolation.txt"
    if note.is_file():
        pytest.skip(f"the pace plugin was built without pace/extrapolation: {note.read_text().strip()}")
    return lmp_code


@pytest.mark.slow
def test_gamma_in_the_dump_equals_pyace(gamma_plugin, tiny_potential_asi, supercell):
    builder = LammpsBaseWorkChain.get_builder_from_protocol(
        gamma_plugin, supercell((2, 1, 2)), tiny_potential_asi, protocol="fast", stage=STAGE,
        overrides={"settings": {"gamma_in_dump": True}})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    gamma, trajectory = results["gamma"], results["trajectory"]
    assert gamma.get_array("step").tolist() == list(trajectory.get_stepids()) == [0, 10, 20, 30, 40]
    calc = tiny_potential_asi.get_calculator(active_set=True)
    expected = [per_atom_gamma(trajectory.get_step_structure(k).get_ase(), calc).max()
                for k in range(trajectory.numsteps)]
    # pyace sees the dumped positions (10 significant digits) and tiny.asi's Ba/Zr blocks are
    # ill-conditioned (condition numbers 1e14–1e15, docs/md.md): agreement to ~1e-5 relative
    np.testing.assert_allclose(gamma.get_array("max_gamma"), expected, rtol=1e-4)
    assert gamma.get_array("max_gamma")[-1] > 1.0  # 2500 K leaves the crystal's active set


def test_gamma_in_dump_needs_an_active_set(lmp_code, tiny_potential, supercell):
    builder = LammpsBaseWorkChain.get_builder_from_protocol(
        lmp_code, supercell((1, 1, 1)), tiny_potential, protocol="fast", stage=STAGE,
        overrides={"settings": {"gamma_in_dump": True}})
    with pytest.raises(ValueError, match="gamma_in_dump needs a potential with an active set"):
        run_get_node(builder)


@pytest.mark.slow
def test_melt_quench_uses_the_lammps_gamma(gamma_plugin, tiny_potential_asi, supercell):
    from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain

    overrides = {"timestep": 2.0, "stage_defaults": {"ensemble": "nvt", "dump_interval": 10, "thermo_interval": 10},
                 "stages": [{"name": "warm", "temperature": 300, "steps": 20},
                            {"name": "quench", "temperature": [300, 100], "steps": 20}]}
    builder = MeltQuenchWorkChain.get_builder_from_protocol(gamma_plugin, tiny_potential_asi, supercell((2, 1, 2)),
                                                            protocol="demo", overrides=overrides)
    builder.md.lammps.settings = orm.Dict({**builder.md.lammps.settings.get_dict(), "gamma_in_dump": True})
    builder.ace_reference = orm.Bool(False)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert set(results["gamma"]) == {"stage_0_warm", "stage_1_quench"}
    assert not [n for n in node.called if n.process_label == "ExtrapolationGradeCalculation"]
    assert results["gamma"]["stage_0_warm"].base.attributes.get("source") == "LAMMPS pair_style pace/extrapolation"
