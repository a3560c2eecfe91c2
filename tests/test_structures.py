"""Structure builders: the Pnma crystal, supercells, rattle, strain, and their calcfunctions."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from aiida_bzs.structures import (
    check_bazrs3_like,
    make_supercell,
    pnma_crystal,
    rattle,
    spacegroup,
    strain,
)
from aiida_bzs.structures.errors import StructureInputError


def test_pnma_crystal_composition_and_symmetry():
    atoms = pnma_crystal()
    assert len(atoms) == 20
    assert atoms.symbols.formula.count() == {"Ba": 4, "Zr": 4, "S": 12}
    assert spacegroup(atoms) == "Pnma"
    assert np.allclose(atoms.cell.cellpar(), [7.06, 9.98, 7.03, 90, 90, 90])


def test_pnma_crystal_zr_octahedra():
    """Every Zr sits in an S6 octahedron within the study's 3.1 Å Zr–S cut-off."""
    atoms = pnma_crystal()
    i, j = neighbor_list("ij", atoms, 3.1)
    symbols = np.array(atoms.get_chemical_symbols())
    for zr in np.flatnonzero(symbols == "Zr"):
        assert (symbols[j[i == zr]] == "S").sum() == 6


def test_pnma_crystal_cation_sulfur_distances():
    """The checks that would have caught the old S2 site: Zr has 6 S at 2.54–2.56 Å, Ba has 8 S
    at 3.0–3.5 Å (the ninth beyond), and no Ba–S is below 2.95 Å (rock-salt BaS: 3.19 Å)."""
    atoms = pnma_crystal()
    i, j, d = neighbor_list("ijd", atoms, 4.5)
    symbols = np.array(atoms.get_chemical_symbols())
    for zr in np.flatnonzero(symbols == "Zr"):
        zs = np.sort(d[(i == zr) & (symbols[j] == "S")])
        assert np.round(zs[:6], 2).min() >= 2.54 and np.round(zs[:6], 2).max() <= 2.56
        assert len(zs) == 6 or zs[6] > 3.1
    for ba in np.flatnonzero(symbols == "Ba"):
        bs = np.sort(d[(i == ba) & (symbols[j] == "S")])
        assert bs[0] >= 2.95
        assert 3.0 <= bs[0] and bs[7] <= 3.5 < bs[8]


def test_pnma_builder_refuses_the_old_s2_site(monkeypatch):
    """The earlier campaign page's S2 (0.211, 0.036, 0.789) is still Pnma with CN 6 Zr, but puts
    two S 2.83 Å from every Ba: the builder must refuse it, naming the Ba–S distance."""
    from aiida_bzs.structures import crystal

    old = crystal.PNMA_SITES[:3] + (("S", (0.211, 0.036, 0.789)),)
    monkeypatch.setattr(crystal, "PNMA_SITES", old)
    with pytest.raises(StructureInputError, match=r"Ba #0: S at 2\.83 Å"):
        crystal.pnma_crystal()


def test_pnma_builder_scales_its_windows_with_the_lattice():
    """A relaxed lattice (here −1 %, as PBEsol gives) builds; the windows scale with the cell."""
    atoms = pnma_crystal((7.06 * 0.99, 9.98 * 0.99, 7.03 * 0.99))
    assert spacegroup(atoms) == "Pnma"


def test_reference_crystal_check(monkeypatch):
    """A reference must be Pnma BaZrS3 with intact octahedra; each failure names the problem."""
    from aiida_bzs.structures.crystal import check_reference_crystal, cubic_perovskite

    check_reference_crystal(pnma_crystal())
    check_reference_crystal(make_supercell(pnma_crystal(), [1, 2, 1]))
    with pytest.raises(StructureInputError, match="not Pnma"):
        check_reference_crystal(cubic_perovskite())
    squashed = pnma_crystal()
    squashed.set_cell(squashed.cell * [1.0, 1.0, 0.8], scale_atoms=True)
    with pytest.raises(StructureInputError, match="Zr CN must be 6"):
        check_reference_crystal(squashed)


def test_crystal_density():
    """Density of the experimental cell, g/cm³ (BaZrS3 is ≈ 4.3)."""
    atoms = pnma_crystal()
    density = atoms.get_masses().sum() / atoms.get_volume() * 1.66053906660
    assert density == pytest.approx(4.35, abs=0.02)


def test_supercell_counts_and_matrix():
    atoms = pnma_crystal()
    assert len(make_supercell(atoms, (2, 1, 2))) == 80
    assert len(make_supercell(atoms, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]])) == 40
    with pytest.raises(StructureInputError, match="positive"):
        make_supercell(atoms, (0, 1, 1))
    with pytest.raises(StructureInputError, match="singular"):
        make_supercell(atoms, [[1, 0, 0], [1, 0, 0], [0, 0, 1]])


def test_rattle_is_seeded_and_bounded():
    atoms = pnma_crystal()
    a, b, c = rattle(atoms, 0.05, seed=3), rattle(atoms, 0.05, seed=3), rattle(atoms, 0.05, seed=4)
    assert np.allclose(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    disp = a.positions - atoms.positions
    disp -= np.round(disp @ np.linalg.inv(atoms.cell[:])) @ atoms.cell[:]  # undo wrapping
    assert 0.02 < np.std(disp) < 0.08
    assert a.info["config_type"] == "crystal_rattled"
    assert spacegroup(a, 1e-3) != "Pnma"


def test_strain_scales_volume():
    atoms = pnma_crystal()
    assert strain(atoms, 0.01).get_volume() == pytest.approx(atoms.get_volume() * 1.01**3)
    sheared = strain(atoms, [0, 0, 0, 0, 0, 0.02])
    assert sheared.get_volume() == pytest.approx(atoms.get_volume() * (1 - 0.01**2))
    with pytest.raises(StructureInputError, match="1 or 6"):
        strain(atoms, [0.1, 0.2])


@pytest.mark.parametrize(
    "atoms, message",
    [
        (Atoms("BaZrO3", cell=[4, 4, 4], pbc=True), "not part of BaZrS3"),
        (Atoms("BaZrS2", cell=[4, 4, 4], pbc=True), "not BaZrS3-like"),
    ],
)
def test_check_bazrs3_like_names_the_problem(atoms, message):
    with pytest.raises(StructureInputError, match=message):
        check_bazrs3_like(atoms)
    check_bazrs3_like(pnma_crystal())


def test_calcfunctions_record_provenance(aiida_profile):
    from aiida import orm

    from aiida_bzs.calculations.functions import structures as fn

    crystal = fn.pnma_crystal()
    supercell = fn.make_supercell(crystal, orm.List([1, 1, 2]))
    rattled = fn.rattle(supercell, orm.Float(0.03), orm.Int(7))
    assert len(rattled.sites) == 40
    assert rattled.base.attributes.get("config_type") == "crystal_rattled"
    creator = rattled.creator
    assert creator.process_label == "rattle"
    assert creator.inputs.structure.uuid == supercell.uuid
    assert supercell.creator.inputs.structure.uuid == crystal.uuid


def test_cubic_perovskite():
    from aiida_bzs.structures import cubic_perovskite

    atoms = cubic_perovskite()
    assert spacegroup(atoms) == "Pm-3m"
    check_bazrs3_like(atoms)
    # 20 atoms of Pnma and 4 cubic cells have nearly the same volume (tilts conserve it roughly)
    assert 4 * atoms.get_volume() == pytest.approx(pnma_crystal().get_volume(), rel=0.01)
