"""The analysis job, the StructureAnalysisWorkChain (bzs.analysis) and the fast node conversion."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, WorkflowFactory

from aiida_bzs.analysis.coordination import BOND_CUTOFFS
from aiida_bzs.common.structure_nodes import atoms_from_structure, structure_from_atoms
from aiida_bzs.structures import make_supercell, rattle

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def crystal_node(aiida_profile, crystal):
    return structure_from_atoms(rattle(make_supercell(crystal, (2, 1, 2)), 0.05, seed=1)).store()


@pytest.fixture
def random_node(aiida_profile, make_random_bazrs3):
    return structure_from_atoms(make_random_bazrs3(16, seed=3)).store()


def test_fast_conversion_equals_aiida_own(aiida_profile, crystal, random_cell):
    for atoms in (crystal, random_cell):
        fast, slow = structure_from_atoms(atoms), orm.StructureData(ase=atoms)
        assert fast.base.attributes.all == slow.base.attributes.all
        back = atoms_from_structure(fast.store())
        reference = slow.store().get_ase()
        assert back.get_chemical_symbols() == reference.get_chemical_symbols()
        np.testing.assert_allclose(back.positions, reference.positions)
        np.testing.assert_allclose(back.cell[:], reference.cell[:])
        assert back.pbc.tolist() == reference.pbc.tolist()


def _analysis_job(structure, bonds, contact_cutoff=2.5, r_max=6.0, bin_width=0.05, adf_bins=90):
    from aiida_bzs.calculations.jobs import StructureAnalysisCalculation

    parameters = {"bonds": bonds, "contact_species": "S", "contact_cutoff": contact_cutoff, "rdf_r_max": r_max,
                  "rdf_bin_width": bin_width, "adf_bins": adf_bins}
    results, node = run_get_node(StructureAnalysisCalculation, code=orm.load_code("bzs_job@localhost"),
                                 structure=structure, parameters=orm.Dict(parameters))
    assert node.is_finished_ok, node.exit_message
    return results, node


def test_analysis_job_records_per_atom_arrays(crystal_node):
    result, node = _analysis_job(crystal_node, {"Zr-S": 3.1})
    cn = result["coordination_Zr_S"]
    assert cn.get_array("cn").shape == (len(crystal_node.sites),)
    assert cn.get_array("cn_counts").tolist() == [0] * 6 + [16]
    assert cn.base.attributes.get("mean_cn") == 6.0
    assert node.inputs.structure.uuid == crystal_node.uuid


def test_density_calcfunction(crystal_node):
    density = CalculationFactory("bzs.analysis.density")(crystal_node).get_dict()
    assert density["density"] == pytest.approx(4.3545, abs=1e-3)
    assert density["counts"] == {"Ba": 16, "S": 48, "Zr": 16}


def test_workchain_compares_crystal_and_random(crystal_node, random_node):
    workchain = WorkflowFactory("bzs.analysis")
    results, node = run_get_node(workchain, structures={"crystal": crystal_node, "random": random_node})
    assert node.is_finished_ok, node.exit_message
    assert set(results["results"]) == {"crystal", "random"}
    names = {"density", "rdf", "contacts"} | {
        f"{kind}_{c}_{n}" for kind in ("coordination", "angles") for c, n in BOND_CUTOFFS
    }
    assert set(results["results"]["crystal"]) == names
    zr = results["results"]["crystal"]["coordination_Zr_S"]
    assert zr.base.attributes.get("mean_cn") == 6.0
    assert results["results"]["random"]["coordination_Zr_S"].base.attributes.get("mean_cn") < 6.0
    assert set(results["plots"]) == {"overview", "coordination", "rdf", "angles"}
    for png in results["plots"].values():
        assert png.get_content("rb").startswith(PNG_MAGIC)
    # every result is the output of a job (not a daemon calcfunction) the workchain called
    assert sorted(c.process_label for c in node.called) == ["StructureAnalysisCalculation"] * 2 + ["plot_comparison"]
    assert zr.creator.process_type == "aiida.calculations:bzs.job.analysis"
    assert zr.creator.inputs.structure.uuid == crystal_node.uuid
    assert zr.creator.get_option("max_wallclock_seconds") == 3600


def test_builder_from_protocol_records_the_numbers(crystal_node):
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    workchain = WorkflowFactory("bzs.analysis")
    builder = workchain.get_builder_from_protocol({"crystal": crystal_node}, protocol="large",
                                                  overrides={"analysis": {"rdf_r_max": 8.0}})
    assert builder.rdf_r_max.value == 8.0 and builder.bonds.get_dict() == {"Zr-S": 3.1, "Ba-S": 3.8}
    assert builder.job_options.get_dict()["max_wallclock_seconds"] == 7200
    with pytest.raises(ProtocolOverrideError, match="rdf_rmax"):
        workchain.get_builder_from_protocol({"crystal": crystal_node}, overrides={"analysis": {"rdf_rmax": 8.0}})


def test_analysis_job_equals_the_single_pure_functions(crystal_node):
    from aiida_bzs.analysis import angles, contacts, coordination, rdf
    from aiida_bzs.calculations.functions.analysis import angles_node, contacts_node, coordination_node, rdf_node

    job, _ = _analysis_job(crystal_node, {"Ba-S": 3.8}, contact_cutoff=3.6)
    atoms = crystal_node.get_ase()
    single = {
        "coordination_Ba_S": coordination_node(coordination.coordination(atoms, "Ba", "S", 3.8)),
        "angles_Ba_S": angles_node(angles.bond_angle_distribution(atoms, "Ba", "S", 3.8, bins=90)),
        "rdf": rdf_node(rdf.radial_distribution(atoms, r_max=6.0, bin_width=0.05)),
        "contacts": contacts_node(contacts.close_contacts(atoms, "S", 3.6)),
    }
    assert set(job) - {"retrieved", "remote_folder"} == set(single) | {"density"}
    for name, node in single.items():
        assert sorted(node.get_arraynames()) == sorted(job[name].get_arraynames())
        for array in node.get_arraynames():
            np.testing.assert_allclose(node.get_array(array), job[name].get_array(array), equal_nan=True)
        assert node.base.attributes.get("cutoff", None) == job[name].base.attributes.get("cutoff", None)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"bonds": {"Zr-S": 0.0}}, "must be a number of Å > 0"),
        ({"bonds": {"Zr-O": 2.2}}, "has no \\['O'\\]"),
        ({"bonds": {"ZrS": 2.2}}, "Centre-Neighbour"),
        ({"contact_cutoff": -1.0}, "contact_cutoff must be > 0"),
    ],
)
def test_workchain_refuses_bad_input(crystal_node, override, message):
    workchain = WorkflowFactory("bzs.analysis")
    override = {k: orm.Dict(v) if isinstance(v, dict) else orm.Float(v) for k, v in override.items()}
    with pytest.raises(ValueError, match=message):
        run_get_node(workchain, structures={"crystal": crystal_node}, **override)


def test_workchain_refuses_non_periodic(aiida_profile, crystal):
    cluster = crystal.copy()
    cluster.pbc = False
    with pytest.raises(ValueError, match="not periodic in 3D"):
        run_get_node(WorkflowFactory("bzs.analysis"),
                     structures={"cluster": structure_from_atoms(cluster).store()})
