"""Normalisation of I(Q), S(Q), F(Q), G(r) and the sine transform F(Q) → G(r).

Conventional (Faber–Ziman) definitions for N atoms with form factors f_i(Q) (X-ray: electrons;
neutron: lengths b in fm), c_a the atomic fractions and <f> = Σ c_a f_a:

    I(Q) = Σ_i f_i² + 2 Σ_{i<j} f_i f_j sin(Q r_ij)/(Q r_ij)      (per structure)
    S(Q) = 1 + [I(Q)/N − <f²>] / <f>²                               (→ 1 at high Q)
    F(Q) = Q [S(Q) − 1]                                              (Å⁻¹)
    G(r) = (2/π) ∫ F(Q) sin(Q r) dQ = 4π r [ρ(r) − ρ0]              (Å⁻²; slope −4πρ0 at small r)

debyecalculator 1.1 returns **half** of each of these: its pair sum runs over i<j without the
factor 2 and its self term is Σ f_i²/2, so I_dc = I/2, S_dc = (S − 1)/2, F_dc = F/2, G_dc = G/2.
:func:`to_conventional` undoes that. Partial (element-pair) curves are the pair's contribution
to the distinct part: conventional S_ab sums to S − 1 over pairs a ≤ b; partial I(Q) includes
the self-scattering of the atoms of the pair's elements, as debyecalculator does.

debyecalculator 1.1's ``lorch_mod`` uses sinc(πQ/Qmax) with numpy's normalised sinc, i.e.
sin(π²Q/Qmax)/(π²Q/Qmax), which is zero at Qmax/π and negative beyond; :func:`sine_transform`
applies the intended Lorch function sin(πQ/Qmax)/(πQ/Qmax) instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: debyecalculator's I, F, G (and S − 1) are this fraction of the conventional ones.
DEBYECALCULATOR_FRACTION = 0.5
CURVES = ("iq", "sq", "fq", "gr")


def to_conventional(curves: Mapping[str, np.ndarray], partial: bool = False) -> dict[str, np.ndarray]:
    """Convert debyecalculator-normalised ``iq``, ``sq``, ``fq``, ``gr`` to conventional ones.

    ``partial``: a pair's contribution (no +1 on S). Other keys (``q``, ``r``) pass through.
    """
    out = dict(curves)
    factor = 1.0 / DEBYECALCULATOR_FRACTION
    for key in ("iq", "fq", "gr"):
        if key in out:
            out[key] = np.asarray(out[key], dtype=float) * factor
    if "sq" in out:
        out["sq"] = np.asarray(out["sq"], dtype=float) * factor + (0.0 if partial else 1.0)
    return out


def to_debyecalculator(curves: Mapping[str, np.ndarray], partial: bool = False) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_conventional` (for comparison with bare debyecalculator output)."""
    out = dict(curves)
    for key in ("iq", "fq", "gr"):
        if key in out:
            out[key] = np.asarray(out[key], dtype=float) * DEBYECALCULATOR_FRACTION
    if "sq" in out:
        out["sq"] = (np.asarray(out["sq"], dtype=float) - (0.0 if partial else 1.0)) * DEBYECALCULATOR_FRACTION
    return out


def lorch_function(q, qmax: float) -> np.ndarray:
    """Lorch window M(Q) = sin(πQ/Qmax)/(πQ/Qmax) (Q, Qmax in Å⁻¹); 1 at Q = 0, 0 at Qmax."""
    return np.sinc(np.asarray(q, dtype=float) / qmax)


def sine_transform(q, fq, r, qstep: float, qmax: float, lorch: bool = False, qdamp: float = 0.0) -> np.ndarray:
    """G(r) = (2/π) Σ_Q F(Q) M(Q) sin(Q r) ΔQ · exp(−(r qdamp)²/2) on ``r`` (Å), in Å⁻².

    The same rectangle rule on the same grids as debyecalculator's ``compute_gr``; ``M`` is the
    Lorch function when ``lorch`` is true, else 1. Works on one curve or a stack (rows).
    """
    q = np.asarray(q, dtype=float)
    r = np.asarray(r, dtype=float)
    single = np.ndim(fq) == 1
    fq = np.atleast_2d(np.asarray(fq, dtype=float))
    weights = fq * qstep * (lorch_function(q, qmax) if lorch else 1.0)
    out = np.empty((fq.shape[0], r.size))
    chunk = max(1, 4_000_000 // max(1, q.size))
    for start in range(0, r.size, chunk):
        part = r[start : start + chunk]
        out[:, start : start + chunk] = weights @ np.sin(np.outer(q, part))
    out *= 2 / np.pi
    if qdamp:
        out *= np.exp(-((r * qdamp) ** 2) / 2)
    return out[0] if single else out
