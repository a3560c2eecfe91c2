"""``aiida-bzs report NODE -o report.html``: the campaign's self-contained HTML report.

The work is in :mod:`aiida_bzs.report`; the page opens in any browser without the database or the
network (figures inline, no scripts, links only within the page).
"""

from __future__ import annotations

from pathlib import Path

import click

from . import cmd_root
from .utils import load_typed_node, with_profile


@cmd_root.command("report")
@click.argument("node", metavar="NODE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="HTML file to write.")
@click.option("--dataset-map", "dataset_map", metavar="JOB", default=None,
              help="A bzs.job.dataset_map job (pk/UUID) to show, when the campaign did not run one.")
@click.option("--phonons", metavar="JOB", default=None,
              help="A bzs.job.phonons job (pk/UUID) to show, when the campaign did not run one.")
@with_profile
def report_command(node, output, dataset_map, phonons):
    """Write the HTML report of the campaign workflow NODE (pk, UUID or label): every stage's figures
    and tables, each citing the UUID and pk of the node it came from."""
    import time

    from aiida import orm

    from ..report.collect import collect
    from ..report.html import render

    start = time.perf_counter()
    process = load_typed_node(node, orm.ProcessNode)
    jobs = {name: load_typed_node(value, orm.CalcJobNode) if value else None
            for name, value in (("dataset_map", dataset_map), ("phonons", phonons))}
    report, problems = collect(process, **jobs)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(report), encoding="utf-8")
    n_figures = sum(type(i).__name__ == "Figure" for s in report.sections for i in s.items)
    click.echo(f"{output}: {len(report.sections)} sections, {n_figures} figures, "
               f"{output.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - start:.1f} s)")
    for problem in problems:
        click.echo(f"Warning: {problem}", err=True)
