"""Bond-angle distributions: octahedral S–Zr–S in the crystal, normalisation, invariance."""

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.analysis.angles import BondAngleDistribution, bond_angle_distribution, bond_angles
from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.structures import make_supercell, rattle


def test_crystal_s_zr_s_is_octahedral(crystal):
    angles = bond_angles(crystal, "Zr", "S")
    assert len(angles) == 4 * 15  # C(6, 2) per Zr
    near_90 = np.abs(angles - 90) < 5
    near_180 = angles > 175
    assert near_90.sum() == 4 * 12 and near_180.sum() == 4 * 3
    adf = bond_angle_distribution(crystal, "Zr", "S")
    assert adf.label == "S–Zr–S" and adf.n_angles == 60
    peaks = adf.angle[adf.counts > 0]
    assert peaks.min() > 85 and peaks.max() > 179 and not ((peaks > 95) & (peaks < 175)).any()


def test_crystal_s_ba_s_count(crystal):
    assert len(bond_angles(crystal, "Ba", "S")) == 4 * 28  # C(8, 2) per Ba


def test_density_has_unit_area_and_supercell_invariance(crystal):
    small = rattle(crystal, 0.1, seed=5)
    a = bond_angle_distribution(small, "Ba", "S", bins=90)
    b = bond_angle_distribution(make_supercell(small, (2, 1, 2)), "Ba", "S", bins=90)
    assert np.sum(a.density) * 2.0 == pytest.approx(1.0)
    np.testing.assert_array_equal(4 * a.counts, b.counts)
    np.testing.assert_allclose(a.density, b.density)
    again = BondAngleDistribution.from_arrays("Ba", "S", 3.8, a.to_arrays())
    np.testing.assert_array_equal(again.counts, a.counts)


def test_right_angle_by_hand():
    atoms = Atoms("ZrS2", positions=[[5, 5, 5], [7.5, 5, 5], [5, 7.5, 5]], cell=[10] * 3, pbc=True)
    assert bond_angles(atoms, "Zr", "S", 3.1).tolist() == pytest.approx([90.0])


def test_mask_restricts_the_centres(crystal):
    zr = crystal.numbers == 40
    first_zr = zr & (np.cumsum(zr) == 1)
    assert len(bond_angles(crystal, "Zr", "S", mask=first_zr)) == 15
    assert len(bond_angles(crystal, "Zr", "S", mask=~zr)) == 0


def test_bad_input(crystal):
    with pytest.raises(AnalysisInputError, match="cutoff"):
        bond_angles(crystal, "Zr", "S", cutoff=-1)
    with pytest.raises(AnalysisInputError, match="not found"):
        bond_angles(crystal, "Ti", "S", cutoff=3.0)
    with pytest.raises(AnalysisInputError, match="bins"):
        bond_angle_distribution(crystal, bins=0)
