"""Rwp: zero for identical curves, invariant under scaling, background recovered."""

import numpy as np
import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.compare import fit_scale, rwp

X = np.linspace(20, 80, 601)
PATTERN = 50 + 1000 * np.exp(-0.5 * ((X - 25.2) / 0.4) ** 2) + 400 * np.exp(-0.5 * ((X - 36.0) / 0.5) ** 2)


@pytest.mark.parametrize("weighting", ["poisson", "uniform"])
def test_identical_curves_give_zero(weighting):
    fit = fit_scale(X, PATTERN, X, PATTERN, background=True, weighting=weighting)
    assert fit.rwp == pytest.approx(0, abs=1e-10) and fit.scale == pytest.approx(1) and fit.background == pytest.approx(0, abs=1e-8)


@pytest.mark.parametrize("weighting", ["poisson", "uniform"])
def test_scale_invariance(weighting):
    rng = np.random.default_rng(1)
    observed = PATTERN * (1 + 0.03 * rng.standard_normal(X.size))
    model = PATTERN + 30 * np.sin(X)  # an imperfect model
    reference = fit_scale(X, observed, X, model, weighting=weighting).rwp
    assert reference > 0.01
    assert fit_scale(X, observed, X, 7.5 * model, weighting=weighting).rwp == pytest.approx(reference, rel=1e-9)
    assert fit_scale(X, 0.2 * observed, X, model, weighting=weighting).rwp == pytest.approx(reference, rel=1e-9)


def test_background_and_interpolation():
    fine = np.linspace(19, 81, 5000)
    model = np.interp(fine, X, PATTERN - 50)
    fit = fit_scale(X, 3 * (PATTERN - 50) + 120, fine, model, background=True, weighting="uniform")
    assert fit.scale == pytest.approx(3, rel=2e-3) and fit.background == pytest.approx(120, rel=2e-2)
    assert fit.rwp < 1e-3
    no_bg = fit_scale(X, 3 * (PATTERN - 50) + 120, fine, model, background=False, weighting="uniform")
    assert no_bg.rwp > 10 * fit.rwp


def test_window_and_weights_errors():
    with pytest.raises(AnalysisInputError, match="only 0 measured points"):
        fit_scale(X, PATTERN, X + 100, PATTERN)
    with pytest.raises(AnalysisInputError, match="needs observed intensities > 0"):
        fit_scale(X, PATTERN - 100, X, PATTERN, weighting="poisson")
    assert fit_scale(X, PATTERN - 100, X, PATTERN, background=True).weighting == "uniform"
    assert rwp([1, 2], [1, 2]) == 0
