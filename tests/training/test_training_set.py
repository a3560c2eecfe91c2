"""TrainingSetData: storage, exact round trips (node, extxyz, pacemaker pickle), curation calcfunctions."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
from aiida import orm
from ase.io import read

from aiida_bzs.training import dataset as ds
from aiida_bzs.calculations.functions.training_set import (
    filter_training_set,
    merge_training_sets,
    select_config_types,
    split_training_set,
)
from aiida_bzs.data.training_set import DatasetError, TrainingSetData

from training_helpers import FAKE_REFERENCES



def assert_same_labels(expected, actual):
    assert len(expected) == len(actual)
    for a, b in zip(expected, actual):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell[:], b.cell[:])
        assert a.get_potential_energy() == b.get_potential_energy()
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
        if "stress" in a.calc.results:
            np.testing.assert_array_equal(a.get_stress(), b.get_stress())
        else:
            assert "stress" not in b.calc.results
        assert a.info["config_type"] == b.info["config_type"]


def test_node_round_trip_is_exact(aiida_profile, images):
    node = TrainingSetData.from_atoms(images, FAKE_REFERENCES, {"protocol": "fast"}).store()
    loaded = orm.load_node(node.pk)
    assert isinstance(loaded, TrainingSetData)
    assert len(loaded) == len(images) == loaded.num_structures
    assert loaded.elements == ["Ba", "S", "Zr"]
    assert loaded.config_types == {"crystal": 3, "dimer": 1, "rss": 3}
    assert loaded.reference_energies == FAKE_REFERENCES
    assert loaded.dft_settings == {"protocol": "fast"}
    assert loaded.labelled
    # one file in the repository, not per-structure attributes
    assert loaded.base.repository.list_object_names() == [TrainingSetData.FILENAME]
    assert len(loaded.base.attributes.all) < 12
    back = loaded.to_atoms()
    assert_same_labels(images, back)
    assert back[0].info["source_uuid"] == "uuid-0"


def test_extxyz_round_trip_is_exact(aiida_profile, images, tmp_path):
    node = TrainingSetData.from_atoms(images)
    path = tmp_path / "set.extxyz"
    node.write_extxyz(path)
    back = read(path, ":")
    assert_same_labels(images, back)
    # and the file is a valid input to build a set again
    again = TrainingSetData.from_atoms(back)
    assert_same_labels(images, again.to_atoms())


def test_pacemaker_pickle_is_exact(aiida_profile, images, tmp_path):
    node = TrainingSetData.from_atoms(images, FAKE_REFERENCES)
    path = tmp_path / "set.pckl.gzip"
    node.write_pacemaker_pickle(path)
    with gzip.open(path, "rb") as fh:
        df = pickle.load(fh)
    assert list(df.columns[:4]) == ["ase_atoms", "energy", "forces", "energy_corrected"]
    for row, atoms in zip(df.itertuples(), images):
        assert row.energy == atoms.get_potential_energy()
        np.testing.assert_array_equal(row.forces, atoms.get_forces())
        np.testing.assert_array_equal(row.ase_atoms.positions, atoms.positions)
        expected = atoms.get_potential_energy() - sum(FAKE_REFERENCES[s] for s in atoms.get_chemical_symbols())
        assert row.energy_corrected == pytest.approx(expected, abs=1e-9)
    # pacemaker's own loader reads it (when python-ace is installed)
    preparedata = pytest.importorskip("pyace.preparedata")
    frame = preparedata.load_dataframe(str(path))
    assert len(frame) == len(images)
    assert frame["energy_corrected"].tolist() == df["energy_corrected"].tolist()


def test_pacemaker_export_names_missing_reference(aiida_profile, images):
    node = TrainingSetData.from_atoms(images, {"Ba": -1.0, "Zr": -2.0})
    with pytest.raises(DatasetError, match=r"\['S'\]"):
        node.to_pacemaker_dataframe()


def test_unlabelled_structures_are_kept_but_not_exported(aiida_profile, images):
    images[0].calc = None
    node = TrainingSetData.from_atoms(images)
    assert not node.labelled
    back = node.to_atoms()
    assert back[0].calc is None and back[1].calc is not None
    with pytest.raises(DatasetError, match="unlabelled"):
        node.to_pacemaker_dataframe({"Ba": 0, "Zr": 0, "S": 0})
    with pytest.raises(DatasetError, match="no energy"):
        TrainingSetData.from_atoms(images, require_labels=True)


def test_empty_set_is_rejected(aiida_profile):
    with pytest.raises(DatasetError, match="no structures"):
        TrainingSetData.from_atoms([])


def test_filter_by_energy_force_distance(aiida_profile, images):
    # structure 2 gets a huge energy, structure 3 a huge force, structure 4 a close contact
    images[2].calc.results["energy"] += 20 * len(images[2])
    images[3].calc.results["forces"][5] = [0.0, 0.0, 50.0]
    images[4].positions[1] = images[4].positions[0] + [0.3, 0.0, 0.0]
    node = TrainingSetData.from_atoms(images, FAKE_REFERENCES).store()
    kept = filter_training_set(node, orm.Dict({"max_energy_above_min": 5.0, "max_force": 10.0, "min_distance": 1.0}))
    assert kept.is_stored and kept.creator.inputs.training_set.pk == node.pk
    types = [a.get_potential_energy() for a in kept.to_atoms()]
    expected = [images[i].calc.results["energy"] for i in (0, 1, 5, 6)]
    assert types == expected
    # each criterion alone removes exactly its structure
    for criteria, dropped in (
        ({"max_energy_above_min": 5.0}, 2),
        ({"max_force": 10.0}, 3),
        ({"min_distance": 1.0}, 4),
    ):
        out = filter_training_set(node, orm.Dict(criteria))
        assert len(out) == len(images) - 1
        assert images[dropped].calc.results["energy"] not in [a.get_potential_energy() for a in out.to_atoms()]


def test_filter_rejects_unknown_criteria(aiida_profile, images):
    node = TrainingSetData.from_atoms(images).store()
    with pytest.raises(DatasetError, match="max_energy"):
        filter_training_set(node, orm.Dict({"max_energy": 1.0}))


def test_split_is_seeded_and_complete(aiida_profile, images):
    node = TrainingSetData.from_atoms(images).store()
    first = split_training_set(node, orm.Dict({"test_fraction": 0.3, "seed": 7}))
    second = split_training_set(node, orm.Dict({"test_fraction": 0.3, "seed": 7}))
    assert len(first["test"]) == 2 and len(first["train"]) == len(images) - 2
    energies = lambda s: sorted(a.get_potential_energy() for a in s.to_atoms())  # noqa: E731
    assert energies(first["test"]) == energies(second["test"])
    assert sorted(energies(first["train"]) + energies(first["test"])) == energies(node)
    other = split_training_set(node, orm.Dict({"test_fraction": 0.3, "seed": 8}))
    assert len(other["test"]) == 2


def test_split_keeps_dimers_in_train(aiida_profile, images):
    """Dimers teach the short range and are never tested on, unless ``train_only`` says otherwise."""
    node = TrainingSetData.from_atoms(images).store()
    for seed in range(6):
        parts = split_training_set(node, orm.Dict({"test_fraction": 0.3, "seed": seed}))
        assert "dimer" not in parts["test"].config_types
        assert parts["train"].config_types["dimer"] == node.config_types["dimer"]
        assert len(parts["train"]) + len(parts["test"]) == len(node)
    mixed = [split_training_set(node, orm.Dict({"test_fraction": 0.5, "seed": s, "train_only": []}))["test"]
             for s in range(12)]
    assert any("dimer" in part.config_types for part in mixed)


def test_select_and_merge(aiida_profile, images):
    node = TrainingSetData.from_atoms(images, FAKE_REFERENCES, {"protocol": "fast"}).store()
    crystal = select_config_types(node, orm.List(["crystal", "dimer"]))
    assert crystal.config_types == {"crystal": 3, "dimer": 1}
    rss = select_config_types(node, orm.List(["rss"]))
    merged = merge_training_sets(a=rss, b=crystal)
    assert len(merged) == len(images)
    assert merged.config_types == node.config_types
    assert merged.reference_energies == FAKE_REFERENCES
    assert merged.dft_settings == {"protocol": "fast"}
    with pytest.raises(DatasetError, match="none of"):
        select_config_types(node, orm.List(["liquid"]))


def test_merge_refuses_conflicting_references(aiida_profile, images):
    a = TrainingSetData.from_atoms(images[:2], {"S": -300.0}).store()
    b = TrainingSetData.from_atoms(images[2:], {"S": -301.0}).store()
    with pytest.raises(DatasetError, match="reference energy"):
        merge_training_sets(a=a, b=b)


def test_packed_subset_and_concatenate_are_inverse(images):
    arrays = ds.pack(images)
    parts = [ds.subset(arrays, [0, 1, 2]), ds.subset(arrays, [3, 4, 5, 6])]
    joined = ds.concatenate(parts)
    for key in ds.PER_ATOM + ds.PER_STRUCTURE:
        np.testing.assert_array_equal(joined[key], arrays[key])
