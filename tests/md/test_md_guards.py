"""Guard rails of MD (issue #12): unusable potentials refused, unphysical runs named, minimiser
stops accepted, the product said for what it is. Parsers on stored real outputs
(tests/fixtures/md/make_guard_outputs.py, make_quench_products.py), work chains with real lmp."""

import importlib.util

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_bzs.md.programme import normalise_stage
from aiida_bzs.analysis.md_sanity import check_thermo, halt_commands, normalise_sanity, SanityInputError
from aiida_bzs.analysis.product_check import check_product, classify_product, crystal_numbers
from aiida_bzs.parsers.lammps_output import parse_log, read_final_data
from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain
from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain
from aiida_bzs.workflows.relax import RelaxWorkChain


def _cases(md_fixtures, script):
    spec = importlib.util.spec_from_file_location(script, md_fixtures / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


def _calcjobs(workchain):
    return sorted((n for n in workchain.called if n.process_label == "LammpsCalculation"), key=lambda n: n.ctime)


@pytest.fixture
def parse_stored(aiida_localhost, md_fixtures):
    """Factory: parse the stored outputs of ``case`` of ``script`` as if its CalcJob had retrieved them."""
    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.parsers.lammps import LammpsParser
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell, rattle

    def factory(case: str, script: str = "make_guard_outputs", sanity: dict | None = None):
        spec = _cases(md_fixtures, script)[case]
        folder = md_fixtures / case
        atoms = make_supercell(pnma_crystal(), list(spec["repeat"]))
        if "rattle" in spec:
            atoms = rattle(atoms, spec["rattle"], seed=1)
        potential = AcePotentialData.get_or_create(md_fixtures / f"{spec['potential']}.yaml",
                                                   yace=md_fixtures / f"{spec['potential']}.yace")
        node = orm.CalcJobNode(computer=aiida_localhost, process_type="aiida.calculations:bzs.lammps")
        node.set_option("resources", {"num_machines": 1, "num_mpiprocs_per_machine": 1})
        inputs = [("structure", orm.StructureData(ase=atoms)), ("potential", potential),
                  ("parameters", orm.Dict(normalise_stage(spec["stage"])))]
        if sanity is not None:
            inputs.append(("sanity", orm.Dict(sanity)))
        for label, value in inputs:
            node.base.links.add_incoming(value.store(), LinkType.INPUT_CALC, label)
        node.store()
        retrieved = orm.FolderData()
        for name in ("log.lammps", "final.data"):
            if (folder / name).is_file():
                retrieved.base.repository.put_object_from_file(str(folder / name), name)
        retrieved.base.links.add_incoming(node, LinkType.CREATE, "retrieved")
        retrieved.store()
        return LammpsParser.parse_from_node(node, store_provenance=False, retrieved_temporary_folder=str(folder))

    return factory


# -- 1. unusable potentials ---------------------------------------------------------------------

BAD_METRICS = {"rmse_energy": 900.0, "rmse_forces": 3000.0, "n_structures": 10}


@pytest.fixture
def bad_potential(aiida_profile, md_fixtures, tmp_path):
    """A copy of the tiny potential (its own node: other tests keep theirs unjudged) judged unusable
    by the real ``assess_fit`` from eV/atom test errors."""
    from aiida_bzs.data.ace_potential import AcePotentialData

    text = (md_fixtures / "tiny.yaml").read_text() + "\n# copy judged unusable in tests/md/test_md_guards.py\n"
    (tmp_path / "bad.yaml").write_text(text)
    potential = AcePotentialData.get_or_create(tmp_path / "bad.yaml", yace=md_fixtures / "tiny.yace")
    assert _verdict(potential, BAD_METRICS)["verdict"] == "unusable"
    return potential


def _verdict(potential, metrics):
    from aiida_bzs.analysis.fit_quality import DEFAULT_THRESHOLDS
    from aiida_bzs.calculations.functions.ace_quality import assess_fit

    return assess_fit(potential, orm.Dict(metrics), orm.Dict(DEFAULT_THRESHOLDS))["verdict"]


def test_unusable_potential_is_refused_before_any_job(lmp_code, bad_potential, supercell):
    tiny_potential = bad_potential
    structure = supercell((1, 1, 1))
    builders = [
        MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, structure, protocol="demo"),
        RelaxWorkChain.get_builder_from_protocol(lmp_code, structure, tiny_potential, protocol="fast"),
    ]
    base = LammpsBaseWorkChain.get_builder()
    base.lammps.code = lmp_code
    base.lammps.structure = structure
    base.lammps.potential = tiny_potential
    base.lammps.parameters = orm.Dict({"ensemble": "nvt", "temperature": 300, "steps": 10})
    builders.append(base)
    before = orm.QueryBuilder().append(orm.CalcJobNode).count()
    for builder in builders:
        with pytest.raises(ValueError, match="unusable for simulations.*allow_unusable_potential"):
            run_get_node(builder)
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == before  # nothing ran

    # the explicit override runs, and says so
    builder = RelaxWorkChain.get_builder_from_protocol(lmp_code, structure, tiny_potential, protocol="fast")
    builder.allow_unusable_potential = orm.Bool(True)
    _, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    from aiida_bzs.common.potential_quality import check_potential_usable

    error, warning = check_potential_usable(tiny_potential, allow_unusable=True)
    assert error is None and "UNUSABLE but allowed" in warning  # what the work chains report


def test_cli_refuses_unusable_potential_in_one_line(lmp_code, bad_potential, supercell):
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root

    tiny_potential = bad_potential
    structure = supercell((1, 1, 1)).store()
    label = f"{lmp_code.label}@{lmp_code.computer.label}"
    for command in (["md", "melt-quench"], ["relax"]):
        result = CliRunner().invoke(cmd_root, [*command, str(structure.pk), str(tiny_potential.pk), "--code", label])
        assert result.exit_code != 0
        assert "unusable for simulations" in result.output and "--allow-unusable-potential" in result.output
        assert "Traceback" not in result.output


# -- 2. MD sanity ----------------------------------------------------------------------------------

def test_sanity_on_stored_real_logs(md_fixtures):
    cases = _cases(md_fixtures, "make_lammps_outputs")

    def violations(case, settings=None):
        log = parse_log((md_fixtures / case / "log.lammps").read_text())
        n_atoms = 20 * int(np.prod(cases[case]["repeat"]))
        return check_thermo(log.thermo, normalise_stage(cases[case]["stage"]), n_atoms, settings)

    assert violations("npt") == []  # a sound 300 → 600 K NPT ramp
    # the broken potential in NVT at 300 K: E_pot falls by > 1.5 eV/atom at 0.54 ps, then T runs
    # away above 2300 K, long before LAMMPS meets atoms < 1 Å (step 1770)
    first, second = violations("collapse")
    assert (first.criterion, first.step, first.time) == ("potential_energy", 540, pytest.approx(0.54))
    assert second.criterion == "temperature" and second.value > 2300 == second.limit
    (runaway,) = violations("collapse", {"max_potential_energy_change": None})
    assert runaway.criterion == "temperature" and runaway.time == pytest.approx(0.63)
    # 40 fs NVE: the total energy (NVE's conserved quantity) drifts
    drift = {v.criterion: v for v in violations("lost_atoms")}["conserved_drift"]
    assert drift.value > 0.1 and drift.time == pytest.approx(0.8)


def test_sanity_settings_and_halt_commands():
    with pytest.raises(SanityInputError, match="density_window"):
        normalise_sanity({"density_window": [1.2, 1.5]})
    with pytest.raises(SanityInputError, match="unknown"):
        normalise_sanity({"temperature_limit": 5000})
    md = normalise_stage({"ensemble": "npt", "temperature": [2500, 300], "steps": 1000})
    lines = "\n".join(halt_commands(md, None, 4.0))
    assert 'variable bzs_target equal "2500.0 + (300.0 - 2500.0)*step/1000"' in lines
    assert "(density < 2) || (density > 6)" in lines
    assert "fix bzs_halt all halt 10 v_bzs_insane > 0.5 error soft message yes" in lines
    assert "(step >= 500) && (temp > v_bzs_tlimit)" in "\n".join(halt_commands(md, None, 4.0, new_velocities=True))
    minimise = normalise_stage({"ensemble": "minimise", "box_relax": "iso"})
    assert "temp" not in "\n".join(halt_commands(minimise, None, 4.0))
    assert halt_commands(md, {"halt": False}, 4.0) == []


@pytest.mark.parametrize("case, exit_code, time, sanity", [
    ("runaway", "ERROR_TEMPERATURE_RUNAWAY", 3.24, None),       # 18 fs steps: 83,694 K at step 180
    ("runaway", "ERROR_ENERGY_DRIFT", 3.24, {"temperature_factor": None}),  # econserve: 11 eV/atom
    ("gas", "ERROR_DENSITY_OUT_OF_WINDOW", 0.8, None),          # 30,000 K at 0 bar: 2.16 g/cm³
    ("dense", "ERROR_DENSITY_OUT_OF_WINDOW", 0.12, None),       # broken potential: 6.61 g/cm³ at step 60
])
def test_unphysical_runs_get_their_exit_code(parse_stored, case, exit_code, time, sanity):
    from aiida_bzs.calculations.lammps import LammpsCalculation

    outputs, process = parse_stored(case, sanity=sanity)
    assert process.exit_status == LammpsCalculation.exit_codes[exit_code].status
    assert f"at {time:.3f} ps" in process.exit_message and "Stage " in process.exit_message
    results = outputs["results"].get_dict()
    # LAMMPS itself stopped the run (fix halt) long before its end; everything is kept
    assert results["sanity"]["halted"]["step"] == results["final_step"] < results["target_steps"]
    assert {"structure", "trajectory", "thermo"} <= set(outputs)
    assert not results["failure"]["failed"]  # no contact < 1 Å: only the sanity criteria saw it
    if case == "gas":
        assert outputs["thermo"].get_array("density")[-1] < 0.5 * 4.3545


def test_stalled_minimisation_keeps_its_structure(parse_stored):
    from aiida_bzs.calculations.lammps import LammpsCalculation

    outputs, process = parse_stored("minimise_stalled")
    assert process.exit_status == LammpsCalculation.exit_codes.ERROR_MINIMISATION_STALLED.status
    minimisation = outputs["results"]["minimisation"]
    assert minimisation["criterion"] == "linesearch alpha is zero" and not minimisation["out_of_budget"]
    assert "structure" in outputs


# -- 3. the minimiser and the quenched structure ---------------------------------------------------

def _minimise(lmp_code, potential, structure, **stage):
    builder = LammpsBaseWorkChain.get_builder()
    builder.lammps.code = lmp_code
    builder.lammps.structure = structure
    builder.lammps.potential = potential
    builder.lammps.parameters = orm.Dict({"name": "relax", "ensemble": "minimise", **stage})
    return builder


@pytest.mark.slow
def test_minimiser_stops_are_results_not_retries(lmp_code, tiny_potential):
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import rattle

    structure = orm.StructureData(ase=rattle(pnma_crystal(), 0.3, seed=1))
    # 'linesearch alpha is zero': one run, its structure is the result
    results, node = run_get_node(_minimise(lmp_code, tiny_potential, structure, ftol=1e-14, linesearch="backtrack"))
    assert node.is_finished_ok, node.exit_message
    (calc,) = _calcjobs(node)
    assert calc.exit_status == calc.process_class.exit_codes.ERROR_MINIMISATION_STALLED.status
    assert results["results"]["minimisation"]["criterion"] == "linesearch alpha is zero"
    assert results["structure"].uuid == calc.outputs.structure.uuid

    # an unreachable tolerance: continued once, then a continuation that gains nothing is the end
    results, node = run_get_node(_minimise(lmp_code, tiny_potential, structure, ftol=1e-14, maxiter=400))
    assert node.is_finished_ok, node.exit_message
    calcs = _calcjobs(node)
    not_converged = calcs[0].process_class.exit_codes.ERROR_MINIMISATION_NOT_CONVERGED.status
    assert 2 <= len(calcs) < 5 and all(c.exit_status == not_converged for c in calcs)
    assert results["results"]["minimisation"]["criterion"] == "max iterations"


@pytest.mark.slow
def test_failed_stage_after_the_quench_keeps_the_quenched_structure(lmp_code, tiny_potential, supercell):
    overrides = {"timestep": 1.0,
                 "stage_defaults": {"ensemble": "npt", "pressure": 0.0, "tdamp": 100.0, "pdamp": 100.0,
                                    "dump_interval": 100, "thermo_interval": 20},
                 "stages": [{"name": "heat", "temperature": [300, 2500], "steps": 200},
                            {"name": "quench", "temperature": [2500, 300], "steps": 200},
                            {"name": "boil", "temperature": [300, 60000], "steps": 3000},
                            {"name": "minimise", "ensemble": "minimise", "maxiter": 5, "ftol": 1e-6}]}
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, supercell((2, 1, 2)),
                                                            protocol="demo", overrides=overrides)
    results, node = run_get_node(builder)
    assert node.exit_status == MeltQuenchWorkChain.exit_codes.ERROR_DENSITY_OUT_OF_WINDOW.status
    assert "stage 'boil' at" in node.exit_message and "ps into the programme" in node.exit_message
    assert results["quenched_structure"].uuid == results["stage_structures"]["stage_1_quench"].uuid
    assert "structure" not in results  # the chain failed; the quench's product is still there
    report = results["report"].get_dict()
    assert report["failure"]["stage"] == "boil" and report["product"] == "quenched structure"
    assert results["product_check"]["classification"] in ("amorphous", "amorphous_atypical", "recrystallised")
    boil = report["stages"][2]
    assert boil["sanity_violations"][0]["criterion"] == "density" and boil["final_step"] < 3000


@pytest.mark.slow
def test_runaway_melt_quench_is_stopped_and_named(lmp_code, tiny_potential, supercell):
    # an 18 fs timestep (16 fs still holds with this potential) blows the integration up
    overrides = {"timestep": 18.0,
                 "stage_defaults": {"ensemble": "nvt", "tdamp": 1000.0, "dump_interval": 5, "thermo_interval": 5},
                 "stages": [{"name": "hold", "temperature": 1000, "steps": 1000},
                            {"name": "quench", "temperature": [1000, 300], "steps": 100}]}
    builder = MeltQuenchWorkChain.get_builder_from_protocol(lmp_code, tiny_potential, supercell((2, 1, 2)),
                                                            protocol="demo", overrides=overrides)
    results, node = run_get_node(builder)
    assert node.exit_status == MeltQuenchWorkChain.exit_codes.ERROR_TEMPERATURE_RUNAWAY.status, node.exit_message
    assert "stage 'hold' at" in node.exit_message and "above the limit 3000 K" in node.exit_message
    report = results["report"].get_dict()
    hold = report["stages"][0]
    assert hold["final_step"] < 1000  # LAMMPS halted itself
    assert hold["sanity_violations"][0]["criterion"] == "temperature"
    assert hold["failure"]["min_distance"] is None or hold["failure"]["min_distance"] > 1.0
    assert "history" in results and "quenched_structure" not in results and "product_check" not in results


# -- 4. what the product is --------------------------------------------------------------------------

def test_product_check_on_physical_structures(md_fixtures):
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell, rattle

    crystal = crystal_numbers()
    assert crystal["zr_cn"]["histogram"] == {"6": 1.0} and crystal["ba_cn"]["histogram"] == {"8": 1.0}
    assert crystal["density"] == pytest.approx(4.3545, abs=1e-3)

    # the crystal (and a thermally rattled one) are crystalline
    check = check_product(make_supercell(pnma_crystal(), [3, 2, 2]))
    assert check["classification"] == "recrystallised" and check["lro_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert check_product(rattle(make_supercell(pnma_crystal(), [3, 2, 2]), 0.2, seed=1))["classification"] == \
        "recrystallised"

    # the crystal's atoms spread at random over a 27× larger cell: a gas
    gas = make_supercell(pnma_crystal(), [2, 1, 2])
    gas.set_cell(gas.cell[:] * 3.0, scale_atoms=False)
    gas.positions = np.random.default_rng(0).random((len(gas), 3)) @ gas.cell[:]
    check = check_product(gas)
    assert check["classification"] == "gas_like" and check["density_ratio"] < 0.05

    # real melt–quench products (tests/fixtures/md/make_quench_products.py): the tiny potential
    # recrystallises its melt into a Ba 12-fold (cubic-perovskite-like) phase ...
    check = check_product(read_final_data(md_fixtures / "quench_tiny" / "final.data", ["Ba", "S", "Zr"]))
    assert check["classification"] == "recrystallised"
    assert check["product"]["ba_cn"]["mean"] == pytest.approx(12.0) and check["lro_ratio"] > 1.0
    # ... while a random start quenched at once is a glass, but not the study's (too light, Zr under-coordinated)
    check = check_product(read_final_data(md_fixtures / "random_quench" / "final.data", ["Ba", "S", "Zr"]))
    assert check["classification"] == "amorphous_atypical" and check["lro_ratio"] < 0.2
    assert check["density_ratio"] < 0.85 and check["product"]["zr_cn"]["mean"] < 5


def test_study_amorphous_numbers_classify_as_amorphous():
    crystal = crystal_numbers()
    study = {"density": 0.925 * crystal["density"], "lro_amplitude": 0.1 * crystal["lro_amplitude"],
             "zr_cn": {"mean": 5.7}, "ba_cn": {"mean": 6.8}}
    assert classify_product(study, crystal)["classification"] == "amorphous"
    denser = {**study, "density": 1.05 * crystal["density"], "ba_cn": {"mean": 11.0}}
    check = classify_product(denser, crystal)
    assert check["classification"] == "amorphous_atypical"
    assert any("Ba–S CN 11.00" in reason for reason in check["reasons"])
