"""Grain-boundary versus grain-interior analysis on a bicrystal cut from the Pnma crystal."""

import numpy as np
import pytest
from ase import Atoms

from aiida_bzs.analysis.coordination import BOND_CUTOFFS, coordination
from aiida_bzs.analysis.grain_interfaces import (
    BOUNDARY_CUTOFF,
    boundary_atoms,
    interface_analysis,
    plot_interfaces,
    plot_slice,
)
from aiida_bzs.structures import make_supercell, pnma_crystal


@pytest.fixture(scope="module")
def bicrystal() -> Atoms:
    """4×2×3 Pnma cells (480 atoms, a = 28.24 Å along x): grain 1 for x < a/2, grain 2 above.

    Two boundary planes without disorder, x = a/2 and (periodically) x = 0; the interior bands
    are ≈ 6 Å wide, so interior atoms exist.
    """
    atoms = make_supercell(pnma_crystal(), (4, 2, 3))
    atoms.wrap()
    x = atoms.positions[:, 0]
    atoms.arrays["grain"] = np.where(x < atoms.cell[0, 0] / 2 - 0.01, 1, 2)
    return atoms


def plane_distance(atoms: Atoms) -> np.ndarray:
    """Distance in Å of every atom from the nearer boundary plane (x = 0 or x = a/2)."""
    x, length = atoms.positions[:, 0], atoms.cell[0, 0]
    return np.min(np.abs(x[:, None] - np.array([0.0, length / 2, length])[None, :]), axis=1)


def brute_force_boundary(atoms: Atoms, grain: np.ndarray, cutoff: float) -> np.ndarray:
    """All-pairs minimum-image check, independent of the neighbour list."""
    distances = atoms.get_all_distances(mic=True)
    return ((distances < cutoff) & (grain[:, None] != grain[None, :])).any(axis=1)


def test_default_cutoff_is_the_ba_s_shell():
    assert BOUNDARY_CUTOFF == BOND_CUTOFFS[("Ba", "S")] == 3.8


@pytest.mark.parametrize("cutoff", [BOUNDARY_CUTOFF, 3.1, 5.0])
def test_boundary_atoms_are_those_with_another_grain_within_the_cutoff(bicrystal, cutoff):
    grain = bicrystal.arrays["grain"]
    flags = boundary_atoms(bicrystal, cutoff=cutoff)
    np.testing.assert_array_equal(flags, brute_force_boundary(bicrystal, grain, cutoff))
    distance, x = plane_distance(bicrystal), bicrystal.positions[:, 0]
    assert distance[flags].max() < cutoff and distance[~flags].min() > 1.0
    assert flags.any() and (~flags).any()
    # both planes: the one across the periodic boundary (x ≈ 0 ≡ a) and the one at a/2
    length = bicrystal.cell[0, 0]
    assert flags[x < 2].any() and flags[x > length - 2].any() and flags[np.abs(x - length / 2) < 2].any()


def test_shells_widen_the_layer_by_one_neighbour_shell(bicrystal):
    one = boundary_atoms(bicrystal)
    two = boundary_atoms(bicrystal, shells=2)
    assert two.sum() > one.sum() and not (one & ~two).any()
    near_one = (bicrystal.get_all_distances(mic=True)[:, one] < BOUNDARY_CUTOFF).any(axis=1)
    np.testing.assert_array_equal(two, one | near_one)


def test_perfect_bicrystal_interior_and_boundary_are_crystal(bicrystal, crystal):
    result = interface_analysis(bicrystal)
    summary = result.summary()
    assert summary["n_atoms"] == 480 and summary["n_grains"] == 2
    np.testing.assert_array_equal(result.is_boundary, boundary_atoms(bicrystal))
    assert summary["n_boundary"] == result.is_boundary.sum() > 0
    crystal_length = np.nanmean(coordination(crystal, "Zr", "S").bond_length)
    for name in ("boundary", "interior"):
        part = summary[name]
        n_zr, n_ba = part["counts"]["Zr"], part["counts"]["Ba"]
        assert n_zr > 0 and n_ba > 0
        assert part["zr_cn_histogram"] == [0] * 6 + [n_zr, 0, 0]  # CN 0 … 8
        assert part["ba_cn_histogram"] == [0] * 8 + [n_ba]
        assert part["zr_cn_mean"] == 6.0 and part["ba_cn_mean"] == 8.0
        assert part["n_zr_s_bonds"] == 6 * n_zr
        assert part["zr_s_bond_length_mean"] == pytest.approx(crystal_length, abs=1e-9)
        assert 0 < part["zr_s_bond_length_std"] < 0.01  # Pnma Zr–S: 2.54–2.56 Å
        assert sum(part["fractions"].values()) == pytest.approx(1.0)
        assert "gamma_max" not in part
    assert summary["boundary"]["n_atoms"] + summary["interior"]["n_atoms"] == 480
    assert summary["all"]["s_zr_ratio"] == summary["bulk"]["s_zr_ratio"] == 3.0
    assert summary["all"]["s_cation_ratio"] == summary["bulk"]["s_cation_ratio"] == 1.5
    arrays = result.to_arrays()
    assert set(arrays) == {"is_boundary", "grain", "zr_cn", "ba_cn", "zr_s_length"}
    assert all(len(v) == 480 for v in arrays.values())
    assert (arrays["zr_cn"][bicrystal.numbers == 40] == 6).all()
    assert (arrays["zr_cn"][bicrystal.numbers != 40] == -1).all()


def test_s_removed_at_a_boundary_lowers_boundary_s_and_zr_cn_only(bicrystal):
    intact = interface_analysis(bicrystal)
    removed = (bicrystal.numbers == 16) & (np.abs(bicrystal.positions[:, 0] - bicrystal.cell[0, 0] / 2) < 1.0)
    assert removed.sum() == 12 and intact.is_boundary[removed].all()
    defective = bicrystal[~removed]
    result = interface_analysis(defective)
    np.testing.assert_array_equal(result.is_boundary, intact.is_boundary[~removed])
    before, after = intact.summary(), result.summary()
    boundary, interior = after["boundary"], after["interior"]
    assert boundary["counts"]["S"] == before["boundary"]["counts"]["S"] - 12
    assert boundary["counts"]["Zr"] == before["boundary"]["counts"]["Zr"]
    assert boundary["s_zr_ratio"] < before["boundary"]["s_zr_ratio"]
    assert boundary["s_cation_ratio"] < before["boundary"]["s_cation_ratio"]
    assert after["all"]["s_zr_ratio"] < 3.0
    # every removed S had two Zr neighbours: 24 Zr–S bonds are missing, all at the boundary
    n_zr = boundary["counts"]["Zr"]
    assert sum(k * n for k, n in enumerate(boundary["zr_cn_histogram"])) == 6 * n_zr - 24
    assert boundary["zr_cn_mean"] < 6.0 and boundary["n_zr_s_bonds"] == 6 * n_zr - 24
    # the interior keeps its composition and every Zr its six S (an interior Ba may lose an S:
    # its 3.8 Å shell can reach a removed S without reaching the other grain)
    for key in ("counts", "zr_cn_histogram", "n_zr_s_bonds", "zr_s_bond_length_mean"):
        assert interior[key] == before["interior"][key]
    assert interior["zr_cn_histogram"] == [0] * 6 + [interior["counts"]["Zr"], 0, 0]


def test_gamma_summary_per_set(bicrystal):
    is_boundary = boundary_atoms(bicrystal)
    gamma = np.full(len(bicrystal), 0.5)
    gamma[np.flatnonzero(is_boundary)] = np.resize([1.0, 3.0, 8.0], is_boundary.sum())
    summary = interface_analysis(bicrystal, gamma=gamma).summary()
    boundary, interior = summary["boundary"], summary["interior"]
    on_boundary = gamma[is_boundary]
    assert boundary["gamma_max"] == 8.0 and interior["gamma_max"] == 0.5
    assert boundary["gamma_mean"] == pytest.approx(on_boundary.mean())
    assert boundary["gamma_fraction_above_2"] == pytest.approx(np.mean(on_boundary > 2))
    assert boundary["gamma_fraction_above_5"] == pytest.approx(np.mean(on_boundary > 5))
    assert 0 < boundary["gamma_fraction_above_5"] < boundary["gamma_fraction_above_2"] < 1
    assert interior["gamma_fraction_above_2"] == interior["gamma_fraction_above_5"] == 0.0
    assert summary["all"]["gamma_max"] == 8.0


def test_single_grain_has_no_boundary(crystal):
    atoms = make_supercell(crystal, (2, 1, 2))
    atoms.arrays["grain"] = np.ones(len(atoms), dtype=int)
    assert not boundary_atoms(atoms).any()
    summary = interface_analysis(atoms, gamma=np.ones(len(atoms))).summary()
    assert summary["n_boundary"] == 0 and summary["boundary_fraction"] == 0.0
    empty = summary["boundary"]
    assert empty["n_atoms"] == 0 and empty["zr_cn_mean"] is None and empty["s_zr_ratio"] is None
    assert empty["zr_s_bond_length_mean"] is None and empty["gamma_max"] is None
    assert summary["interior"]["zr_cn_histogram"][6] == 16


def test_wrong_lengths_and_missing_grain_ids_are_value_errors(bicrystal):
    n = len(bicrystal)
    with pytest.raises(ValueError, match=f"grain has {n - 1} entries .* structure has {n} atoms"):
        boundary_atoms(bicrystal, grain=np.ones(n - 1, dtype=int))
    with pytest.raises(ValueError, match=f"gamma has {n + 2} entries .* structure has {n} atoms"):
        interface_analysis(bicrystal, gamma=np.ones(n + 2))
    with pytest.raises(ValueError, match="no per-atom grain IDs"):
        interface_analysis(pnma_crystal())
    with pytest.raises(ValueError, match="whole numbers"):
        boundary_atoms(bicrystal, grain=np.full(n, 1.5))
    with pytest.raises(ValueError, match="shells"):
        boundary_atoms(bicrystal, shells=0)


def test_plots_write_pngs(bicrystal, tmp_path):
    gamma = np.linspace(0.1, 6.0, len(bicrystal))
    result = interface_analysis(bicrystal, gamma=gamma)
    for path in (plot_interfaces(result, tmp_path / "cn.png"),
                 plot_slice(bicrystal, bicrystal.arrays["grain"], tmp_path / "grain.png"),
                 plot_slice(bicrystal, gamma, tmp_path / "gamma.png", axis=1, label="γ", log=True,
                            max_points=50)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="values has 3 entries"):
        plot_slice(bicrystal, gamma[:3], tmp_path / "bad.png")
