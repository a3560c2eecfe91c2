"""Coordination numbers, bond lengths per CN, S–S contacts and density."""

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.analysis.contacts import close_contacts
from aiida_bzs.analysis.coordination import (
    BOND_CUTOFFS,
    Coordination,
    cn_histogram,
    coordination,
    mean_bond_length_by_cn,
)
from aiida_bzs.analysis.density import mass_density, number_density
from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.structures import make_supercell, rattle


def test_crystal_cn_per_cation(crystal):
    zr = coordination(crystal, "Zr", "S")
    ba = coordination(crystal, "Ba", "S")
    assert zr.cutoff == BOND_CUTOFFS[("Zr", "S")] == 3.1
    assert ba.cutoff == BOND_CUTOFFS[("Ba", "S")] == 3.8
    assert zr.histogram()[1].tolist() == [0, 0, 0, 0, 0, 0, 4]  # four Zr, all CN 6
    assert ba.histogram()[1].tolist() == [0] * 8 + [4]  # four Ba, all CN 8
    # per-atom arrays line up with the atoms: -1 for everything that is not a centre
    assert zr.cn.tolist() == [-1] * 4 + [6] * 4 + [-1] * 12
    cn, mean, n = zr.mean_bond_length_by_cn()
    assert cn.tolist() == [6] and n.tolist() == [4]
    assert mean[0] == pytest.approx(np.nanmean(zr.bond_length)) and 2.54 < mean[0] < 2.56


def test_cn_is_invariant_under_supercell_repetition(crystal):
    small = rattle(crystal, 0.15, seed=3)
    big = make_supercell(small, (2, 3, 2))
    for bond in BOND_CUTOFFS:
        a, b = coordination(small, *bond), coordination(big, *bond)
        np.testing.assert_array_equal(np.tile(a.cn, 12), b.cn)
        np.testing.assert_allclose(np.tile(a.bond_length, 12), b.bond_length)
        np.testing.assert_array_equal(12 * a.histogram()[1], b.histogram()[1])


def test_mask_selects_a_subset_for_grain_boundary_style_analysis(random_cell):
    result = coordination(random_cell, "Zr", "S")
    region = random_cell.positions[:, 2] < np.median(random_cell.positions[:, 2])
    _, inside = result.histogram(mask=region)
    _, outside = result.histogram(mask=~region)
    _, everything = result.histogram()
    width = max(len(inside), len(outside))
    np.testing.assert_array_equal(
        np.pad(inside, (0, width - len(inside))) + np.pad(outside, (0, width - len(outside))),
        np.pad(everything, (0, width - len(everything))),
    )
    with pytest.raises(AnalysisInputError, match="one boolean per atom"):
        result.histogram(mask=region[:10])


def test_histogram_and_bond_lengths_from_arrays():
    cn = np.array([-1, 2, 2, 3, -1, 0])
    bond = np.array([np.nan, 2.0, 2.2, 2.6, np.nan, np.nan])
    assert cn_histogram(cn)[1].tolist() == [1, 0, 2, 1]
    values, mean, n = mean_bond_length_by_cn(cn, bond)
    assert values.tolist() == [2, 3] and n.tolist() == [2, 1]
    np.testing.assert_allclose(mean, [2.1, 2.6])
    again = Coordination.from_arrays("Zr", "S", 3.1, Coordination("Zr", "S", 3.1, cn, bond).to_arrays())
    assert again.histogram()[1].tolist() == [1, 0, 2, 1]


def test_no_default_cutoff_for_unlisted_bond(crystal):
    with pytest.raises(AnalysisInputError, match="pass cutoff"):
        coordination(crystal, "S", "S")


def test_s_s_contacts(crystal):
    none = close_contacts(crystal)
    assert none.n_contacts == 0 and none.fraction_in_contact == 0.0
    edges = close_contacts(crystal, cutoff=3.6)  # the octahedron edges, 3.50–3.52 Å
    assert edges.n_contacts == 24 and edges.n_atoms_in_contact == 12
    assert edges.per_atom[edges.per_atom >= 0].tolist() == [4] * 12
    dimer = Atoms("BaS2", positions=[[0, 0, 0], [3, 3, 3], [3, 3, 5.1]], cell=[8, 8, 8], pbc=True)
    found = close_contacts(dimer)
    assert found.n_contacts == 1 and found.distances[0] == pytest.approx(2.1)
    assert found.summary()["fraction_in_contact"] == 1.0


def test_density_of_the_crystal(crystal):
    # 4 BaZrS3 (324.73 u each) in 7.06 × 9.98 × 7.03 Å³
    expected = 4 * (137.327 + 91.224 + 3 * 32.06) * 1.66053906660 / (7.06 * 9.98 * 7.03)
    assert mass_density(crystal) == pytest.approx(expected, rel=1e-6)
    assert mass_density(make_supercell(crystal, (2, 1, 3))) == pytest.approx(mass_density(crystal), rel=1e-12)
    assert number_density(crystal) == pytest.approx(20 / (7.06 * 9.98 * 7.03))


@pytest.mark.parametrize("pbc", [False, (True, True, False)])
def test_density_needs_a_periodic_cell(crystal, pbc):
    atoms = crystal.copy()
    atoms.pbc = pbc
    with pytest.raises(AnalysisInputError, match="periodic in all three directions"):
        mass_density(atoms)
