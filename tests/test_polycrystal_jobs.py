"""The polycrystal jobs through AiiDA with the real runner (``bzs_job@localhost``): ``bzs.job.polycrystal``
builds a Voronoi polycrystal where the job runs, ``bzs.job.interfaces`` analyses its boundaries (45 Å
box, 4 grains, ~3,500 atoms; a few seconds per job, mostly the runner's start-up)."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.calculations.jobs import (
    InterfaceAnalysisCalculation,
    PolycrystalCalculation,
)
from aiida_bzs.common.structure_nodes import structure_from_atoms
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.structures import polycrystal as pc
from aiida_bzs.structures.crystal import pnma_crystal

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BOX = [45.0, 45.0, 45.0]
GRAINS = 4
SEED = 2


@pytest.fixture(scope="module")
def job_code(aiida_profile, localhost_job_code):
    if localhost_job_code is None:
        pytest.skip("aiida-bzs-job not found; install the package (pip install -e .)")
    return localhost_job_code


@pytest.fixture(scope="module")
def crystal_node(aiida_profile):
    return structure_from_atoms(pnma_crystal()).store()


def _polycrystal(code, crystal, parameters):
    return run_get_node(PolycrystalCalculation, code=code, crystal=crystal, parameters=orm.Dict(parameters))


@pytest.fixture(scope="module")
def built(job_code, crystal_node):
    """The job's outputs and node for a random 4-grain polycrystal of the Pnma crystal."""
    results, node = _polycrystal(job_code, crystal_node, {"box": BOX, "grains": GRAINS, "seed": SEED})
    assert node.is_finished_ok, node.exit_message
    return results, node


def _interfaces(code, **inputs):
    return run_get_node(InterfaceAnalysisCalculation, code=code, **inputs)


def _fake_grade(n_atoms: int, seed: int = 0) -> orm.ArrayData:
    """An ArrayData shaped like bzs.job.grade's ``gamma`` output for one structure."""
    gamma = np.random.default_rng(seed).lognormal(mean=-1.0, sigma=1.0, size=n_atoms)
    node = orm.ArrayData()
    node.set_array("max_gamma", np.array([gamma.max()]))
    node.set_array("mean_gamma", np.array([gamma.mean()]))
    node.set_array("fraction_above_2", np.array([np.mean(gamma > 2)]))
    node.set_array("fraction_above_5", np.array([np.mean(gamma > 5)]))
    node.set_array("per_atom", gamma)
    node.base.attributes.set("reliable_gamma", 2.0)
    return node.store()


def _png(node: orm.SinglefileData) -> bytes:
    return node.get_content(mode="rb")


def test_polycrystal_job_gives_the_grains_report_and_atomsk_file(built):
    results, node = built
    structure, report = results["structure"], results["report"].get_dict()
    assert isinstance(structure, LargeStructureData)
    assert structure.per_atom_arrays == ["grain"]
    atoms = structure.get_ase()
    grain = atoms.arrays["grain"]  # kept through get_ase()
    assert sorted(np.unique(grain).tolist()) == list(range(1, GRAINS + 1))
    assert report["n_atoms"] == structure.n_atoms == len(atoms) > 2000
    assert report["n_grains"] == GRAINS and report["seed"] == SEED and report["source"] == "random"
    assert [g["n_atoms"] for g in report["grains"]] == np.bincount(grain)[1:].tolist()
    np.testing.assert_allclose(structure.cell, np.diag(BOX))
    assert report["job"]["wall_time_s"] > 0
    # the job builds what the pure builder builds (the crystal went through a StructureData: 1e-14 Å)
    expected, _ = pc.build_polycrystal(pnma_crystal(), pc.random_spec(BOX, GRAINS, SEED))
    np.testing.assert_allclose(atoms.positions, expected.positions, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(atoms.numbers, expected.numbers)
    assert node.get_options()["max_wallclock_seconds"] == PolycrystalCalculation.DEFAULT_WALLTIME


def test_the_atomsk_output_rebuilds_the_same_polycrystal(built, job_code, crystal_node):
    results, _ = built
    text = results["atomsk"].get_content()
    spec = pc.read_atomsk(text)
    assert spec.n_grains == GRAINS and spec.box == tuple(BOX)
    first = results["structure"]
    # as a job again, from the file, with the crystal as a LargeStructureData (its file is copied as is)
    crystal = LargeStructureData.from_ase(pnma_crystal()).store()
    again, node = _polycrystal(job_code, crystal, {"atomsk": text})
    assert node.is_finished_ok, node.exit_message
    second = again["structure"]
    assert second.n_atoms == first.n_atoms
    np.testing.assert_array_equal(second.get_array("numbers"), first.get_array("numbers"))
    np.testing.assert_array_equal(second.get_array("grain"), first.get_array("grain"))
    np.testing.assert_allclose(second.get_array("positions"), first.get_array("positions"), rtol=0, atol=1e-6)
    assert again["report"]["source"] == "atomsk"


def test_a_grain_count_of_zero_is_exit_410_with_the_runners_message(job_code, crystal_node):
    _, node = _polycrystal(job_code, crystal_node, {"box": BOX, "grains": 0, "seed": 1})
    assert node.exit_status == PolycrystalCalculation.exit_codes.ERROR_INVALID_INPUT.status == 410
    assert "grain count must be an integer ≥ 1, got 0" in node.exit_message


@pytest.mark.parametrize(("parameters", "message"), [
    ({"box": BOX, "grains": 2, "seed": 1, "grain_size": 3}, r"unknown parameter\(s\) \['grain_size'\]; allowed: \["),
    ({"box": BOX, "grains": 2}, r"missing \['seed'\]"),
    ({"atomsk": "box 40 40 40\nrandom 2\n", "grains": 2}, r"either `atomsk`.*or `box` and `grains`"),
])
def test_polycrystal_parameters_are_checked_at_launch(job_code, crystal_node, parameters, message):
    with pytest.raises(ValueError, match=message):
        _polycrystal(job_code, crystal_node, parameters)


def test_interfaces_job_with_grains_and_gamma(built, job_code):
    structure = built[0]["structure"]
    gamma = _fake_grade(structure.n_atoms)
    results, node = _interfaces(job_code, structure=structure, grains=structure, gamma=gamma)
    assert node.is_finished_ok, node.exit_message
    summary = results["summary"].get_dict()
    n = structure.n_atoms
    assert summary["n_atoms"] == n and summary["n_grains"] == GRAINS
    assert summary["boundary"]["n_atoms"] + summary["interior"]["n_atoms"] == n
    assert summary["n_boundary"] == summary["boundary"]["n_atoms"]
    assert 0 < summary["boundary_fraction"] < 1
    # unrelaxed random grains: the interior is crystal, Zr octahedral, save the few Zr next to an S
    # that the clearance removed (3.8–4.9 Å from the other grain, so not boundary atoms; ~5 %)
    assert summary["interior"]["zr_cn_mean"] == pytest.approx(6.0, abs=0.1)
    histogram = summary["interior"]["zr_cn_histogram"]
    assert histogram[6] / sum(histogram) > 0.9
    assert summary["boundary"]["zr_cn_mean"] < summary["interior"]["zr_cn_mean"]
    assert summary["all"]["gamma_max"] == pytest.approx(gamma.get_array("per_atom").max())
    arrays = results["arrays"]
    assert {"is_boundary", "grain", "zr_cn", "ba_cn", "zr_s_length", "gamma"} <= set(arrays.get_arraynames())
    assert arrays.get_array("is_boundary").shape == (n,)
    assert int(arrays.get_array("is_boundary").sum()) == summary["n_boundary"]
    np.testing.assert_array_equal(arrays.get_array("grain"), structure.get_array("grain"))
    plots = results["plots"]
    assert sorted(plots) == ["interfaces", "slice_gamma", "slice_grain"]
    for plot in plots.values():
        assert _png(plot).startswith(PNG_MAGIC)


def test_interfaces_job_uses_the_structures_own_grains(built, job_code):
    structure = built[0]["structure"]
    results, node = _interfaces(job_code, structure=structure, parameters=orm.Dict({"shells": 2}))
    assert node.is_finished_ok, node.exit_message
    summary = results["summary"].get_dict()
    assert summary["parameters"]["shells"] == 2 and summary["n_grains"] == GRAINS
    assert "gamma_max" not in summary["all"]
    assert sorted(results["plots"]) == ["interfaces", "slice_grain"]


def test_interfaces_job_refuses_grains_of_another_structure(built, job_code):
    structure = built[0]["structure"]
    atoms = structure.get_ase()[:-5]
    other = LargeStructureData.from_ase(atoms).store()
    _, node = _interfaces(job_code, structure=structure, grains=other)
    assert node.exit_status == 410
    assert f"atom count mismatch: `grains` has {structure.n_atoms - 5} atoms, `structure` has {structure.n_atoms}" \
        in node.exit_message


def test_interfaces_job_without_any_grain_ids_is_exit_410(job_code, crystal_node):
    _, node = _interfaces(job_code, structure=crystal_node)
    assert node.exit_status == 410
    assert "no grain IDs" in node.exit_message and "pass `grains`" in node.exit_message


def test_interfaces_parameters_and_gamma_are_checked_at_launch(built, job_code):
    structure = built[0]["structure"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['cutoff'\]; allowed: \['boundary_cutoff'"):
        _interfaces(job_code, structure=structure, parameters=orm.Dict({"cutoff": 3.0}))
    no_per_atom = orm.ArrayData(np.ones(3)).store()
    with pytest.raises(ValueError, match=r"no per-atom γ.*bzs\.job\.grade"):
        _interfaces(job_code, structure=structure, gamma=no_per_atom)


def test_runner_report_is_json_safe():
    from aiida_bzs.scripts.job import json_safe

    value = json_safe({"a": np.int64(3), "b": np.float32(0.5), "c": np.array([1.0, np.nan]), "d": (np.bool_(True),)})
    assert value == {"a": 3, "b": 0.5, "c": [1.0, None], "d": [True]}
    assert isinstance(value["a"], int)
