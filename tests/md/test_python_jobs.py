"""The ``aiida-bzs-job`` CalcJobs (γ, parity, analysis, exploration) run the real runner on tiny inputs
and give what the same pure code gives in-process."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.analysis.extrapolation import per_atom_gamma
from aiida_bzs.calculations.jobs import (
    ExplorationCalculation,
    ExtrapolationGradeCalculation,
    ParityCalculation,
    StructureAnalysisCalculation,
)
from aiida_bzs.data.training_set import TrainingSetData


@pytest.fixture
def job_code(bzs_code):
    return bzs_code("bzs_job", with_mpi=False)


def _rattled(atoms, seed, stdev=0.05):
    work = atoms.copy()
    work.rattle(stdev=stdev, seed=seed)
    return work


def test_grade_of_a_structure_matches_pyace(job_code, tiny_potential_asi, supercell):
    structure = supercell((2, 1, 2))
    atoms = _rattled(structure.get_ase(), 1, 0.2)
    structure = orm.StructureData(ase=atoms)
    results, node = run_get_node(ExtrapolationGradeCalculation, code=job_code, potential=tiny_potential_asi,
                                 structure=structure)
    assert node.is_finished_ok, node.exit_message
    expected = per_atom_gamma(atoms, tiny_potential_asi.get_calculator(active_set=True))
    gamma = results["gamma"]
    np.testing.assert_allclose(gamma.get_array("per_atom"), expected, rtol=1e-5)  # tiny.asi is ill-conditioned (docs/md.md)
    summary = results["summary"].get_dict()
    assert summary["n_atoms"] == len(atoms) == 80
    assert summary["max"] == pytest.approx(expected.max())
    assert summary["n_above_reliable"] == int(np.sum(expected > 2.0))
    assert summary["job"]["wall_time_s"] > 0


def test_grade_of_a_trajectory_per_frame(job_code, tiny_potential_asi, supercell):
    base = supercell((1, 1, 1)).get_ase()
    frames = [_rattled(base, seed, 0.05 + 0.1 * seed) for seed in range(3)]
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(base.get_chemical_symbols(), np.array([f.positions for f in frames]),
                              stepids=np.array([0, 100, 200]), cells=np.array([f.cell[:] for f in frames]))
    results, node = run_get_node(ExtrapolationGradeCalculation, code=job_code, potential=tiny_potential_asi,
                                 trajectory=trajectory)
    assert node.is_finished_ok, node.exit_message
    calc = tiny_potential_asi.get_calculator(active_set=True)
    expected = [per_atom_gamma(f, calc).max() for f in frames]
    np.testing.assert_allclose(results["gamma"].get_array("max_gamma"), expected, rtol=1e-5)
    assert results["gamma"].get_array("step").tolist() == [0, 100, 200]
    assert "per_atom" not in results["gamma"].get_arraynames()


def test_grade_refuses_a_potential_without_active_set(job_code, tiny_potential, supercell):
    with pytest.raises(ValueError, match="no active set"):
        run_get_node(ExtrapolationGradeCalculation, code=job_code, potential=tiny_potential,
                     structure=supercell((1, 1, 1)))


def test_grade_refuses_elements_the_potential_lacks(job_code, tiny_potential_asi):
    from ase.build import bulk

    with pytest.raises(ValueError, match="does not describe"):
        run_get_node(ExtrapolationGradeCalculation, code=job_code, potential=tiny_potential_asi,
                     structure=orm.StructureData(ase=bulk("Cu", cubic=True)))


def test_parity_of_the_potential_on_its_own_labels_is_exact(job_code, tiny_potential, supercell):
    from ase.calculators.singlepoint import SinglePointCalculator

    calc = tiny_potential.get_calculator(active_set=False)
    images = []
    for seed in range(3):
        atoms = _rattled(supercell((1, 1, 1)).get_ase(), seed, 0.1)
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        atoms.info["config_type"] = "rattled"
        images.append(atoms)
    dataset = TrainingSetData.from_atoms(images, reference_energies={"Ba": 0.0, "Zr": 0.0, "S": 0.0})
    results, node = run_get_node(ParityCalculation, code=job_code, potential=tiny_potential, dataset=dataset)
    assert node.is_finished_ok, node.exit_message
    metrics = results["metrics"].get_dict()
    assert metrics["rmse_energy"] < 1e-6 and metrics["rmse_forces"] < 1e-6
    assert set(metrics["by_config_type"]) == {"rattled"}
    assert results["parity"].get_array("forces_ref").size == 3 * 20 * 3
    assert results["parity_plot"].filename == "parity.png"


def test_analysis_job_equals_the_pure_analysis(job_code, supercell):
    from aiida_bzs.analysis.coordination import BOND_CUTOFFS
    from aiida_bzs.analysis.standard import CONTACT_SPECIES, analyse_structure, analysis_payloads, bonds_to_dict
    from aiida_bzs.calculations.functions.analysis import payload_node

    atoms = _rattled(supercell((2, 1, 2)).get_ase(), 3, 0.1)
    structure = orm.StructureData(ase=atoms)
    params = {"bonds": bonds_to_dict(BOND_CUTOFFS), "contact_species": CONTACT_SPECIES, "contact_cutoff": 2.5,
              "rdf_r_max": 6.0, "rdf_bin_width": 0.05, "adf_bins": 90}
    results, node = run_get_node(StructureAnalysisCalculation, code=job_code, structure=structure,
                                 parameters=orm.Dict(params))
    assert node.is_finished_ok, node.exit_message
    pure = analyse_structure(structure.get_ase(), bonds=dict(BOND_CUTOFFS), contact_species=CONTACT_SPECIES,
                             contact_cutoff=2.5, r_max=6.0, bin_width=0.05, adf_bins=90)
    reference = {name: payload_node(p) for name, p in analysis_payloads(structure.get_ase(), pure).items()}
    assert set(results) - {"retrieved", "remote_folder"} == set(reference)
    density, ref_density = results["density"].get_dict(), reference["density"].get_dict()
    assert density["counts"] == ref_density["counts"] == {"Ba": 16, "S": 48, "Zr": 16}
    assert density["density"] == pytest.approx(ref_density["density"], rel=1e-12)
    for name, ref in reference.items():
        if isinstance(ref, orm.ArrayData):
            for array in ref.get_arraynames():
                np.testing.assert_allclose(results[name].get_array(array), ref.get_array(array), equal_nan=True)
    assert results["coordination_Zr_S"].base.attributes.get("mean_cn") == pytest.approx(
        reference["coordination_Zr_S"].base.attributes.get("mean_cn"))


def test_exploration_job(job_code, tiny_potential_asi):
    from aiida_bzs.calculations.functions.active_learning import EXPLORE_DEFAULTS

    explore = {**EXPLORE_DEFAULTS, "rss": {**EXPLORE_DEFAULTS["rss"], "count": 2},
               "relax": {"fmax": 0.5, "steps": 5, "relax_cell": False}, "md": {**EXPLORE_DEFAULTS["md"], "seed_count": 0}}
    results, node = run_get_node(ExplorationCalculation, code=job_code, potential=tiny_potential_asi,
                                 parameters=orm.Dict({"explore": explore, "generation": 1}))
    assert node.is_finished_ok, node.exit_message
    candidates = results["candidates"]
    assert len(candidates) == 2 and not candidates.labelled
    gamma = results["max_gamma"].get_array("max_gamma")
    assert gamma.shape == (2,) and np.all(gamma > 0)


def test_a_computer_without_the_runner_is_refused_before_any_md(tiny_potential_asi, supercell, tmp_path):
    """γ jobs run beside the MD: a LAMMPS code on a computer without ``bzs_job`` is refused at launch."""
    from aiida_bzs.common.codes import executable_path
    from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain

    computer = orm.Computer(label="bzs-test-no-runner", hostname="localhost", workdir=str(tmp_path),
                            transport_type="core.local", scheduler_type="core.direct").store()
    computer.configure()
    lmp = orm.InstalledCode(label="lmp", computer=computer, filepath_executable=str(executable_path("lmp") or "/bin/true"),
                            default_calc_job_plugin="bzs.lammps", with_mpi=False).store()
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp, tiny_potential_asi, supercell((1, 1, 1)),
                                                            protocol="demo")
    with pytest.raises(ValueError, match=r"no code labelled bzs_job@bzs-test-no-runner.*aiida-bzs setup"):
        run_get_node(builder)  # the validator refuses at launch: no stage has started
