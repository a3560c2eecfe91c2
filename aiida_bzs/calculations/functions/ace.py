"""Calcfunctions around ACE potentials: light glue only (dataset files, figures as nodes).

Parity on a test set and extrapolation grades grow with atoms × structures: they are jobs
(``bzs.job.parity``, ``bzs.job.grade`` in :mod:`aiida_bzs.calculations.jobs`), not calcfunctions.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from aiida import orm
from aiida.engine import calcfunction

from ...data.training_set import TrainingSetData

__all__ = ("pacemaker_dataset_file", "figure_to_singlefile")


def figure_to_singlefile(fig, filename: str, dpi: int = 150) -> orm.SinglefileData:
    """A matplotlib figure as a PNG ``SinglefileData``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return orm.SinglefileData(buffer, filename=filename)


@calcfunction
def pacemaker_dataset_file(training_set: TrainingSetData) -> orm.SinglefileData:
    """The training set as pacemaker's gzip-pickled DataFrame (``dataset.pckl.gzip``, energies eV).

    Tools such as ``pace_activeset`` and ``pace_select`` read this file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dataset.pckl.gzip"
        training_set.write_pacemaker_pickle(path)
        return orm.SinglefileData(path, filename="dataset.pckl.gzip")
