"""Real lmp runs of the MD workchains with the tiny potentials (a few hundred atoms, seconds of MD each)."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain
from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain
from aiida_bzs.workflows.relax import RelaxWorkChain

#: A melt–quench short enough for a test: 0.6 ps heat, 0.6 ps melt, 2200 K at 2e15 K/s (1.1 ps).
QUICK_STAGES = {
    "timestep": 2.0,
    "stage_defaults": {"ensemble": "npt", "pressure": 0.0, "tdamp": 100.0, "pdamp": 1000.0,
                       "dump_interval": 100, "thermo_interval": 10},
    "stages": [
        {"name": "heat", "temperature": [300, 2500], "duration": 0.6},
        {"name": "melt", "temperature": 2500, "duration": 0.6},
        {"name": "quench", "temperature": [2500, 300], "rate": 2.0e15},
        {"name": "minimise", "ensemble": "minimise", "box_relax": "iso", "ftol": 1e-2, "maxiter": 300},
    ],
}


def _calcjobs(workchain):
    """The LAMMPS calculations a base work chain ran, in order."""
    return sorted((n for n in workchain.called if n.process_label == "LammpsCalculation"), key=lambda n: n.ctime)


@pytest.mark.slow
def test_melt_quench_chains_stages(lmp_code, tiny_potential, supercell):
    structure = supercell((3, 2, 2))  # 240 atoms
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, structure,
                                                            protocol="demo", overrides=QUICK_STAGES)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    # stages chain: each stage starts from the previous stage's structure and velocities
    stages = sorted(node.called, key=lambda n: n.ctime)
    stages = [n for n in stages if n.process_label == "LammpsBaseWorkChain"]
    assert [n.base.links.get_incoming().get_node_by_label("lammps__parameters").get_dict()["name"]
            for n in stages] == ["heat", "melt", "quench", "minimise"]
    for previous, following in zip(stages, stages[1:]):
        incoming = following.base.links.get_incoming()
        assert incoming.get_node_by_label("lammps__structure").uuid == previous.outputs.structure.uuid
    assert stages[1].base.links.get_incoming().get_node_by_label("lammps__velocities").uuid == \
        stages[0].outputs.velocities.uuid

    # the temperature follows the programme: the melt within 10 % (last quarter: the corrected Pnma
    # crystal melts during the 0.6 ps hold and lags by ~500 K at its start), the quench within
    # 20 % of its span; the 0.6 ps heating lags (melting takes heat) but ends hot
    history = {k: results["history"].get_array(k) for k in results["history"].get_arraynames()}

    def deviation(index):
        rows = history["stage"] == index
        return np.abs(history["temperature"][rows] - history["target_temperature"][rows])

    assert deviation(1)[3 * len(deviation(1)) // 4:].mean() < 0.1 * 2500
    assert deviation(2).mean() < 0.2 * 2200
    assert history["temperature"][history["stage"] == 0][-1] > 0.5 * 2500
    assert history["target_temperature"][history["stage"] == 2][-1] == pytest.approx(300)
    assert np.all(np.diff(history["time"]) >= 0) and history["time"][-1] == pytest.approx(2.3)

    # outputs: amorphous structure with its density, curves, report
    assert len(results["structure"].sites) == 240
    density = results["density"].value
    assert 3.0 < density < 6.0
    assert density == pytest.approx(history["density"][-1], rel=0.02)
    assert results["plot"].get_content(mode="rb")[:4] == b"\x89PNG"
    report = results["report"].get_dict()
    assert not report["failed"] and [s["name"] for s in report["stages"]] == ["heat", "melt", "quench", "minimise"]
    assert set(results["stage_structures"]) == {"stage_0_heat", "stage_1_melt", "stage_2_quench", "stage_3_minimise"}

    # guard rails (#12): the quench's structure is its own output, every stage passed the sanity
    # checks, the minimiser's stop is recorded, and the product is said to be what it is: the tiny
    # test potential recrystallises the melt into a cubic-perovskite-like phase (Ba–S CN 12)
    assert results["quenched_structure"].uuid == results["stage_structures"]["stage_2_quench"].uuid
    assert all(row["sanity_violations"] == [] for row in report["stages"])
    assert report["stages"][3]["stop_criterion"] in ("force tolerance", "energy tolerance", "max iterations")
    check = results["product_check"].get_dict()
    assert report["classification"] == check["classification"] == "recrystallised"
    assert check["lro_ratio"] > 1.0 and check["product"]["ba_cn"]["mean"] > 10

    # density against the reference crystal and against the crystal relaxed with the same potential (#11)
    ace_crystal = results["ace_crystal"]
    relax = next(n for n in node.called if n.process_label == "RelaxWorkChain")
    assert relax.inputs.potential.uuid == tiny_potential.uuid and relax.inputs.relax_type.value == "cell"
    ace_density = ace_crystal.get_ase().get_masses().sum() / ace_crystal.get_cell_volume() * 1.66053906660
    assert check["ace_crystal_density"] == pytest.approx(ace_density, rel=1e-6)
    assert check["density_ratio_ace"] == pytest.approx(density / ace_density, rel=0.02)
    assert check["reference"] == "experimental Pnma cell"


def test_melt_quench_refuses_a_reference_that_is_not_pnma(lmp_code, tiny_potential, supercell):
    """The reference crystal of the density ratio must be Pnma BaZrS3 with intact octahedra."""
    from aiida import orm

    from aiida_bzs.structures.crystal import cubic_perovskite

    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, supercell((1, 1, 1)),
                                                            protocol="demo", overrides=QUICK_STAGES)
    builder.reference_crystal = orm.StructureData(ase=cubic_perovskite())
    with pytest.raises(ValueError, match="reference_crystal pk .*not Pnma"):
        run_get_node(builder)


@pytest.mark.slow
def test_broken_potential_fails_with_report(lmp_code, collapse_potential, supercell):
    overrides = {"timestep": 1.0, "stage_defaults": {"ensemble": "nvt", "dump_interval": 10, "thermo_interval": 10},
                 "stages": [{"name": "hold", "temperature": 300, "steps": 2000},
                            {"name": "quench", "temperature": [300, 100], "steps": 100}]}
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, collapse_potential, supercell((1, 1, 1)),
                                                            protocol="demo", overrides=overrides)
    results, node = run_get_node(builder)
    assert node.exit_status == MeltQuenchWorkChain.exit_codes.ERROR_SIMULATION_FAILED.status
    assert "hold" in node.exit_message
    report = results["report"].get_dict()
    assert report["failed"] and report["failure"]["stage"] == "hold"
    assert report["stages"][0]["failure"]["min_distance"] < 1.0
    # outputs up to the failure are kept: the curves of the failed stage, no final structure
    assert len(results["history"].get_array("step")) > 1 and "plot" in results
    assert "structure" not in results
    stage = next(n for n in node.called if n.process_label == "LammpsBaseWorkChain")
    assert stage.exit_status == LammpsBaseWorkChain.exit_codes.ERROR_SIMULATION_FAILED.status
    assert len(stage.called) == 1  # a broken potential is not retried
    assert "trajectory" in stage.outputs and "thermo" in stage.outputs


@pytest.mark.slow
def test_neighbour_overflow_is_handled(lmp_code, tiny_potential, supercell):
    builder = LammpsBaseWorkChain.get_builder()
    builder.lammps.code = lmp_code
    builder.lammps.structure = supercell((2, 1, 2))
    builder.lammps.potential = tiny_potential
    builder.lammps.parameters = orm.Dict({"ensemble": "nvt", "temperature": 300, "steps": 50})
    builder.lammps.settings = orm.Dict({"neighbour": {"one": 20, "page": 200}})
    results, node = run_get_node(builder)
    assert node.is_finished_ok
    calcs = _calcjobs(node)
    overflow = calcs[0].process_class.exit_codes.ERROR_NEIGHBOUR_OVERFLOW.status
    assert len(calcs) >= 2 and all(c.exit_status == overflow for c in calcs[:-1]) and calcs[-1].is_finished_ok
    assert [c.inputs.settings["neighbour"]["one"] for c in calcs] == [20 * 2**k for k in range(len(calcs))]
    assert results["results"]["final_step"] == 50


@pytest.mark.slow
def test_walltime_stop_continues_from_restart(lmp_code, tiny_potential, supercell):
    builder = LammpsBaseWorkChain.get_builder()
    builder.max_iterations = orm.Int(30)
    builder.lammps.code = lmp_code
    builder.lammps.structure = supercell((2, 2, 2))
    builder.lammps.potential = tiny_potential
    builder.lammps.parameters = orm.Dict({"ensemble": "npt", "temperature": [300, 900], "steps": 2500,
                                          "dump_interval": 100, "thermo_interval": 50})
    # LAMMPS stops itself after 1 s: ~2.5 s of MD on an idle 2-core machine, so 3 or more segments
    builder.lammps.metadata.options.max_wallclock_seconds = 2
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    calcs = _calcjobs(node)
    assert len(calcs) >= 2
    walltime = calcs[0].process_class.exit_codes.ERROR_OUT_OF_WALLTIME.status
    assert all(c.exit_status == walltime for c in calcs[:-1]) and calcs[-1].exit_status == 0
    assert calcs[1].inputs.parent_folder.uuid == calcs[0].outputs.remote_folder.uuid
    # the stage is one run: joined thermo without gaps or repeats, the ramp continued to its end
    steps = results["thermo"].get_array("step")
    assert steps[0] == 0 and steps[-1] == 2500 and np.all(np.diff(steps) == 50)
    assert results["trajectory"].numsteps == 26
    assert results["results"]["final_step"] == 2500


@pytest.mark.slow
def test_relax_volume_restarts_until_converged(lmp_code, tiny_potential):
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import rattle, strain

    structure = orm.StructureData(ase=rattle(strain(pnma_crystal(), [0.01, 0.01, 0.01, 0, 0, 0]), 0.05, seed=2))
    builder = RelaxWorkChain.get_builder_from_protocol(
        lmp_code, structure, tiny_potential, relax_type="volume", protocol="fast", overrides={"maxiter": 100})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    summary = results["results"].get_dict()
    assert summary["force_norm"] < 1e-2 and summary["criterion"] in ("force tolerance", "energy tolerance")
    volumes = summary["volumes"]
    assert len(volumes) >= 2 and volumes[-1] != pytest.approx(volumes[0], rel=1e-3)
    assert abs(volumes[-1] - volumes[-2]) / volumes[-2] < 0.02
    # maxiter 100 is too few (box/relax needs ~190 iterations here): the base work chain continued the minimisation from its last structure
    base = next(n for n in node.called if n.process_label == "LammpsBaseWorkChain")
    calcs = _calcjobs(base)
    not_converged = calcs[0].process_class.exit_codes.ERROR_MINIMISATION_NOT_CONVERGED.status
    assert calcs[0].exit_status == not_converged and calcs[-1].is_finished_ok
    assert results["energy"].value == pytest.approx(summary["energy"])


@pytest.mark.slow
def test_extrapolation_grade_per_frame_aborts_above_threshold(lmp_code, tiny_potential_asi, supercell):
    overrides = {"timestep": 2.0,
                 "stage_defaults": {"ensemble": "nvt", "dump_interval": 50, "thermo_interval": 50},
                 "stages": [{"name": "warm", "temperature": 300, "steps": 100},
                            {"name": "melt", "temperature": 3000, "steps": 300},
                            {"name": "quench", "temperature": [3000, 300], "steps": 100}]}
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, supercell((2, 1, 2)),
                                                            protocol="demo", overrides=overrides)
    builder.gamma_threshold = orm.Float(100.0)
    builder.gamma_abort = orm.Bool(True)
    results, node = run_get_node(builder)
    assert node.exit_status == MeltQuenchWorkChain.exit_codes.ERROR_EXTRAPOLATION.status
    warm, melt = results["gamma"]["stage_0_warm"], results["gamma"]["stage_1_melt"]
    assert list(warm.get_array("step")) == [0, 50, 100] and len(melt.get_array("max_gamma")) == 7
    assert warm.get_array("max_gamma").max() < 100 < melt.get_array("max_gamma").max()
    report = results["report"].get_dict()
    assert report["gamma_flagged_stages"] == ["melt"] and report["failure"]["stage"] == "melt"
    assert len(report["stages"]) == 2  # the quench never ran


@pytest.mark.slow
def test_random_hard_sphere_start(lmp_code, tiny_potential, supercell):
    overrides = {"start": "hard_sphere", "hard_sphere": {"density": 4.0, "seed": 5},
                 "stages": [{"name": "hold", "ensemble": "npt", "temperature": 1500, "steps": 100},
                            {"name": "minimise", "ensemble": "minimise", "ftol": 1e-2, "maxiter": 200}]}
    crystal = supercell((2, 1, 2))
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, crystal,
                                                            protocol="demo", overrides=overrides)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    start = next(n for n in node.called if n.process_label == "hard_sphere_start")
    box = start.outputs.result
    assert box.get_formula() == crystal.get_formula() and box.base.attributes.get("config_type") == "hard_sphere"
    assert box.get_cell_volume() == pytest.approx(crystal.get_cell_volume() * 4.3545 / 4.0, rel=1e-3)
    first = next(n for n in node.called if n.process_label == "LammpsBaseWorkChain")
    assert first.inputs.lammps.structure.uuid == box.uuid
