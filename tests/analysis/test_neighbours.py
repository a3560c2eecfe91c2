"""Neighbour lists: exact crystal bonds and agreement of two independent libraries."""

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.analysis.neighbours import BACKENDS, pair_list


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_zr_has_six_s_in_the_crystal(crystal, backend):
    pairs = pair_list(crystal, "Zr", "S", 3.1, backend=backend)
    zr = np.flatnonzero(crystal.numbers == 40)
    assert pairs.counts()[zr].tolist() == [6, 6, 6, 6]
    assert pairs.counts().sum() == 24
    assert (crystal.numbers[pairs.neighbour] == 16).all()
    assert 2.5 < pairs.distance.min() and pairs.distance.max() < 2.6
    # the vector points from the centre to the neighbour's image and has the listed length
    np.testing.assert_allclose(np.linalg.norm(pairs.vector, axis=1), pairs.distance)


@pytest.mark.parametrize("bond", [("Zr", "S", 3.1), ("Ba", "S", 3.8), ("S", "S", 2.5), ("Ba", "Zr", 4.0)])
def test_matscipy_and_ovito_agree_on_a_random_triclinic_cell(random_cell, bond):
    lists = [pair_list(random_cell, *bond, backend=b) for b in BACKENDS]
    keys = [sorted(zip(p.centre, p.neighbour, np.round(p.distance, 8))) for p in lists]
    assert len(keys[0]) > 50  # the comparison is not vacuous
    assert keys[0] == keys[1]


def test_cutoff_beyond_half_the_cell_counts_periodic_images():
    atom = Atoms("S", cell=[3.0, 3.0, 3.0], pbc=True)
    for backend in BACKENDS:
        # its own six images at 3 Å and twelve at 4.24 Å
        assert len(pair_list(atom, "S", "S", 4.3, backend=backend)) == 18


def test_isolated_cluster_without_cell():
    cluster = Atoms("ZrS2", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    pairs = pair_list(cluster, "Zr", "S", 3.1)
    assert sorted(pairs.distance.round(6)) == [2.5, 2.5]


@pytest.mark.parametrize("cutoff", [0, -1.0, float("nan"), "x"])
def test_bad_cutoff_is_named(crystal, cutoff):
    with pytest.raises(AnalysisInputError, match="cutoff"):
        pair_list(crystal, "Zr", "S", cutoff)


def test_absent_species_is_named(crystal):
    with pytest.raises(AnalysisInputError, match=r"\['O'\] not found"):
        pair_list(crystal, "Zr", "O", 3.0)


def test_unknown_backend(crystal):
    with pytest.raises(AnalysisInputError, match="matscipy"):
        pair_list(crystal, "Zr", "S", 3.1, backend="brute")


def _ase_pairs(atoms, cutoff):
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff)
    return sorted(zip(i.tolist(), j.tolist(), np.round(d, 8).tolist()))


@pytest.mark.parametrize("shape", ["bulk", "slab", "cluster", "zero_cell_vector", "far_cluster_with_cell"])
def test_neighbour_pairs_any_structure_matches_ase(crystal, shape):
    """The one matscipy wrapper (bond analysis and close-contact checks): same pairs as ASE's own list."""
    from aiida_bzs.analysis.neighbours import neighbour_pairs

    atoms = crystal.repeat((2, 1, 2))
    atoms.rattle(0.1, seed=3)
    reference = atoms.copy()
    if shape == "slab":
        atoms.center(vacuum=4.0, axis=2)
        atoms.pbc = [True, True, False]
        reference = atoms
    elif shape in ("cluster", "zero_cell_vector"):
        atoms.pbc = [True, True, False] if shape == "zero_cell_vector" else False
        reference = atoms.copy()
        if shape == "zero_cell_vector":
            atoms.cell[2] = 0.0  # periodic in a and b only, no c vector at all
            reference.center(vacuum=5.0, axis=2)  # ASE needs the vector: give it one far enough
            atoms.positions[:] = reference.positions
        else:
            atoms.cell = np.zeros((3, 3))
    elif shape == "far_cluster_with_cell":
        atoms.pbc = False
        atoms.positions += [40.0, -25.0, 13.0]  # outside the cell: non-periodic directions are not wrapped
        reference = atoms
    i, j, d = neighbour_pairs(atoms, "ijd", 3.8)
    found = sorted(zip(i.tolist(), j.tolist(), np.round(d, 8).tolist()))
    assert len(found) > 100 and found == _ase_pairs(reference, 3.8)
    # per species pair, as the bond analysis asks
    i, j = neighbour_pairs(atoms, "ij", {("Zr", "S"): 3.1})
    assert set(atoms.numbers[i]) | set(atoms.numbers[j]) <= {16, 40} and len(i) > 0


def test_neighbour_pairs_of_nothing_and_of_one_atom():
    from aiida_bzs.analysis.neighbours import neighbour_pairs

    i, d, vectors = neighbour_pairs(Atoms(), "idD", 3.0)
    assert len(i) == len(d) == 0 and vectors.shape == (0, 3)
    assert len(neighbour_pairs(Atoms(), "d", 3.0)) == 0  # one quantity: an array, as matscipy gives
    assert len(neighbour_pairs(Atoms("S"), "d", 3.0)) == 0
