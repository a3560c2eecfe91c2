"""Periodic mode: no finite-box artefacts, and agreement with a large finite particle."""

import numpy as np
import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.params import validate_parameters
from aiida_bzs.scattering.periodic import half_width, periodic_patterns
from aiida_bzs.structures import pnma_crystal

RHO0 = len(pnma_crystal()) / pnma_crystal().get_volume()


@pytest.fixture(scope="module")
def periodic():
    cell = pnma_crystal().repeat((6, 4, 6))  # 2,880 atoms, half width 19.96 Å
    params = validate_parameters({"qstep": 0.01, "radiation": "neutron", "partials": "all"})
    return cell, periodic_patterns(cell, params)


def test_against_finite_sphere(periodic, sphere, patterns):
    """G(r) of a 6 nm sphere ≈ γ0(r) × periodic G(r) (γ0 the sphere's shape function), 1.5–15 Å:
    relative RMS difference below 3 % (measured 1.1 %). Neutron weights: no Q-dependent f."""
    _, bulk = periodic
    radius = 30.0
    finite = patterns(sphere(radius), qstep=0.01, radiation="neutron")
    r = bulk["r"]
    shape = 1 - 1.5 * r / (2 * radius) + 0.5 * (r / (2 * radius)) ** 3
    mask = (r > 1.5) & (r < 15)
    difference = finite["gr"][mask] - shape[mask] * bulk["gr"][mask]
    assert np.sqrt(np.mean(difference**2)) / np.sqrt(np.mean(finite["gr"][mask] ** 2)) < 0.03


def test_no_small_angle_upturn(patterns):
    """The same box scattered as a finite brick (cell ignored) has S(0.1 Å⁻¹) in the thousands;
    the periodic mode stays near the Laue limit 1 − <b²>/<b>² ≈ −0.17 (Faber–Ziman, neutrons)."""
    cell = pnma_crystal().repeat((6, 4, 6))
    params = {"qmin": 0.1, "qmax": 1.0, "qstep": 0.05, "radiation": "neutron"}
    brick = patterns(cell, **params)
    bulk = periodic_patterns(cell, validate_parameters(params))
    assert brick["sq"][0] > 100
    assert -0.2 < bulk["sq"][0] < 0.1


def test_exact_histogram_gr_and_partials(periodic):
    cell, bulk = periodic
    direct = bulk["direct"]
    mask = (direct["r"] > 0.3) & (direct["r"] < 1.8)
    slope = np.mean(direct["gr"][mask] / direct["r"][mask])
    assert slope == pytest.approx(-4 * np.pi * RHO0, rel=1e-6)
    assert np.allclose(sum(p["sq"] for p in bulk["partials"].values()), bulk["sq"] - 1, atol=1e-10)
    assert np.allclose(sum(p["gr"] for p in bulk["partials"].values()), bulk["gr"], atol=1e-10)
    assert bulk["meta"]["rcut"] == pytest.approx(half_width(cell))


def test_rcut_limits():
    cell = pnma_crystal().repeat((2, 2, 2))
    params = validate_parameters({"mode": "periodic", "rcut": 9.0, "qstep": 0.05})
    with pytest.raises(AnalysisInputError, match="exceeds half the smallest cell width"):
        periodic_patterns(cell, params)
    cell.pbc = False
    with pytest.raises(AnalysisInputError, match="periodic in all three directions"):
        periodic_patterns(cell, validate_parameters({"qstep": 0.05}))
