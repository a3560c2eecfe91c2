"""Parser and result format on stored real outputs of aiida-bzs-scatter (tests/fixtures/scattering)."""

import numpy as np
import pytest

from aiida_bzs.scripts.scatter_files import ScatterFileError, read_result


def test_read_finite_output(scattering_fixtures):
    payload = read_result((scattering_fixtures / "finite_ok.json").read_text())
    meta = payload["metadata"]
    assert payload["status"] == "ok" and meta["debyecalculator_version"] == "1.1.1"
    assert meta["device"] == "cpu" and meta["mode"] == "finite" and meta["cell_ignored"] is True
    assert meta["normalisation"] == "conventional" and meta["n_pairs"] == meta["n_atoms"] * (meta["n_atoms"] - 1) // 2
    curves = payload["curves"]
    assert curves["q"].size == curves["iq"].size and curves["r"].size == curves["gr"].size
    assert list(payload["partials"]) == ["Zr-S"]


def test_parser_outputs(parse_retrieved, scattering_fixtures):
    results, node = parse_retrieved({"scattering.json": (scattering_fixtures / "finite_ok.json").read_text()})
    assert node.exit_status == 0
    assert set(results) == {"iq", "sq", "fq", "gr", "partials", "output_parameters"}
    q = results["iq"].get_x()[1]
    assert results["iq"].get_x()[0] == "Q" and results["iq"].y_units == ["electrons^2"]
    assert results["gr"].get_x()[2] == "Å" and results["gr"].base.attributes.get("normalisation") == "conventional"
    assert np.array_equal(results["partials"].get_array("q"), q)
    assert results["partials"].get_array("Zr_S_gr").shape == results["gr"].get_x()[1].shape
    assert results["output_parameters"]["torch_version"].startswith("2.")


def test_parser_periodic_output(parse_retrieved, scattering_fixtures):
    results, node = parse_retrieved({"scattering.json": (scattering_fixtures / "periodic_ok.json").read_text()})
    assert node.exit_status == 0 and "gr_direct" in results
    assert results["output_parameters"]["mode"] == "periodic" and results["output_parameters"]["cell_ignored"] is False
    assert len(results["partials"].base.attributes.get("pairs")) == 6


@pytest.mark.parametrize(
    "files, status, fragment",
    [
        ("unknown_element.json", 411, "['Xx']"),
        ({}, 300, "scattering.json was not retrieved"),
        ("truncated", 301, "not valid JSON"),
    ],
)
def test_parser_errors(parse_retrieved, scattering_fixtures, files, status, fragment):
    if files == "truncated":
        text = (scattering_fixtures / "finite_ok.json").read_text()
        files = {"scattering.json": text[: len(text) // 2]}
    elif isinstance(files, str):
        files = {"scattering.json": (scattering_fixtures / files).read_text()}
    _, node = parse_retrieved(files)
    assert node.exit_status == status and fragment in node.exit_message


def test_result_format_checks(scattering_fixtures):
    import json

    payload = json.loads((scattering_fixtures / "finite_ok.json").read_text())
    payload["curves"]["gr"] = payload["curves"]["gr"][:-1]
    with pytest.raises(ScatterFileError, match="gr has"):
        read_result(json.dumps(payload))
    with pytest.raises(ScatterFileError, match="not an aiida-bzs-scatter result"):
        read_result('{"a": 1}')
