"""File formats of ``aiida-bzs-scatter``: the structure it reads and the result it writes.

Structure: extended XYZ (``N``, a comment line with ``Lattice="…"`` and ``pbc="…"``, then
``symbol x y z`` in Å), readable by ASE and by debyecalculator itself. Result: one JSON file with
``status`` ('ok' or 'error'), ``metadata`` and the curves as lists, so a failed run still says why.
No AiiDA and no torch here: the CalcJob, the runner and the parser share this module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

FORMAT = "aiida-bzs-scatter"
FORMAT_VERSION = 1
STRUCTURE_FILENAME = "structure.xyz"
PARAMETERS_FILENAME = "parameters.json"
RESULT_FILENAME = "scattering.json"
CURVE_KEYS = ("q", "r", "iq", "sq", "fq", "gr")

#: Error codes the runner writes; the parser maps them to CalcJob exit codes.
ERROR_CODES = (
    "INVALID_STRUCTURE",
    "UNKNOWN_ELEMENT",
    "INVALID_PARAMETERS",
    "DEVICE_UNAVAILABLE",
    "OUT_OF_MEMORY",
    "INTERNAL_ERROR",
)


class ScatterFileError(ValueError):
    """A structure or result file of the runner is malformed; the message names file and line."""


def write_xyz(path: str | Path, symbols, positions, cell=None, pbc=(False, False, False)) -> None:
    """Write extended XYZ: positions in Å, ``cell`` rows in Å (kept for the periodic mode)."""
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    symbols = list(symbols)
    comment = 'Properties=species:S:1:pos:R:3 pbc="{}"'.format(" ".join("T" if p else "F" for p in pbc))
    if cell is not None and abs(np.linalg.det(np.asarray(cell, float))) > 1e-9:
        flat = " ".join(f"{v:.10f}" for v in np.asarray(cell, float).ravel())
        comment = f'Lattice="{flat}" ' + comment
    body = "\n".join(f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(symbols, positions))
    Path(path).write_text(f"{len(symbols)}\n{comment}\n{body}\n", encoding="utf-8")


def read_xyz(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray | None, tuple[bool, bool, bool]]:
    """Read :func:`write_xyz` output: (symbols, positions Å (N, 3), cell Å (3, 3) or None, pbc)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScatterFileError(f"{path}: cannot read ({exc})") from None
    if not lines or not lines[0].strip():
        raise ScatterFileError(f"{path}, line 1: empty file, expected the number of atoms")
    try:
        n = int(lines[0].split()[0])
    except ValueError:
        raise ScatterFileError(f"{path}, line 1: expected the number of atoms, got {lines[0]!r}") from None
    if n < 1:
        raise ScatterFileError(f"{path}, line 1: the structure is empty (0 atoms)")
    if len(lines) < n + 2:
        raise ScatterFileError(f"{path}: header says {n} atoms but only {max(0, len(lines) - 2)} atom lines follow")
    comment = lines[1]
    cell = None
    match = re.search(r'Lattice="([^"]*)"', comment)
    if match:
        cell = np.array(match.group(1).split(), dtype=float).reshape(3, 3)
    pbc = (False, False, False)
    match = re.search(r'pbc="([^"]*)"', comment)
    if match:
        pbc = tuple(flag.upper() in ("T", "TRUE", "1") for flag in match.group(1).split())
    tokens = [line.split() for line in lines[2 : 2 + n]]
    symbols = []
    positions = np.empty((n, 3))
    for index, fields in enumerate(tokens):
        try:
            symbols.append(fields[0])
            positions[index] = [float(v) for v in fields[1:4]]
            if len(fields) < 4:
                raise ValueError
        except (ValueError, IndexError):
            raise ScatterFileError(
                f"{path}, line {index + 3}: expected 'symbol x y z', got {lines[index + 2]!r}"
            ) from None
    if not np.all(np.isfinite(positions)):
        bad = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise ScatterFileError(f"{path}, line {bad + 3}: non-finite position")
    return symbols, positions, cell, pbc


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_result(path: str | Path, curves: dict, metadata: dict) -> None:
    """Write a successful result: ``curves`` (q, r, iq, sq, fq, gr, optional partials/direct)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "ok", "metadata": metadata}
    payload["curves"] = {k: curves[k] for k in CURVE_KEYS}
    payload["partials"] = curves.get("partials", {})
    if curves.get("direct"):
        payload["direct"] = curves["direct"]
    Path(path).write_text(json.dumps(_clean(payload)), encoding="utf-8")


def write_error(path: str | Path, code: str, message: str, metadata: dict | None = None) -> None:
    """Write a failed result with one of :data:`ERROR_CODES` and a human-readable message."""
    if code not in ERROR_CODES:
        code = "INTERNAL_ERROR"
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "error"}
    payload["error"] = {"code": code, "message": message}
    payload["metadata"] = metadata or {}
    Path(path).write_text(json.dumps(_clean(payload)), encoding="utf-8")


def read_result(text: str, source: str = RESULT_FILENAME) -> dict:
    """Parse and check a result; curves come back as float arrays. Raises :class:`ScatterFileError`."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScatterFileError(f"{source}, line {exc.lineno}: not valid JSON ({exc.msg}); the run was cut short?") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ScatterFileError(f"{source}: not an {FORMAT} result file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ScatterFileError(f"{source}: format version {payload.get('format_version')}, expected {FORMAT_VERSION}")
    if payload.get("status") == "error":
        error = payload.get("error") or {}
        payload["error"] = {"code": error.get("code", "INTERNAL_ERROR"), "message": error.get("message", "")}
        return payload
    if payload.get("status") != "ok":
        raise ScatterFileError(f"{source}: unknown status {payload.get('status')!r}")
    curves = payload.get("curves") or {}
    missing = [k for k in CURVE_KEYS if k not in curves]
    if missing:
        raise ScatterFileError(f"{source}: curves {missing} missing")
    payload["curves"] = {k: np.asarray(curves[k], dtype=float) for k in CURVE_KEYS}
    nq, nr = payload["curves"]["q"].size, payload["curves"]["r"].size
    for key in ("iq", "sq", "fq"):
        if payload["curves"][key].size != nq:
            raise ScatterFileError(f"{source}: {key} has {payload['curves'][key].size} points, q has {nq}")
    if payload["curves"]["gr"].size != nr:
        raise ScatterFileError(f"{source}: gr has {payload['curves']['gr'].size} points, r has {nr}")
    payload["partials"] = {
        name: {k: np.asarray(v, dtype=float) for k, v in c.items()} for name, c in (payload.get("partials") or {}).items()
    }
    if payload.get("direct"):
        payload["direct"] = {k: np.asarray(v, dtype=float) for k, v in payload["direct"].items()}
    return payload
