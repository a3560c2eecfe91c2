"""Calcfunctions that convert between ``StructureData`` and ``LargeStructureData`` with provenance.

Light glue (see docs/large_structures.md for measured costs): ``pack`` reads the sites once and
writes one array file (seconds at 310k atoms); ``unpack`` is fast to build but its output, a
``StructureData``, takes about a minute to store at 310k atoms — use it only where a process
(e.g. pw.x on a small cell) needs a real ``StructureData``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...data.large_structure import LargeStructureData


@calcfunction
def pack(structure: orm.StructureData) -> LargeStructureData:
    """``StructureData`` → ``LargeStructureData`` (positions Å, kinds' masses kept when not ASE's)."""
    return LargeStructureData.from_structure_data(structure)


@calcfunction
def unpack(structure: LargeStructureData) -> orm.StructureData:
    """``LargeStructureData`` → ``StructureData`` (positions Å; ``masses``/``tags`` kept, other
    per-atom arrays dropped). Storing the result costs about a minute at 310k atoms."""
    return structure.to_structure_data()
