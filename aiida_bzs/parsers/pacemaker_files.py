"""Plain-text parsing of pacemaker's output files (no AiiDA): metrics tables, log, stderr.

pacemaker writes ``metrics.txt`` / ``test_metrics.txt`` (one whitespace table row per iteration;
``rmse_epa`` in eV/atom, ``rmse_f_comp`` in eV/Å per force component) and ``log.txt``
(timestamped lines; the scipy optimizer's final message; TensorFlow warnings). Here they become
numbers in meV/atom and meV/Å and a diagnosis of how the run ended.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import numpy as np

__all__ = ("parse_metrics_table", "parse_log", "diagnose_failure", "summarise_metrics", "detect_plateau")

#: metrics.txt columns kept in the history, with the factor to the reported unit
HISTORY_COLUMNS = {
    "iter_num": 1.0,
    "loss": 1.0,
    "rmse_epa": 1000.0,  # eV/atom -> meV/atom
    "rmse_f_comp": 1000.0,  # eV/Å -> meV/Å
    "mae_f_comp": 1000.0,
    "low_rmse_epa": 1000.0,
    "low_rmse_f_comp": 1000.0,
}

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) ")
_OPT_RESULT = re.compile(r"Optimization result\(success=(\w+), status=(-?\d+), message=(.*?), nfev")


def _number(token: str) -> float:
    try:
        return float(token)
    except ValueError:
        return math.nan


def parse_metrics_table(text: str) -> dict[str, np.ndarray]:
    """Columns of a pacemaker metrics table as float arrays (raw units: eV/atom, eV/Å).

    Returns an empty dict when there is no data row (pacemaker writes the header first).
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    header, rows = lines[0], lines[1:]
    rows = [r for r in rows if len(r) == len(header)]
    if not rows:
        return {}
    table = np.array([[_number(t) for t in r] for r in rows], dtype=float)
    return {name: table[:, i] for i, name in enumerate(header)}


def _time(line: str) -> datetime | None:
    match = _TIMESTAMP.match(line)
    if not match:
        return None
    return datetime.strptime(f"{match.group(1)}.{match.group(2)}", "%Y-%m-%d %H:%M:%S.%f")


def parse_log(text: str) -> dict:
    """What ``log.txt`` says about a run: optimizer result, timings (s) and notable events.

    Keys: ``optimizer_success`` (bool or None), ``optimizer_message``, ``nfev``,
    ``setup_time`` (start to the first fit iteration: data loading plus, with the tensorpot
    backend, building the TensorFlow graph), ``fit_time`` (first iteration to the end of the
    fit), ``wall_time``, ``n_functions``, ``finished`` (final potential saved), ``nan_loss``.
    """
    info: dict = {"optimizer_success": None, "optimizer_message": None, "nfev": None,
                  "finished": False, "nan_loss": False, "n_functions": None}
    start = first_iter = fit_done = last = None
    for line in text.splitlines():
        stamp = _time(line)
        if stamp is not None:
            last = stamp
            if start is None:
                start = stamp
        if "Initial state:" in line and first_iter is None:
            first_iter = stamp
        if (re.search(r"Loss:\s+nan", line, re.IGNORECASE) or "loss=nan" in line.lower()
                or "NaN result encountered" in line):
            info["nan_loss"] = True
        match = _OPT_RESULT.search(line)
        if match:
            info["optimizer_success"] = match.group(1) == "True"
            info["optimizer_status"] = int(match.group(2))
            info["optimizer_message"] = match.group(3).strip()
            nfev = re.search(r"nfev=(\d+)", line)
            info["nfev"] = int(nfev.group(1)) if nfev else None
        if "Fitting done" in line or "Fitting cycle finished" in line:
            fit_done = fit_done or stamp
        if "Final potential is saved" in line:
            info["finished"] = True
        funcs = re.search(r"Total number of functions: (\d+)", line)
        if funcs:
            info["n_functions"] = int(funcs.group(1))
    if start and first_iter:
        info["setup_time"] = (first_iter - start).total_seconds()
    if first_iter and fit_done:
        info["fit_time"] = (fit_done - first_iter).total_seconds()
    if start and last:
        info["wall_time"] = (last - start).total_seconds()
    return info


_OUT_OF_MEMORY = re.compile(
    r"(MemoryError|std::bad_alloc|ResourceExhaustedError|OOM when allocating|Cannot allocate memory|"
    r"out of memory|RAW: mmap error: 12)",  # 12 = ENOMEM (absl's allocator, before an abort)
    re.IGNORECASE)
_ELEMENTS = re.compile(r"(Unsupported species type|KeyError: (np\.bytes_\()?b?'[A-Z][a-z]?'|not in elements)")
_TF_FATAL = re.compile(r"^.*\bF \S+\.cc:\d+\] .*$", re.MULTILINE)  # absl fatal log line, then abort
_TF_ERROR = re.compile(r"(tensorflow\S*errors_impl\.\w+|InvalidArgumentError|Failed to load the native TensorFlow)")


def _last_exception(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line):
            return line[:300]
    return None


def diagnose_failure(stderr: str, log: str) -> tuple[str | None, str]:
    """Classify a failed run from its stderr and log: (exit-code label or None, short details).

    Checked in order: out of memory (anywhere in stderr), elements missing from the potential
    (the final exception), a fatal TensorFlow abort or TensorFlow exception, any other Python
    exception. A run killed from outside (wall time) leaves no trace and gives ``(None, '')``.
    """
    exception = _last_exception(stderr) or _last_exception(log)
    memory = _OUT_OF_MEMORY.search(stderr)
    if memory:
        return "ERROR_OUT_OF_MEMORY", exception or memory.group(0)
    if exception and _ELEMENTS.search(exception):
        element = re.search(r"'([A-Z][a-z]?)'", exception)
        if element:
            return "ERROR_ELEMENTS_MISMATCH", (f"the data hold {element.group(1)}, which the potential does not "
                                               f"declare ({exception})")
        return "ERROR_ELEMENTS_MISMATCH", exception
    fatal = _TF_FATAL.search(stderr)
    if fatal:
        return "ERROR_TENSORFLOW", fatal.group(0).strip()[:300]
    if exception and _TF_ERROR.search(exception):
        return "ERROR_TENSORFLOW", exception
    if exception:
        return "ERROR_PACEMAKER_EXCEPTION", exception
    return None, ""


def summarise_metrics(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict:
    """Final RMSE (energy meV/atom, forces meV/Å) and iteration count from parsed tables.

    The final row is the optimizer's last accepted iteration; NaN anywhere in the loss is
    reported as ``nan_loss_iteration`` (first iteration with NaN).
    """
    out: dict = {}
    if train:
        out["n_iterations"] = int(np.nanmax(train["iter_num"])) if len(train["iter_num"]) else 0
        out["train_rmse_energy"] = float(train["rmse_epa"][-1] * 1000.0)
        out["train_rmse_forces"] = float(train["rmse_f_comp"][-1] * 1000.0)
        out["train_mae_forces"] = float(train["mae_f_comp"][-1] * 1000.0)
        out["final_loss"] = float(train["loss"][-1])
        out["n_functions"] = int(train["nfuncs"][-1]) if "nfuncs" in train else None
        out["n_coefficients"] = int(train["ncoefs"][-1]) if "ncoefs" in train else None
        bad = ~np.isfinite(train["loss"])
        if bad.any():
            out["nan_loss_iteration"] = int(train["iter_num"][bad.argmax()])
    if test:
        out["test_rmse_energy"] = float(test["rmse_epa"][-1] * 1000.0)
        out["test_rmse_forces"] = float(test["rmse_f_comp"][-1] * 1000.0)
    return out


def detect_plateau(train: dict[str, np.ndarray], window_fraction: float = 0.2, relative_change: float = 1e-3,
                   min_iterations: int = 20) -> dict:
    """Whether the train loss has stopped falling: relative drop over the last iterations.

    Looks at the last ladder step only (the loss restarts when a ladder step adds functions).
    The window is ``ceil(window_fraction * n)`` iterations (at least 1) of the ``n`` run; the
    loss has plateaued when ``(loss[-window-1] - loss[-1]) / |loss[-window-1]| < relative_change``
    and ``n >= min_iterations`` (a short run says nothing about where it would go).
    Returns ``plateaued``, ``loss`` (final), ``relative_change`` (measured), ``window`` and
    ``n_iterations``.
    """
    out = {"plateaued": False, "loss": None, "relative_change": None, "window": 0, "n_iterations": 0}
    if not train or "loss" not in train or len(train["loss"]) < 2:
        return out
    mask = np.ones(len(train["loss"]), dtype=bool)
    if "ladder_step" in train:
        mask &= train["ladder_step"] == train["ladder_step"][-1]
    if "cycle_step" in train:
        mask &= train["cycle_step"] == train["cycle_step"][-1]
    loss = train["loss"][mask]
    iterations = train["iter_num"][mask] if "iter_num" in train else np.arange(len(loss))
    n = int(iterations[-1] - iterations[0]) if len(iterations) else 0
    out.update(loss=float(loss[-1]), n_iterations=n)
    if len(loss) < 2 or not np.all(np.isfinite(loss)):
        return out
    window = min(len(loss) - 1, max(1, math.ceil(window_fraction * n)))
    start = float(loss[-window - 1])
    change = (start - float(loss[-1])) / abs(start) if start != 0 else 0.0
    out.update(relative_change=float(change), window=int(window),
               plateaued=bool(n >= min_iterations and change < relative_change))
    return out
