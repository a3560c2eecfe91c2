"""2θ ↔ Q conversion, wavelength presets and the study's XRD window."""

import numpy as np
import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.units import (
    WAVELENGTHS,
    check_q_window,
    q_from_two_theta,
    q_reachable,
    resolve_wavelength,
    two_theta_from_q,
)
from aiida_bzs.workflows.protocols import get_protocol


def test_round_trip_and_known_value():
    q = np.linspace(0.5, 7.5, 50)
    assert np.allclose(q_from_two_theta(two_theta_from_q(q, 1.5406), 1.5406), q)
    # Bragg: d = 2π/Q; Cu Kα1 on d = 3.5301 Å (BaZrS3 121) → 2θ = 25.21°
    assert two_theta_from_q(2 * np.pi / 3.5301, "Cu") == pytest.approx(25.21, abs=0.01)


def test_presets():
    assert resolve_wavelength(None) == 1.5406
    assert resolve_wavelength("CuKa1") == WAVELENGTHS["Cu"] == 1.5406
    assert resolve_wavelength("Mo") == pytest.approx(0.70932)
    assert resolve_wavelength("co") == pytest.approx(1.78897)
    assert resolve_wavelength("1.0") == 1.0
    with pytest.raises(AnalysisInputError, match="unknown wavelength"):
        resolve_wavelength("Fe-ish")
    with pytest.raises(AnalysisInputError, match="positive"):
        resolve_wavelength(-1)


def test_study_window_in_two_theta():
    xrd = get_protocol("scattering")["xrd"]
    lo, hi = two_theta_from_q([xrd["qmin"], xrd["qmax"]], xrd["wavelength"])
    assert (xrd["qmin"], xrd["qmax"]) == (1.61, 5.25)
    assert lo == pytest.approx(22.77, abs=0.01) and hi == pytest.approx(80.13, abs=0.01)


def test_q_beyond_wavelength_and_reversed_window():
    assert q_reachable("Cu") == pytest.approx(8.157, abs=1e-3)
    with pytest.raises(AnalysisInputError, match="above what λ = 1.5406 Å reaches"):
        two_theta_from_q([1.0, 9.0], "Cu")
    with pytest.raises(AnalysisInputError, match="above what"):
        check_q_window(1.0, 9.0, "Cu")
    check_q_window(1.0, 9.0, "Mo")
    with pytest.raises(AnalysisInputError, match="reversed"):
        check_q_window(5.25, 1.61)
    with pytest.raises(AnalysisInputError, match="between 0 and 180"):
        q_from_two_theta([10, 190])
