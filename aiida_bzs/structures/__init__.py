"""Pure structure builders: ASE ``Atoms`` in, ASE ``Atoms`` out, seeded, no AiiDA imports."""

from .crystal import (
    PNMA_LATTICE,
    PNMA_SITES,
    check_bazrs3_like,
    check_pnma_distances,
    check_reference_crystal,
    cubic_perovskite,
    pnma_distance_problems,
    pnma_crystal,
    spacegroup,
)
from .distort import make_supercell, rattle, strain

__all__ = [
    "PNMA_LATTICE",
    "PNMA_SITES",
    "check_bazrs3_like",
    "check_pnma_distances",
    "check_reference_crystal",
    "cubic_perovskite",
    "pnma_distance_problems",
    "make_supercell",
    "pnma_crystal",
    "rattle",
    "spacegroup",
    "strain",
]
