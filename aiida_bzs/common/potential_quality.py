"""The fit quality gate: every fitted ACE potential carries a verdict, and MD refuses "unusable".

A verdict is the ``Dict`` output ``verdict`` of the calcfunction ``bzs.ace.assess_fit`` whose
input ``potential`` is the potential node, so it lives in the provenance graph beside the
potential (AcePotentialData is immutable once stored; a verdict computed after the test-set
parity cannot be one of its attributes). Keys of a verdict:

- ``verdict``: ``"usable"``, ``"smoke_test"`` (a toy fit: fine for testing the toolchain, not for
  science; MD runs but says so) or ``"unusable"`` (errors beyond the thresholds: MD, relaxations
  and exploration refuse it unless ``allow_unusable_potential`` is set);
- ``reasons``: list of sentences saying why;
- ``rmse_energy`` (meV/atom), ``rmse_forces`` (meV/Å), ``n_test`` and ``thresholds`` used.

A potential that no ``assess_fit`` has judged (imported from a file, a bare PacemakerCalculation)
has verdict ``None``: it is accepted with a warning, since the package cannot know its quality.
"""

from __future__ import annotations

__all__ = (
    "VERDICTS",
    "VERDICT_FUNCTION",
    "PotentialQualityError",
    "potential_verdict",
    "check_potential_usable",
    "describe_verdict",
)

#: The verdicts, from best to worst.
VERDICTS = ("usable", "smoke_test", "unusable")

#: ``function_name`` of the calcfunction that issues verdicts (entry point ``bzs.ace.assess_fit``).
VERDICT_FUNCTION = "assess_fit"


class PotentialQualityError(ValueError):
    """A potential's verdict is "unusable" and the caller did not override it."""


def potential_verdict(potential) -> dict | None:
    """The newest verdict issued for ``potential`` (stored AcePotentialData), or None if none."""
    from aiida import orm

    if potential is None or not potential.is_stored:
        return None
    qb = orm.QueryBuilder()
    qb.append(orm.Node, filters={"id": potential.pk}, tag="potential")
    qb.append(
        orm.CalcFunctionNode,
        with_incoming="potential",
        edge_filters={"label": "potential"},
        filters={"attributes.function_name": VERDICT_FUNCTION, "attributes.exit_status": 0},
        tag="assess",
        project=["ctime"],
    )
    qb.append(orm.Dict, with_incoming="assess", edge_filters={"label": "verdict"}, project=["attributes"])
    rows = qb.all()
    if not rows:
        return None
    rows.sort(key=lambda row: row[0])
    return dict(rows[-1][1])


def describe_verdict(verdict: dict | None) -> str:
    """One line for logs and the CLI: the verdict, the test RMSEs and the first reason."""
    if verdict is None:
        return "no fit verdict (potential not assessed by bzs.fit); its accuracy is unknown"
    text = f"verdict {verdict.get('verdict')!s}"
    if verdict.get("rmse_energy") is not None:
        text += (f": test RMSE {verdict['rmse_energy']:.1f} meV/atom, "
                 f"{verdict.get('rmse_forces', float('nan')):.0f} meV/Å on {verdict.get('n_test', '?')} structures")
    reasons = verdict.get("reasons") or []
    if reasons:
        text += f" ({reasons[0]})"
    return text


def check_potential_usable(potential, allow_unusable: bool = False) -> tuple[str | None, str | None]:
    """Gate a potential before MD, relaxation or exploration.

    :returns: ``(error, warning)``: ``error`` is a message naming the fix when the verdict is
        "unusable" and ``allow_unusable`` is False (the caller refuses to start); ``warning`` is
        a message for smoke-test, overridden or unassessed potentials (the caller reports it).
    """
    verdict = potential_verdict(potential)
    label = f"potential pk {potential.pk}" if potential is not None and potential.is_stored else "potential"
    if verdict is None:
        return None, f"{label}: {describe_verdict(None)}"
    kind = verdict.get("verdict")
    if kind == "unusable":
        if allow_unusable:
            return None, f"{label} is UNUSABLE but allowed by the user: {describe_verdict(verdict)}"
        return (f"{label} is unusable for simulations: {describe_verdict(verdict)}. "
                "Fit a better potential (more DFT labels, protocol balanced) or, to run anyway, "
                "set allow_unusable_potential=True (CLI: --allow-unusable-potential)"), None
    if kind == "smoke_test":
        return None, f"{label} is a SMOKE TEST potential, not for science: {describe_verdict(verdict)}"
    return None, None
