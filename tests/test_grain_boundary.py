"""Tilt grain boundaries about b (aiida_bzs.structures.grain_boundary): Σ enumeration, low-angle
rotations and the periodic bicrystal (pure numpy, seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiida_bzs.structures import grain_boundary as gb
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.errors import StructureInputError

A, C = 7.06, 7.03  # the campaign's a and c (Å)
SQUARE = {5: 36.87, 13: 22.62, 17: 28.07, 25: 16.26, 29: 43.60}


def _angles(boundaries, sigma):
    return {round(b.angle_deg, 2) for b in boundaries if b.sigma == sigma}


def test_square_limit_gives_the_square_lattice_sigmas():
    found = gb.csl_tilt_boundaries(7.05, 7.05, 29)
    assert all(b.exact and b.kind == "csl" and b.strain == 0.0 for b in found)
    for sigma, angle in SQUARE.items():
        # θ and 90° − θ are distinct boundaries of the orthorhombic crystal
        assert _angles(found, sigma) == {angle, round(90 - angle, 2)}
    assert {b.sigma for b in found} == set(SQUARE)
    keys = [(b.sigma, b.angle_deg) for b in found]
    assert keys == sorted(keys)


def test_real_lattice_near_csl_sigma_25_31_35():
    found = gb.csl_tilt_boundaries(A, C, 40, max_strain=0.02)
    assert found and all(b.kind == "near_csl" and not b.exact and 0 < b.strain <= 0.02 for b in found)
    keys = [(b.sigma, round(b.angle_deg, 6)) for b in found]
    assert keys == sorted(keys)
    # Σ25: the square-lattice pair at the least strain (a' = c', 0.21 %)
    s25 = [b for b in found if b.sigma == 25 and b.ratio == (1, 1)]
    assert {round(b.angle_deg, 2) for b in s25} == {16.26, 73.74}
    assert all(abs(b.strain - 0.00213) < 1e-4 for b in s25)
    # Σ31 and Σ35 need (a'/c')² ≠ 1: (1 0 1) near 90°, and lower-index routes
    assert {52.20, 69.22, 88.15} <= _angles(found, 31)
    assert {44.42, 68.20, 88.36} <= _angles(found, 35)
    s31 = min((b for b in found if b.sigma == 31 and b.plane == (1, 0, 1)), key=lambda b: b.strain)
    assert s31.ratio == (16, 15) and abs(s31.strain - 0.0141) < 2e-4
    s35 = min((b for b in found if b.sigma == 35 and round(b.angle_deg, 2) == 68.20), key=lambda b: b.strain)
    assert s35.ratio == (33, 32) and s35.strain < 0.006


def test_sigma_formula_matches_pymatgen():
    pytest.importorskip("pymatgen.core.interface")
    from pymatgen.core.interface import GrainBoundaryGenerator

    for mu, nu in [(25, 24), (16, 15), (1, 3), (7, 6), (1, 1)]:
        reference = GrainBoundaryGenerator.enum_sigma_ort(40, [0, 1, 0], [nu, None, mu])
        expected = {s: {round(min(t, 180 - t), 2) for t in v} for s, v in reference.items()}
        mine: dict[int, set] = {}
        for b in gb.csl_tilt_boundaries(math.sqrt(mu / nu), 1.0, 40):
            mine.setdefault(b.sigma, set()).add(round(b.angle_deg, 2))
        assert mine == expected


def test_sigma_is_the_coincidence_index():
    """Σ = 1 / (fraction of lattice sites of grain 1 that are sites of grain 2), counted directly."""
    for (m, n), (mu, nu) in [((3, 1), (1, 1)), ((1, 1), (16, 15)), ((2, 1), (25, 24)), ((2, 3), (33, 32))]:
        a, c = math.sqrt(mu / nu), 1.0
        phi = math.atan2(n * c, m * a)
        i, k = np.meshgrid(np.arange(-40, 41), np.arange(-40, 41), indexing="ij")
        pts = np.stack([i.ravel() * a, k.ravel() * c], axis=1)
        rot = np.array([[math.cos(2 * phi), -math.sin(2 * phi)], [math.sin(2 * phi), math.cos(2 * phi)]])
        frac = (pts @ rot.T) / [a, c]
        coincident = np.all(np.abs(frac - np.round(frac)) < 1e-6, axis=1) & (np.hypot(*pts.T) < 30)
        fraction = coincident.sum() / (np.hypot(*pts.T) < 30).sum()
        assert abs(1 / fraction - gb.sigma_of(m, n, mu, nu)) / gb.sigma_of(m, n, mu, nu) < 0.15


def test_low_angle_achieved_angles():
    requested = [1.5, 2.5, 3.5, 4.5, 5.5, 7.5, 9.5]
    found = gb.low_angle_boundaries(requested, A, C, 600.0)
    assert [b.kind for b in found] == ["low_angle"] * len(requested)
    for target, b in zip(requested, found):
        assert abs(b.angle_deg - target) <= 0.5 and b.period_along_boundary <= 600.0
    assert abs(found[-1].period_along_boundary - 84.8) < 0.5  # 9.5° → [12 0 1]
    with pytest.raises(StructureInputError, match="max_length"):
        gb.low_angle_boundaries([1.5], A, C, 100.0)


def _boundary(sigma, angle):
    found = gb.csl_tilt_boundaries(A, C, sigma)
    return min((b for b in found if b.sigma == sigma and abs(b.angle_deg - angle) < 0.01), key=lambda b: b.strain)


@pytest.fixture(scope="module")
def crystal():
    return pnma_crystal()


@pytest.fixture(scope="module")
def sigma25(crystal):
    boundary = _boundary(25, 73.74)
    return boundary, *gb.build_bicrystal(crystal, boundary, 25.0)


def _orientation(atoms, grain):
    """Rotation (deg, about y) of a grain's Zr net from its in-layer Zr–Zr vectors (mod 90°)."""
    from ase.neighborlist import neighbor_list

    i, j, d_vec = neighbor_list("ijD", atoms, 5.3)
    zr = np.array(atoms.get_chemical_symbols()) == "Zr"
    z = atoms.positions[:, 2]
    t = atoms.cell.lengths()[2] / 2
    inner = (np.abs(z - (t / 2 if grain == 1 else 1.5 * t)) < t / 4) & (atoms.arrays["grain"] == grain)
    pick = zr[i] & zr[j] & inner[i] & inner[j] & (np.abs(d_vec[:, 1]) < 0.3)
    angles = np.arctan2(d_vec[pick, 2], d_vec[pick, 0])
    return np.degrees(np.angle(np.exp(4j * angles).mean())) / 4


def test_bicrystal_geometry(sigma25, crystal):
    boundary, atoms, report = sigma25
    assert 600 <= report["n_atoms"] <= 1700 and report["n_atoms"] == len(atoms)
    cell = atoms.cell[:]
    assert np.allclose(cell, np.diag(np.diag(cell))) and all(atoms.pbc)
    assert report["area"] == pytest.approx(cell[0, 0] * cell[1, 1])
    assert abs(report["grain_thickness"] - 25.0) < report["layer_spacing"]
    assert report["sigma"] == 25 and report["strain"] == pytest.approx(boundary.strain)
    # exactly two boundaries: grain ids form two contiguous slabs along z
    grain = atoms.arrays["grain"][np.argsort(atoms.positions[:, 2])]
    assert np.count_nonzero(np.diff(grain)) == 1 and set(grain) == {1, 2}
    # no pair closer than min_distance anywhere, the periodic faces included (no seam)
    from ase.neighborlist import neighbor_list

    assert len(neighbor_list("i", atoms, report["min_distance"])) == 0
    # composition within 1 % (per atom) of BaZrS3; removal reported
    comp = report["composition"]
    assert abs(comp["Ba"] - 0.2) < 0.01 and abs(comp["Zr"] - 0.2) < 0.01 and abs(comp["S"] - 0.6) < 0.01
    assert report["removed"]["count"] == report["n_atoms_before_removal"] - len(atoms)
    assert sum(report["removed"]["by_element"].values()) == report["removed"]["count"]
    counts = report["counts"]
    assert [counts[e] - report["formula_units"] * k for e, k in (("Ba", 1), ("Zr", 1), ("S", 3))] == \
        [report["excess"][e] for e in ("Ba", "Zr", "S")]


def test_bicrystal_grain_orientations(sigma25):
    boundary, atoms, report = sigma25
    half = report["angle_deg"] / 2 if boundary.direction[0] * A >= boundary.direction[1] * C else \
        (180 - report["angle_deg"]) / 2
    reference = np.degrees(np.angle(np.exp(4j * np.arctan2(report["strained_lattice"][2],
                                                          report["strained_lattice"][0])))) / 4
    for grain, sign in ((1, -1), (2, 1)):
        measured = _orientation(atoms, grain) - reference
        delta = (measured - sign * half + 45) % 90 - 45
        assert abs(delta) < 0.5, (grain, measured, sign * half)


def test_bicrystal_translation_shifts_grain_two(crystal):
    boundary = _boundary(25, 73.74)
    base, _ = gb.build_bicrystal(crystal, boundary, 12.0, min_distance=0.0)
    moved, report = gb.build_bicrystal(crystal, boundary, 12.0, translation=(1.3, 0.7), min_distance=0.0)
    lengths = base.cell.lengths()
    g1, g2 = base.arrays["grain"] == 1, base.arrays["grain"] == 2
    assert np.allclose(moved.positions[g1], base.positions[g1])
    shift = moved.positions[g2] - base.positions[g2]
    shift -= np.round((shift - [1.3, 0.7, 0.0]) / lengths) * lengths
    assert np.allclose(shift, [1.3, 0.7, 0.0], atol=1e-8)
    assert report["translation"] == [1.3, 0.7]


def test_bicrystal_repeats_and_refusals(crystal):
    boundary = _boundary(5, 36.87)
    one, r1 = gb.build_bicrystal(crystal, boundary, 10.0)
    two, r2 = gb.build_bicrystal(crystal, boundary, 10.0, repeats_along_axis=2)
    assert r2["n_atoms_before_removal"] == 2 * r1["n_atoms_before_removal"]
    assert r2["area"] == pytest.approx(2 * r1["area"])
    record = gb.TiltBoundary.from_dict(boundary.as_dict())
    assert record == boundary
    with pytest.raises(StructureInputError):
        gb.build_bicrystal(crystal, boundary, -1.0)
