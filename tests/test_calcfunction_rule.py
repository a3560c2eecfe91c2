"""docs/jobs.md lists every calcfunction with what its cost grows with, and every runner job exists:
a new calcfunction cannot be added without being classified as light glue (or made a job)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "jobs.md"


def _registered() -> dict[str, object]:
    return {ep.name: ep.load() for ep in entry_points(group="aiida.calculations") if ep.name.startswith("bzs.")}


def test_every_calcfunction_is_classified_in_docs():
    calcfunctions = {name for name, obj in _registered().items() if hasattr(obj, "is_process_function")}
    text = DOC.read_text().split("## Every calcfunction", 1)[1]
    listed = set(re.findall(r"^\| `(bzs\.[\w.]+)` \| [^|]+ \| [^|]+ \| [^|]+ \|$", text, flags=re.M))
    assert calcfunctions - listed == set(), "calcfunctions missing from docs/jobs.md: classify them or make them jobs"
    assert listed - calcfunctions == set(), "docs/jobs.md lists calcfunctions that no longer exist"


def test_the_jobs_table_names_registered_calcjobs():
    from aiida.engine import CalcJob

    registered = _registered()
    jobs = re.findall(r"^\| `(bzs\.job\.\w+)` \| `(\w+)` \|", DOC.read_text(), flags=re.M)
    runner_jobs = {name for name in registered if name.startswith("bzs.job.")}
    assert {name for name, _ in jobs} == runner_jobs  # every runner job has a row, and only those
    for name, cls in jobs:
        assert issubclass(registered[name], CalcJob) and registered[name].__name__ == cls


def test_no_runner_job_imports_aiida():
    """The runner must work on a computer with the package's pure code only (no profile)."""
    source = (Path(__file__).resolve().parent.parent / "aiida_bzs" / "scripts" / "job.py").read_text()
    assert not re.search(r"^\s*(from|import) aiida\b", source, flags=re.M)
