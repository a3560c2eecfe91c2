"""Choosing which explored structures to label: by extrapolation grade γ (no AiiDA).

γ is pyace's D-optimality extrapolation grade: ≤ 1 inside the training data's span, > 1
extrapolating. Candidates above a threshold are ranked by their largest per-atom γ and at most
``max_selected`` are kept per generation (the most extrapolative first), as pacemaker's active
learning recipe does; ``pace_select`` (MaxVol) can refine the choice further.
"""

from __future__ import annotations

import numpy as np

__all__ = ("DEFAULT_GAMMA_THRESHOLD", "select_by_gamma")

#: Default γ above which a structure is worth labelling (pacemaker's lower bound recommendation
#: for active learning is 1.5–2; the study treats γ ≤ 2 as reliable).
DEFAULT_GAMMA_THRESHOLD = 2.0


def select_by_gamma(max_gamma: np.ndarray, threshold: float = DEFAULT_GAMMA_THRESHOLD,
                    max_selected: int | None = None, gamma_ceiling: float | None = None) -> np.ndarray:
    """Indices of candidates with γ above ``threshold``, highest γ first, at most ``max_selected``.

    :param max_gamma: largest per-atom γ of each candidate (dimensionless).
    :param gamma_ceiling: skip candidates above this γ (hopelessly far from the data, often
        unphysical); ``None`` keeps them.
    """
    gamma = np.asarray(max_gamma, dtype=float)
    if threshold <= 0:
        raise ValueError(f"gamma threshold must be positive, got {threshold}")
    keep = np.isfinite(gamma) & (gamma > threshold)
    if gamma_ceiling is not None:
        keep &= gamma <= gamma_ceiling
    order = np.argsort(-gamma[keep], kind="stable")
    chosen = np.flatnonzero(keep)[order]
    if max_selected is not None:
        chosen = chosen[: int(max_selected)]
    return chosen


def select_by_gamma_per_family(max_gamma: np.ndarray, config_types, threshold: float = DEFAULT_GAMMA_THRESHOLD,
                               per_family: int | None = None, max_selected: int | None = None,
                               gamma_ceiling: float | None = None) -> np.ndarray:
    """Like :func:`select_by_gamma`, but at most ``per_family`` from each config_type first, so
    that one wildly extrapolating family (often the hottest melt) does not crowd out the others;
    then the total is capped at ``max_selected``, highest γ first."""
    gamma = np.asarray(max_gamma, dtype=float)
    types = np.asarray(config_types)
    if per_family is None:
        return select_by_gamma(gamma, threshold, max_selected, gamma_ceiling)
    chosen = []
    for family in sorted(set(types.tolist())):
        members = np.flatnonzero(types == family)
        picked = select_by_gamma(gamma[members], threshold, per_family, gamma_ceiling)
        chosen.extend(members[picked].tolist())
    chosen = np.array(sorted(chosen, key=lambda i: -gamma[i]), dtype=int)
    if max_selected is not None:
        chosen = chosen[: int(max_selected)]
    return chosen
