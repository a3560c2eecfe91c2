"""Scattering angle 2θ (degrees) ↔ momentum transfer Q (Å⁻¹) for a laboratory wavelength (Å).

Q = 4π sin(θ) / λ. A pattern computed on a Q grid is shown in 2θ by this conversion only (no
Lorentz–polarisation factor): the Debye equation already averages over orientations, and the
study converted its Q window the same way.
"""

from __future__ import annotations

import numpy as np

from ..analysis.errors import AnalysisInputError

#: Kα1 wavelengths of common laboratory anodes, Å (Cu is the study's radiation).
WAVELENGTHS: dict[str, float] = {"Cu": 1.5406, "Mo": 0.70932, "Co": 1.78897, "Ag": 0.55942}
#: Wavelength used when none is given: Cu Kα1, Å.
DEFAULT_WAVELENGTH = WAVELENGTHS["Cu"]


def resolve_wavelength(value: float | str | None) -> float:
    """Return a wavelength in Å from a number or an anode name ('Cu', 'Mo', 'Co', 'Ag', also 'CuKa1').

    ``None`` gives Cu Kα1 (1.5406 Å).
    """
    if value is None:
        return DEFAULT_WAVELENGTH
    if isinstance(value, str):
        key = value.strip()
        for suffix in ("Ka1", "KA1", "ka1", "Kα1"):
            key = key.removesuffix(suffix)
        if key.capitalize() in WAVELENGTHS:
            return WAVELENGTHS[key.capitalize()]
        try:
            value = float(value)
        except ValueError:
            raise AnalysisInputError(
                f"unknown wavelength {value!r}; give a number in Å or one of {sorted(WAVELENGTHS)}"
            ) from None
    wavelength = float(value)
    if not np.isfinite(wavelength) or wavelength <= 0:
        raise AnalysisInputError(f"wavelength must be a positive number of Å, got {value!r}")
    return wavelength


def q_reachable(wavelength: float) -> float:
    """Largest Q (Å⁻¹) a wavelength (Å) reaches, at 2θ = 180°: 4π/λ."""
    return 4 * np.pi / resolve_wavelength(wavelength)


def two_theta_from_q(q, wavelength: float | str | None = None) -> np.ndarray:
    """Return 2θ in degrees for momentum transfers ``q`` (Å⁻¹) at ``wavelength`` (Å or anode name).

    Raises if any Q is negative or above 4π/λ (not reachable at that wavelength).
    """
    lam = resolve_wavelength(wavelength)
    q = np.asarray(q, dtype=float)
    if q.size and (np.nanmin(q) < 0 or not np.all(np.isfinite(q))):
        raise AnalysisInputError("Q values must be finite and >= 0 Å⁻¹")
    q_top = 4 * np.pi / lam
    if q.size and q.max() > q_top:
        raise AnalysisInputError(
            f"Q = {q.max():.4g} Å⁻¹ is above what λ = {lam} Å reaches (4π/λ = {q_top:.4g} Å⁻¹, "
            "2θ = 180°); lower Qmax or use a shorter wavelength (e.g. Mo, 0.70932 Å)"
        )
    return np.degrees(2 * np.arcsin(q * lam / (4 * np.pi)))


def q_from_two_theta(two_theta, wavelength: float | str | None = None) -> np.ndarray:
    """Return Q in Å⁻¹ for scattering angles ``two_theta`` (degrees, 0–180) at ``wavelength`` (Å)."""
    lam = resolve_wavelength(wavelength)
    tt = np.asarray(two_theta, dtype=float)
    if tt.size and (not np.all(np.isfinite(tt)) or tt.min() < 0 or tt.max() > 180):
        raise AnalysisInputError("2θ values must lie between 0 and 180 degrees")
    return 4 * np.pi * np.sin(np.radians(tt) / 2) / lam


def check_q_window(qmin: float, qmax: float, wavelength: float | str | None = None) -> tuple[float, float]:
    """Validate a Q window (Å⁻¹): 0 <= qmin < qmax, and qmax reachable when a wavelength is given."""
    try:
        qmin, qmax = float(qmin), float(qmax)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"Q window must be two numbers in Å⁻¹, got {qmin!r}, {qmax!r}") from None
    if not (np.isfinite(qmin) and np.isfinite(qmax)) or qmin < 0:
        raise AnalysisInputError(f"Q window must be finite with qmin >= 0 Å⁻¹, got [{qmin}, {qmax}]")
    if qmin >= qmax:
        raise AnalysisInputError(
            f"Q range reversed or empty: qmin = {qmin} Å⁻¹ must be below qmax = {qmax} Å⁻¹"
        )
    if wavelength is not None:
        two_theta_from_q([qmax], wavelength)
    return qmin, qmax
