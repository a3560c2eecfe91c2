"""LAMMPS input writing and output reading on stored real outputs (tests/fixtures/md/<case>/)."""

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.analysis.md_failure import MIN_DISTANCE, check_frames
from aiida_bzs.md.programme import normalise_stage
from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.parsers.lammps_output import parse_log, read_dump, read_final_data
from aiida_bzs.structures.crystal import pnma_crystal

SPECIES = ["Ba", "S", "Zr"]


def test_species_follow_the_potential_and_must_be_covered():
    assert li.lammps_species(["Zr", "S", "Ba", "S"], ["Ba", "S", "Zr"]) == ["Ba", "S", "Zr"]
    assert li.lammps_species(["S", "Zr"], ["Ba", "S", "Zr"]) == ["S", "Zr"]
    with pytest.raises(ValueError, match=r"no parameters for \['Ba'\]"):
        li.lammps_species(["Ba", "S"], ["S", "Zr"])


def test_input_script_for_md_and_restart():
    stage = normalise_stage({"name": "quench", "ensemble": "npt", "temperature": [2500, 300], "steps": 1000,
                             "timestep": 2.0, "pressure": 1.0, "barostat": "aniso"})
    script = li.input_script(stage, SPECIES, timeout_s=3725)
    assert "read_data structure.data" in script
    assert "pair_coeff * * potential.yace Ba S Zr" in script
    assert "timestep 0.002" in script  # fs -> ps
    assert "velocity all create 2500.0" in script
    assert "fix ensemble all npt temp 2500.0 300.0 0.1 aniso 1.0 1.0 1.0" in script
    assert "run 1000 upto start 0 stop 1000" in script
    assert "timer timeout 01:02:05" in script
    kept = li.input_script(stage, SPECIES, has_velocities=True)
    assert "velocity all create" not in kept
    restart = li.input_script(stage, SPECIES, restart_file=li.FINAL_RESTART)
    assert "read_restart final.restart" in restart and "velocity" not in restart
    big = li.input_script(stage, SPECIES, neighbour={"one": 50000})
    assert "one 50000 page 500000" in big  # page >= 10 * one


def test_input_script_for_minimisation():
    stage = normalise_stage({"ensemble": "minimise", "box_relax": "z", "ftol": 1e-4})
    script = li.input_script(stage, SPECIES)
    assert "fix relax all box/relax z 0.0 vmax 0.001" in script
    assert "minimize 0.0 0.0001 10000 100000" in script
    assert "run " not in script and "velocity" not in script


def test_data_file_round_trip_with_rotation_and_velocities(tmp_path):
    # a triclinic cell that is not lower-triangular: LAMMPS sees it rotated, we rotate back
    atoms = Atoms("BaZrS3", scaled_positions=np.random.default_rng(0).random((5, 3)),
                  cell=[[4.0, 0.3, 0.2], [0.1, 4.2, 0.4], [0.3, 0.2, 4.1]], pbc=True)
    velocities = np.random.default_rng(1).normal(size=(5, 3))  # Å/ps
    path = tmp_path / "structure.data"
    path.write_text(li.data_file(atoms, ["Ba", "S", "Zr"], velocities))
    read = li.rotate_back(read_final_data(path, ["Ba", "S", "Zr"]), atoms.cell[:])
    assert read.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(read.cell[:], atoms.cell[:], atol=1e-8)
    assert np.allclose(read.positions, atoms.positions, atol=1e-8)
    assert np.allclose(read.get_velocities() / li.ANGSTROM_PER_PS, velocities, atol=1e-8)


def test_npt_log_and_dump(md_fixtures):
    case = md_fixtures / "npt"
    log = parse_log((case / "log.lammps").read_text())
    assert log.completed and not log.errors and not log.timeout and log.error_kind is None
    assert log.version.startswith("22 Jul 2025")
    assert np.array_equal(log.thermo["step"], np.arange(0, 201, 20))
    assert set(log.thermo) >= {"time", "temperature", "pressure", "potential_energy", "volume", "density"}
    assert log.thermo["temperature"][0] == pytest.approx(300.0)
    assert np.allclose(log.thermo["time"], log.thermo["step"] * 0.002)
    dump = read_dump(case / "trajectory.dump")
    assert list(dump.steps) == [0, 50, 100, 150, 200] and set(dump.n_atoms) == {80}
    assert dump.cells.shape == (5, 3, 3)
    # the dumped box volume is the logged volume at the steps both sampled (0, 100, 200)
    volumes = dict(zip(dump.steps, np.abs(np.linalg.det(dump.cells))))
    logged = dict(zip(log.thermo["step"].astype(int), log.thermo["volume"]))
    for step in (0, 100, 200):
        assert volumes[step] == pytest.approx(logged[step], rel=1e-6)
    final = read_final_data(case / "final.data", SPECIES)
    assert len(final) == 80 and final.get_velocities() is not None
    assert final.cell.volume == pytest.approx(log.thermo["volume"][-1], rel=1e-6)


def test_minimisation_stats(md_fixtures):
    log = parse_log((md_fixtures / "minimise_maxiter" / "log.lammps").read_text())
    stats = log.minimisation
    assert stats["criterion"] == "max iterations" and stats["converged"] is False
    assert stats["iterations"] == 5 and stats["energy_final"] < stats["energy_initial"]
    assert stats["force_norm_final"] < stats["force_norm_initial"]
    assert len(log.warnings) == 1  # box/relax's extra DOF note, not a failure


@pytest.mark.parametrize("case, kind", [("overflow", "neighbour_overflow"), ("collapse", "atoms_too_close"),
                                        ("lost_atoms", "lost_atoms")])
def test_error_kinds(md_fixtures, case, kind):
    log = parse_log((md_fixtures / case / "log.lammps").read_text())
    assert not log.completed and log.error_kind == kind


def test_timeout_is_a_clean_stop(md_fixtures):
    log = parse_log((md_fixtures / "timeout" / "log.lammps").read_text())
    assert log.timeout and log.completed and not log.errors
    assert 0 < log.thermo["step"][-1] < 10_000_000


def _frames(case):
    dump = read_dump(case / "trajectory.dump")
    numbers = Atoms(SPECIES).numbers
    return [Atoms(numbers[t - 1], positions=p, cell=c, pbc=True)
            for t, p, c in zip(dump.types, dump.positions, dump.cells)]


def test_failure_check_finds_the_collapse(md_fixtures):
    frames = _frames(md_fixtures / "collapse")
    report = check_frames(frames, n_expected=20)
    assert report.failed and report.reason == "atoms_too_close"
    assert report.min_distance[report.failed_frame] < MIN_DISTANCE
    assert np.all(report.min_distance[: report.failed_frame] >= MIN_DISTANCE)
    assert report.summary()["failed_frame"] == report.failed_frame


def test_failure_check_passes_a_sane_run(md_fixtures):
    report = check_frames(_frames(md_fixtures / "npt"), n_expected=80)
    assert not report.failed and report.summary()["min_distance"] > 2.0


def test_failure_check_counts_lost_atoms():
    crystal = pnma_crystal()
    report = check_frames([crystal, crystal[:-1]], n_expected=20)
    assert report.reason == "lost_atoms" and report.failed_frame == 1 and report.summary()["atoms_lost"] == 1


def test_packing_bounds():
    from aiida_bzs.analysis.md_failure import max_neighbours_without_contact, volume_proves_contact

    # 20 atoms 1 Å apart need at least 20 · (π/6) / 0.7405 ≈ 14.1 Å³
    assert list(volume_proves_contact([495.3, 14.2, 14.0, 5.2], 20)) == [False, False, True, True]
    assert max_neighbours_without_contact(8.2) > max_neighbours_without_contact(6.0) > 1000


def test_truncated_dump_keeps_complete_frames(md_fixtures, tmp_path):
    text = (md_fixtures / "npt" / "trajectory.dump").read_text()
    cut = tmp_path / "cut.dump"
    cut.write_text(text[: text.rfind("ITEM: ATOMS") + 200])  # the last frame stops mid-way
    assert list(read_dump(cut).steps) == [0, 50, 100, 150]
    cut.write_text(text[: text.rfind("ITEM: TIMESTEP") + 20])
    assert list(read_dump(cut).steps) == [0, 50, 100, 150]
