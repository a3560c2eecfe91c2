"""The shipped demo dataset: DFT labels this package computed, as an AiiDA archive with provenance.

Live DFT on 2 cores labels only a few dozen small cells in the demo's time budget, too few to
train a potential that keeps the crystal a solid; so the ``demo`` campaign starts from this
dataset (made by ``tools/make_demo_dataset.py`` with the package's own workchains; how, with what
DFT settings and when, is in ``aiida_bzs/resources/demo_dataset.json``) and labels one live
generation on top. Importing it brings its whole provenance (the pw.x calculations and their
inputs) into the profile, once.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

ARCHIVE = "demo_dataset.aiida"
RECORD = "demo_dataset.json"
#: How the record's ``validation.status`` starts when a potential fitted on the dataset failed the
#: demo melt-quench (written by tools/make_demo_dataset.py, read by validation_problem).
NOT_PLAUSIBLE = "NOT PLAUSIBLE"
PLAUSIBLE = "PLAUSIBLE"


class DemoDatasetError(RuntimeError):
    """The shipped dataset is missing or does not hold the training set its record names."""


def _resource(name: str) -> Path:
    return Path(str(resources.files("aiida_bzs.resources") / name))


def demo_dataset_record() -> dict:
    """The record of the shipped dataset: ``uuid`` of its TrainingSetData, families, DFT settings."""
    path = _resource(RECORD)
    if not path.exists():
        raise DemoDatasetError(f"{path} is missing: reinstall aiida-bzs, or run tools/make_demo_dataset.py")
    return json.loads(path.read_text())


def validation_problem(record: dict | None = None) -> str:
    """What the record says is wrong with the shipped data (its ``validation.status`` when that starts
    with ``NOT PLAUSIBLE``: a potential fitted on it failed the demo melt-quench), else ``''``."""
    status = ((record or demo_dataset_record()).get("validation") or {}).get("status", "")
    return status if status.startswith(NOT_PLAUSIBLE) else ""


def load_demo_dataset():
    """The demo TrainingSetData, imported from the shipped archive into this profile when absent."""
    return _load(demo_dataset_record()["uuid"])


def load_demo_inputs() -> dict:
    """What the demo campaign starts from, imported when absent: ``training_set`` (the train part of
    the shipped dataset), ``test_set`` (its fixed test set) and ``initial_potential`` (the demo fit
    on the train part: generation 0 of ``learn``); ``{'training_set': the whole set}`` for a record
    without them (an older archive)."""
    record = demo_dataset_record()
    names = record.get("demo_inputs") or {}
    if not names:
        return {"training_set": _load(record["uuid"])}
    return {name: _load(uuid) for name, uuid in names.items()}


def _load(uuid: str):
    """Node ``uuid``, importing the shipped archive first when this profile lacks it."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        return orm.load_node(uuid)
    except NotExistent:
        pass
    from aiida.tools.archive import import_archive

    archive = _resource(ARCHIVE)
    if not archive.exists():
        raise DemoDatasetError(f"{archive} is missing: reinstall aiida-bzs, or run tools/make_demo_dataset.py")
    import_archive(archive)
    try:
        return orm.load_node(uuid)
    except NotExistent as exc:
        raise DemoDatasetError(f"{archive} holds no node {uuid} ({RECORD} and the archive disagree)") from exc
