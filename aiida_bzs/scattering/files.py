"""Read measured XRD (2θ or Q, intensity[, σ]) and PDF (r, G) column files, with strict checks.

Accepted layout: numbers in columns separated by blanks, tabs or commas; lines starting with
``#``, ``!``, ``;``, ``%`` or ``//`` are comments; text lines before the first numeric row are
a header (an instrument's preamble; PDFgetX3 ``.gr`` files: everything up to ``#### start data``).
After the first numeric row every line must be numeric: a bad value, a missing column, NaN/inf,
or an x that does not increase is reported with the file name and line number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.errors import AnalysisInputError

COMMENT_PREFIXES = ("#", "!", ";", "%", "//")
#: x axes of measured data and their units.
AXES = {"two_theta": "degrees", "q": "1/Å", "r": "Å"}
#: Fewest data rows accepted.
MIN_ROWS = 10
_START_DATA = re.compile(r"^#+\s*start data", re.IGNORECASE)
_SPLIT = re.compile(r"[\s,]+")


class MeasuredFileError(AnalysisInputError):
    """A measured-data file cannot be used; ``path`` and ``line`` (1-based) say where."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class MeasuredCurve:
    """Columns of a measured file: ``x`` (axis unit), ``y``, optional ``sigma``, and the header text."""

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray | None
    header: list[str] = field(default_factory=list)
    reversed: bool = False


def parse_columns(text: str, source: str | Path = "<text>") -> MeasuredCurve:
    """Parse column text (see the module docstring); ``source`` names the file in errors."""
    lines = text.splitlines()
    start = 0
    for number, line in enumerate(lines):
        if _START_DATA.match(line.strip()):
            start = number + 1
    header = lines[:start]
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for number in range(start, len(lines)):
        raw = lines[number].strip()
        if not raw or raw.startswith(COMMENT_PREFIXES):
            if not rows:
                header.append(lines[number])
            continue
        fields = [f for f in _SPLIT.split(raw.split("#")[0].strip()) if f]
        values = []
        for column, item in enumerate(fields, start=1):
            try:
                values.append(float(item))
            except ValueError:
                if not rows:  # still in a textual header
                    values = None
                    break
                raise MeasuredFileError(source, number + 1, f"non-numeric value {item!r} in column {column}") from None
        if values is None:
            header.append(lines[number])
            continue
        if len(values) < 2:
            raise MeasuredFileError(source, number + 1, f"need at least 2 columns (x, y), found {len(values)}")
        bad = [c for c, v in enumerate(values[:3], start=1) if not math.isfinite(v)]
        if bad:
            raise MeasuredFileError(source, number + 1, f"non-finite value (NaN or inf) in column {bad[0]}")
        rows.append(values)
        line_numbers.append(number + 1)
    if len(rows) < MIN_ROWS:
        raise MeasuredFileError(source, None, f"found {len(rows)} numeric rows, need at least {MIN_ROWS}")
    x = np.array([row[0] for row in rows])
    y = np.array([row[1] for row in rows])
    sigma = np.array([row[2] for row in rows]) if all(len(row) >= 3 for row in rows) else None
    step = np.diff(x)
    flipped = bool(np.all(step < 0))
    if flipped:
        x, y = x[::-1], y[::-1]
        sigma = None if sigma is None else sigma[::-1]
    elif np.any(step <= 0):
        k = int(np.argmax(step <= 0)) + 1
        raise MeasuredFileError(
            source,
            line_numbers[k],
            f"x = {rows[k][0]} does not increase (previous x = {rows[k - 1][0]}): columns must be sorted",
        )
    return MeasuredCurve(x, y, sigma, header, flipped)


def read_measured(path: str | Path, axis: str) -> MeasuredCurve:
    """Read a measured file whose first column is ``axis`` ('two_theta' degrees, 'q' Å⁻¹, 'r' Å)."""
    if axis not in AXES:
        raise AnalysisInputError(f"axis must be one of {sorted(AXES)}, got {axis!r}")
    path = Path(path)
    if not path.is_file():
        raise MeasuredFileError(path, None, "file not found")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MeasuredFileError(path, None, "not a text file (binary or unknown encoding)") from None
    curve = parse_columns(text, path)
    check_axis_range(curve.x, axis, path)
    return curve


def check_axis_range(x, axis: str, source: str | Path = "<data>") -> None:
    """Raise if x lies outside the physical range of ``axis`` (2θ in (0, 180), Q, r >= 0)."""
    x = np.asarray(x, float)
    if axis == "two_theta" and (x.min() <= 0 or x.max() >= 180):
        raise MeasuredFileError(source, None, f"2θ values must lie in (0, 180) degrees; found {x.min():.4g}–{x.max():.4g}")
    if axis in ("q", "r") and x.min() < 0:
        raise MeasuredFileError(source, None, f"{axis} values must be >= 0; found {x.min():.4g}")
