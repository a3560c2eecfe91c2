"""``LargeStructureData`` (bzs.large_structure): round trip, queries, pack/unpack, verdi data, bad input.

Small cells only (≤ 10k atoms); speed at 310k/615k atoms is measured by
``benchmarks/large_structures.py``, not asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from ase import Atoms
from ase.io import read
from click.testing import CliRunner

from aiida_bzs.cli.data_large_structure import large_structure as verdi_large_structure
from aiida_bzs.common.structure_nodes import (
    STRUCTURE_TYPES,
    atoms_from_structure,
    structure_from_atoms,
    summarise_structure,
)
from aiida_bzs.data.large_structure import LargeStructureData, LargeStructureError
from aiida_bzs.structures import make_supercell, pnma_crystal, rattle


@pytest.fixture(scope="module")
def polycrystal_like() -> Atoms:
    """3,000 atoms of rattled Pnma BaZrS3 with a grain id and a γ per atom."""
    atoms = rattle(make_supercell(pnma_crystal(), (6, 5, 5)), 0.1, seed=1)
    rng = np.random.default_rng(0)
    atoms.new_array("grain_id", rng.integers(0, 7, len(atoms)).astype(np.int32))
    atoms.new_array("gamma", rng.random(len(atoms)))
    return atoms


def invoke(*args):
    return CliRunner().invoke(verdi_large_structure, [str(a) for a in args], catch_exceptions=False)


def test_round_trip_is_bit_exact(aiida_profile, polycrystal_like):
    extra = np.arange(len(polycrystal_like), dtype=np.float32)
    node = LargeStructureData.from_ase(polycrystal_like, arrays={"extra": extra}).store()
    loaded = orm.load_node(node.pk)
    assert loaded is not node and getattr(loaded, "_arrays", None) is None  # read from the repository
    atoms = loaded.get_ase()
    assert np.array_equal(atoms.positions, polycrystal_like.positions)
    assert np.array_equal(atoms.cell[:], polycrystal_like.cell[:])
    assert np.array_equal(atoms.numbers, polycrystal_like.numbers)
    assert np.array_equal(atoms.pbc, polycrystal_like.pbc)
    assert np.array_equal(atoms.arrays["grain_id"], polycrystal_like.arrays["grain_id"])
    assert atoms.arrays["grain_id"].dtype == np.int32
    assert np.array_equal(atoms.arrays["gamma"], polycrystal_like.arrays["gamma"])
    assert np.array_equal(loaded.get_array("extra"), extra) and loaded.get_array("extra").dtype == np.float32
    assert loaded.get_array("numbers").dtype == np.int8
    assert loaded.base.repository.list_object_names() == [LargeStructureData.FILENAME]
    with pytest.raises(KeyError, match="no array 'velocity'"):
        loaded.get_array("velocity")


def test_node_does_not_share_the_callers_arrays(aiida_profile):
    atoms = pnma_crystal()
    node = LargeStructureData.from_ase(atoms)
    expected = atoms.positions.copy()
    atoms.positions[0] += 1.0  # after packing: must not reach the node
    assert np.array_equal(node.get_array("positions"), expected)
    with pytest.raises(ValueError, match="read-only"):
        node.get_array("positions")[0, 0] = 0.0
    node.get_ase().positions[0, 0] = 0.0  # get_ase gives a copy to modify
    assert np.array_equal(node.store().get_array("positions"), expected)


def test_attributes_and_queries(aiida_profile, polycrystal_like):
    node = LargeStructureData.from_ase(polycrystal_like).store()
    n = len(polycrystal_like)
    assert node.n_atoms == len(node) == n == 3000
    assert node.formula == "Ba600S1800Zr600" == polycrystal_like.get_chemical_formula("hill")
    assert node.formula_reduced == "BaS3Zr" and node.base.attributes.get("formula_units") == 600
    assert node.elements == ["Ba", "S", "Zr"]
    assert node.composition == {"Ba": 600, "S": 1800, "Zr": 600}
    assert np.allclose(node.cell_lengths, polycrystal_like.cell.lengths())
    assert np.allclose(node.base.attributes.get("cell_angles"), [90.0, 90.0, 90.0])
    assert node.cell_volume == pytest.approx(polycrystal_like.get_volume())
    from aiida_bzs.analysis.density import mass_density

    assert node.density == pytest.approx(mass_density(polycrystal_like), rel=1e-12)
    assert 4.0 < node.density < 4.5  # BaZrS3, g/cm³
    assert node.per_atom_arrays == ["gamma", "grain_id", "spacegroup_kinds"]

    small = LargeStructureData.from_ase(pnma_crystal()).store()
    query = orm.QueryBuilder().append(
        LargeStructureData, filters={"attributes.n_atoms": {">": 1000}, "attributes.formula_reduced": "BaS3Zr"},
        project="id")
    pks = set(query.all(flat=True))
    assert node.pk in pks and small.pk not in pks
    by_formula = orm.QueryBuilder().append(LargeStructureData, filters={"attributes.formula": "Ba4S12Zr4"},
                                           project="id").all(flat=True)
    assert small.pk in by_formula and node.pk not in by_formula


def test_cluster_without_cell_has_no_density(aiida_profile):
    node = LargeStructureData.from_ase(Atoms("S2", positions=[(0, 0, 0), (0, 0, 2.0)]))
    assert node.cell_volume == 0.0 and node.density is None and node.pbc == (False, False, False)
    assert node.formula == "S2" and node.formula_reduced == "S" and node.base.attributes.get("formula_units") == 2


def test_hash_uses_content_not_atoms(aiida_profile):
    """Equal content gives an equal hash (caching works); a moved atom changes it."""
    atoms = pnma_crystal()
    first = LargeStructureData.from_ase(atoms).store()
    second = LargeStructureData.from_ase(atoms).store()
    assert first.base.caching.get_hash() == second.base.caching.get_hash()
    atoms.positions[0, 0] += 1e-9
    third = LargeStructureData.from_ase(atoms).store()
    assert third.base.caching.get_hash() != first.base.caching.get_hash()


def test_structure_data_glue(aiida_profile, polycrystal_like):
    node = LargeStructureData.from_ase(polycrystal_like).store()
    assert isinstance(node, STRUCTURE_TYPES)
    structure = node.to_structure_data()
    assert isinstance(structure, orm.StructureData)
    packed, plain = summarise_structure(node), summarise_structure(structure.store())
    assert (packed.elements, packed.n_atoms, packed.formula, packed.pbc) == (
        plain.elements, plain.n_atoms, plain.formula, plain.pbc)
    assert packed.volume == pytest.approx(plain.volume, rel=1e-12)
    atoms = atoms_from_structure(node)
    assert np.array_equal(atoms.positions, polycrystal_like.positions)
    back = LargeStructureData.from_structure_data(structure)
    # a stored StructureData keeps 14 significant digits (AiiDA's clean_value); the arrays keep all
    assert np.allclose(back.get_array("positions"), polycrystal_like.positions, rtol=0, atol=1e-11)
    assert back.per_atom_arrays == []


def test_pack_unpack_calcfunctions_keep_provenance(aiida_profile):
    from aiida.plugins import CalculationFactory

    pack = CalculationFactory("bzs.structures.pack")
    unpack = CalculationFactory("bzs.structures.unpack")
    atoms = rattle(make_supercell(pnma_crystal(), (2, 2, 2)), 0.05, seed=3)
    structure = structure_from_atoms(atoms).store()
    packed, pack_node = pack.run_get_node(structure)
    assert isinstance(packed, LargeStructureData) and pack_node.is_finished_ok
    assert packed.creator.pk == pack_node.pk and pack_node.inputs.structure.pk == structure.pk
    assert np.allclose(packed.get_array("positions"), atoms.positions, rtol=0, atol=1e-11)  # 14 digits
    unpacked, unpack_node = unpack.run_get_node(packed)
    assert isinstance(unpacked, orm.StructureData) and unpacked.creator.pk == unpack_node.pk
    assert unpack_node.inputs.structure.pk == packed.pk
    assert np.allclose(atoms_from_structure(unpacked).positions, atoms.positions, rtol=0, atol=1e-11)
    assert unpacked.get_formula() == packed.formula
    with pytest.raises(ValueError, match="structure"):
        pack(orm.Int(1))


def test_verdi_data_commands(aiida_profile, polycrystal_like, tmp_path):
    node = LargeStructureData.from_ase(polycrystal_like)
    node.label = "grains"
    node.store()

    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.output.splitlines() if line.split() and line.split()[0] == str(node.pk))
    assert "Ba600S1800Zr600" in line and "3000" in line and f"{node.density:.3f}" in line
    assert str(node.pk) in invoke("list", "--formula", "BaS3Zr").output
    assert str(node.pk) not in invoke("list", "--formula", "BaS2").output

    shown = invoke("show", node.pk)
    assert shown.exit_code == 0, shown.output
    assert "BaS3Zr × 600" in shown.output and "3000 atoms" in shown.output and "gamma, grain_id, spacegroup_kinds" in shown.output

    path = tmp_path / "grains.extxyz"
    exported = invoke("export", node.pk, "-o", path)
    assert exported.exit_code == 0, exported.output
    again = read(path)
    assert np.allclose(again.positions, polycrystal_like.positions, atol=1e-8)
    assert np.array_equal(again.arrays["grain_id"], polycrystal_like.arrays["grain_id"])
    assert invoke("export", node.pk, "-o", path).exit_code != 0  # no overwrite without --force

    lammps = tmp_path / "grains.lmp"
    assert invoke("export", node.pk, "-o", lammps).exit_code == 0
    assert "3000 atoms" in lammps.read_text()[:300]

    imported = invoke("import", path, "--label", "re-imported")
    assert imported.exit_code == 0, imported.output
    pk = int(imported.output.split("pk ")[1].split(":")[0])
    copy = orm.load_node(pk)
    assert copy.label == "re-imported" and copy.n_atoms == 3000 and "grain_id" in copy.per_atom_arrays

    wrong = invoke("show", orm.Int(3).store().pk)
    assert wrong.exit_code != 0


def test_import_rejects_unreadable_file(aiida_profile, tmp_path):
    path = tmp_path / "junk.xyz"
    path.write_text("not a structure\n")
    result = invoke("import", path)
    assert result.exit_code != 0 and "ASE cannot read" in result.output


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arrays": {"grain_id": np.zeros(3)}}, "'grain_id' has 3 rows, the structure has 2 atoms"),
        ({"symbols": ["Ba", "Qx"]}, r"unknown element\(s\) \['Qx'\]"),
        ({"numbers": [56, 200]}, "unknown element: atomic number 200"),
        ({"cell": np.eye(2)}, r"cell must be a 3×3 matrix in Å .* got shape \(2, 2\)"),
        ({"cell": [4.0, 4.0, 4.0]}, r"got shape \(3,\)"),
        ({"positions": np.zeros((2, 2))}, "positions must be an N×3 array"),
        ({"numbers": [56]}, "one atomic number per atom"),
        ({"arrays": {"positions": np.zeros(2)}}, "'positions' is reserved"),
        ({"pbc": [True, False]}, "pbc must be one bool or three bools"),
    ],
)
def test_bad_input_names_the_problem(kwargs, message):
    args = {"cell": np.eye(3) * 5.0, "positions": [[0, 0, 0], [1, 1, 1]], "numbers": [56, 16], "pbc": True}
    if "symbols" in kwargs:
        args.pop("numbers")
    args.update(kwargs)
    with pytest.raises(LargeStructureError, match=message):
        LargeStructureData.from_arrays(**args)


def test_from_ase_rejects_wrong_array_length(polycrystal_like):
    with pytest.raises(LargeStructureError, match="one row per atom"):
        LargeStructureData.from_ase(polycrystal_like, arrays={"gamma": np.zeros(5)})
