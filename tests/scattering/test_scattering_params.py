"""Validation of the scattering parameters and of the elements' form factors."""

import pytest

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.formfactors import check_elements, form_factors
from aiida_bzs.scattering.params import DEFAULTS, resolve_partials, validate_parameters


def test_defaults_are_debyecalculators():
    import inspect

    from debyecalculator import DebyeCalculator

    signature = inspect.signature(DebyeCalculator.__init__).parameters
    for key in ("qmin", "qmax", "qdamp", "rmin", "rmax", "rstep", "biso"):
        assert DEFAULTS[key] == signature[key].default, key
    full = validate_parameters({})
    assert full["qstep"] == pytest.approx(3.14159265 / 20.01)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"qmin": 5.0, "qmax": 1.0}, "Q range reversed"),
        ({"rmin": 10.0, "rmax": 5.0}, "r range reversed"),
        ({"qstep": 0.0}, "'qstep' must be > 0"),
        ({"qmax": "a lot"}, "'qmax' must be a number"),
        ({"device": "tpu"}, "'device' must be one of"),
        ({"radiation": "electron"}, "unknown radiation"),
        ({"partials": ["Zr+S"]}, "must look like 'Zr-S'"),
        ({"qmni": 1.0}, "unknown scattering parameter"),
        ({"batch_size": 0}, "positive integer"),
        ({"lorch": "yes"}, "true or false"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(AnalysisInputError, match=message):
        validate_parameters(params)


def test_elements_and_partials():
    assert check_elements(["S", "Ba", "Zr", "S"]) == ["Ba", "S", "Zr"]
    with pytest.raises(AnalysisInputError, match=r"no X-ray form factor for element\(s\) \['Xx'\]"):
        check_elements(["Ba", "Xx"])
    with pytest.raises(AnalysisInputError, match="coherent neutron scattering length.*'Bk'"):
        check_elements(["Ba", "Bk"], "neutron")
    with pytest.raises(AnalysisInputError, match="empty"):
        check_elements([])
    assert resolve_partials("all", ["S", "Zr", "Ba"]) == ["Ba-Ba", "Ba-Zr", "Ba-S", "Zr-Zr", "Zr-S", "S-S"]
    assert resolve_partials(["S-Zr", "Zr-S"], ["S", "Zr"]) == ["Zr-S"]
    with pytest.raises(AnalysisInputError, match="absent from the structure"):
        resolve_partials(["Ba-O"], ["Ba", "S"])


def test_form_factor_values():
    f = form_factors(["Ba", "S"], [0.0, 30.0])
    assert f[0, 0] == pytest.approx(56, abs=0.1) and f[1, 0] == pytest.approx(16, abs=0.1)
    assert (f[:, 1] < f[:, 0] / 4).all()
    b = form_factors(["Zr"], [1.0, 5.0], "neutron")
    assert b[0, 0] == b[0, 1] == pytest.approx(7.16, abs=0.01)
