"""The campaign's self-contained HTML report (issue #17): one page, figures inline, every figure
and table citing the node it came from.

:mod:`.figures` draws (numpy in, PNG out; also used by the runner, so nothing here imports AiiDA
at package import), :mod:`.html` renders, :mod:`.collect` walks a campaign's stages.
:func:`write_report` does all three, for the campaign's last step and ``aiida-bzs report``.
"""

from __future__ import annotations

from pathlib import Path


def write_report(node, path, dataset_map=None, phonons=None) -> Path:
    """Collect the report of the campaign-like workflow ``node`` and write it to ``path`` (HTML,
    UTF-8; parent folders made). ``dataset_map`` / ``phonons``: jobs to show when the campaign did
    not call them. Returns the path. Problems met (failed stages, sections that could not be drawn)
    are written into the page, at the top, not raised."""
    from .collect import collect
    from .html import render

    report, _ = collect(node, dataset_map=dataset_map, phonons=phonons)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


__all__ = ["write_report"]
