"""Known reflections of BaZrS3: peak positions of a large sphere versus pymatgen's Bragg peak list."""

import numpy as np
import pytest

from aiida_bzs.scattering.units import two_theta_from_q
from aiida_bzs.structures import pnma_crystal

pytest.importorskip("pymatgen")


def bragg_clusters(two_theta_range, min_intensity=15.0, max_spread=0.15):
    """Intensity-weighted centres of groups of reflections closer than 0.5° (pymatgen, Cu Kα1),
    keeping strong, compact groups: their Debye peaks are single maxima."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    pattern = XRDCalculator(wavelength=1.5406).get_pattern(
        AseAtomsAdaptor.get_structure(pnma_crystal()), two_theta_range=two_theta_range
    )
    x, y = np.asarray(pattern.x), np.asarray(pattern.y)
    groups, current = [], [0]
    for k in range(1, x.size):
        if x[k] - x[k - 1] < 0.5:
            current.append(k)
        else:
            groups.append(current)
            current = [k]
    groups.append(current)
    return [
        float(np.average(x[g], weights=y[g]))
        for g in groups
        if y[g].sum() >= min_intensity and np.ptp(x[g]) <= max_spread
    ]


def test_peak_positions_of_large_sphere(sphere, patterns):
    """An 8 nm sphere (~10,800 atoms) cut from the crystal: every strong compact reflection group
    between 22.8° and 80° 2θ (the study's Q window) has a Debye maximum within 0.1°."""
    curves = patterns(sphere(40.0), qmin=1.61, qmax=5.25, qstep=0.002)
    two_theta = two_theta_from_q(curves["q"], 1.5406)
    intensity = curves["iq"]
    is_max = np.r_[False, (intensity[1:-1] > intensity[:-2]) & (intensity[1:-1] >= intensity[2:]), False]
    maxima = two_theta[is_max]
    expected = bragg_clusters((23.5, 79.5))
    assert len(expected) >= 4  # 121/200/002, 220/022, 040/202, 321/123 groups
    for centre in expected:
        nearest = maxima[np.argmin(np.abs(maxima - centre))]
        assert abs(nearest - centre) < 0.1, f"reflection group at {centre:.3f}°: Debye maximum at {nearest:.3f}°"
