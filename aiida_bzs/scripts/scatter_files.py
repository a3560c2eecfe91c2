"""File formats of ``aiida-bzs-scatter``: the structure it reads and the result it writes.

Structure: extended XYZ (``N``, a comment line with ``Lattice="…"`` and ``pbc="…"``, then
``symbol x y z`` in Å), written and read with ASE's extxyz module (debyecalculator reads it too).
Result: one JSON file with ``status`` ('ok' or 'error'), ``metadata`` and the curves as lists, so a
failed run still says why.
No AiiDA and no torch here (ASE only): the CalcJob, the runner and the parser share this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

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


class UnknownElementError(ScatterFileError):
    """The structure file names species that are not chemical elements (``symbols``: those)."""

    def __init__(self, message: str, symbols: list[str]):
        super().__init__(message)
        self.symbols = symbols


def write_xyz(path: str | Path, symbols, positions, cell=None, pbc=(False, False, False)) -> None:
    """Write extended XYZ with ASE: positions in Å, ``cell`` rows in Å (kept for the periodic
    mode; left out when degenerate)."""
    from ase import Atoms
    from ase.io import write

    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    if cell is not None and abs(np.linalg.det(np.asarray(cell, float))) <= 1e-9:
        cell = None
    atoms = Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=[bool(p) for p in pbc])
    write(Path(path), atoms, format="extxyz")


def read_xyz(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray | None, tuple[bool, bool, bool]]:
    """Read extended XYZ with ASE: (symbols, positions Å (N, 3), cell Å (3, 3) or None, pbc).

    Raises :class:`ScatterFileError` naming the file and the line at fault, or
    :class:`UnknownElementError` for species that are not elements.
    """
    from ase.io import read
    from ase.io.extxyz import XYZError

    path = Path(path)
    try:
        atoms = read(path, format="extxyz", index=0)
    except XYZError as exc:  # an OSError too, but about the content
        raise ScatterFileError(_diagnose(path, exc)) from None
    except OSError as exc:
        raise ScatterFileError(f"{path}: cannot read ({exc})") from None
    except KeyError as exc:  # ASE met a species that is not an element
        species = sorted({fields[0] for fields in _atom_fields(path) if fields} - set(chemical_symbols))
        if not species:
            raise ScatterFileError(_diagnose(path, exc)) from None
        raise UnknownElementError(f"{path}: element(s) {species} are not chemical elements", species) from None
    except Exception as exc:  # noqa: BLE001 - ASE's reader raises many kinds; say which line is wrong
        raise ScatterFileError(_diagnose(path, exc)) from None
    if len(atoms) == 0:
        raise ScatterFileError(f"{path}, line 1: the structure is empty (0 atoms)")
    positions = atoms.get_positions()
    finite = np.isfinite(positions).all(axis=1)
    if not finite.all():
        raise ScatterFileError(f"{path}, line {int(np.argmin(finite)) + 3}: non-finite position")
    cell = atoms.cell[:] if atoms.cell.any() else None
    return atoms.get_chemical_symbols(), positions, cell, tuple(bool(p) for p in atoms.pbc)


def _atom_fields(path: Path) -> list[list[str]]:
    """The split atom lines that the file's header announces."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        n = int(lines[0].split()[0])
    except (IndexError, ValueError):
        n = 0
    return [line.split() for line in lines[2:2 + n]]


def _diagnose(path: Path, exc: Exception) -> str:
    """Why ASE could not read ``path``, as ``'<path>, line <n>: <what>'`` where a line is at fault."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return f"{path}: cannot read (not UTF-8 text)"
    if not lines or not lines[0].strip():
        return f"{path}, line 1: empty file, expected the number of atoms"
    try:
        n = int(lines[0].split()[0])
    except ValueError:
        return f"{path}, line 1: expected the number of atoms, got {lines[0]!r}"
    if len(lines) < n + 2:
        return f"{path}: header says {n} atoms but only {max(0, len(lines) - 2)} atom lines follow"
    for index, line in enumerate(lines[2:2 + n]):
        fields = line.split()
        try:
            if len(fields) < 4:
                raise ValueError
            [float(v) for v in fields[1:4]]
        except ValueError:
            return f"{path}, line {index + 3}: expected 'symbol x y z', got {line!r}"
    return f"{path}: not extended XYZ ({type(exc).__name__}: {exc})"


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
