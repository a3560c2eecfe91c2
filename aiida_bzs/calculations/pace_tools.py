"""pacemaker's small tools as aiida-shell ``ShellJob``s: ``pace_activeset`` and ``pace_select``.

Each helper returns a ready ``ShellJob`` builder (``CalculationFactory('core.shell')``) and
names a parser hook that turns the tool's files into typed nodes. stderr is merged into
stdout (``redirect_stderr``) because TensorFlow and pyace log to stderr even on success.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

from aiida import orm
from aiida.plugins import CalculationFactory

from ..data.ace_potential import AcePotentialData

__all__ = ("activeset_builder", "parse_activeset", "select_builder", "parse_select")

POTENTIAL_DIR = "potential"  # the AcePotentialData folder inside the ShellJob's working directory
ASI_FILE = "potential.asi"
SELECTED_FILE = "selected.pkl.gz"


def _shelljob_builder(code: orm.AbstractCode, options: dict | None):
    builder = CalculationFactory("core.shell").get_builder()
    builder.code = code
    builder.metadata.options.redirect_stderr = True
    builder.metadata.options.resources = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
    for key, value in (options or {}).items():
        builder.metadata.options[key] = value
    return builder


def activeset_builder(code: orm.AbstractCode, potential: AcePotentialData, dataset: orm.SinglefileData,
                      options: dict | None = None):
    """``pace_activeset potential/potential.yaml -d dataset.pckl.gzip`` → ``potential`` with .asi.

    The active set is built on the B-basis .yaml (the .yace cannot carry one) from the
    training structures, so γ > 1 later flags environments unlike any fitted one.
    """
    builder = _shelljob_builder(code, options)
    builder.nodes = {"potential": potential, "dataset": dataset}
    builder.filenames = {"potential": POTENTIAL_DIR, "dataset": "dataset.pckl.gzip"}
    builder.arguments = ["{potential}/potential.yaml", "-d", "{dataset}"]
    builder.metadata.options.additional_retrieve = [f"{POTENTIAL_DIR}/{ASI_FILE}"]
    builder.parser = parse_activeset
    return builder


def parse_activeset(dirpath: Path, parser) -> dict:
    """ShellJob hook: the input potential plus the new active set, as one ``AcePotentialData``."""
    from pathlib import Path as _Path

    from aiida_bzs.data.ace_potential import AcePotentialData as _Ace

    dirpath = _Path(dirpath)
    candidates = [dirpath / ASI_FILE, dirpath / POTENTIAL_DIR / ASI_FILE]
    asi = next((c for c in candidates if c.exists()), None)
    if asi is None:
        raise FileNotFoundError(f"pace_activeset wrote no {ASI_FILE}; see its stdout")
    potential = parser.node.inputs.nodes["potential"]
    if not isinstance(potential, _Ace):
        raise TypeError(f"expected an AcePotentialData, got {type(potential).__name__}")
    return {"potential": potential.with_active_set(asi)}


def select_builder(code: orm.AbstractCode, potential: AcePotentialData, candidates: orm.SinglefileData,
                   max_structures: int, options: dict | None = None):
    """``pace_select`` (D-optimal MaxVol selection) of at most ``max_structures`` candidates.

    ``candidates`` is a gzip-pickled DataFrame with an ``ase_atoms`` column; the potential's
    active set (if any) counts as already selected, so only new directions are picked.
    """
    builder = _shelljob_builder(code, options)
    builder.nodes = {"potential": potential, "candidates": candidates}
    builder.filenames = {"potential": POTENTIAL_DIR, "candidates": "candidates.pckl.gzip"}
    arguments = ["{candidates}", "-p", "{potential}/potential.yaml", "-m", str(int(max_structures)),
                 "-o", SELECTED_FILE]
    if potential.has_active_set:
        arguments += ["-a", f"{POTENTIAL_DIR}/{ASI_FILE}"]
    builder.arguments = arguments
    builder.metadata.options.additional_retrieve = [SELECTED_FILE]
    builder.parser = parse_select
    return builder


def parse_select(dirpath: Path, parser) -> dict:
    """ShellJob hook: the selected structures as a ``List`` of candidate indices (``selected``)."""
    import gzip as _gzip
    import pickle as _pickle
    from pathlib import Path as _Path

    from aiida import orm as _orm

    path = _Path(dirpath) / SELECTED_FILE
    if not path.exists():
        raise FileNotFoundError(f"pace_select wrote no {SELECTED_FILE}; see its stdout")
    with _gzip.open(path, "rb") as handle:
        frame = _pickle.load(handle)
    return {"selected": _orm.List([int(i) for i in frame.index])}


def write_candidates(images, path: Path) -> None:
    """Write ASE structures as the gzip-pickled DataFrame ``pace_select`` reads (index = position)."""
    import pandas as pd

    frame = pd.DataFrame({"ase_atoms": list(images)})
    with gzip.open(path, "wb") as handle:
        pickle.dump(frame, handle, protocol=4)
