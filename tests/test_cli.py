"""The aiida-bzs command line: help lists the capabilities; structure building stores nodes."""

from __future__ import annotations

from click.testing import CliRunner

from aiida_bzs.cli import cmd_root


def test_help_lists_commands():
    result = CliRunner().invoke(cmd_root, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("setup", "demo", "structure"):
        assert command in result.output


def test_structure_crystal_command(aiida_profile):
    from aiida import orm

    result = CliRunner().invoke(
        cmd_root, ["structure", "crystal", "--repeat", "1", "2", "1", "--rattle", "0.02", "--group", "cli-test"]
    )
    assert result.exit_code == 0, result.output
    group = orm.load_group("cli-test")
    (node,) = group.nodes
    assert len(node.sites) == 40
    assert node.creator.process_label == "rattle"
    assert f"pk={node.pk}" in result.output


def test_demo_names_missing_code(aiida_profile):
    result = CliRunner().invoke(cmd_root, ["demo", "--code", "pw@nowhere"])
    assert result.exit_code != 0
    assert "aiida-bzs setup" in result.output
