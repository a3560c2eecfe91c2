"""γ in LAMMPS: ``pair_style pace/extrapolation`` (our plugin build) against pyace's γ, same active set.

A real ``lmp`` run on small BaZrS3 cells: per-atom γ from ``fix pair ... gamma`` dumped as
``f_pace_gamma``, compared with :func:`aiida_bzs.analysis.extrapolation.per_atom_gamma`. Skips, with
the build script's reason, where the plugin was built without the extrapolation styles (no LAMMPS
source of 2023 or later was downloadable; see docs/md.md, "γ in LAMMPS").

γ is a product of the atom's B-projections with the inverse of the active-set matrix, so its
rounding error is that matrix's condition number times the projections' (summation order differs
between LAMMPS's and pyace's neighbour lists). The fixture ``tiny.asi`` is nearly singular for Ba and
Zr (condition ~1e14–1e15: the tiny basis's functions are almost dependent on crystal-only cells),
which leaves their per-atom γ uncertain at ~1e-3; the strict comparison uses an active set built
here on strongly rattled cells (condition ≤ ~1e11).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiida_bzs.analysis.extrapolation import lammps_gamma_lines, per_atom_gamma
from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.common.codes import pace_plugin_dir, venv_bin
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import make_supercell, rattle

SPECIES = ["Ba", "S", "Zr"]
#: written by scripts/build_lammps_pace.sh beside the plugin when it had to leave the styles out
NO_EXTRAPOLATION_NOTE = "paceplugin.no-extrapolation.txt"


def lmp_env(plugin_dir: Path) -> dict:
    return dict(os.environ, LAMMPS_PLUGIN_PATH=str(plugin_dir), OMP_NUM_THREADS="1",
                LD_LIBRARY_PATH=f"{Path(sys.prefix) / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")


def extrapolation_plugin_dir() -> Path:
    """The plugin folder, or skip with the reason why it has no ``pair_style pace/extrapolation``."""
    plugin_dir = pace_plugin_dir()
    if not (plugin_dir / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run ./setup.sh (scripts/build_lammps_pace.sh)")
    listed = subprocess.run([str(venv_bin() / "lmp"), "-log", "none", "-nocite"], input="plugin list\n",
                            capture_output=True, text=True, env=lmp_env(plugin_dir)).stdout
    if "pair style plugin pace/extrapolation" not in listed:
        note = plugin_dir / NO_EXTRAPOLATION_NOTE
        reason = note.read_text().strip() if note.is_file() else (
            "the plugin has no pair_style pace/extrapolation; rebuild with "
            "PACE_PLUGIN_REBUILD=1 bash scripts/build_lammps_pace.sh")
        pytest.skip(f"no pair_style pace/extrapolation: {reason}")
    return plugin_dir


def lammps_gamma(atoms, folder: Path, potential: Path, asi: Path, plugin_dir: Path):
    """Per-atom γ, forces, energy and max γ of ``atoms`` from one ``lmp`` run with pace/extrapolation."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / li.DATA).write_text(li.data_file(atoms, SPECIES))
    (folder / "potential.yaml").write_bytes(potential.read_bytes())
    (folder / "potential.asi").write_bytes(asi.read_bytes())
    lines = ["units metal", "atom_style atomic", "boundary p p p", f"read_data {li.DATA}",
             *lammps_gamma_lines("potential.yaml", "potential.asi", SPECIES, every=1),
             "thermo_style custom step pe c_max_pace_gamma", "thermo_modify format float %.12f",
             "dump d all custom 1 gamma.dump id type f_pace_gamma fx fy fz",
             "dump_modify d sort id format float %.15g", "run 0"]
    (folder / li.INPUT).write_text("\n".join(lines) + "\n")
    subprocess.run([str(venv_bin() / "lmp"), "-in", li.INPUT, "-log", "log.lammps", "-screen", "none"],
                   cwd=folder, env=lmp_env(plugin_dir), check=True)
    table = np.loadtxt(folder / "gamma.dump", skiprows=9)
    assert table[:, 0].tolist() == list(range(1, len(atoms) + 1))
    log = (folder / "log.lammps").read_text().splitlines()
    row = next(i for i, line in enumerate(log) if line.split()[:3] == ["Step", "PotEng", "c_max_pace_gamma"])
    _, energy, max_gamma = map(float, log[row + 1].split())
    return table[:, 2], table[:, 3:6], energy, max_gamma


def pyace_gamma(atoms, potential: Path, asi: Path):
    from pyace import PyACECalculator

    calc = PyACECalculator(str(potential))
    calc.set_active_set(str(asi))
    return per_atom_gamma(atoms, calc), calc.results["energy"], calc.results["forces"]


@pytest.fixture(scope="module")
def wide_asi(md_fixtures, tmp_path_factory) -> Path:
    """A well-conditioned active set of tiny.yaml, from strongly rattled 2×2×2 cells (~2 s)."""
    from pyace import ACEBBasisSet
    from pyace.activelearning import (compute_A_active_inverse, compute_active_set, compute_B_projections,
                                      save_active_inverse_set)

    base = make_supercell(pnma_crystal(), [2, 2, 2])
    cells = [rattle(base, amplitude, seed=k) for k, amplitude in enumerate((0.2, 0.3, 0.4, 0.5))]
    basis = ACEBBasisSet(str(md_fixtures / "tiny.yaml"))
    inverse = compute_A_active_inverse(compute_active_set(compute_B_projections(basis, cells), tol=1.001,
                                                          max_iters=300))
    path = tmp_path_factory.mktemp("asi") / "wide.asi"
    save_active_inverse_set(str(path), inverse, elements_name=basis.elements_name)
    assert max(np.linalg.cond(m) for m in np.load(path).values()) < 1e12
    return path


@pytest.mark.parametrize("amplitude", [0.05, 0.35])
def test_lammps_gamma_matches_pyace(md_fixtures, wide_asi, tmp_path, amplitude):
    plugin_dir = extrapolation_plugin_dir()
    potential = md_fixtures / "tiny.yaml"
    atoms = rattle(pnma_crystal().repeat((2, 1, 1)), amplitude, seed=7)
    gamma, forces, energy, max_gamma = lammps_gamma(atoms, tmp_path, potential, wide_asi, plugin_dir)
    reference, ref_energy, ref_forces = pyace_gamma(atoms, potential, wide_asi)

    assert len(gamma) == len(atoms) == 40
    assert np.abs(gamma - reference).max() < 1e-6 * max(1.0, reference.max())
    assert max_gamma == pytest.approx(reference.max(), rel=1e-6)
    # the γ step runs the B-basis evaluator: energy and forces are still the potential's
    assert energy == pytest.approx(ref_energy, abs=1e-8)
    assert np.abs(forces - ref_forces).max() < 1e-8
    if amplitude > 0.3:
        assert reference.max() > 2.0  # extrapolating atoms: the comparison is not only of γ ≤ 1


def test_lammps_gamma_fixture_active_set(md_fixtures, tmp_path):
    """The fixture's active set: S exact, Ba/Zr to its conditioning, the frame's max γ to 1e-6."""
    plugin_dir = extrapolation_plugin_dir()
    potential, asi = md_fixtures / "tiny.yaml", md_fixtures / "tiny.asi"
    atoms = rattle(pnma_crystal().repeat((2, 1, 1)), 0.35, seed=7)
    gamma, _, _, max_gamma = lammps_gamma(atoms, tmp_path, potential, asi, plugin_dir)
    reference, _, _ = pyace_gamma(atoms, potential, asi)

    sulfur = atoms.symbols == "S"
    assert np.abs(gamma - reference)[sulfur].max() < 1e-6 * max(1.0, reference[sulfur].max())
    assert np.all(np.abs(gamma - reference) < 1e-2 * np.maximum(1.0, reference))
    assert max_gamma == pytest.approx(reference.max(), rel=1e-6)
    assert reference.max() > 100  # the crystal-only active set flags a strongly rattled cell


def test_linear_environment_matches_pyace_builder(md_fixtures):
    """per_atom_gamma's linear-time environment gives pyace's own γ, energy and forces (no LAMMPS)."""
    from pyace import PyACECalculator

    atoms = rattle(make_supercell(pnma_crystal(), [3, 2, 3]), 0.3, seed=11)
    calc = PyACECalculator(str(md_fixtures / "tiny.yaml"))
    calc.set_active_set(str(md_fixtures / "tiny.asi"))
    fast = per_atom_gamma(atoms, calc)
    energy, forces = calc.results["energy"], calc.results["forces"]
    assert "get_atomic_env" not in vars(calc)  # the override is undone
    calc.reset()
    reference = per_atom_gamma(atoms, calc, linear_neighbours=False)
    sulfur = atoms.symbols == "S"  # Ba/Zr: the fixture's active set is nearly singular (module docstring)
    assert np.abs(fast - reference)[sulfur].max() < 1e-9 * max(1.0, reference[sulfur].max())
    assert np.all(np.abs(fast - reference) < 1e-3 * np.maximum(1.0, reference))
    assert energy == pytest.approx(calc.results["energy"], abs=1e-8)
    assert np.abs(forces - calc.results["forces"]).max() < 1e-9
