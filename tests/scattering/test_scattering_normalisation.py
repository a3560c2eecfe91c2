"""Normalisation: conventional curves against an independent Debye sum, the small-r slope of
G(r), S(Q) → 1, and the factor 2 between debyecalculator's output and the conventional one."""

import numpy as np
import pytest

from aiida_bzs.scattering.formfactors import form_factors
from aiida_bzs.scattering.transforms import lorch_function, sine_transform
from aiida_bzs.structures import pnma_crystal

RHO0 = len(pnma_crystal()) / pnma_crystal().get_volume()  # atoms / Å³


def independent_debye(atoms, q, r, biso, qdamp):
    """I, S, F, G from the textbook formulas, with numpy (no debyecalculator)."""
    symbols = np.array(atoms.get_chemical_symbols())
    elements = sorted(set(symbols))
    table = dict(zip(elements, form_factors(elements, q)))
    f = np.array([table[s] for s in symbols])  # (N, nq)
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    i, j = np.triu_indices(len(atoms), 1)
    pair = 2 * np.sum(f[i] * f[j] * np.sinc(np.outer(d[i, j], q) / np.pi), axis=0)
    pair *= np.exp(-(q**2) * biso / (8 * np.pi**2))
    n = len(atoms)
    intensity = np.sum(f**2, axis=0) + pair
    mean_f = f.mean(axis=0)
    s = 1 + (intensity / n - np.mean(f**2, axis=0)) / mean_f**2
    fq = q * (s - 1)
    dq = q[1] - q[0]
    g = (2 / np.pi) * np.sum(fq[:, None] * np.sin(np.outer(q, r)), axis=0) * dq * np.exp(-((r * qdamp) ** 2) / 2)
    return intensity, s, fq, g


def test_conventional_matches_independent_debye_sum(sphere, patterns):
    atoms = sphere(6.0)
    out = patterns(atoms, qmin=0.5, qmax=20.0, qstep=0.02, rmax=10.0, rstep=0.02, dtype="float64")
    intensity, s, fq, g = independent_debye(atoms, out["q"], out["r"], 0.3, 0.04)

    def close(a, b):
        return np.allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())

    assert close(out["iq"], intensity) and close(out["sq"], s) and close(out["fq"], fq) and close(out["gr"], g)
    half = patterns(atoms, qmin=0.5, qmax=20.0, qstep=0.02, rmax=10.0, rstep=0.02, dtype="float64",
                    normalisation="debyecalculator")
    assert close(half["iq"], intensity / 2) and close(half["sq"], (s - 1) / 2) and close(half["gr"], g / 2)


def test_gr_equals_debyecalculators_own_transform(sphere):
    """Without Lorch, our sine transform reproduces debyecalculator's G(r) (float32 round-off)."""
    from debyecalculator import DebyeCalculator

    atoms = sphere(8.0)
    calc = DebyeCalculator(qmin=1.0, qmax=25.0, qstep=0.02, rmax=15.0, device="cpu")
    r, q, _, _, f, g = calc._get_all(atoms)
    ours = sine_transform(q, f, r, 0.02, 25.0, lorch=False, qdamp=0.04)
    assert np.allclose(ours, g, atol=2e-4 * np.abs(g).max())


def test_lorch_trap_of_debyecalculator():
    """debyecalculator 1.1's lorch_mod goes negative above Qmax/π; the Lorch function must not."""
    import torch

    q, qmax = np.array([5.0, 15.0, 29.0]), 30.0
    theirs = torch.sinc(torch.tensor(q) * (torch.pi / qmax)).numpy()
    assert theirs[1] < 0  # their window at Q = 15: negative (the trap)
    ours = lorch_function(q, qmax)
    assert np.all(ours > 0) and ours[1] == pytest.approx(np.sin(np.pi / 2) / (np.pi / 2))


def test_small_r_slope_and_high_q_limit(sphere, patterns):
    """G(r) below the first neighbour (r < 1.8 Å) follows −4πρ0 r γ0(r) for a sphere of diameter D
    (γ0 = 1 − 3r/2D + r³/2D³). With Qmin = 0.45 Å⁻¹ the small-angle tail above Qmin and the Q
    window shave ~10 % off (estimate 0.95/(R Qmin) + 0.4 Qmin³); debyecalculator's own G(r) gives half."""
    radius = 25.0
    atoms = sphere(radius)
    out = patterns(atoms, qmin=0.45, qmax=30.0, qstep=0.01)
    half = patterns(atoms, qmin=0.45, qmax=30.0, qstep=0.01, normalisation="debyecalculator")
    r = out["r"]
    d = 2 * radius
    mask = (r > 0.5) & (r < 1.8)
    shape = 1 - 1.5 * r / d + 0.5 * (r / d) ** 3
    ratio = np.mean(out["gr"][mask] / (r[mask] * shape[mask])) / (-4 * np.pi * RHO0)
    ratio_half = np.mean(half["gr"][mask] / (r[mask] * shape[mask])) / (-4 * np.pi * RHO0)
    assert 0.8 < ratio < 1.02
    assert ratio_half == pytest.approx(ratio / 2, rel=1e-6)
    high = out["q"] > 25
    assert np.mean(out["sq"][high]) == pytest.approx(1.0, abs=0.02)
    assert np.mean(half["sq"][high]) == pytest.approx(0.0, abs=0.01)
