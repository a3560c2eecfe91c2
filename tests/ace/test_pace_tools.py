"""pace_activeset and pace_select as aiida-shell ShellJobs (real tools, seconds each), and the CLI."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def potential_with_active_set(fitted_potential, ace_training_set, bzs_code):
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.functions.ace import pacemaker_dataset_file
    from aiida_bzs.calculations.pace_tools import activeset_builder

    builder = activeset_builder(bzs_code("pace_activeset"), fitted_potential, pacemaker_dataset_file(ace_training_set))
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return results["potential"]


def test_activeset_shelljob(potential_with_active_set, fitted_potential, ace_training_set):
    pot = potential_with_active_set
    assert pot.has_active_set and pot.md5 == fitted_potential.md5
    assert pot.get_content("yace") == fitted_potential.get_content("yace")
    # with the active set, pyace reports γ; training structures are interpolated: γ ≤ 1 up to
    # pace_activeset's MaxVol tolerance (1.01)
    from aiida_bzs.analysis.extrapolation import per_atom_gamma

    calc = pot.get_calculator()
    gammas = [per_atom_gamma(a, calc).max() for a in ace_training_set.to_atoms()]
    assert max(gammas) <= 1.01 + 1e-6


def test_pace_select_shelljob(potential_with_active_set, ace_training_set, bzs_code):
    """pace_select picks at most N D-optimal structures among candidates."""
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.functions.active_learning import candidates_file, take_indices
    from aiida_bzs.calculations.pace_tools import select_builder
    from aiida_bzs.structures.distort import strain

    images = [strain(a, 0.06 * (1 + i % 3)) for i, a in enumerate(ace_training_set.to_atoms()[:6])]
    from aiida_bzs.data.training_set import TrainingSetData

    candidates = TrainingSetData.from_atoms([a.copy() for a in images])
    builder = select_builder(bzs_code("pace_select"), potential_with_active_set, candidates_file(candidates), 2)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    indices = results["selected"].get_list()
    assert 1 <= len(indices) <= 2 and set(indices) <= set(range(6))
    assert len(take_indices(candidates, results["selected"])) == len(indices)


def test_cli_import_show_and_verdi_data(fitted_potential, ace_fixtures, tmp_path):
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root
    from aiida_bzs.cli.data_ace_potential import ace_potential

    runner = CliRunner()
    yaml_path = ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml"
    result = runner.invoke(cmd_root, ["potential", "import", str(yaml_path)])
    assert result.exit_code == 0, result.output
    assert f"pk {fitted_potential.pk}" in result.output  # deduplicated
    listed = runner.invoke(ace_potential, ["list"])
    assert listed.exit_code == 0 and str(fitted_potential.pk) in listed.output
    exported = runner.invoke(ace_potential, ["export", str(fitted_potential.pk), str(tmp_path)])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "potential.yace").exists()
    yace = runner.invoke(cmd_root, ["potential", "import", str(tmp_path / "potential.yace")])
    assert yace.exit_code != 0 and "B-basis .yaml" in yace.output


def test_cli_fit_refuses_bad_input_before_fitting(ace_training_set, bzs_code):
    """`aiida-bzs fit` with too few structures stops at launch with the reason (no pacemaker run)."""
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root

    code = bzs_code("pacemaker")
    tiny = ace_training_set.subset([0, 1]).store()
    result = CliRunner().invoke(cmd_root, ["fit", str(tiny.pk), "--protocol", "fast", "--code", str(code.pk)])
    assert result.exit_code != 0
    assert "leave no test structure" in result.output
    # one line, in the CLI's error style, not a traceback
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "leave no test structure" in errors[0] and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
