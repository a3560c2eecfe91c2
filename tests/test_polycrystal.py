"""Voronoi polycrystals (aiida_bzs.structures.polycrystal): Atomsk files, the rotation convention,
grain assignment, orientations measured back from the atoms, clearance and seams (small boxes,
a few thousand atoms, well under a second each)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from scipy.spatial import cKDTree

from aiida_bzs.structures import polycrystal as pc
from aiida_bzs.structures.crystal import cubic_perovskite, pnma_crystal
from aiida_bzs.structures.errors import StructureInputError

SHARED = Path(os.environ.get("BZS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
ATOMSK_DIR = SHARED / "data" / "polycrystal"
BOX = (50.0, 50.0, 50.0)
#: |fraction − BaZrS3's 0.2/0.2/0.6| allowed after the clearance, per element, for ~5k atoms
COMPOSITION_TOLERANCE = 0.005


@pytest.fixture(scope="module")
def crystal() -> Atoms:
    return pnma_crystal()


@pytest.fixture(scope="module")
def spec() -> pc.PolycrystalSpec:
    return pc.random_spec(BOX, 4, seed=1)


@pytest.fixture(scope="module")
def built(crystal, spec):
    return pc.build_polycrystal(crystal, spec)


def _euler2mat_zyx(a, b, c):
    """Atomsk's EULER2MAT_ZYX (src/math.f90), transcribed: angles in radians."""
    c1, c2, c3 = math.cos(c), math.cos(b), math.cos(a)
    s1, s2, s3 = math.sin(c), math.sin(b), math.sin(a)
    return np.array([[c1 * c2, c1 * s2 * s3 - c3 * s1, s1 * s3 + c1 * c3 * s2],
                     [c2 * s1, c1 * c3 + s1 * s2 * s3, c3 * s1 * s2 - c1 * s3],
                     [-s2, c2 * s3, c2 * c3]])


def test_rotation_matrix_is_atomsks_euler2mat_zyx_active():
    rng = np.random.default_rng(0)
    for angles in rng.uniform(-180, 180, (20, 3)):
        expected = _euler2mat_zyx(*np.radians(angles))
        np.testing.assert_allclose(pc.rotation_matrix(angles), expected, atol=1e-12)
    # active, about fixed axes: 90° about z takes the crystal's x axis to lab y; x first, then y
    np.testing.assert_allclose(pc.rotation_matrix((0, 0, 90)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pc.rotation_matrix((90, 90, 0)) @ [0, 1, 0], [1, 0, 0], atol=1e-12)
    assert pc.rotation_matrix(rng.uniform(-180, 180, (5, 3))).shape == (5, 3, 3)


@pytest.mark.parametrize("name, n_grains", [("BZS-relaxed-6GB-random_param.txt", 6),
                                             ("BZS-relaxed-8GB-200box_param.txt", 8)])
def test_shared_atomsk_files_parse(name, n_grains):
    path = ATOMSK_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared)")
    spec = pc.read_atomsk(path)
    assert spec.box == (200.0, 200.0, 200.0)
    assert spec.n_grains == n_grains and spec.seeds.shape == spec.angles.shape == (n_grains, 3)
    first = [float(x) for x in next(line for line in path.read_text().splitlines()
                                    if line.startswith("node")).split()[1:]]
    np.testing.assert_allclose(spec.seeds[0], first[:3])
    np.testing.assert_allclose(spec.angles[0], first[3:])
    assert pc.read_atomsk(path.read_text()).n_grains == n_grains  # the text itself works too


def test_write_read_round_trip_rebuilds_the_same_polycrystal(tmp_path, crystal):
    spec = pc.random_spec((41.0, 43.5, 45.0), 3, seed=11)
    again = pc.read_atomsk(pc.write_atomsk(spec, tmp_path / "poly_param.txt"))
    assert again.box == spec.box
    np.testing.assert_allclose(again.seeds, spec.seeds, atol=1e-9)
    np.testing.assert_allclose(again.angles, spec.angles, atol=1e-9)
    a, _ = pc.build_polycrystal(crystal, spec)
    b, _ = pc.build_polycrystal(crystal, again)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)
    assert (a.arrays["grain"] == b.arrays["grain"]).all()


def test_random_spec_is_seeded_inside_the_box_and_uniform_on_so3():
    a, b = pc.random_spec(BOX, 5, seed=3), pc.random_spec(BOX, 5, seed=3)
    assert np.array_equal(a.seeds, b.seeds) and np.array_equal(a.angles, b.angles)
    assert not np.array_equal(a.seeds, pc.random_spec(BOX, 5, seed=4).seeds)
    assert ((a.seeds >= 0) & (a.seeds < BOX)).all()
    # Haar measure: E[R] = 0 (a biased Euler-angle draw would not average out); σ ≈ 0.33/√n per entry
    rotations = pc.random_spec(BOX, 3000, seed=5).rotations()
    assert np.abs(rotations.mean(axis=0)).max() < 0.03


def test_grain_ids_are_the_nearest_seeds(built, spec):
    atoms, report = built
    grain = atoms.arrays["grain"]
    assert grain.dtype.kind == "i"
    assert set(np.unique(grain)) == set(range(1, spec.n_grains + 1))
    assert report["n_grains"] == spec.n_grains and report["n_atoms"] == len(atoms)
    assert [g["n_atoms"] for g in report["grains"]] == np.bincount(grain)[1:].tolist()
    _, nearest = cKDTree(spec.seeds, boxsize=BOX).query(atoms.positions)
    assert (nearest + 1 == grain).all()
    assert atoms.info["config_type"] == "polycrystal"
    assert atoms.pbc.all() and np.allclose(atoms.cell[:], np.diag(BOX))
    assert ((atoms.positions >= 0) & (atoms.positions < BOX)).all()


def test_orientations_measured_back_from_the_atoms(built, spec, crystal):
    atoms, report = built
    for k, expected in enumerate(spec.rotations()):
        measured = pc.measure_orientation(atoms, k + 1, crystal)
        assert pc.orientation_distance_deg(measured, expected) < 1.0, k + 1
        np.testing.assert_allclose(report["grains"][k]["rotation_matrix"], expected)
        # the comparison has teeth: 5° off is seen, other grains are not this one
        off = pc.rotation_matrix(spec.angles[k] + (5.0, 0.0, 0.0))
        assert pc.orientation_distance_deg(measured, off) > 2.0
        others = [r for j, r in enumerate(spec.rotations()) if j != k]
        assert min(pc.orientation_distance_deg(measured, r) for r in others) > 2.0


def test_no_pair_closer_than_the_clearance_and_no_seam_at_the_faces(built):
    atoms, report = built
    clearance = report["clearance"]
    assert clearance == pc.DEFAULT_CLEARANCE
    x = atoms.positions
    tree = cKDTree(x, boxsize=BOX)
    pairs = tree.query_pairs(3.0, output_type="ndarray")
    vectors = x[pairs[:, 0]] - x[pairs[:, 1]]
    periodic = vectors - np.round(vectors / BOX) * BOX
    d = np.linalg.norm(periodic, axis=1)
    grain = atoms.arrays["grain"]
    cross_grain = grain[pairs[:, 0]] != grain[pairs[:, 1]]
    assert cross_grain.any() and d[cross_grain].min() >= clearance
    across_faces = np.abs(vectors).max(axis=1) > 3.0  # minimum image goes through a face
    assert across_faces.sum() > 100 and d[across_faces].min() >= clearance
    assert d.min() >= clearance
    # density in a 5 Å slab straddling each face pair = the other slabs' (±8 %; an overlapping seam
    # or a gap would shift it)
    for axis in range(3):
        counts = np.histogram(np.mod(x[:, axis] + 2.5, BOX[axis]), bins=10, range=(0, BOX[axis]))[0]
        assert abs(counts[0] / counts[1:].mean() - 1) < 0.08, (axis, counts)


def test_clearance_zero_leaves_the_overlaps_the_checks_catch(crystal, spec):
    atoms, report = pc.build_polycrystal(crystal, spec, clearance=0.0)
    d, _ = cKDTree(atoms.positions, boxsize=BOX).query(atoms.positions, k=2)
    assert d[:, 1].min() < pc.DEFAULT_CLEARANCE
    assert report["removed"]["count"] == 0


def test_single_grain_in_a_commensurate_box_is_a_seamless_crystal(crystal):
    a, b, c = np.diag(crystal.cell[:])
    box = (6 * a, 4 * b, 6 * c)
    spec = pc.PolycrystalSpec(box, [[3.3, 7.1, 11.2]], [[0.0, 0.0, 0.0]])
    atoms, report = pc.build_polycrystal(crystal, spec)
    assert len(atoms) == 20 * 6 * 4 * 6
    assert report["stoichiometric"] and report["excess"] == {"Ba": 0, "Zr": 0, "S": 0}
    d, _ = cKDTree(atoms.positions, boxsize=box).query(atoms.positions, k=2)
    d_crystal = crystal.get_all_distances(mic=True)[np.triu_indices(len(crystal), 1)].min()
    assert d[:, 1].min() == pytest.approx(d_crystal, abs=1e-6)
    assert report["density_g_cm3"] == pytest.approx(
        crystal.get_masses().sum() / crystal.get_volume() * 1.66053906660, rel=1e-9)


def test_composition_and_report_of_a_5k_atom_build(built, crystal):
    atoms, report = built
    assert 4500 < len(atoms) < 5500
    assert sum(report["counts"].values()) == len(atoms)
    before = sum(g["n_atoms_before_clearance"] for g in report["grains"])
    assert before - len(atoms) == report["removed"]["count"] > 0
    assert sum(report["removed"]["by_element"].values()) == report["removed"]["count"]
    for el, ideal in {"Ba": 0.2, "Zr": 0.2, "S": 0.6}.items():
        assert abs(report["composition"][el] - ideal) < COMPOSITION_TOLERANCE, report["composition"]
        assert report["deviation"][el] == pytest.approx(report["composition"][el] - ideal)
    crystal_density = crystal.get_masses().sum() / crystal.get_volume() * 1.66053906660
    assert 0.9 * crystal_density < report["density_g_cm3"] < crystal_density
    assert sum(g["volume_fraction"] for g in report["grains"]) == pytest.approx(1.0)
    volume = sum(math.pi / 6 * (10 * g["diameter_nm"]) ** 3 for g in report["grains"])
    assert volume == pytest.approx(np.prod(BOX))


def test_any_reference_crystal_is_accepted(spec):
    atoms, report = pc.build_polycrystal(cubic_perovskite(), pc.random_spec((30.0,) * 3, 3, seed=2))
    assert report["n_grains"] == 3 and 0.9 < len(atoms) / (5 * 27000 / 4.99 ** 3) < 1.0
    relaxed = pnma_crystal((7.10, 10.05, 7.08))
    atoms, _ = pc.build_polycrystal(relaxed, spec)
    assert pc.orientation_distance_deg(pc.measure_orientation(atoms, 2, relaxed), spec.rotations()[1]) < 1.0


def test_bad_inputs_raise_with_the_fix(crystal, spec):
    with pytest.raises(StructureInputError, match="grain count"):
        pc.random_spec(BOX, 0, seed=1)
    with pytest.raises(StructureInputError, match="grain count"):
        pc.read_atomsk("box 50 50 50\n# no grains\n")
    with pytest.raises(StructureInputError, match="at least one grain"):
        pc.PolycrystalSpec(BOX, np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(StructureInputError, match="two unit cells"):
        pc.build_polycrystal(crystal, pc.random_spec((19.0, 40.0, 40.0), 2, seed=1))
    with pytest.raises(StructureInputError, match="seed 2 .* outside the box"):
        pc.PolycrystalSpec(BOX, [[1, 1, 1], [51, 1, 1]], np.zeros((2, 3)))
    with pytest.raises(StructureInputError, match="line 3: seed outside the box"):
        pc.read_atomsk("box 50 50 50\nnode 1 1 1 0 0 0\nnode 1 1 -0.5 0 0 0\n")
    with pytest.raises(StructureInputError, match=r"line 4: expected 6 numbers .*'node 1 2 3 10 20'"):
        pc.read_atomsk("# comment\nbox 50 50 50\n\nnode 1 2 3 10 20\n")
    with pytest.raises(StructureInputError, match=r"line 2: field 'box/2' is not a number"):
        pc.read_atomsk("box 50 50 50\nnode box/2 1 1 0 0 0\n")
    with pytest.raises(StructureInputError, match="line 2: unknown keyword 'nodes'"):
        pc.read_atomsk("box 50 50 50\nnodes 1 1 1 0 0 0\n")
    with pytest.raises(StructureInputError, match="line 1: 'node' before 'box'"):
        pc.read_atomsk("node 1 1 1 0 0 0\nbox 50 50 50\n")
    with pytest.raises(StructureInputError, match="no 'box X Y Z' line"):
        pc.read_atomsk("# only a comment\n")
    with pytest.raises(StructureInputError, match="line 2: random grains without a seed.*random_spec"):
        pc.read_atomsk("box 50 50 50\nrandom 5\n")
    with pytest.raises(StructureInputError, match="clearance"):
        pc.build_polycrystal(crystal, spec, clearance=-1.0)
    with pytest.raises(StructureInputError, match="coincide"):
        pc.PolycrystalSpec(BOX, [[1, 1, 1], [1, 1, 1.05]], np.zeros((2, 3)))


def test_atomsk_random_lines_with_a_seed():
    spec = pc.read_atomsk("box 50 50 50\nrandom 5\n", seed=7)
    expected = pc.random_spec(BOX, 5, seed=7)
    assert np.array_equal(spec.seeds, expected.seeds) and np.array_equal(spec.angles, expected.angles)
    spec = pc.read_atomsk("box 50 50 50\nnode 1 2 3 random\ngrain 20 20 20 10° 20° 30°\n", seed=7)
    assert spec.n_grains == 2 and np.allclose(spec.angles[1], (10, 20, 30))
