"""Model-versus-measurement agreement: scale (and flat background) fit and the weighted R factor.

On the measured points inside a window, the model is interpolated (linearly) and fitted as
y_calc = s · y_model + b by weighted linear least squares (b = 0 unless ``background``), then

    Rwp = sqrt( Σ w (y_obs − y_calc)² / Σ w y_obs² ).

Rwp is 0 for identical curves and does not change when either curve is multiplied by a constant
(the scale absorbs it; Poisson weights w = 1/y_obs scale out of the ratio).
Weights: 'sigma' (1/σ², from a third data column), 'poisson' (1/y_obs, needs y_obs > 0),
'uniform' (1), or 'auto' (sigma if given, else poisson if every y_obs > 0, else uniform).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.errors import AnalysisInputError

WEIGHTINGS = ("auto", "sigma", "poisson", "uniform")
#: Fewest measured points inside the window for a meaningful fit.
MIN_POINTS = 10


@dataclass(frozen=True)
class Fit:
    """Result of :func:`fit_scale`: x (measured axis), observed and fitted curves, scale, background, Rwp."""

    x: np.ndarray
    y_obs: np.ndarray
    y_calc: np.ndarray
    scale: float
    background: float
    rwp: float
    weighting: str

    def summary(self) -> dict:
        """JSON-ready numbers: rwp, scale, background, n_points, x range, weighting."""
        return {
            "rwp": self.rwp,
            "scale": self.scale,
            "background": self.background,
            "n_points": int(self.x.size),
            "x_min": float(self.x.min()),
            "x_max": float(self.x.max()),
            "weighting": self.weighting,
        }


def rwp(y_obs, y_calc, weights=None) -> float:
    """Weighted-profile R factor sqrt(Σ w (y_obs − y_calc)² / Σ w y_obs²) (dimensionless)."""
    y_obs, y_calc = np.asarray(y_obs, float), np.asarray(y_calc, float)
    w = np.ones_like(y_obs) if weights is None else np.asarray(weights, float)
    denominator = np.sum(w * y_obs**2)
    if denominator <= 0:
        raise AnalysisInputError("Rwp is undefined: the observed curve is zero in the window")
    return float(np.sqrt(np.sum(w * (y_obs - y_calc) ** 2) / denominator))


def _weights(y_obs, sigma, weighting: str) -> tuple[np.ndarray, str]:
    if weighting not in WEIGHTINGS:
        raise AnalysisInputError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "auto":
        weighting = "sigma" if sigma is not None else ("poisson" if np.all(y_obs > 0) else "uniform")
    if weighting == "sigma":
        if sigma is None or np.any(np.asarray(sigma) <= 0):
            raise AnalysisInputError("weighting 'sigma' needs a positive uncertainty column")
        return 1.0 / np.asarray(sigma, float) ** 2, weighting
    if weighting == "poisson":
        if np.any(y_obs <= 0):
            raise AnalysisInputError("weighting 'poisson' needs observed intensities > 0; use 'uniform'")
        return 1.0 / y_obs, weighting
    return np.ones_like(y_obs), weighting


def fit_scale(
    x_obs,
    y_obs,
    x_model,
    y_model,
    sigma=None,
    background: bool = False,
    x_min: float | None = None,
    x_max: float | None = None,
    weighting: str = "auto",
) -> Fit:
    """Fit y_obs ≈ s · y_model(x_obs) + b on the measured points within [x_min, x_max] ∩ model range.

    Both x axes must be in the same unit (2θ degrees, Q Å⁻¹ or r Å) and increasing.
    """
    x_obs, y_obs = np.asarray(x_obs, float), np.asarray(y_obs, float)
    x_model, y_model = np.asarray(x_model, float), np.asarray(y_model, float)
    if np.any(np.diff(x_model) <= 0) or np.any(np.diff(x_obs) <= 0):
        raise AnalysisInputError("x values of both curves must be strictly increasing")
    lo = max(x_model[0], x_obs[0] if x_min is None else x_min)
    hi = min(x_model[-1], x_obs[-1] if x_max is None else x_max)
    mask = (x_obs >= lo) & (x_obs <= hi)
    if mask.sum() < MIN_POINTS:
        raise AnalysisInputError(
            f"only {int(mask.sum())} measured points lie in the common window [{lo:.4g}, {hi:.4g}] "
            f"(need {MIN_POINTS}); check the units of the x axis and the window"
        )
    x, y = x_obs[mask], y_obs[mask]
    s = None if sigma is None else np.asarray(sigma, float)[mask]
    w, used = _weights(y, s, weighting)
    model = np.interp(x, x_model, y_model)
    design = np.column_stack([model, np.ones_like(model)]) if background else model[:, None]
    sqrt_w = np.sqrt(w)
    coefficients, *_ = np.linalg.lstsq(design * sqrt_w[:, None], y * sqrt_w, rcond=None)
    scale = float(coefficients[0])
    offset = float(coefficients[1]) if background else 0.0
    y_calc = scale * model + offset
    return Fit(x, y, y_calc, scale, offset, rwp(y, y_calc, w), used)
