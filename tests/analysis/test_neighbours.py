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
