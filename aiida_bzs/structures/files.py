"""Read structures that users bring from outside AiiDA: extended XYZ and LAMMPS data files.

A LAMMPS data file names atom types by number only; the elements come from its ``Masses``
section (ASE matches standard masses) or, when that is absent, from ``types`` (type 1, 2, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ase import Atoms
from ase.data import atomic_numbers

from .errors import StructureInputError

#: File suffix → ASE format for the formats this reader vouches for.
SUFFIX_FORMATS = {
    ".xyz": "extxyz",
    ".extxyz": "extxyz",
    ".data": "lammps-data",
    ".lmp": "lammps-data",
    ".lammps": "lammps-data",
}


def guess_format(path: str | Path) -> str | None:
    """ASE format name for ``path`` from its suffix, or None to let ASE guess."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def read_structure(
    path: str | Path, format: str | None = None, types: Sequence[str] | None = None
) -> Atoms:
    """Read the last frame of ``path`` (positions in Å) as ASE ``Atoms``.

    :param format: ASE format name; default from the suffix (:data:`SUFFIX_FORMATS`), else ASE's guess.
    :param types: elements of LAMMPS atom types 1, 2, … (e.g. ``["Ba", "Zr", "S"]``); needed
        when a LAMMPS data file has no ``Masses`` section.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise StructureInputError(f"{path}: no such file")
    format = format or guess_format(path)
    kwargs = {}
    if format == "lammps-data":
        if types:
            unknown = [t for t in types if t not in atomic_numbers]
            if unknown:
                raise StructureInputError(f"types {unknown} are not element symbols")
            kwargs["Z_of_type"] = {k + 1: atomic_numbers[t] for k, t in enumerate(types)}
        elif "Masses" not in path.read_text(errors="replace"):
            raise StructureInputError(
                f"{path}: LAMMPS data without a Masses section; pass the elements of types 1, 2, … "
                "(e.g. types=['Ba', 'Zr', 'S'], on the command line --types Ba,Zr,S)"
            )
    try:
        atoms = ase.io.read(path, index=-1, format=format, **kwargs)
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise StructureInputError(f"{path}: cannot read a structure ({type(exc).__name__}: {exc})") from None
    if len(atoms) == 0:
        raise StructureInputError(f"{path}: the structure is empty")
    return atoms
