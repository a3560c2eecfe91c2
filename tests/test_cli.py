"""The aiida-bzs command line: help lists the capabilities; structure building stores nodes."""

from __future__ import annotations

from click.testing import CliRunner

from aiida_bzs.cli import cmd_root


def test_help_lists_commands():
    result = CliRunner().invoke(cmd_root, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("setup", "demo", "single-point", "structure", "campaign"):
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


def test_single_point_names_missing_code(aiida_profile):
    result = CliRunner().invoke(cmd_root, ["single-point", "--code", "pw@nowhere"])
    assert result.exit_code != 0
    assert "aiida-bzs setup" in result.output


def test_structure_name_says_where_a_structure_came_from(aiida_profile):
    """Rows and legends of `analyse`/`scatter` name a node by its label, else by what made it."""
    from aiida import orm

    from aiida.engine import workfunction

    from aiida_bzs.calculations.functions.structures import make_supercell
    from aiida_bzs.cli.analysis import structure_name
    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.structures import pnma_crystal

    bare = structure_from_atoms(pnma_crystal()).store()
    assert structure_name(bare) == f"structure_{bare.pk}"
    made = make_supercell(bare, orm.List([1, 1, 2]))
    assert structure_name(made) == f"make_supercell_{made.pk}"

    @workfunction
    def BlockBuilderWorkChain(structure):  # noqa: N802 - named like a workchain on purpose
        return make_supercell(structure, orm.List([2, 1, 1]))

    nested = BlockBuilderWorkChain(bare)  # the outermost caller, CamelCase to snake, suffix dropped
    assert structure_name(nested) == f"block_builder_{nested.pk}"
    made.label = "crystal_1x1x2"
    assert structure_name(made) == "crystal_1x1x2"
