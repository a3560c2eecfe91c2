"""``bzs.ace.assess_fit``: the verdict of a fitted potential, as a node linked to the potential.

The numerics (thresholds against test RMSEs) live in :func:`aiida_bzs.analysis.fit_quality.fit_verdict`;
the gate that reads verdicts back is :mod:`aiida_bzs.common.potential_quality`.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...analysis.fit_quality import fit_verdict
from ...data.ace_potential import AcePotentialData

__all__ = ("assess_fit",)


@calcfunction
def assess_fit(potential: AcePotentialData, test_metrics: orm.Dict, thresholds: orm.Dict) -> dict:
    """Verdict of ``potential`` from its test-set metrics (RMSE meV/atom, meV/Å) and thresholds.

    Returns ``verdict`` (Dict: verdict, reasons, rmse_energy, rmse_forces, n_test, thresholds).
    """
    return {"verdict": orm.Dict(fit_verdict(test_metrics.get_dict(), thresholds.get_dict()))}
