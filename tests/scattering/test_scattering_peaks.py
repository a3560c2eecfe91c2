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


def test_no_crystallite_size_for_amorphous_or_oversized_peaks(aiida_profile):
    """The same 0.5° Gaussian peak (a 16.3 nm Scherrer size) gets its size only where that can be a
    crystallite's: not for a structure declared amorphous (its peak is a halo), not for a particle
    smaller than the size (2 nm across), yes for a 50 nm particle."""
    from aiida import orm

    from aiida_bzs.calculations.functions.scattering import scherrer_sizes

    x = np.linspace(20, 30, 2001)
    y = 10 + 100 * np.exp(-4 * np.log(2) * ((x - 25.0) / 0.5) ** 2)
    patterns = {}
    for label in ("halo", "small", "large"):
        node = orm.XyData()
        node.set_x(x, "two_theta", "degrees")
        node.set_y(y, "intensity", "arb. units")
        patterns[label] = node
    settings = orm.Dict({"wavelength": 1.5406, "not_crystalline": {"halo": "amorphous product"},
                         "particle_extent": {"halo": 500.0, "small": 20.0, "large": 500.0}})
    sizes = scherrer_sizes(settings, **patterns).get_dict()
    assert sizes["large"]["size_nm"] == pytest.approx(16.27, abs=0.05)
    assert sizes["halo"]["size"] is None and sizes["halo"]["not_crystalline"] is True
    assert sizes["halo"]["fwhm"] == pytest.approx(0.5, rel=1e-3) and "amorphous" in sizes["halo"]["note"]
    assert sizes["small"]["size"] is None and sizes["small"]["exceeds_particle"] is True
    assert "exceeds the particle" in sizes["small"]["note"]
    # a window that resolves nothing below 20 nm: the 16.3 nm size is not given either, and the first
    # reason that applies is the one named
    settings = orm.Dict(settings.get_dict() | {"min_size": 200.0})
    sizes = scherrer_sizes(settings, **patterns).get_dict()
    assert sizes["large"]["size"] is None and sizes["large"]["below_resolution"] is True
    assert "below what this peak window resolves (200 Å" in sizes["large"]["note"]
    assert sizes["halo"]["not_crystalline"] is True and "below_resolution" not in sizes["halo"]
    assert sizes["small"]["exceeds_particle"] is True and "below_resolution" not in sizes["small"]
