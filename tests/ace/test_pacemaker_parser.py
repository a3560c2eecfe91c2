"""PacemakerParser on stored outputs of real pacemaker runs (see fixtures/ace/make_pacemaker_outputs.py).

Each case folder holds the files PacemakerCalculation retrieves; the parser must turn the
success into nodes with RMSE in meV/atom and meV/Å, and each failure into its exit code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiida_bzs.parsers.pacemaker_files import (
    detect_plateau,
    diagnose_failure,
    parse_log,
    parse_metrics_table,
    summarise_metrics,
)


def _case(ace_fixtures, name):
    folder = ace_fixtures / "pacemaker" / name
    if not folder.is_dir():
        pytest.fail(f"stored pacemaker output {folder} missing; run tests/fixtures/ace/make_pacemaker_outputs.py")
    return folder


def _read(folder, name):
    path = folder / name
    return path.read_text() if path.exists() else ""


def parse_case(folder, computer, training_set=None):
    """Run PacemakerParser on a CalcJobNode whose retrieved folder holds the stored files
    (and, when given, whose ``training_set`` input is the fixture dataset the runs used)."""
    from aiida import orm
    from aiida.common.links import LinkType

    from aiida_bzs.parsers.pacemaker import PacemakerParser

    node = orm.CalcJobNode(computer=computer, process_type="aiida.calculations:bzs.pacemaker")
    node.set_option("resources", {"num_machines": 1, "num_mpiprocs_per_machine": 1})
    node.set_option("output_filename", "pacemaker.out")
    if training_set is not None:
        node.base.links.add_incoming(training_set, link_type=LinkType.INPUT_CALC, link_label="training_set")
    node.store()
    retrieved = orm.FolderData()
    for path in folder.iterdir():
        if path.name not in ("input.yaml", "README"):
            retrieved.base.repository.put_object_from_file(str(path), path.name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label="retrieved")
    retrieved.store()
    return PacemakerParser.parse_from_node(node, store_provenance=False)


# -- plain text parsing ----------------------------------------------------------------------
def test_metrics_table_units_and_iterations(ace_fixtures):
    """metrics.txt holds eV/atom and eV/Å; the summary reports meV/atom and meV/Å."""
    folder = _case(ace_fixtures, "maxiter")
    train = parse_metrics_table(_read(folder, "metrics.txt"))
    test = parse_metrics_table(_read(folder, "test_metrics.txt"))
    assert list(train["iter_num"]) == list(range(len(train["iter_num"])))
    assert train["iter_num"][-1] == 5  # max_iterations of this run
    summary = summarise_metrics(train, test)
    assert summary["n_iterations"] == 5
    assert summary["train_rmse_energy"] == pytest.approx(train["rmse_epa"][-1] * 1000)
    assert summary["train_rmse_forces"] == pytest.approx(train["rmse_f_comp"][-1] * 1000)
    assert summary["test_rmse_energy"] == pytest.approx(test["rmse_epa"][-1] * 1000)
    # the log prints the same final train RMSE in meV/atom with two decimals
    log = _read(folder, "log.txt")
    last = [line for line in log.splitlines() if line.strip().startswith("RMSE:")][-2]
    assert float(last.split()[1]) == pytest.approx(summary["train_rmse_energy"], abs=0.006)


def test_empty_metrics_table():
    header = "ladder_step cycle_step iter_num loss rmse_epa\n"
    assert parse_metrics_table(header) == {}
    assert parse_metrics_table("") == {}


def test_log_optimizer_result_and_timings(ace_fixtures):
    info = parse_log(_read(_case(ace_fixtures, "maxiter"), "log.txt"))
    assert info["optimizer_success"] is False
    assert "Maximum number of iterations" in info["optimizer_message"]
    assert info["finished"] is True
    assert info["setup_time"] > 0 and info["fit_time"] >= 0
    assert info["wall_time"] >= info["setup_time"]
    converged = parse_log(_read(_case(ace_fixtures, "converged"), "log.txt"))
    assert converged["optimizer_success"] is True


@pytest.mark.parametrize(
    ("case", "label", "detail"),
    [("elements_mismatch_pyace", "ERROR_ELEMENTS_MISMATCH", "the data hold S"),
     ("out_of_memory", "ERROR_OUT_OF_MEMORY", "mmap error: 12"),
     ("empty_basis", "ERROR_PACEMAKER_EXCEPTION", "zero-size array"),
     ("interrupted", None, "")],
)
def test_diagnose_failure(ace_fixtures, case, label, detail):
    folder = _case(ace_fixtures, case)
    found, details = diagnose_failure(_read(folder, "pacemaker.err"), _read(folder, "log.txt"))
    assert found == label
    assert detail in details


# -- the Parser on stored runs ---------------------------------------------------------------
def test_parser_max_iterations_returns_flagged_potential(ace_fixtures, aiida_localhost):
    results, calcfunction = parse_case(_case(ace_fixtures, "maxiter"), aiida_localhost)
    assert calcfunction.exit_status == 410  # ERROR_MAX_ITERATIONS_REACHED, not cache-invalidating
    metrics = results["metrics"].get_dict()
    assert metrics["converged"] is False and metrics["plateaued"] is False  # 5 iterations, loss still falling
    assert metrics["n_iterations"] == 5
    assert "raise max_iterations" in calcfunction.exit_message
    for key in ("train_rmse_energy", "train_rmse_forces", "test_rmse_energy", "test_rmse_forces"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics["setup_time"] > 0
    potential = results["potential"]
    assert potential.elements == ["Ba", "S", "Zr"]
    assert potential.cutoff == pytest.approx(5.0)
    assert sum(potential.n_functions.values()) > 0
    history = results["metrics_history"]
    assert np.allclose(history.get_array("train_rmse_epa")[-1], metrics["train_rmse_energy"])
    assert len(history.get_array("train_iter_num")) == 6


def test_plateau_detection_on_real_runs(ace_fixtures):
    """150 BFGS iterations (pyace) whose loss stopped falling near iteration 110 vs 5 that did not."""
    plateau = detect_plateau(parse_metrics_table(_read(_case(ace_fixtures, "plateau"), "metrics.txt")))
    assert plateau["plateaued"] is True
    assert plateau["n_iterations"] == 150 and plateau["window"] == 30
    assert 0 <= plateau["relative_change"] < 1e-5
    assert plateau["loss"] == pytest.approx(8.428154, rel=1e-6)
    short = detect_plateau(parse_metrics_table(_read(_case(ace_fixtures, "maxiter"), "metrics.txt")))
    assert short["plateaued"] is False and short["relative_change"] > 1e-2
    # the same run judged over its first 60 iterations, while the loss still fell by percents
    train = parse_metrics_table(_read(_case(ace_fixtures, "plateau"), "metrics.txt"))
    early = detect_plateau({k: v[:61] for k, v in train.items()})
    assert early["plateaued"] is False and early["relative_change"] > 1e-2
    # a stricter tolerance than the measured change makes the same run not plateaued
    strict = detect_plateau(train, relative_change=plateau["relative_change"] / 2)
    assert strict["plateaued"] is False


def test_parser_plateaued_fit_says_so(ace_fixtures, aiida_localhost):
    results, calcfunction = parse_case(_case(ace_fixtures, "plateau"), aiida_localhost)
    assert calcfunction.exit_status == 411  # ERROR_LOSS_PLATEAUED, not 410 "raise max_iterations"
    assert "plateaued at 8.42815" in calcfunction.exit_message
    assert "add data or enlarge the basis" in calcfunction.exit_message
    metrics = results["metrics"].get_dict()
    assert metrics["converged"] is False and metrics["plateaued"] is True
    assert metrics["plateau"]["window"] == 30
    assert "potential" in results  # still usable


def test_parser_converged(ace_fixtures, aiida_localhost):
    results, calcfunction = parse_case(_case(ace_fixtures, "converged"), aiida_localhost)
    assert calcfunction.exit_status == 0
    assert results["metrics"]["converged"] is True
    assert results["metrics"]["plateaued"] is False  # converged fits are never "plateaued"
    assert "potential" in results


def test_parser_nan_loss(ace_fixtures, aiida_localhost):
    results, calcfunction = parse_case(_case(ace_fixtures, "nan_loss"), aiida_localhost)
    assert calcfunction.exit_status == 420
    assert "potential" not in results  # pacemaker saved one, but its coefficients mean nothing
    metrics = results["metrics"]
    metrics.store()  # storable: the infinite loss is recorded as None
    assert metrics["final_loss"] is None and metrics["converged"] is False
    assert parse_log(_read(_case(ace_fixtures, "nan_loss"), "log.txt"))["nan_loss"] is True


def test_parser_elements_mismatch_pyace_backend(ace_fixtures, aiida_localhost):
    _, calcfunction = parse_case(_case(ace_fixtures, "elements_mismatch_pyace"), aiida_localhost)
    assert calcfunction.exit_status == 400
    assert "the data hold S" in calcfunction.exit_message


def test_parser_elements_mismatch_tensorpot_is_caught(ace_fixtures, aiida_localhost, ace_training_set):
    """The tensorpot backend fits a Ba–Zr potential on Ba–Zr–S data without complaint; the
    parser compares the potential's elements with the training set's and refuses it."""
    folder = _case(ace_fixtures, "elements_mismatch")
    assert (folder / "output_potential.yaml").exists()  # pacemaker itself succeeded
    results, calcfunction = parse_case(folder, aiida_localhost, ace_training_set)
    assert calcfunction.exit_status == 400
    assert "['S']" in calcfunction.exit_message
    assert "potential" not in results


def test_parser_empty_basis(ace_fixtures, aiida_localhost):
    _, calcfunction = parse_case(_case(ace_fixtures, "empty_basis"), aiida_localhost)
    assert calcfunction.exit_status == 312
    assert "zero-size array" in calcfunction.exit_message


def test_parser_out_of_memory(ace_fixtures, aiida_localhost):
    _, calcfunction = parse_case(_case(ace_fixtures, "out_of_memory"), aiida_localhost)
    assert calcfunction.exit_status == 311
    assert "mmap error: 12" in calcfunction.exit_message


def test_tensorflow_fatal_line_is_a_tensorflow_failure():
    """The other way the memory-limited run ended (stderr line copied from that real run)."""
    line = ("2026-11-28 22:56:01.869137: F external/local_xla/xla/tsl/platform/default/env.cc:80] "
            "Check failed: ret == 0 (11 vs. 0)Thread tf_graph_runner creation via pthread_create() failed.")
    label, details = diagnose_failure(f"INFO - Batch size: 100\n{line}\n", "")
    assert label == "ERROR_TENSORFLOW"
    assert "pthread_create" in details


def test_parser_interrupted_run_has_no_potential(ace_fixtures, aiida_localhost):
    results, calcfunction = parse_case(_case(ace_fixtures, "interrupted"), aiida_localhost)
    assert calcfunction.exit_status == 302  # ERROR_OUTPUT_POTENTIAL_MISSING
    assert "potential" not in results


def test_exit_codes_below_400_invalidate_cache():
    from aiida_bzs.calculations.pacemaker import PacemakerCalculation

    own = [code for code in PacemakerCalculation.exit_codes.values() if code.status >= 300]
    assert {code.status for code in own} >= {301, 302, 303, 310, 311, 312, 400, 410, 411, 420}
    for code in own:
        assert code.invalidates_cache == (code.status < 400), code
