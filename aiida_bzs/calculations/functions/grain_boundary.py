"""Calcfunction building a periodic tilt-boundary bicrystal (light glue: ≤ 2k atoms, well under a second)."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...structures.grain_boundary import TiltBoundary, build_bicrystal
from .structures import to_atoms, to_structure


def bicrystal_inputs(parameters: dict, crystal_atoms) -> tuple[TiltBoundary, dict]:
    """(boundary, keyword arguments of :func:`build_bicrystal`) from the ``parameters`` Dict.

    ``boundary``: a :class:`TiltBoundary` as a dict; ``grain_thickness`` (Å), ``repeats_along_axis``,
    ``min_distance`` (Å); the rigid-body shift as ``translation`` [Å, Å] or ``translation_fraction``
    [fraction of the boundary period, fraction of the axis period].
    """
    boundary = TiltBoundary.from_dict(parameters["boundary"])
    repeats = int(parameters.get("repeats_along_axis", 1))
    translation = [float(x) for x in parameters.get("translation", (0.0, 0.0))]
    if "translation_fraction" in parameters:
        from ...structures.grain_boundary import strained_lengths

        lengths = crystal_atoms.cell.lengths()
        a2, c2, _ = strained_lengths(lengths[0], lengths[2], boundary.ratio)
        m, n = boundary.direction
        period = (m * m * a2 * a2 + n * n * c2 * c2) ** 0.5
        fx, fy = (float(x) for x in parameters["translation_fraction"])
        translation = [fx * period, fy * lengths[1] * repeats]
    return boundary, {"grain_thickness": float(parameters["grain_thickness"]), "repeats_along_axis": repeats,
                      "translation": tuple(translation), "min_distance": float(parameters.get("min_distance", 1.5))}


@calcfunction
def bicrystal(crystal: orm.StructureData, parameters: orm.Dict) -> dict:
    """Bicrystal with two equivalent tilt boundaries from ``crystal`` (the Pnma reference);
    outputs ``structure`` (grain ids in the report) and ``report`` (atoms removed, composition, area …)."""
    atoms = to_atoms(crystal)
    boundary, kwargs = bicrystal_inputs(parameters.get_dict(), atoms)
    result, report = build_bicrystal(atoms, boundary, **kwargs)
    report["grain"] = [int(g) for g in result.arrays["grain"]]
    return {"structure": to_structure(result), "report": orm.Dict(report)}
