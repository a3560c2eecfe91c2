"""``aiida-bzs analyse``: CN, bond lengths, g(r), bond angles and density of structures, compared.

Runs :class:`~aiida_bzs.workflows.analysis.StructureAnalysisWorkChain` in this process (no
daemon needed), prints a summary table and writes the comparison figure. Structures are nodes
(pk, UUID, label) or files (extxyz, LAMMPS data), which are imported as nodes first.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click

from ..analysis.contacts import S_S_CONTACT_CUTOFF
from ..analysis.coordination import BOND_CUTOFFS
from ..analysis.rdf import RDF_R_MAX
from . import cmd_root
from .utils import launch, refusals_as_click_errors, unique_link_label, with_profile

_DEFAULT_BONDS = ", ".join(f"{c}-{n}={v:g}" for (c, n), v in BOND_CUTOFFS.items())


def resolve_structure(identifier: str, types: list[str] | None):
    """Return ``(StructureData, name)`` for a file path or a node identifier."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    from ..calculations.functions.structure_files import structure_from_file
    from ..structures.errors import StructureInputError

    path = Path(identifier)
    if path.is_file():
        file = orm.SinglefileData(path.resolve())
        args = {"types": orm.List(types)} if types else {}
        try:
            node = structure_from_file(file, **args)
        except StructureInputError as exc:
            raise click.BadParameter(str(exc), param_hint="STRUCTURE") from None
        return node, path.stem
    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise click.BadParameter(f"{identifier!r} is neither a file nor a node ({exc})",
                                 param_hint="STRUCTURE") from None
    from ..common.structure_nodes import STRUCTURE_TYPES

    if not isinstance(node, STRUCTURE_TYPES):
        raise click.BadParameter(f"node {identifier} is a {type(node).__name__}, not a StructureData "
                                 "or LargeStructureData", param_hint="STRUCTURE")
    return node, structure_name(node)


def structure_name(node) -> str:
    """A row/legend name for a stored structure: its label, else what made it and its pk.

    E.g. ``melt_quench_1289`` for the final structure of a MeltQuenchWorkChain (the outermost
    process above its creator), ``pnma_crystal_1239``, or ``structure_42`` without a creator.
    """
    if node.label:
        return node.label
    process = node.creator
    while process is not None and process.caller is not None:
        process = process.caller
    if process is None:
        return f"structure_{node.pk}"
    label = (process.process_label or "").split(".")[-1]  # a function's label may be its qualname
    name = re.sub(r"(WorkChain|Calculation)$", "", label) or "structure"
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return f"{name}_{node.pk}"


def _parse_bond(value: str) -> tuple[str, float]:
    bond, _, cutoff = value.partition("=")
    try:
        return bond.strip(), float(cutoff)
    except ValueError:
        raise click.BadParameter(f"{value!r}: write BOND=Å, e.g. Zr-S=3.1", param_hint="--bond") from None


@cmd_root.command("analyse")
@click.argument("structure")
@click.option("--compare", "others", multiple=True,
              help="Another structure (node or file) to compare with; repeat for more.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write the comparison figure (PNG) here.")
@click.option("--bond", "bonds", multiple=True, metavar="C-N=Å",
              help=f"Bond cut-off replacing the defaults ({_DEFAULT_BONDS}); repeat for more.")
@click.option("--contact-cutoff", type=float, default=None,
              help=f"S–S close-contact distance in Å (default {S_S_CONTACT_CUTOFF:g}).")
@click.option("--r-max", type=float, default=None,
              help=f"Outer radius of g(r) in Å (default {RDF_R_MAX:g}).")
@click.option("--types", default=None, metavar="EL1,EL2,...",
              help="Elements of LAMMPS atom types 1, 2, … for data files without Masses.")
@click.option("--protocol", type=click.Choice(["standard", "large"]), default=None,
              help="protocols/analysis.yaml preset: job wall time and memory (large: 300k–600k atoms).")
@click.option("--job-code", default=None, metavar="LABEL",
              help="aiida-bzs-job code that runs the analysis (default bzs_job@localhost; a cluster's for big cells).")
@with_profile
def cmd_analyse(structure, others, plot_path, bonds, contact_cutoff, r_max, types, protocol, job_code):
    """Standard structure analysis of STRUCTURE (and --compare structures), with plots.

    STRUCTURE is a StructureData (pk, UUID or label) or an extxyz / LAMMPS data file.
    """

    from ..analysis.standard import parse_bonds
    from ..common.structure_nodes import summarise_structure
    from ..workflows.analysis import StructureAnalysisWorkChain

    type_list = [t.strip() for t in types.split(",")] if types else None
    taken: set[str] = set()
    structures = {}
    for identifier in (structure, *others):
        node, name = resolve_structure(identifier, type_list)
        structures[unique_link_label(name, taken)] = node
    analysis = {"plot": plot_path is not None}
    if bonds:
        analysis["bonds"] = dict(_parse_bond(b) for b in bonds)
    if contact_cutoff is not None:
        analysis["contact_cutoff"] = contact_cutoff
    if r_max is not None:
        analysis["rdf_r_max"] = r_max
    with refusals_as_click_errors():
        builder = StructureAnalysisWorkChain.get_builder_from_protocol(
            structures, protocol=protocol, overrides={"analysis": analysis}, code=job_code)
    inputs = dict(builder)
    # the spec's validation here, so bad input ends as one line, not a traceback
    ports = StructureAnalysisWorkChain.spec().inputs
    problem = ports.validate(ports.pre_process(dict(inputs)))
    if problem:
        raise click.UsageError(problem.message)
    n_atoms = sum(summarise_structure(s).n_atoms for s in structures.values())
    click.echo(f"Analysing {len(structures)} structure(s), {n_atoms:,} atoms in all …")
    node = launch(StructureAnalysisWorkChain, inputs=inputs, check=False, unit="analyses")
    results = {key: node.outputs[key] for key in node.outputs}
    if not node.is_finished_ok:
        raise click.ClickException(f"StructureAnalysisWorkChain<{node.pk}> failed: "
                                   f"{node.exit_message or node.process_state}")
    bonds = list(parse_bonds(node.inputs.bonds.get_dict()))
    click.echo(summary_table(results["results"], bonds))
    if plot_path:
        with results["plots"]["overview"].as_path() as png:
            shutil.copyfile(png, plot_path)
        click.echo(f"Figure written to {plot_path}")
    click.echo(f"StructureAnalysisWorkChain pk={node.pk}")


def summary_table(results, bonds: list[tuple[str, str]]) -> str:
    """One line per structure: atoms, density (g/cm³), mean CN and bond length (Å) per bond in
    ``bonds`` order, and the fraction of S atoms in S–S close contact."""
    header = ["structure", "atoms", "ρ (g/cm³)"]
    rows = []
    for key, outputs in results.items():
        density = outputs["density"].get_dict()
        row = [key, f"{density['n_atoms']:,}", f"{density['density']:.3f}"]
        for centre, neighbour in bonds:
            attrs = outputs[f"coordination_{centre}_{neighbour}"].base.attributes
            bond = f"{attrs.get('centre')}–{attrs.get('neighbour')}"
            if not rows:
                header += [f"CN {bond}", f"d {bond} (Å)"]
            bond_length = attrs.get("mean_bond_length")
            row += [f"{attrs.get('mean_cn'):.2f}", "–" if bond_length is None else f"{bond_length:.3f}"]
        contacts = outputs["contacts"].base.attributes
        if not rows:
            header.append(f"{contacts.get('species')} in contact (%)")
        row.append(f"{100 * contacts.get('fraction_in_contact'):.1f}")
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *rows]]
    return "\n".join(lines)
