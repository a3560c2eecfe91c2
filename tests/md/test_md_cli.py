"""``aiida-bzs md`` and ``aiida-bzs relax`` as a user runs them (real lmp, 20-atom cells)."""

import pytest
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root


def _label(code) -> str:
    return f"{code.label}@{code.computer.label}"


def test_protocols_are_listed():
    result = CliRunner().invoke(cmd_root, ["md", "protocols"])
    assert result.exit_code == 0, result.output
    assert "quench_1e13" in result.output and "220000 steps" in result.output
    assert "random_1500K" in result.output and "start: hard_sphere" in result.output


@pytest.mark.slow
def test_relax_from_the_command_line(lmp_code, tiny_potential, supercell):
    structure = supercell((1, 1, 1)).store()
    result = CliRunner().invoke(cmd_root, ["relax", str(structure.pk), str(tiny_potential.pk),
                                           "--protocol", "fast", "--code", _label(lmp_code)])
    assert result.exit_code == 0, result.output
    assert "relaxed structure pk" in result.output and "eV/Å" in result.output


@pytest.mark.slow
def test_broken_potential_gives_a_failure_report(lmp_code, collapse_potential, supercell, tmp_path):
    structure = supercell((1, 1, 1)).store()
    png = tmp_path / "curves.png"
    result = CliRunner().invoke(cmd_root, ["md", "melt-quench", str(structure.pk), str(collapse_potential.pk),
                                           "--protocol", "demo", "--plot", str(png), "--code", _label(lmp_code)])
    assert result.exit_code != 0
    # the broken potential squeezes the cell past 1.5 × the crystal's density at step 60 of the
    # heating, before any two atoms meet: LAMMPS halts and the stage is named with its time
    assert "FAILED [412]" in result.output and "Density out of its window: stage 'heat' at 0.120 ps" in result.output
    assert "failure:" in result.output and "verdi process report" in result.output
    assert png.read_bytes().startswith(b"\x89PNG")
