"""Grain-size trend from peak width: the Scherrer estimate on the main reflection of a pattern.

τ = K λ / (β cos θ), with β the full width at half maximum in radians of 2θ, θ half the peak's
2θ, λ in Å and K ≈ 0.9 (spherical crystallites). It measures the coherent domain size, an
estimate good to tens of per cent: use it for trends (smaller grains → broader peaks), not for
absolute sizes. Instrumental broadening (degrees) is removed in quadrature when given.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import peak_widths

from ..analysis.errors import AnalysisInputError
from .units import resolve_wavelength

#: Scherrer shape factor for spherical crystallites (dimensionless).
SCHERRER_K = 0.9


def peak_fwhm(x, y, x_min: float | None = None, x_max: float | None = None) -> tuple[float, float, float]:
    """Return (position, FWHM, height) of the highest peak of y(x) inside [x_min, x_max].

    Half maximum is taken above a linear baseline through the two minima that bound the peak
    (found by walking down from the maximum); :func:`scipy.signal.peak_widths` locates it by linear
    interpolation between those minima (same unit as x).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    mask = np.ones_like(x, dtype=bool)
    if x_min is not None:
        mask &= x >= x_min
    if x_max is not None:
        mask &= x <= x_max
    x, y = x[mask], y[mask]
    if x.size < 5:
        raise AnalysisInputError("fewer than 5 points in the peak window")
    top = int(np.argmax(y))
    left = top
    while left > 0 and y[left - 1] <= y[left]:
        left -= 1
    right = top
    while right < x.size - 1 and y[right + 1] <= y[right]:
        right += 1
    # linear baseline between the bounding minima, evaluated point by point
    baseline = np.interp(x, [x[left], x[right]], [y[left], y[right]])
    above = y - baseline
    height = above[top]
    if height <= 0 or top in (0, x.size - 1):
        raise AnalysisInputError("no peak maximum inside the window; widen the window")
    # half-maximum crossings between the bounding minima (scipy: prominence ``height`` measured
    # from these bases), linearly interpolated; ``above`` is 0 at both bases, so both exist
    _, _, left_ip, right_ip = peak_widths(above, [top], rel_height=0.5,
                                          prominence_data=(np.array([height]), np.array([left]), np.array([right])))
    x_left, x_right = np.interp([left_ip[0], right_ip[0]], np.arange(x.size), x)
    return float(x[top]), float(x_right - x_left), float(height)


def scherrer_size(
    two_theta,
    intensity,
    wavelength: float | str | None = None,
    two_theta_min: float | None = None,
    two_theta_max: float | None = None,
    k: float = SCHERRER_K,
    instrumental_fwhm: float = 0.0,
) -> dict:
    """Scherrer domain size of the main peak of a 2θ pattern (degrees) at ``wavelength`` (Å).

    :returns: ``two_theta`` (degrees), ``fwhm`` (degrees), ``size`` (Å) and ``size_nm``.
    """
    lam = resolve_wavelength(wavelength)
    position, fwhm, _ = peak_fwhm(two_theta, intensity, two_theta_min, two_theta_max)
    beta2 = fwhm**2 - instrumental_fwhm**2
    if beta2 <= 0:
        raise AnalysisInputError(
            f"peak FWHM {fwhm:.4g}° is not larger than the instrumental width {instrumental_fwhm}°"
        )
    beta = np.radians(np.sqrt(beta2))
    size = k * lam / (beta * np.cos(np.radians(position / 2)))
    return {"two_theta": position, "fwhm": fwhm, "size": float(size), "size_nm": float(size) / 10.0}
