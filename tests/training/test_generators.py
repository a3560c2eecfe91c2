"""Invariants of the training-structure generators (property tests) and their calcfunctions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from aiida import orm
from ase import Atoms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiida_bzs.calculations.functions.generators import (
    generate_dimers,
    generate_interface,
    generate_perturbed,
    generate_rss,
)
from aiida_bzs.calculations.functions.structures import to_structure
from aiida_bzs.structures.contacts import separation_violations, shortest_distance
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.dimers import dimers, isolated_atom
from aiida_bzs.structures.errors import StructureInputError
from aiida_bzs.structures.interface import crystal_amorphous_interface
from aiida_bzs.structures.perturbed import perturbed_cells
from aiida_bzs.structures.rss import DEFAULT_MIN_SEPARATION, parse_composition, random_structure

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force_min_pair(atoms: Atoms, table) -> float:
    """Smallest d / d_min over all pairs and images (independent check of the neighbour list)."""
    from ase.geometry import get_distances

    symbols = atoms.get_chemical_symbols()
    worst = np.inf
    # all pairs including periodic images, via a 3x3x3 supercell around the home cell
    big = atoms.repeat((3, 3, 3))
    big.positions -= atoms.cell.sum(axis=0)  # centre copy of the home cell at the origin block
    _, d = get_distances(atoms.positions, big.positions)
    big_symbols = big.get_chemical_symbols()
    for i in range(len(atoms)):
        for j in range(len(big)):
            if d[i, j] < 1e-9:
                continue
            limit = table.get(tuple(sorted((symbols[i], big_symbols[j]))), 0.0)
            if limit:
                worst = min(worst, d[i, j] / limit)
    return worst


@FAST
@given(
    formula_units=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    volume=st.tuples(st.floats(26.0, 32.0), st.floats(0.0, 8.0)).map(lambda t: (t[0], t[0] + t[1])),
    composition=st.sampled_from(["BaZrS3", "Ba2ZrS4", "BaZr2S5", "BaS2"]),
)
def test_rss_cells_keep_composition_volume_and_separations(formula_units, seed, volume, composition):
    atoms = random_structure(composition, formula_units, seed, volume)
    assert Counter(atoms.get_chemical_symbols()) == Counter(parse_composition(composition, formula_units))
    per_atom = atoms.get_volume() / len(atoms)
    assert volume[0] - 1e-9 <= per_atom <= volume[1] + 1e-9
    assert not separation_violations(atoms, DEFAULT_MIN_SEPARATION)
    assert brute_force_min_pair(atoms, {tuple(sorted(k)): v for k, v in DEFAULT_MIN_SEPARATION.items()}) >= 1.0
    assert atoms.info["config_type"] == "rss"
    # reproducible from the seed
    again = random_structure(composition, formula_units, seed, volume)
    np.testing.assert_array_equal(atoms.positions, again.positions)


@FAST
@given(seed=st.integers(0, 10_000), group=st.sampled_from([2, 4, 7, 14, 19]))
def test_symmetric_rss_cells_have_their_space_group(seed, group):
    import spglib
    from ase.spacegroup import Spacegroup

    atoms = random_structure("BaZrS3", 4, seed, spacegroup=group)
    assert atoms.info["rss_spacegroup"] == group
    assert not separation_violations(atoms, DEFAULT_MIN_SEPARATION)
    found = spglib.get_symmetry((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=1e-3)
    # the cell has at least the requested symmetry (it may accidentally have more)
    assert len(found["rotations"]) >= Spacegroup(group).nsymop


@FAST
@given(
    pair_min=st.floats(1.0, 2.4),
    seed=st.integers(0, 1000),
)
def test_custom_separations_are_respected(pair_min, seed):
    table = {"Ba-Ba": pair_min, "Ba-Zr": pair_min, "Ba-S": pair_min, "Zr-Zr": pair_min, "Zr-S": pair_min, "S-S": pair_min}
    atoms = random_structure("BaZrS3", 2, seed, (25.0, 30.0), table)
    assert shortest_distance(atoms, 5.0) >= pair_min - 1e-9


def test_impossible_packing_is_refused_with_reason():
    with pytest.raises(StructureInputError, match="could not place"):
        random_structure("BaZrS3", 2, 0, (5.0, 5.0))


@pytest.mark.parametrize("bad", ["BaZrO3", "bazrs3", "Ba-Zr"])
def test_unknown_compositions_are_refused(bad):
    with pytest.raises(StructureInputError):
        parse_composition(bad)


@FAST
@given(lo=st.floats(1.0, 3.0), span=st.floats(0.0, 1.0), points=st.integers(1, 6), box=st.floats(8.0, 14.0))
def test_dimers_have_requested_distances(lo, span, points, box):
    images = dimers(distance_range=(lo, lo + span), points=points, box=box)
    assert len(images) == 6 * points
    for atoms in images:
        d = atoms.get_distance(0, 1)
        assert d == pytest.approx(atoms.info["dimer_distance"])
        assert lo - 1e-9 <= d <= lo + span + 1e-9
        assert atoms.get_volume() == pytest.approx(box**3)
    assert {tuple(sorted(a.get_chemical_symbols())) for a in images} == {
        ("Ba", "Ba"), ("Ba", "Zr"), ("Ba", "S"), ("Zr", "Zr"), ("S", "Zr"), ("S", "S")
    }
    assert len(isolated_atom("Zr", box)) == 1


@FAST
@given(max_strain=st.floats(0.0, 0.05), stdev=st.floats(0.0, 0.08), seed=st.integers(0, 1000))
def test_perturbed_cells_bounded_strain(max_strain, stdev, seed):
    base = pnma_crystal()
    images = perturbed_cells(base, 3, (1, 1, 1), max_strain, stdev, seed)
    for atoms in images:
        assert atoms.get_chemical_formula() == base.get_chemical_formula()
        eps = np.array(atoms.info["strain_voigt"])
        assert np.all(np.abs(eps) <= max_strain + 1e-12)
        ratio = atoms.get_volume() / base.get_volume()
        assert (1 - max_strain) ** 3 - 1e-9 <= ratio <= (1 + max_strain) ** 3 + 1e-9


@FAST
@given(seed=st.integers(0, 1000), axis=st.integers(0, 2), thickness=st.floats(5.0, 9.0))
def test_random_interfaces_keep_crystal_plane_and_separations(seed, axis, thickness):
    crystal = pnma_crystal()
    atoms = crystal_amorphous_interface(crystal, axis=axis, amorphous_thickness=thickness, seed=seed)
    others = [k for k in range(3) if k != axis]
    np.testing.assert_allclose(atoms.cell[others], crystal.cell[others])  # matched in-plane cell
    n_cryst = atoms.info["n_crystal_atoms"]
    assert n_cryst == len(crystal)
    counts = Counter(atoms.get_chemical_symbols()[n_cryst:])
    assert counts["S"] == 3 * counts["Ba"] == 3 * counts["Zr"] > 0  # whole BaZrS3 units
    assert not separation_violations(atoms, DEFAULT_MIN_SEPARATION)
    # the crystal slab is the crystal, untouched
    np.testing.assert_allclose(atoms.positions[:n_cryst], crystal.get_positions(wrap=True), atol=1e-9)


def test_interface_from_an_amorphous_sample():
    crystal = pnma_crystal()
    amorphous = random_structure("BaZrS3", 8, seed=4)
    atoms = crystal_amorphous_interface(crystal, axis=0, amorphous=amorphous, amorphous_thickness=8.0, seed=2)
    assert not separation_violations(atoms, DEFAULT_MIN_SEPARATION)
    n = atoms.info["n_crystal_atoms"]
    counts = Counter(atoms.get_chemical_symbols()[n:])
    assert counts["S"] == 3 * counts["Ba"] == 3 * counts["Zr"] > 0
    # density of the amorphous part stays near the sample's (some atoms removed at the cut)
    slab_volume = abs(np.linalg.det(crystal.cell[[1, 2]].tolist() + [[8.0, 0, 0]]))
    assert 0.5 < (len(atoms) - n) / slab_volume / (len(amorphous) / amorphous.get_volume()) <= 1.05


def test_generator_calcfunctions_record_provenance(aiida_profile):
    rss = generate_rss(orm.Dict({"count": 4, "formula_units": [1, 2], "seed": 3}))
    assert sorted(rss) == ["rss_0000", "rss_0001", "rss_0002", "rss_0003"]
    node = rss["rss_0001"]
    assert node.base.attributes.get("config_type") == "rss"
    assert node.creator.inputs.parameters["seed"] == 3
    assert len(node.sites) == 10
    dims = generate_dimers(orm.Dict({"pairs": [["S", "S"]], "points": 3, "box": 10.0, "distance_range": [1.8, 4.0]}))
    assert len(dims) == 3
    crystal = to_structure(pnma_crystal()).store()
    pert = generate_perturbed(crystal, orm.Dict({"count": 2, "seed": 1, "repeat": [1, 1, 1]}))
    assert {n.base.attributes.get("config_type") for n in pert.values()} == {"crystal_perturbed"}
    iface = generate_interface(crystal, orm.Dict({"axis": 1, "seed": 0}), amorphous=rss["rss_0003"])
    assert iface.base.attributes.get("config_type") == "interface"
    assert set(iface.creator.inputs) == {"crystal", "parameters", "amorphous"}
    with pytest.raises(StructureInputError, match="unknown parameters"):
        generate_rss(orm.Dict({"cout": 3}))


@pytest.mark.parametrize("cell", [np.eye(3) * 14.0,  # orthorhombic, wide: periodic KD-tree, minimum images
                                  [[9.0, 0, 0], [2.5, 8.5, 0], [-1.5, 2.0, 9.5]],  # triclinic: tree of images
                                  np.eye(3) * 4.0])  # narrower than twice the largest minimum: images
def test_one_placer_for_every_cell(cell):
    """RSS, interfaces and hard-sphere boxes share Placer/place_random: what it accepts must agree with
    a brute-force check once the KD-tree holds atoms (more than REBUILD_EVERY placed)."""
    from aiida_bzs.structures.rss import REBUILD_EVERY, Placer, place_random

    table = {k: 0.6 * v for k, v in DEFAULT_MIN_SEPARATION.items()}
    rng = np.random.default_rng(0)
    placer = Placer(np.asarray(cell, float), table)
    wanted = ["Ba", "Zr", "S", "S", "S"] * 20
    placed = place_random(placer, wanted, rng, trials=500)
    atoms = Atoms(placer.symbols, positions=placer.positions, cell=cell, pbc=True)
    assert len(atoms) == placed and not separation_violations(atoms, table)
    if placed > REBUILD_EVERY:
        assert placer._tree is not None
    for _ in range(200):  # candidates: accepted exactly when the brute-force check finds no clash
        probe = atoms + Atoms("S", positions=[rng.random(3) @ atoms.cell[:]])
        clash = any(j == len(atoms) or i == len(atoms) for i, j, _ in separation_violations(probe, table))
        assert placer.fits(probe.positions[-1:], ["S"]) == (not clash)


def test_place_random_reports_how_many_fit():
    from aiida_bzs.structures.rss import Placer, place_random

    placer = Placer(np.eye(3) * 5.0, {("Ba", "Ba"): 3.0})
    assert place_random(placer, ["Ba"] * 50, np.random.default_rng(1), trials=50) < 50
    assert len(placer.positions) == len(placer.symbols) < 50


def test_compositions_are_read_by_ase_formula():
    assert parse_composition("Ba2ZrS5", 2) == {"Ba": 4, "Zr": 2, "S": 10}
    assert parse_composition("Ba Zr S3") == parse_composition({"Ba": 1, "Zr": 1, "S": 3}) == {"Ba": 1, "Zr": 1, "S": 3}
    for bad, message in (("", "cannot read"), ("BaZrS3!", "cannot read"), ("BaZrO3", r"\['O'\]")):
        with pytest.raises(StructureInputError, match=message):
            parse_composition(bad)
