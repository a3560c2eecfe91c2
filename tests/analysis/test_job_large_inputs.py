"""A ``LargeStructureData`` reaches ``bzs.job.grade`` and ``bzs.job.analysis`` as its own repository file.

The daemon must stay light when 300k–600k-atom polycrystals are graded and analysed: the CalcJob lists
the node's ``structure.npz`` in ``local_copy_list`` (copied as it is, never decoded into ``Atoms`` and
re-packed) and the runner reads that layout itself. Here a small cell (80 atoms, with a per-atom
``grain`` array as a polycrystal has) stands in for the big one; the jobs run the real runner
(``bzs_job@localhost``) with ``LargeStructureData``'s decoding made to fail in this (the daemon's)
process, and give what the same structure as a ``StructureData`` gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.folders import SandboxFolder
from aiida.engine import run_get_node

from aiida_bzs.calculations.jobs import (
    ExtrapolationGradeCalculation,
    StructureAnalysisCalculation,
    frames_copy,
)
from aiida_bzs.common.structure_nodes import atoms_from_structure, structure_from_atoms
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.scripts import job as runner
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import make_supercell
from aiida_bzs.training import dataset as ds

MD_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "md"
ANALYSIS_PARAMETERS = {"bonds": {"Zr-S": 3.1, "Ba-S": 3.8}, "contact_species": "S", "contact_cutoff": 2.5,
                       "rdf_r_max": 6.0, "rdf_bin_width": 0.05, "adf_bins": 90}


@pytest.fixture(scope="module")
def job_code(aiida_profile, localhost_job_code):
    if localhost_job_code is None:
        pytest.skip("aiida-bzs-job not found; install the package (pip install -e .)")
    return localhost_job_code


@pytest.fixture
def tiny_potential_asi(aiida_profile):
    """The tiny Ba/S/Zr ACE potential with its active set (as tests/md/conftest.py)."""
    from aiida_bzs.data.ace_potential import AcePotentialData

    return AcePotentialData.get_or_create(MD_FIXTURES / "tiny.yaml", yace=MD_FIXTURES / "tiny.yace",
                                          asi=MD_FIXTURES / "tiny.asi")


@pytest.fixture
def pair(aiida_profile):
    """The same rattled 2×1×2 Pnma supercell (80 atoms) as a stored StructureData and a stored
    LargeStructureData (the latter with a per-atom ``grain`` array, which the jobs do not use).

    The LargeStructureData is made from the stored StructureData, whose positions AiiDA keeps to
    14 significant digits, so both nodes hold the very same float64 coordinates.
    """
    atoms = make_supercell(pnma_crystal(), [2, 1, 2])
    atoms.rattle(stdev=0.15, seed=4)
    small = orm.load_node(structure_from_atoms(atoms).store().pk)
    atoms = atoms_from_structure(small)
    grain = np.repeat(np.arange(1, 5, dtype=np.int32), len(atoms) // 4)
    return small, LargeStructureData.from_ase(atoms, arrays={"grain": grain}).store()


@pytest.fixture
def no_decoding_in_the_daemon(monkeypatch):
    """Make every way of decoding a LargeStructureData in this process (the daemon's, for
    ``run_get_node``) raise; reading its repository file's bytes stays allowed."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"LargeStructureData<{self.pk}> decoded in the daemon")

    for name in ("get_arrays", "get_ase", "to_structure_data"):
        monkeypatch.setattr(LargeStructureData, name, refuse)


def _repository_bytes(node: LargeStructureData) -> bytes:
    return node.base.repository.get_object_content(LargeStructureData.FILENAME, mode="rb")


def _job_folder_file(node, name: str = runner.FRAMES) -> bytes:
    """A file of the job's working directory (the local computer keeps it)."""
    return (Path(node.outputs.remote_folder.get_remote_path()) / name).read_bytes()


def test_the_guard_catches_decoding(pair, no_decoding_in_the_daemon):
    """The patched methods are the ones the old ``frames_copy`` path went through, so the job tests
    below would fail if the daemon decoded the node again."""
    _, large = pair
    with pytest.raises(AssertionError, match="decoded in the daemon"):
        atoms_from_structure(large)


def test_frames_copy_lists_the_large_structure_file_and_writes_nothing(pair, no_decoding_in_the_daemon):
    small, large = pair
    with SandboxFolder() as folder:
        assert frames_copy(large, folder) == [(large.uuid, LargeStructureData.FILENAME, runner.FRAMES)]
        assert folder.get_content_list() == []
        assert frames_copy(small, folder) == []  # a StructureData is still packed here
        assert folder.get_content_list() == [runner.FRAMES]


def test_runner_reads_a_structure_file_as_the_old_packed_frame(pair, tmp_path):
    """``_read_frames`` of the node's file equals, array by array, the packed set the daemon used to
    write for it (``pack`` of its Atoms) and the one written for the same StructureData."""
    small, large = pair
    (tmp_path / "large.npz").write_bytes(_repository_bytes(large))
    old = atoms_from_structure(large)
    (tmp_path / "old.npz").write_bytes(ds.to_npz_bytes(ds.pack([old])))
    (tmp_path / "small.npz").write_bytes(ds.to_npz_bytes(ds.pack([atoms_from_structure(small)])))
    new = runner._read_frames(tmp_path / "large.npz")
    for reference in (runner._read_frames(tmp_path / "old.npz"), runner._read_frames(tmp_path / "small.npz")):
        assert set(new) == set(reference) == set(ds.PER_ATOM + ds.PER_STRUCTURE)
        for key, values in reference.items():
            assert new[key].dtype == values.dtype, key
            np.testing.assert_array_equal(new[key], values, err_msg=key)


def test_runner_names_a_file_that_is_neither_layout(tmp_path):
    np.savez(tmp_path / runner.FRAMES, cell=np.eye(3), numbers=np.array([16]))
    with pytest.raises(runner.JobInputError, match=r"no \['positions'\]"):
        runner._read_frames(tmp_path / runner.FRAMES)


def test_grade_of_a_large_structure(job_code, tiny_potential_asi, pair, no_decoding_in_the_daemon):
    small, large = pair
    results_small, node_small = run_get_node(ExtrapolationGradeCalculation, code=job_code,
                                             potential=tiny_potential_asi, structure=small)
    assert node_small.is_finished_ok, node_small.exit_message
    repository_file = _repository_bytes(large)
    results, node = run_get_node(ExtrapolationGradeCalculation, code=job_code, potential=tiny_potential_asi,
                                 structure=large)
    assert node.is_finished_ok, node.exit_message
    assert _job_folder_file(node) == repository_file  # the node's own file, not a re-packed frames.npz
    gamma, reference = results["gamma"].get_array("per_atom"), results_small["gamma"].get_array("per_atom")
    assert gamma.shape == (80,)
    np.testing.assert_allclose(gamma, reference, rtol=1e-6)
    summary, summary_small = results["summary"].get_dict(), results_small["summary"].get_dict()
    assert summary["n_atoms"] == summary_small["n_atoms"] == 80
    assert summary["n_frames"] == 1
    assert summary["max"] == pytest.approx(summary_small["max"], rel=1e-6)
    assert summary["n_above_reliable"] == summary_small["n_above_reliable"]


def test_analysis_of_a_large_structure(job_code, pair, no_decoding_in_the_daemon):
    small, large = pair
    parameters = orm.Dict(ANALYSIS_PARAMETERS)
    results_small, node_small = run_get_node(StructureAnalysisCalculation, code=job_code, structure=small,
                                             parameters=parameters)
    assert node_small.is_finished_ok, node_small.exit_message
    repository_file = _repository_bytes(large)
    results, node = run_get_node(StructureAnalysisCalculation, code=job_code, structure=large,
                                 parameters=parameters)
    assert node.is_finished_ok, node.exit_message
    assert _job_folder_file(node) == repository_file
    names = set(results) - {"retrieved", "remote_folder"}
    assert names == set(results_small) - {"retrieved", "remote_folder"}
    assert {"density", "rdf", "contacts", "coordination_Zr_S", "coordination_Ba_S"} <= names
    assert results["density"].get_dict() == results_small["density"].get_dict()
    for name in names - {"density"}:
        a, b = results[name], results_small[name]
        assert a.get_arraynames() == b.get_arraynames(), name
        for array in a.get_arraynames():
            np.testing.assert_array_equal(a.get_array(array), b.get_array(array), err_msg=f"{name}/{array}")
        assert a.base.attributes.all == b.base.attributes.all, name
    assert results["coordination_Zr_S"].base.attributes.get("mean_cn") == pytest.approx(6.0, abs=0.5)
