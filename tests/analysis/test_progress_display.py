"""The progress line of foreground runs (aiida-bzs launch()): in place on a terminal, silent in
short logged runs, and never in the way of the result."""

from __future__ import annotations

import io
import re
import sys

import pytest
from aiida import orm

from aiida_bzs.cli import utils


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def crystal_inputs(aiida_profile, crystal):
    return {"structures": {"crystal": orm.StructureData(ase=crystal)}}


def run_analysis(inputs):
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    return utils.launch(StructureAnalysisWorkChain, inputs=inputs, unit="analyses")


def test_terminal_gets_one_line_rewritten_in_place(crystal_inputs, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(utils, "PROGRESS_TTY_INTERVAL", 0.001)
    node = run_analysis(crystal_inputs)
    assert node.is_finished_ok
    text = terminal.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    final = text.rsplit("\r", 1)[-1]
    assert re.fullmatch(rf"StructureAnalysisWorkChain pk {node.pk} \| \w+ \| 1 analyses done, 0 running \| 0:\d\d:\d\d\n",
                        final), final


def test_short_logged_runs_stay_silent(crystal_inputs, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert run_analysis(crystal_inputs).is_finished_ok
    assert log.getvalue() == ""  # under PROGRESS_LOG_INTERVAL: nothing to add to a log


def test_refusal_at_launch_is_a_click_error(aiida_profile):
    import click

    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    with pytest.raises(click.ClickException) as info:
        utils.launch(StructureAnalysisWorkChain, inputs={"structures": {}})
    assert "\n" not in info.value.message
