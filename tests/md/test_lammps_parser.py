"""The ``bzs.lammps`` parser on stored real LAMMPS outputs: outputs kept, the right exit code each time."""

import importlib.util

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType

from aiida_bzs.parsers.lammps import LammpsParser


def _cases(md_fixtures):
    spec = importlib.util.spec_from_file_location("make_lammps_outputs", md_fixtures / "make_lammps_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


@pytest.fixture
def parse_case(aiida_localhost, md_fixtures):
    """Factory: parse the stored outputs of ``case`` as if its CalcJob had just retrieved them."""
    from aiida_bzs.md.programme import normalise_stage
    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.structures.crystal import pnma_crystal
    from aiida_bzs.structures.distort import make_supercell, rattle

    cases = _cases(md_fixtures)

    def factory(case: str, neighbour: dict | None = None):
        spec = cases[case]
        folder = md_fixtures / case
        atoms = make_supercell(pnma_crystal(), list(spec["repeat"]))
        if "rattle" in spec:
            atoms = rattle(atoms, spec["rattle"], seed=1)
        potential = AcePotentialData.get_or_create(md_fixtures / f"{spec['potential']}.yaml",
                                                   yace=md_fixtures / f"{spec['potential']}.yace")
        node = orm.CalcJobNode(computer=aiida_localhost, process_type="aiida.calculations:bzs.lammps")
        node.set_option("resources", {"num_machines": 1, "num_mpiprocs_per_machine": 1})
        for label, value in (("structure", orm.StructureData(ase=atoms)), ("potential", potential),
                             ("parameters", orm.Dict(normalise_stage(spec["stage"])))):
            node.base.links.add_incoming(value.store(), LinkType.INPUT_CALC, label)
        neighbour = neighbour or spec.get("neighbour")
        if neighbour:
            settings = orm.Dict({"neighbour": neighbour}).store()
            node.base.links.add_incoming(settings, LinkType.INPUT_CALC, "settings")
        node.store()
        retrieved = orm.FolderData()
        for name in ("log.lammps", "final.data"):
            if (folder / name).is_file():
                retrieved.base.repository.put_object_from_file(str(folder / name), name)
        retrieved.base.links.add_incoming(node, LinkType.CREATE, "retrieved")
        retrieved.store()
        outputs, process = LammpsParser.parse_from_node(node, store_provenance=False,
                                                         retrieved_temporary_folder=str(folder))
        return outputs, process

    return factory


def test_npt_outputs(parse_case):
    outputs, process = parse_case("npt")
    assert process.exit_status == 0
    assert set(outputs) == {"thermo", "structure", "velocities", "trajectory", "results"}
    results = outputs["results"].get_dict()
    assert results["final_step"] == 200 and results["n_frames"] == 5 and not results["failure"]["failed"]
    assert results["atom_steps_per_s"] > 0
    trajectory = outputs["trajectory"]
    assert trajectory.numsteps == 5 and np.allclose(trajectory.get_times(), [0, 0.1, 0.2, 0.3, 0.4])
    assert outputs["velocities"].get_array("velocities").shape == (80, 3)
    assert outputs["thermo"].base.attributes.get("units")["density"] == "g/cm^3"
    assert len(outputs["structure"].sites) == 80


@pytest.mark.parametrize("case, exit_code, kept", [
    ("minimise_maxiter", "ERROR_MINIMISATION_NOT_CONVERGED", {"structure", "trajectory", "thermo"}),
    ("overflow", "ERROR_NEIGHBOUR_OVERFLOW", {"results"}),
    ("timeout", "ERROR_OUT_OF_WALLTIME", {"structure", "velocities", "trajectory", "thermo"}),
    ("collapse", "ERROR_ATOMS_TOO_CLOSE", {"trajectory", "thermo"}),
    ("lost_atoms", "ERROR_LOST_ATOMS", {"trajectory", "thermo"}),
])
def test_failures_keep_outputs(parse_case, case, exit_code, kept):
    from aiida_bzs.calculations.lammps import LammpsCalculation

    outputs, process = parse_case(case)
    assert process.exit_status == LammpsCalculation.exit_codes[exit_code].status
    assert kept | {"results"} <= set(outputs)
    results = outputs["results"].get_dict()
    if case == "timeout":
        assert results["restart_file"] == "final.restart" and results["timeout"]
    if case == "collapse":
        assert results["failure"]["failed"] and results["failure"]["min_distance"] < 1.0
        assert "frame" in process.exit_message


def test_overflow_beyond_packing_bound_is_a_collapse(parse_case):
    """More neighbours than atoms 1 Å apart can have: a contact, even without a frame showing it."""
    from aiida_bzs.analysis.md_failure import max_neighbours_without_contact
    from aiida_bzs.calculations.lammps import LammpsCalculation

    assert max_neighbours_without_contact(6.0) == 1626  # 5 Å cutoff + 1 Å skin
    outputs, process = parse_case("overflow", neighbour={"one": 2000, "page": 20000})
    assert process.exit_status == LammpsCalculation.exit_codes.ERROR_ATOMS_TOO_CLOSE.status
    assert "1626 fit without two atoms closer than 1.0" in outputs["results"]["failure"]["evidence"]


def test_lammps_own_stop_reason_is_in_the_failure_report(parse_case):
    outputs, _ = parse_case("lost_atoms")
    failure = outputs["results"]["failure"]
    assert failure["failed"] and "Lost atoms" in failure["evidence"]
