"""``aiida-bzs export`` and ``aiida-bzs graph``: hand a campaign on, as an archive, files or a picture.

``export NODE out.aiida`` writes the AiiDA archive of a workflow (re-import with
``verdi archive import``); ``export NODE DIR --files`` writes every structure, potential,
pattern, training set, table and figure as plain files with ``manifest.json``; ``graph NODE``
draws the pruned provenance. The work is in :mod:`aiida_bzs.export`; see docs/export.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..export import GRAPH_DEPTH, GRAPH_MAX_DATA, GRAPH_MAX_SIBLINGS
from . import cmd_root
from .utils import load_typed_node, with_profile


def _process(identifier: str):
    from aiida import orm

    return load_typed_node(identifier, orm.ProcessNode)


@cmd_root.command("export")
@click.argument("node", metavar="NODE")
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--files", is_flag=True,
              help="Write a plain-files bundle (extxyz, yaml/yace, CSV, JSON, figures, manifest.json) into the "
                   "folder OUTPUT instead of an AiiDA archive.")
@click.option("--with-callers", is_flag=True,
              help="Archive: also follow the workflows that called each calculation met (AiiDA's default rules; "
                   "pulls in the enclosing campaign).")
@click.option("--inputs/--no-inputs", default=True, show_default=True,
              help="Files: also write the workflow's own inputs (under inputs/).")
@click.option("--calculation-outputs/--workflow-outputs-only", default=True, show_default=True,
              help="Files: also write what each calculation created, not only what workflows returned.")
@click.option("-f", "--overwrite", is_flag=True,
              help="Replace an existing archive, or an earlier bundle (a folder with manifest.json).")
@with_profile
def export_command(node, output, files, with_callers, inputs, calculation_outputs, overwrite):
    """Export the workflow NODE (pk, UUID or label) and its whole graph to OUTPUT.

    Without --files: an AiiDA archive (import it with `verdi archive import OUTPUT`) holding the
    workflow, every process it called, their inputs and outputs, and the provenance of the inputs.
    """
    from ..export import export_archive, write_bundle

    if files and with_callers:
        raise click.UsageError("--with-callers applies to the archive only (without --files)")
    if not files and not (inputs and calculation_outputs):
        raise click.UsageError("--no-inputs and --workflow-outputs-only apply to --files only")
    process = _process(node)
    if not process.is_terminated:
        state = getattr(process.process_state, "value", "not started")
        click.echo(f"Warning: {process.process_label} pk {process.pk} is {state}; "
                   "exporting what exists now", err=True)
    try:
        if files:
            manifest = write_bundle(process, output, inputs=inputs, calculation_outputs=calculation_outputs,
                                    overwrite=overwrite)
            skipped = ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"].items()) or "nothing"
            click.echo(f"{output}: {manifest['n_files']} files of {manifest['n_nodes']} nodes "
                       f"({manifest['seconds']:.1f} s); skipped {skipped}; see {output / 'MANIFEST.md'}")
            return
        report = export_archive(process, output, with_callers=with_callers, overwrite=overwrite)
    except FileExistsError as exc:
        hint = "" if "no earlier bundle" in str(exc) else " or pass --overwrite"
        raise click.ClickException(f"{exc}{hint}") from None
    click.echo(f"archive of {process.process_label} pk {process.pk}: {report.line()}")
    click.echo(f"import it with: verdi archive import {output}")


@cmd_root.command("graph")
@click.argument("node", metavar="NODE")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "pdf", "dot"]), default="svg", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="File to write; default <pk>.<format> in the current folder.")
@click.option("--depth", type=click.IntRange(0), default=GRAPH_DEPTH, show_default=True,
              help="Levels of called processes drawn below NODE.")
@click.option("--include-calculations/--no-include-calculations", default=True, show_default=True,
              help="Draw calculations (pw.x, LAMMPS, calcfunctions), not only workflows.")
@click.option("--max-siblings", type=click.IntRange(0), default=GRAPH_MAX_SIBLINGS, show_default=True,
              help="More children of one process type than this under one parent become one summary box (0: never).")
@click.option("--max-data", type=click.IntRange(0), default=GRAPH_MAX_DATA, show_default=True,
              help="Data nodes drawn per list (the workflow's inputs, a workflow's outputs, what a calculation "
                   "passes on), most telling first, before '… and N more' (0: all).")
@with_profile
def graph_command(node, fmt, output, depth, include_calculations, max_siblings, max_data):
    """Draw a readable, pruned provenance graph of the workflow NODE (pk, UUID or label).

    Codes, pseudopotentials, remote/retrieved folders and the parameters of every child are left
    out; crowds of sibling calculations are collapsed (see --max-siblings).
    """
    from ..export import write_graph

    process = _process(node)
    output = output or Path(f"{process.pk}.{fmt}")
    write_graph(process, output, fmt, depth=depth, include_calculations=include_calculations,
                max_siblings=max_siblings, max_data=max_data)
    click.echo(f"provenance graph of {process.process_label} pk {process.pk}: {output}")
