"""Every refusal of the aiida-bzs command line is one ``Error:`` line naming the fix, never a traceback."""

from __future__ import annotations

import pytest
from aiida import orm
from click.testing import CliRunner
from plumpy.ports import PortValidationError

from aiida_bzs.cli import cmd_root
from aiida_bzs.cli.utils import refusal_message
from aiida_bzs.data.training_set import TrainingSetData
from aiida_bzs.workflows.protocols import ProtocolError

from training_helpers import FAKE_REFERENCES, labelled_images


def invoke(*args):
    # catch_exceptions=False: an exception that is not turned into a click error fails the test
    return CliRunner().invoke(cmd_root, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def test_refusal_message_recognises_refusals_only():
    launch_error = ValueError(PortValidationError("too few structures;\n  add more", "inputs"))
    assert refusal_message(launch_error) == "too few structures; add more"
    port_error = ValueError(PortValidationError("not a Dict", "inputs.parameters"))
    assert refusal_message(port_error) == "input `parameters`: not a Dict"
    assert refusal_message(ProtocolError("unknown fit protocol 'x'")) == "unknown fit protocol 'x'"
    assert refusal_message(ValueError("a bug")) is None
    assert refusal_message(KeyError("a bug")) is None


@pytest.fixture
def small_set(aiida_profile):
    return TrainingSetData.from_atoms(labelled_images(5), FAKE_REFERENCES).store()


def test_fit_below_the_protocol_minimum_is_one_line(small_set, bzs_code):
    """The validator's ValueError at launch (minimum size of the protocol) becomes one line."""
    code = bzs_code("pacemaker")
    n_calcs = orm.QueryBuilder().append(orm.CalcJobNode).count()
    result = invoke("fit", small_set.pk, "--protocol", "balanced", "--code", code.full_label, "--no-active-set")
    assert_one_line_error(result, f"training set pk {small_set.pk}", "needs at least 20")
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == n_calcs


def test_missing_code_is_one_line(small_set):
    assert_one_line_error(invoke("fit", small_set.pk, "--code", "pacemaker@nowhere"), "aiida-bzs setup")


def test_dataset_errors_are_one_line(small_set):
    """A curation calcfunction's refusal the command does not catch itself (the root group does)."""
    assert_one_line_error(invoke("dataset", "split", small_set.pk, "--test-fraction", 1.5),
                          "test_fraction must lie in [0, 1)")
    assert_one_line_error(invoke("dataset", "select", small_set.pk, "liquid"), "none of ['liquid']")
