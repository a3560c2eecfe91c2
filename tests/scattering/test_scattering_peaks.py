"""Scherrer estimate: exact on a Gaussian peak, and the broadening trend of real particles."""

import numpy as np
import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.peaks import peak_fwhm, scherrer_size
from aiida_bzs.scattering.units import two_theta_from_q
from aiida_bzs.workflows.protocols import get_protocol


def test_gaussian_peak():
    x = np.linspace(20, 30, 2001)
    fwhm = 0.5
    y = 10 + 100 * np.exp(-4 * np.log(2) * ((x - 25.0) / fwhm) ** 2)
    position, width, height = peak_fwhm(x, y)
    assert position == pytest.approx(25.0) and width == pytest.approx(fwhm, rel=1e-3) and height == pytest.approx(100, rel=1e-3)
    size = scherrer_size(x, y, 1.5406)
    expected = 0.9 * 1.5406 / (np.radians(fwhm) * np.cos(np.radians(12.5)))
    assert size["size"] == pytest.approx(expected, rel=1e-3)
    assert scherrer_size(x, y, 1.5406, instrumental_fwhm=0.3)["size"] > size["size"]
    with pytest.raises(AnalysisInputError, match="not larger than the instrumental"):
        scherrer_size(x, y, 1.5406, instrumental_fwhm=0.6)
    with pytest.raises(AnalysisInputError, match="no peak maximum"):
        peak_fwhm(x, x)


def test_scherrer_trend_with_particle_size(sphere, patterns):
    """Spheres of 2 and 4 nm: the main-peak estimate grows with the diameter (broadening shrinks)."""
    window = get_protocol("scattering")["scherrer"]
    sizes = []
    for radius in (10.0, 20.0):
        curves = patterns(sphere(radius), qmin=1.5, qmax=2.2, qstep=0.002)
        tt = two_theta_from_q(curves["q"])
        sizes.append(scherrer_size(tt, curves["iq"], 1.5406, window["two_theta_min"], window["two_theta_max"])["size_nm"])
    assert sizes[0] < sizes[1]
    # a domain estimate: within a factor 2 of the diameter
    assert 1.0 < sizes[0] < 4.0 and 2.0 < sizes[1] < 8.0
