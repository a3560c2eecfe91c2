"""LAMMPS's pair_style pace (our plugin build) against pyace on the same potential: same physics."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.common.codes import pace_plugin_dir, venv_bin
from aiida_bzs.parsers.lammps_output import parse_log, read_dump
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import rattle


def test_lmp_matches_pyace(md_fixtures, tmp_path):
    if not (pace_plugin_dir() / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run scripts/build_lammps_pace.sh")
    from pyace import PyACECalculator

    atoms = rattle(pnma_crystal(), 0.1, seed=3)
    species = ["Ba", "S", "Zr"]
    (tmp_path / li.DATA).write_text(li.data_file(atoms, species))
    (tmp_path / li.POTENTIAL).write_bytes((md_fixtures / "tiny.yace").read_bytes())
    (tmp_path / li.INPUT).write_text(
        "units metal\natom_style atomic\nboundary p p p\nread_data structure.data\npair_style pace\n"
        "pair_coeff * * potential.yace Ba S Zr\nthermo_style custom step pe\nthermo_modify format float %.12f\n"
        "dump d all custom 1 forces.dump id type x y z fx fy fz\ndump_modify d sort id format float %.15g\nrun 0\n")
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=str(pace_plugin_dir()), OMP_NUM_THREADS="1",
               LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    subprocess.run([str(venv_bin() / "lmp"), "-in", li.INPUT, "-log", "log.lammps", "-screen", "none"],
                   cwd=tmp_path, env=env, check=True)
    energy = parse_log((tmp_path / "log.lammps").read_text()).thermo["potential_energy"][0]
    forces = np.loadtxt(tmp_path / "forces.dump", skiprows=9)[:, 5:8]
    assert read_dump(tmp_path / "forces.dump").n_atoms[0] == 20

    atoms.calc = PyACECalculator(str(md_fixtures / "tiny.yaml"))
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    assert np.abs(forces - atoms.get_forces()).max() < 1e-8
    assert np.abs(forces).max() > 0.1  # a rattled cell: the comparison is not between zeros
