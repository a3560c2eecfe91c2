"""g(r): normalisation (ideal gas → 1, CN from the first peak), supercell invariance, two methods."""

import numpy as np
import pytest
from matscipy.neighbours import neighbour_list

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.analysis.rdf import RDF_BACKENDS, RadialDistribution, pair_name, radial_distribution
from aiida_bzs.structures import make_supercell, rattle

# Bin widths that do not divide the lattice constants (7.06, 9.98, 7.03 Å): a perfect
# crystal's periodic-image distances would otherwise sit exactly on bin edges.
ODD_BIN = 0.0237


def test_ideal_gas_tends_to_one(make_random_bazrs3):
    gas = make_random_bazrs3(4000, seed=1)  # 20,000 atoms
    rdf = radial_distribution(gas, r_max=8.0, bin_width=0.25)
    far = rdf.r > 1.0
    assert abs(rdf.total[far].mean() - 1) < 0.005
    assert np.abs(rdf.total[far] - 1).max() < 0.05
    for a, b in [("Ba", "S"), ("Zr", "S"), ("S", "S"), ("Zr", "Zr")]:
        assert abs(rdf.partial(a, b)[far].mean() - 1) < 0.02, (a, b)


def test_first_shell_integrates_to_the_crystal_cn(crystal):
    rdf = radial_distribution(crystal, bin_width=ODD_BIN)
    volume = crystal.get_volume()
    zr_s = rdf.running_coordination("Zr", "S", volume)
    ba_s = rdf.running_coordination("Ba", "S", volume)
    assert zr_s[np.searchsorted(rdf.r, 3.1)] == pytest.approx(6.0)
    assert ba_s[np.searchsorted(rdf.r, 3.8)] == pytest.approx(8.0)
    # and S around Zr vs Zr around S: 6 × 4 Zr = 2 × 12 S
    s_zr = rdf.running_coordination("S", "Zr", volume)
    assert s_zr[np.searchsorted(rdf.r, 3.1)] == pytest.approx(2.0)


@pytest.mark.parametrize("backend", RDF_BACKENDS)
def test_invariant_under_supercell_repetition(crystal, backend):
    small = rattle(crystal, 0.1, seed=2)
    a = radial_distribution(small, bin_width=ODD_BIN, backend=backend)
    b = radial_distribution(make_supercell(small, (2, 2, 2)), bin_width=ODD_BIN, backend=backend)
    np.testing.assert_allclose(a.total, b.total, atol=1e-9)
    for name in a.partials:
        np.testing.assert_allclose(a.partials[name], b.partials[name], atol=1e-9)


def test_ovito_and_matscipy_agree(random_cell):
    a, b = (radial_distribution(random_cell, r_max=7.0, bin_width=0.1, backend=k) for k in RDF_BACKENDS)
    assert sorted(a.partials) == sorted(b.partials) == ["Ba-Ba", "Ba-S", "Ba-Zr", "S-S", "Zr-S", "Zr-Zr"]
    for name in a.partials:
        np.testing.assert_allclose(a.partials[name], b.partials[name], atol=1e-9)
    np.testing.assert_allclose(a.total, b.total, atol=1e-9)


def test_total_matches_a_direct_histogram_of_all_pairs(random_cell):
    rdf = radial_distribution(random_cell, r_max=6.0, bin_width=0.2)
    d = neighbour_list("d", random_cell, 6.0)
    counts, edges = np.histogram(d, bins=30, range=(0, 6.0))
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    n = len(random_cell)
    np.testing.assert_allclose(rdf.total, counts * random_cell.get_volume() / (n * n * shell), atol=1e-9)


def test_arrays_round_trip(crystal):
    rdf = radial_distribution(crystal, r_max=5.0)
    again = RadialDistribution.from_arrays(rdf.to_arrays(), rdf.counts)
    np.testing.assert_array_equal(again.partial("S", "Zr"), rdf.partial("Zr", "S"))
    assert pair_name("S", "Ba") == "Ba-S"
    with pytest.raises(AnalysisInputError, match="no Zr–O partial"):
        rdf.partial("Zr", "O")


def test_non_periodic_and_bad_radius_are_refused(crystal):
    slab = crystal.copy()
    slab.pbc = (True, True, False)
    with pytest.raises(AnalysisInputError, match="periodic in all three"):
        radial_distribution(slab)
    with pytest.raises(AnalysisInputError, match="r_max"):
        radial_distribution(crystal, r_max=0)
    with pytest.raises(AnalysisInputError, match="bin_width"):
        radial_distribution(crystal, bin_width=-0.1)
