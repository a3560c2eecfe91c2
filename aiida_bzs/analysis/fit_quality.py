"""Verdict of a fitted potential from its held-out errors (pure; no AiiDA).

Units: energy RMSE in meV/atom (per-atom cohesive energy), force RMSE in meV/Å (per Cartesian
component, as pacemaker), both on the held-out test set with the saved potential.

Default thresholds: the study's potentials reach a few meV/atom and ~0.1–0.2 eV/Å on held-out data
(campaign notes, section 3), so ``usable_*`` allow about ten times that; ``unusable_*`` (0.2 eV/atom,
1.5 eV/Å) are errors at which a melt–quench has no meaning. Protocols set their own (fit.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ("DEFAULT_THRESHOLDS", "fit_verdict")

#: Thresholds of the verdict. ``usable_*``: at or below, a potential can be used for science;
#: ``unusable_*``: above, MD refuses it. ``min_test_structures``: fewer held-out structures
#: than this make any RMSE anecdotal, so the verdict is at best "smoke_test". ``smoke_test``:
#: the protocol itself declares the fit a toolchain test (protocol ``fast``).
DEFAULT_THRESHOLDS = {
    "usable_energy": 20.0,
    "usable_forces": 400.0,
    "unusable_energy": 200.0,
    "unusable_forces": 1500.0,
    "min_test_structures": 5,
    "smoke_test": False,
}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def fit_verdict(test_metrics: Mapping, thresholds: Mapping | None = None) -> dict:
    """``usable``, ``smoke_test`` or ``unusable`` with the reasons, from test-set metrics.

    :param test_metrics: ``rmse_energy`` (meV/atom), ``rmse_forces`` (meV/Å), ``n_structures`` and,
        optionally, ``by_config_type`` (the same keys per family). A family whose errors exceed the
        ``unusable_*`` limits makes an otherwise usable potential at best ``smoke_test`` (its
        simulations of that family would be meaningless); it is named in the reasons.
    :param thresholds: overrides of :data:`DEFAULT_THRESHOLDS`.
    """
    limits = {**DEFAULT_THRESHOLDS, **dict(thresholds or {})}
    e = test_metrics.get("rmse_energy")
    f = test_metrics.get("rmse_forces")
    n = int(test_metrics.get("n_structures", 0))
    families = {str(k): dict(v) for k, v in (test_metrics.get("by_config_type") or {}).items()}
    reasons: list[str] = []
    verdict = "usable"
    if e is None or f is None or n == 0:
        verdict = "unusable"
        reasons.append("no test-set errors: the potential was never checked against held-out DFT labels")
    else:
        if e > limits["unusable_energy"]:
            reasons.append(f"energy RMSE {e:.0f} meV/atom > {limits['unusable_energy']:.0f}")
        if f > limits["unusable_forces"]:
            reasons.append(f"force RMSE {f:.0f} meV/Å > {limits['unusable_forces']:.0f}")
        if reasons:
            verdict = "unusable"
        else:
            soft = []
            if e > limits["usable_energy"]:
                soft.append(f"energy RMSE {e:.1f} meV/atom > {limits['usable_energy']:.0f}")
            if f > limits["usable_forces"]:
                soft.append(f"force RMSE {f:.0f} meV/Å > {limits['usable_forces']:.0f}")
            if n < limits["min_test_structures"]:
                soft.append(f"only {n} test structures (< {limits['min_test_structures']})")
            for family, fm in sorted(families.items()):
                fe, ff = fm.get("rmse_energy"), fm.get("rmse_forces")
                if (fe is not None and fe > limits["unusable_energy"]) or (ff is not None and ff > limits["unusable_forces"]):
                    soft.append(f"family '{family}' ({fm.get('n_structures', '?')} test structures): "
                                f"{_fmt(fe)} meV/atom, {_fmt(ff)} meV/Å, beyond the unusable limits")
            if soft:
                verdict = "smoke_test"
                reasons.extend(soft)
    if limits.get("smoke_test"):
        if verdict == "usable":
            verdict = "smoke_test"
        reasons.append("fitted with a smoke-test protocol (fast): it tests the toolchain, not for science")
    return {
        "verdict": verdict,
        "reasons": reasons,
        "rmse_energy": None if e is None else float(e),
        "rmse_forces": None if f is None else float(f),
        "n_test": n,
        "by_config_type": {k: {key: v.get(key) for key in ("n_structures", "rmse_energy", "rmse_forces")}
                           for k, v in families.items()},
        "thresholds": limits,
        "units": {"rmse_energy": "meV/atom", "rmse_forces": "meV/Å"},
    }
