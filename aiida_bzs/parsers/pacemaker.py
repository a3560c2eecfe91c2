"""Parser of ``PacemakerCalculation`` (``bzs.pacemaker``).

Reads the retrieved log, metrics tables and potential (text parsing in
:mod:`aiida_bzs.parsers.pacemaker_files`); outputs the potential, the final RMSE (energy
meV/atom, forces meV/Å) and the per-iteration history; maps failures to the CalcJob's exit codes.
A fit that hit ``max_iterations`` still returns its potential, flagged ``converged: False``; when
its loss had plateaued (see :func:`~aiida_bzs.parsers.pacemaker_files.detect_plateau`) the exit code
says so (411: more iterations will not help) instead of asking for more iterations (410).

A fit that stopped without its final potential (killed at the wall time, by the kernel for memory)
returns the potential of its last iteration as ``interim_potential`` (and the ``metrics`` of the
iterations it ran, ``interrupted: True``), from pacemaker's ``interim_potential_best_cycle.yaml``
(written when a fit cycle ends) or else ``interim_potential_<cycle>.yaml`` (rewritten after every
iteration, retrieved into the temporary folder). The exit code says how it stopped: out of memory
(311, or the scheduler's 110), the scheduler's wall time (120), otherwise 304 (interrupted).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.parsers import Parser

from ..data.ace_potential import AcePotentialData
from ..common.pacemaker_input import DEFAULT_FIT_PARAMETERS
from .pacemaker_files import (
    HISTORY_COLUMNS,
    detect_plateau,
    diagnose_failure,
    parse_log,
    parse_metrics_table,
    summarise_metrics,
)

__all__ = ("PacemakerParser",)


class PacemakerParser(Parser):
    """Turn a pacemaker run folder into potential, metrics and history nodes."""

    def _read(self, name: str) -> str | None:
        try:
            return self.retrieved.base.repository.get_object_content(name, mode="r")
        except (FileNotFoundError, OSError):
            return None

    def parse(self, **kwargs):
        calc = self.node.process_class
        self._temporary = kwargs.get("retrieved_temporary_folder")
        log = self._read(calc.LOG_FILE)
        stderr = self._read(calc.STDERR_FILE) or ""
        if log is None:
            label, details = diagnose_failure(stderr, "")
            if label:
                return self.exit_codes[label].format(details=details)
            return self.exit_codes.ERROR_OUTPUT_LOG_MISSING

        log_info = parse_log(log)
        train = parse_metrics_table(self._read(calc.METRICS_FILE) or "")
        test = parse_metrics_table(self._read(calc.TEST_METRICS_FILE) or "")
        summary = summarise_metrics(train, test)

        if train:
            self.out("metrics_history", _history_node(train, test))

        potential_text = self._read(calc.POTENTIAL_FILE)
        if potential_text is None:
            label, details = diagnose_failure(stderr, log)
            if log_info["nan_loss"] or "nan_loss_iteration" in summary:
                return self.exit_codes.ERROR_NAN_LOSS.format(iteration=summary.get("nan_loss_iteration", "?"))
            interim = self._interim_potential()
            if interim is not None:
                self.out("interim_potential", interim)
                self.out("metrics", orm.Dict(_finite({
                    **summary, "converged": False, "interrupted": True,
                    "setup_time": log_info.get("setup_time"),
                    "units": {"energy": "meV/atom", "forces": "meV/Å", "time": "s"},
                })))
            if label:
                return self.exit_codes[label].format(details=details)
            scheduler = self._scheduler_exit_code()
            if scheduler is not None:
                return scheduler
            if interim is not None:
                return self.exit_codes.ERROR_FIT_INTERRUPTED.format(iterations=summary.get("n_iterations", 0))
            return self.exit_codes.ERROR_OUTPUT_POTENTIAL_MISSING
        if not train:
            return self.exit_codes.ERROR_OUTPUT_METRICS_MISSING

        potential = _potential_node(potential_text)
        if "training_set" in self.node.inputs:
            # the tensorpot backend fits silently when the data hold an element the potential lacks
            missing = sorted(set(self.node.inputs.training_set.elements) - set(potential.elements))
            if missing:
                return self.exit_codes.ERROR_ELEMENTS_MISMATCH.format(
                    details=f"the data hold {missing}, absent from the fitted potential ({potential.elements})")

        nan_loss = "nan_loss_iteration" in summary or log_info["nan_loss"]
        converged = bool(log_info["optimizer_success"]) and not nan_loss
        plateau = detect_plateau(train, **self._plateau_settings())
        metrics = {
            **summary,
            "converged": converged,
            # only meaningful for a fit stopped by max_iterations: its loss had stopped falling
            "plateaued": bool(plateau["plateaued"] and not converged),
            "plateau": {k: plateau[k] for k in ("relative_change", "window", "n_iterations")},
            "optimizer_message": log_info["optimizer_message"],
            "n_evaluations": log_info["nfev"],
            "setup_time": log_info.get("setup_time"),
            "fit_time": log_info.get("fit_time"),
            "wall_time": log_info.get("wall_time"),
            "units": {"energy": "meV/atom", "forces": "meV/Å", "time": "s"},
        }
        self.out("metrics", orm.Dict(_finite(metrics)))
        if nan_loss:  # the coefficients are meaningless: no potential output
            return self.exit_codes.ERROR_NAN_LOSS.format(iteration=summary.get("nan_loss_iteration", "?"))
        self.out("potential", potential)
        if not converged and metrics["plateaued"]:
            return self.exit_codes.ERROR_LOSS_PLATEAUED.format(
                loss=f"{plateau['loss']:.6g}", change=f"{plateau['relative_change']:.1e}",
                window=plateau["window"], iterations=plateau["n_iterations"])
        if not converged:
            return self.exit_codes.ERROR_MAX_ITERATIONS_REACHED
        return None

    def _interim_potential(self) -> AcePotentialData | None:
        """The potential of the last finished iteration, or None (none written, or unreadable:
        a kill while pacemaker was writing it leaves a truncated file)."""
        calc = self.node.process_class
        candidates = [self._read(calc.INTERIM_BEST_CYCLE_FILE)]
        if self._temporary is not None:
            folder = Path(self._temporary)
            cycles = sorted((int(m.group(1)), path) for path in folder.glob("interim_potential_*.yaml")
                            if (m := re.fullmatch(r"interim_potential_(\d+)\.yaml", path.name)))
            candidates.extend(path.read_text() for _, path in reversed(cycles))
        for text in candidates:
            if not text:
                continue
            try:
                return _potential_node(text)
            except Exception as exc:  # noqa: BLE001 - a truncated file: try the next one
                self.logger.warning(f"interim potential not readable ({exc}); skipped")
        return None

    def _scheduler_exit_code(self):
        """The scheduler's verdict on the job (set on the node before parsing) when it is one a
        restart handles: out of memory (110) or out of wall time (120)."""
        status = self.node.exit_status
        for name in ("ERROR_SCHEDULER_OUT_OF_MEMORY", "ERROR_SCHEDULER_OUT_OF_WALLTIME"):
            code = self.exit_codes[name]
            if status == code.status:
                return code
        return None

    def _plateau_settings(self) -> dict:
        """The ``plateau`` fitting parameters of the calculation (defaults when absent)."""
        settings = dict(DEFAULT_FIT_PARAMETERS["plateau"])
        if "parameters" in self.node.inputs:
            settings.update(self.node.inputs.parameters.get_dict().get("plateau") or {})
        return settings


def _finite(values):
    """Replace NaN/inf (not storable as JSON) by None, recursively."""
    if isinstance(values, dict):
        return {k: _finite(v) for k, v in values.items()}
    if isinstance(values, float) and not np.isfinite(values):
        return None
    return values


def _potential_node(text: str) -> AcePotentialData:
    """The fitted B-basis .yaml as an AcePotentialData (the .yace converted by pyace)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "potential.yaml"
        path.write_text(text)
        return AcePotentialData(path)


def _history_node(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> orm.ArrayData:
    """ArrayData with ``train_<column>`` and ``test_<column>`` arrays (meV/atom, meV/Å)."""
    node = orm.ArrayData()
    for prefix, table in (("train", train), ("test", test)):
        for column, factor in HISTORY_COLUMNS.items():
            if column in table:
                node.set_array(f"{prefix}_{column}", np.asarray(table[column]) * factor)
    node.base.attributes.set("units", {"rmse_epa": "meV/atom", "rmse_f_comp": "meV/Å", "mae_f_comp": "meV/Å"})
    return node
