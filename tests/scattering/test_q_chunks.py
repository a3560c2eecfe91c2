"""Finite mode in Q windows: the self-scattering term on chunks of the Q grid equals the one-shot run.

debyecalculator 1.1's self-scattering term holds two N × nQ tensors; ``finite_patterns`` computes it
on consecutive windows of the same Q grid when ``max_memory_gb`` (or the free memory) is too small
for the whole grid. Small spheres, a forced number of windows via a tiny ``max_memory_gb``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering import debye
from aiida_bzs.scattering.debye import (
    finite_patterns,
    memory_model,
    plan_q_chunks,
    q_windows,
)
from aiida_bzs.scattering.params import validate_parameters

CURVES = ("q", "iq", "sq", "fq", "gr")
PARTIALS = ["Zr-S", "Ba-Ba"]


def _budget_gb(atoms, params, chunks: int) -> float:
    """A ``max_memory_gb`` that the memory model fills with exactly ``chunks`` Q windows."""
    n_q = len(np.arange(params["qmin"], params["qmax"], params["qstep"]))
    n_r = len(np.arange(params["rmin"], params["rmax"], params["rstep"]))
    itemsize = 4 if params["dtype"] == "float32" else 8
    return memory_model(len(atoms), n_q, n_r, itemsize, params["batch_size"], q_chunks=chunks)["total"] / 2**30


def _run(atoms, params):
    return finite_patterns(atoms.get_chemical_symbols(), atoms.positions, params)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-4), ("float64", 1e-6)])
def test_chunked_equals_one_shot(sphere, dtype, rtol):
    atoms = sphere(11.0)
    params = validate_parameters({"qstep": 0.01, "dtype": dtype, "partials": PARTIALS, "max_memory_gb": 1000})
    one = _run(atoms, params)
    chunked = _run(atoms, {**params, "max_memory_gb": _budget_gb(atoms, params, 4)})
    assert len(atoms) > 200
    assert one["meta"]["q_chunks"] == 1
    assert chunked["meta"]["q_chunks"] == 4
    assert np.array_equal(chunked["q"], one["q"])  # the same grid to the last point
    assert np.array_equal(chunked["r"], one["r"])
    for key in CURVES:
        scale = np.abs(one[key]).max()
        np.testing.assert_allclose(chunked[key], one[key], rtol=rtol, atol=rtol * scale, err_msg=key)
    assert sorted(chunked["partials"]) == sorted(one["partials"]) == sorted(["Zr-S", "Ba-Ba"])
    for name, curves in one["partials"].items():
        for key in ("iq", "sq", "fq", "gr"):
            scale = np.abs(curves[key]).max()
            np.testing.assert_allclose(chunked["partials"][name][key], curves[key], rtol=rtol, atol=rtol * scale,
                                       err_msg=f"{name} {key}")


def test_balanced_grid_five_windows(sphere):
    """The study's grid (11,600 Q points): identical grid, I(Q) within float32 round-off."""
    atoms = sphere(9.0)
    params = validate_parameters({"qstep": 0.0025, "max_memory_gb": 1000})
    one = _run(atoms, params)
    chunked = _run(atoms, {**params, "max_memory_gb": _budget_gb(atoms, params, 5)})
    assert chunked["meta"]["q_chunks"] == 5 and chunked["meta"]["n_q"] == one["meta"]["n_q"] == 11_600
    assert np.array_equal(chunked["q"], one["q"])
    for key in ("iq", "sq", "fq", "gr"):
        np.testing.assert_allclose(chunked[key], one[key], rtol=1e-5, atol=1e-6 * np.abs(one[key]).max(), err_msg=key)


def test_meta_records_plan(sphere):
    atoms = sphere(8.0)
    params = validate_parameters({"qstep": 0.01, "max_memory_gb": 1000})
    one = _run(atoms, params)["meta"]
    assert one["q_chunks"] == 1 and one["q_chunk_points"] == one["n_q"]
    assert one["memory_budget_bytes"] == 1000 * 2**30 and one["memory_budget_source"] == "max_memory_gb"
    assert one["memory_forecast_bytes"] == one["memory_forecast_unchunked_bytes"]
    three = _run(atoms, {**params, "max_memory_gb": _budget_gb(atoms, params, 3)})["meta"]
    assert three["q_chunks"] == 3 and three["q_chunk_points"] == -(-three["n_q"] // 3)
    assert three["memory_forecast_bytes"] <= three["memory_budget_bytes"] < one["memory_forecast_bytes"]


def test_default_budget_is_a_fraction_of_free_memory(sphere, monkeypatch):
    """max_memory_gb null: MEMORY_FRACTION of the free memory; little free memory gives windows."""
    atoms = sphere(8.0)
    params = validate_parameters({"qstep": 0.01})
    assert params["max_memory_gb"] is None
    free = _budget_gb(atoms, params, 2) * 2**30 / debye.MEMORY_FRACTION
    monkeypatch.setattr(debye, "free_memory_bytes", lambda device: free)
    meta = _run(atoms, params)["meta"]
    assert meta["memory_budget_source"] == f"{debye.MEMORY_FRACTION:g} × free memory"
    assert meta["memory_budget_bytes"] == int(debye.MEMORY_FRACTION * free)
    assert meta["q_chunks"] == 2


def test_plan_and_windows():
    n_q, n_r, n = 11_600, 2_000, 318_868
    model = memory_model(n, n_q, n_r, 4)
    assert model["self_term"] == 2 * n * n_q * 4  # ~27.6 GiB: debyecalculator's two N × nQ tensors
    assert plan_q_chunks(n, n_q, n_r, 4, model["total"]) == 1
    budget = 6 * 2**30
    chunks = plan_q_chunks(n, n_q, n_r, 4, budget)
    assert memory_model(n, n_q, n_r, 4, q_chunks=chunks)["total"] <= budget
    assert memory_model(n, n_q, n_r, 4, q_chunks=chunks - 1)["total"] > budget  # the fewest that fit
    assert plan_q_chunks(n, n_q, n_r, 4, 1.0) == n_q  # nothing fits: one Q point per window
    windows = q_windows(n_q, chunks)
    assert windows[0][0] == 0 and windows[-1][1] == n_q and len(windows) == chunks
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert q_windows(5, 9) == [(i, i + 1) for i in range(5)]


@pytest.mark.parametrize("value", [0, -1.0, "a lot", True, float("nan"), float("inf"), [2]])
def test_bad_max_memory_refused(value):
    with pytest.raises(AnalysisInputError, match="'max_memory_gb' must be a positive number of GiB or null"):
        validate_parameters({"max_memory_gb": value})


def test_max_memory_accepted():
    assert validate_parameters({"max_memory_gb": 3})["max_memory_gb"] == 3.0
    assert validate_parameters({"max_memory_gb": None})["max_memory_gb"] is None
