"""Export a campaign: an AiiDA archive, a pruned provenance picture and a plain-files bundle.

Why three forms of one workflow:

- the **archive** (:func:`export_archive`) is the complete record, re-importable with
  ``verdi archive import`` into any profile: the workflow, everything it called and created, and
  the provenance of its inputs;
- the **picture** (:func:`provenance_graph`) shows a reader what ran, without the noise every
  calculation carries (codes, pseudopotentials, remote and retrieved folders, parameters) and with
  hundreds of sibling DFT jobs drawn as one summary box;
- the **bundle** (:func:`write_bundle`) gives collaborators without AiiDA every structure,
  potential, pattern, training set, table and figure as ordinary files, each traced in
  ``manifest.json`` to its node UUID, its type, the process that created it and the link label.

Units in the files are the nodes' own: Å, eV, eV/Å, eV/Å³; each CSV header names its columns'
units.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from aiida.common.links import LinkType

if TYPE_CHECKING:  # aiida.orm costs ~1 s to import: every `aiida-bzs` command would pay it
    from aiida import orm

__all__ = (
    "ARCHIVE_RULES",
    "ArchiveReport",
    "archive_node_count",
    "export_archive",
    "provenance_graph",
    "write_bundle",
    "write_graph",
)

# ----------------------------------------------------------------------------------------------
# what counts as noise
# ----------------------------------------------------------------------------------------------

def _base_types() -> tuple:
    """Scalar knobs of a process (numbers, strings, lists): drawn only when a workflow returns them."""
    from aiida import orm

    return orm.Int, orm.Float, orm.Str, orm.Bool, orm.List, orm.EnumData


def _ace_type():
    from .data.ace_potential import AcePotentialData

    return AcePotentialData


def noise_reason(node: orm.Node) -> str | None:
    """Why ``node`` is left out of the picture and the bundle, or None when it is campaign data.

    Codes, pseudopotentials, remote folders and the raw ``retrieved`` folders are attached to every
    calculation and say nothing about the campaign (the archive keeps them all).
    """
    from aiida import orm

    if isinstance(node, orm.AbstractCode):
        return "code"
    if isinstance(node, (orm.RemoteData, orm.RemoteStashData)):
        return "remote folder"
    if isinstance(node, orm.FolderData) and not isinstance(node, _ace_type()):
        return "retrieved folder"
    cls = type(node)
    if cls.__module__.startswith("aiida_pseudo") or isinstance(node, orm.UpfData) or "Pseudo" in cls.__name__:
        return "pseudopotential"
    return None


def _rank(node: orm.Node) -> int:
    """Importance of a data node in the picture, lower first: potentials, training sets, structures,
    patterns, trajectories (the "main" data, ranks 0–4), then figures, tables, arrays, numbers."""
    from aiida import orm

    from .data.large_structure import LargeStructureData
    from .data.training_set import TrainingSetData

    order = (_ace_type(), TrainingSetData, (orm.StructureData, LargeStructureData), orm.XyData, orm.TrajectoryData,
             orm.SinglefileData, orm.Dict, orm.ArrayData)
    return next((i for i, cls in enumerate(order) if isinstance(node, cls)), len(order))


#: Ranks of :func:`_rank` drawn as inputs of the workflow and as data passed between processes.
_MAIN_RANK = 4
_INPUT_RANK = 5


def _call_links(process: orm.ProcessNode) -> list:
    """(child, call link label) of a workflow, oldest first."""
    from aiida import orm

    if not isinstance(process, orm.WorkflowNode):
        return []
    triples = process.base.links.get_outgoing(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all()
    return [(t.node, t.link_label) for t in sorted(triples, key=lambda t: (t.node.ctime, t.node.pk))]


def _output_links(process: orm.ProcessNode) -> list:
    """(node, link label) of the outputs of a process (RETURN of a workflow, CREATE of a calculation)."""
    from aiida import orm

    link_type = LinkType.RETURN if isinstance(process, orm.WorkflowNode) else LinkType.CREATE
    triples = process.base.links.get_outgoing(link_type=link_type).all()
    return sorted(((t.node, t.link_label) for t in triples), key=lambda pair: pair[1])


def _input_links(process: orm.ProcessNode) -> list:
    triples = process.base.links.get_incoming(link_type=(LinkType.INPUT_CALC, LinkType.INPUT_WORK)).all()
    return sorted(((t.node, t.link_label) for t in triples), key=lambda pair: pair[1])


def _process_ref(process: orm.ProcessNode | None) -> dict | None:
    if process is None:
        return None
    return {"uuid": process.uuid, "pk": process.pk, "process_label": process.process_label,
            "process_type": process.process_type}


# ----------------------------------------------------------------------------------------------
# 1. the AiiDA archive
# ----------------------------------------------------------------------------------------------

#: ``create_archive`` traversal rules from a workflow. Always followed (aiida's fixed rules):
#: everything it called (``call_*_forward``), what they created and returned, and their inputs.
#: Here also: the provenance of those inputs (``create_backward``: the calcfunction that built a
#: structure, recursively), but not the callers of the calculations met on the way
#: (``call_*_backward``) — that would pull in the whole campaign the workflow is part of, every
#: sibling branch included — nor later processes that used the outputs (``input_*_forward``).
ARCHIVE_RULES = {
    "create_backward": True,
    "return_backward": False,
    "call_calc_backward": False,
    "call_work_backward": False,
    "input_calc_forward": False,
    "input_work_forward": False,
}


@dataclass(frozen=True)
class ArchiveReport:
    """What :func:`export_archive` wrote: the file, its node count and size (bytes), time (s)."""

    path: Path
    n_nodes: int
    size_bytes: int
    seconds: float

    def line(self) -> str:
        return (f"{self.path}: {self.n_nodes:,} nodes, {_human_size(self.size_bytes)} "
                f"({self.seconds:.1f} s)")


def _human_size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"  # pragma: no cover


def archive_node_count(path: str | Path) -> int:
    """Number of nodes in an archive file (read from the archive itself, not recomputed)."""
    from aiida import orm
    from aiida.tools.archive.abstract import get_format

    with get_format().open(path, "r") as reader:
        return reader.querybuilder().append(orm.Node).count()


def export_archive(process: orm.ProcessNode, path: str | Path, *, with_callers: bool = False,
                   overwrite: bool = False, quiet: bool = True) -> ArchiveReport:
    """Write the graph of ``process`` to an AiiDA archive (``.aiida``) with :data:`ARCHIVE_RULES`.

    :param with_callers: also follow the callers of every calculation met (aiida's default rules):
        the archive then holds the enclosing campaign too.
    :param quiet: hide aiida's export report (parameters, rules, entity counts) on the console.
    :raises FileExistsError: when ``path`` exists and not ``overwrite``.
    """
    from aiida.tools.archive import create_archive

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name")
    start = time.perf_counter()
    rules = {} if with_callers else dict(ARCHIVE_RULES)
    logger = logging.getLogger("aiida.export")  # its REPORT lines (parameters, rules) are for `verdi archive create`
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        create_archive([process], filename=path, overwrite=overwrite, **rules)
    finally:
        logger.setLevel(level)
    return ArchiveReport(path, archive_node_count(path), path.stat().st_size, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------
# 2. the provenance picture
# ----------------------------------------------------------------------------------------------

#: Defaults of the picture: levels of called processes below the workflow, siblings of one process
#: type drawn before they become one summary box, data nodes drawn per list (the workflow's
#: inputs, a workflow's outputs, the data a calculation passes on) before "… and N more".
GRAPH_DEPTH = 2
GRAPH_MAX_SIBLINGS = 4
GRAPH_MAX_DATA = 8

_SUMMARY_STYLE = {"shape": "box", "style": "filled,dashed", "fillcolor": "#eeeeee", "color": "#777777"}
_NOTE_STYLE = {"shape": "note", "style": "filled", "fillcolor": "#f7f7f7", "color": "#999999", "fontsize": "10"}


def _sublabel(node: orm.Node) -> str:
    """The second line of a drawn node: what it holds, with units (attributes only, no array reads)."""
    from aiida import orm
    from aiida.tools.visualization.graph import default_node_sublabels

    from .data.large_structure import LargeStructureData
    from .data.training_set import TrainingSetData

    attributes = node.base.attributes
    if isinstance(node, LargeStructureData):
        return f"{attributes.get('formula', '?')}, {attributes.get('n_atoms', 0):,} atoms"
    if isinstance(node, orm.StructureData):
        return f"{node.get_formula()}, {len(attributes.get('sites', [])):,} atoms"
    if isinstance(node, TrainingSetData):
        return f"{node.num_structures:,} structures, {node.num_atoms:,} atoms"
    if isinstance(node, _ace_type()):
        active = ", active set" if node.has_active_set else ""
        return f"ACE {'-'.join(node.elements or [])}, rcut {node.cutoff:g} Å{active}"
    if isinstance(node, orm.XyData):
        ys = ", ".join(attributes.get("y_names", []) or [])
        return f"{ys} vs {attributes.get('x_name', '?')} ({attributes.get('x_units', '?')})"
    if isinstance(node, orm.Dict):
        return f"{len(attributes.all)} keys"
    if isinstance(node, orm.ArrayData) and not isinstance(node, orm.TrajectoryData):
        return ", ".join(sorted(node.get_arraynames()))[:60]
    return default_node_sublabels(node)


def _state_counts(processes) -> str:
    ok = sum(p.is_finished_ok for p in processes)
    failed = sum(p.is_failed or p.is_excepted or p.is_killed for p in processes)
    other = len(processes) - ok - failed
    parts = [f"{ok} finished ok"] + ([f"{failed} failed"] if failed else []) + ([f"{other} not done"] if other else [])
    return ", ".join(parts)


def provenance_graph(process: orm.ProcessNode, *, depth: int = GRAPH_DEPTH, include_calculations: bool = True,
                     max_siblings: int = GRAPH_MAX_SIBLINGS, max_data: int = GRAPH_MAX_DATA):
    """A pruned provenance picture of ``process`` as a ``graphviz.Digraph``.

    Drawn: the workflow, the processes it called down to ``depth`` levels (calculations only with
    ``include_calculations``), the main data inputs of the workflow (structures, potentials,
    training sets, patterns, files — no parameters), the outputs every drawn workflow returns
    (most telling first: potentials, training sets, structures, patterns, trajectories, figures,
    tables, arrays), and the structures, potentials, training sets and patterns passed between drawn
    processes. Left out: codes, pseudopotentials, remote and retrieved folders, and the parameters
    (Dict, numbers) and intermediate arrays of every child. More than
    ``max_siblings`` children of one process type under one parent become one summary box
    ("N × PwBaseWorkChain", with their states; 0 = never); a list of more than ``max_data`` data
    nodes (the workflow's inputs, one workflow's outputs, what one calculation passes on) ends in a
    "… and N more inputs/outputs" box, the most telling drawn (0 = no cap). A caption says what
    was left out.
    """
    from aiida import orm
    from aiida.orm.utils.links import LinkPair
    from aiida.tools.visualization import Graph
    from aiida.tools.visualization.graph import default_link_styles

    graph = Graph(graph_attr={"rankdir": "TB", "fontsize": "11"}, node_sublabel_fn=_sublabel)

    # -- processes: breadth first, collapsing crowds of siblings --------------------------------
    shown, level, calls, summaries = [process], {process.pk: 0}, [], []
    queue = deque([process])
    while queue:
        parent = queue.popleft()
        if level[parent.pk] >= depth:
            continue
        links = _call_links(parent)
        if not include_calculations:
            links = [(child, label) for child, label in links if isinstance(child, orm.WorkflowNode)]
        groups: dict[str, list] = {}
        for child, label in links:
            groups.setdefault(child.process_label or type(child).__name__, []).append((child, label))
        for name, members in groups.items():
            if max_siblings and len(members) > max_siblings:
                summaries.append((parent, name, [child for child, _ in members]))
                continue
            for child, label in members:
                shown.append(child)
                level[child.pk] = level[parent.pk] + 1
                calls.append((parent, child, label))
                queue.append(child)

    # -- data: the workflow's main inputs, what drawn workflows return, data flowing between them --
    drawn: dict[int, orm.Node] = {}
    edges = []  # (source, target, LinkPair)
    more = []  # (process, number not drawn, 'inputs' | 'outputs')

    def capped(process_, pairs, what):
        pairs = sorted(pairs, key=lambda pair: (_rank(pair[0]), pair[1]))
        if max_data and len(pairs) > max_data:
            more.append((process_, len(pairs) - max_data, what))
            return pairs[:max_data]
        return pairs

    root_input = LinkType.INPUT_WORK if isinstance(process, orm.WorkflowNode) else LinkType.INPUT_CALC
    inputs = [(n, lab) for n, lab in _input_links(process) if noise_reason(n) is None and _rank(n) <= _INPUT_RANK]
    for node, label in capped(process, inputs, "inputs"):
        drawn[node.pk] = node
        edges.append((node, process, LinkPair(root_input, label)))
    for proc in shown:  # what each workflow returns (and what the root makes, if a calculation)
        if not isinstance(proc, orm.WorkflowNode) and proc is not process:
            continue
        kind = LinkType.RETURN if isinstance(proc, orm.WorkflowNode) else LinkType.CREATE
        outputs = [(n, lab) for n, lab in _output_links(proc) if noise_reason(n) is None]
        for node, label in capped(proc, outputs, "outputs"):
            drawn[node.pk] = node
            edges.append((proc, node, LinkPair(kind, label)))
    consumed = {n.pk for proc in shown if proc is not process for n, _ in _input_links(proc)}
    for proc in shown[1:]:  # calculations: link their outputs that are drawn or flow on
        if isinstance(proc, orm.WorkflowNode):
            continue
        outputs = _output_links(proc)
        for node, label in outputs:
            if node.pk in drawn:
                edges.append((proc, node, LinkPair(LinkType.CREATE, label)))
        flows = [(n, lab) for n, lab in outputs if n.pk not in drawn and n.pk in consumed
                 and noise_reason(n) is None and _rank(n) <= _MAIN_RANK]
        for node, label in capped(proc, flows, "outputs"):
            drawn[node.pk] = node
            edges.append((proc, node, LinkPair(LinkType.CREATE, label)))
    for proc in shown:
        if proc is process:
            continue
        for node, label in _input_links(proc):
            if node.pk in drawn:
                kind = LinkType.INPUT_WORK if isinstance(proc, orm.WorkflowNode) else LinkType.INPUT_CALC
                edges.append((node, proc, LinkPair(kind, label)))

    # -- draw -----------------------------------------------------------------------------------
    graph.add_node(process, style_override={"penwidth": "3", "color": "#333333"})
    for proc in shown[1:]:
        graph.add_node(proc)
    for node in drawn.values():
        graph.add_node(node)
    for parent, child, label in calls:
        kind = LinkType.CALL_WORK if isinstance(child, orm.WorkflowNode) else LinkType.CALL_CALC
        graph.add_edge(parent, child, LinkPair(kind, label),
                       style=default_link_styles(LinkPair(kind, label), add_label=label != "CALL", add_type=False))
    for source, target, pair in edges:
        graph.add_edge(source, target, pair, style=default_link_styles(pair, add_label=True, add_type=False))

    dot = graph.graphviz
    for index, (parent, name, members) in enumerate(summaries):
        pks = sorted(p.pk for p in members)
        key = f"S{parent.pk}_{index}"
        dot.node(key, label=f"{len(members)} × {name}\n{_state_counts(members)}\npk {pks[0]}–{pks[-1]}", **_SUMMARY_STYLE)
        dot.edge(f"N{parent.pk}", key, label=f"called ×{len(members)}", style="dotted")
    for index, (proc, count, what) in enumerate(more):
        key = f"M{proc.pk}_{index}"
        dot.node(key, label=f"… and {count} more {what}", **_SUMMARY_STYLE)
        dot.edge(*((key, f"N{proc.pk}") if what == "inputs" else (f"N{proc.pk}", key)), style="dashed")
    n_descendants = len(process.called_descendants) if isinstance(process, orm.WorkflowNode) else 0
    hidden = n_descendants - (len(shown) - 1)
    dot.attr(label=(f"{process.process_label} pk {process.pk}: {len(shown) - 1} of {n_descendants} called processes "
                    f"drawn (depth {depth}{'' if include_calculations else ', workflows only'}"
                    f"{f', {hidden} not drawn' if hidden else ''}); not drawn: codes, pseudopotentials, "
                    "remote/retrieved folders, parameters of children"), labelloc="b", fontsize="10")
    return dot


def write_graph(process: orm.ProcessNode, path: str | Path, fmt: str | None = None, **options) -> Path:
    """Render :func:`provenance_graph` to ``path`` (format from ``fmt`` or the suffix: svg, png, pdf, dot)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    dot = provenance_graph(process, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        path.write_text(dot.source)
    else:
        path.write_bytes(dot.pipe(format=fmt))
    return path


# ----------------------------------------------------------------------------------------------
# 3. the plain-files bundle
# ----------------------------------------------------------------------------------------------

#: Names at the top of a bundle that a child process's folder may not take.
_RESERVED = {"inputs", "outputs", "manifest.json", "MANIFEST.md"}


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "node"


def _link_path(label: str) -> str:
    """Link label → relative path: nested namespaces (``results__crystal__rdf``) become folders."""
    return "/".join(_safe(part) for part in label.split("__"))


def _extxyz(atoms_list, path: Path) -> None:
    from ase.io import write

    write(path, atoms_list, format="extxyz")


def _write_structure(node, path: Path) -> list[tuple[Path, str, dict]]:
    from .calculations.functions.structures import to_atoms
    from .data.large_structure import LargeStructureData

    atoms = node.get_ase() if isinstance(node, LargeStructureData) else to_atoms(node)
    target = path.with_suffix(".extxyz")
    _extxyz(atoms, target)
    return [(target, "extxyz", {"formula": atoms.get_chemical_formula(), "n_atoms": len(atoms),
                                "units": {"positions": "Å", "cell": "Å"}})]


def _write_trajectory(node: orm.TrajectoryData, path: Path) -> list[tuple[Path, str, dict]]:
    """One extxyz frame per step, with its step id, and the ``forces`` (eV/Å) and ``energy`` (eV)
    arrays when the trajectory has them per step (pw.x relaxations do)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    positions, cells, symbols = node.get_positions(), node.get_cells(), node.symbols
    n_steps, names = node.numsteps, set(node.get_arraynames())
    pbc = node.pbc if node.pbc is not None else (cells is not None)
    forces = node.get_array("forces") if "forces" in names else None
    energy = node.get_array("energy") if "energy" in names else None
    forces = forces if forces is not None and np.shape(forces) == np.shape(positions) else None
    energy = energy if energy is not None and np.shape(energy) == (n_steps,) else None
    steps = node.get_stepids()
    frames = []
    for i in range(n_steps):
        atoms = Atoms(symbols, positions=positions[i], cell=None if cells is None else cells[i], pbc=pbc)
        atoms.info["step"] = int(steps[i])
        if forces is not None or energy is not None:
            atoms.calc = SinglePointCalculator(atoms, forces=None if forces is None else forces[i],
                                               energy=None if energy is None else float(energy[i]))
        frames.append(atoms)
    target = path.with_suffix(".extxyz")
    _extxyz(frames, target)
    units = {"positions": "Å"} | ({"forces": "eV/Å"} if forces is not None else {}) | (
        {"energy": "eV"} if energy is not None else {})
    return [(target, "extxyz", {"frames": n_steps, "n_atoms": node.numsites, "units": units})]


def _write_potential(node, path: Path) -> list[tuple[Path, str, dict]]:
    from .data.ace_potential import FILENAMES

    files = []
    info = {"elements": node.elements, "cutoff_A": node.cutoff,
            "n_functions_total": node.base.attributes.get("n_functions_total", None)}
    for kind, name in FILENAMES.items():
        if kind == "asi" and not node.has_active_set:
            continue
        target = path.with_suffix(Path(name).suffix)
        target.write_bytes(node.get_content(kind))
        files.append((target, f"ace-{kind}", info))
    return files


def _write_training_set(node, path: Path) -> list[tuple[Path, str, dict]]:
    target = path.with_suffix(".extxyz")
    node.write_extxyz(target)
    return [(target, "extxyz", {"num_structures": node.num_structures, "num_atoms": node.num_atoms,
                                "config_types": node.config_types, "labelled": node.labelled,
                                "reference_energies_eV": node.reference_energies,
                                "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³", "positions": "Å"}})]


def _write_xy(node: orm.XyData, path: Path) -> list[tuple[Path, str, dict]]:
    x_name, x, x_units = node.get_x()
    ys = node.get_y()
    columns = [f"{x_name} ({x_units})"] + [f"{name} ({units})" for name, _, units in ys]
    target = path.with_suffix(".csv")
    table = np.column_stack([np.asarray(x, float)] + [np.asarray(y, float) for _, y, _ in ys])
    np.savetxt(target, table, delimiter=",", header=",".join(columns), comments="", fmt="%.17g", encoding="utf-8")
    extra = {k: v for k, v in node.base.attributes.all.items()
             if not k.startswith("array|") and k not in ("x_name", "x_units", "y_names", "y_units")}
    return [(target, "csv", {"columns": columns, **extra})]


def _write_arrays(node: orm.ArrayData, path: Path) -> list[tuple[Path, str, dict]]:
    target = path.with_suffix(".npz")
    arrays = {name: node.get_array(name) for name in node.get_arraynames()}
    np.savez(target, **arrays)
    extra = {k: v for k, v in node.base.attributes.all.items() if not k.startswith("array|")}
    return [(target, "npz", {"arrays": {k: list(v.shape) for k, v in arrays.items()}, **extra})]


def _write_json(value, path: Path) -> list[tuple[Path, str, dict]]:
    target = path.with_suffix(".json")
    target.write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    return [(target, "json", {})]


def _write_file(node: orm.SinglefileData, path: Path) -> list[tuple[Path, str, dict]]:
    suffix = Path(node.filename).suffix
    target = path.with_name(path.name + suffix) if suffix else path
    with node.open(mode="rb") as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    return [(target, suffix.lstrip(".").lower() or "file", {"filename": node.filename})]


def _writer(node: orm.Node):
    """The writer of a node's plain-file form, or None (and the reason) when it has none."""
    from aiida import orm

    from .data.large_structure import LargeStructureData
    from .data.training_set import TrainingSetData

    if isinstance(node, (orm.StructureData, LargeStructureData)):
        return _write_structure
    if isinstance(node, _ace_type()):
        return _write_potential
    if isinstance(node, TrainingSetData):
        return _write_training_set
    if isinstance(node, orm.TrajectoryData):
        return _write_trajectory
    if isinstance(node, orm.XyData):
        return _write_xy
    if isinstance(node, orm.ArrayData):
        return _write_arrays
    if isinstance(node, orm.SinglefileData):
        return _write_file
    if isinstance(node, orm.Dict):
        return lambda n, p: _write_json(n.get_dict(), p)
    if isinstance(node, orm.List):
        return lambda n, p: _write_json(n.get_list(), p)
    if isinstance(node, _base_types()):
        return lambda n, p: _write_json(n.value, p)
    return None


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _process_folders(process: orm.ProcessNode, calculation_outputs: bool):
    """(process, folder) breadth first: the workflow → ``outputs``, each descendant → its call link
    label (else process label) under its caller's folder, made unique among siblings."""
    from aiida import orm

    yield process, "outputs"
    queue = deque([(process, "")])
    while queue:
        parent, prefix = queue.popleft()
        taken = set(_RESERVED) if not prefix else set()
        for child, label in _call_links(parent):
            name = _unique(_safe(label if label != "CALL" else (child.process_label or "process")), taken)
            folder = f"{prefix}/{name}" if prefix else name
            if isinstance(child, orm.WorkflowNode) or calculation_outputs:
                yield child, folder
            queue.append((child, folder))


def write_bundle(process: orm.ProcessNode, folder: str | Path, *, inputs: bool = True,
                 calculation_outputs: bool = True, overwrite: bool = False) -> dict:
    """Write every structure, potential, pattern, training set, table and figure of ``process`` as files.

    Each node is written once (deduplicated by UUID), under the outermost name it has: the
    workflow's inputs in ``inputs/``, its outputs in ``outputs/``, and the outputs of each called
    process in ``<call link label>/…`` (nested namespaces become folders). Forms: structures,
    trajectories and training sets (with energies eV, forces eV/Å, stress eV/Å³) as extxyz; ACE
    potentials as .yaml/.yace (and .asi); XyData patterns as CSV whose header names each column and
    unit; other arrays as .npz; Dict, List and numbers as JSON; files (figures) copied. Codes,
    pseudopotentials, remote and retrieved folders are counted under ``skipped``.

    ``manifest.json`` lists every file with its node (UUID, pk, type, entry point), the process
    that created it, the process and link label it was exported under and any other labels it
    has; ``MANIFEST.md`` is the same as a table. Returns the manifest. ``overwrite`` replaces an
    earlier bundle; a non-empty folder without ``manifest.json`` is never touched.
    """

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not (folder / "manifest.json").is_file():  # never delete a folder that is not a bundle
            raise FileExistsError(f"{folder} is not empty and holds no earlier bundle; choose another folder")
        if not overwrite:
            raise FileExistsError(f"{folder} holds an earlier bundle; choose another folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    entries: list[dict] = []
    by_uuid: dict[str, list[dict]] = {}
    skipped: dict[str, int] = {}
    used_paths: set[str] = set()

    def export(node, link_label: str, role: str, owner: orm.ProcessNode, base: str) -> None:
        ref = {"process": owner.process_label, "process_uuid": owner.uuid, "role": role, "link_label": link_label}
        if node.uuid in by_uuid:
            for entry in by_uuid[node.uuid]:
                entry["also"].append(ref)
            return
        reason = noise_reason(node)
        writer = _writer(node) if reason is None else None
        if writer is None:
            reason = reason or f"no plain-file form ({type(node).__name__})"
            skipped[reason] = skipped.get(reason, 0) + 1
            by_uuid[node.uuid] = []
            return
        relative = f"{base}/{_link_path(link_label)}"
        relative = _unique(relative, used_paths)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        entity = node.entry_point.name if node.entry_point is not None else None
        by_uuid[node.uuid] = []
        for path, fmt, info in writer(node, target):
            entry = {
                "file": path.relative_to(folder).as_posix(),
                "format": fmt,
                "uuid": node.uuid,
                "pk": node.pk,
                "node_type": type(node).__name__,
                "entry_point": entity,
                "label": node.label or None,
                "created_by": _process_ref(node.creator),
                "exported_from": {**_process_ref(owner), "role": role, "link_label": link_label},
                "also": [],
                "info": info,
            }
            entries.append(entry)
            by_uuid[node.uuid].append(entry)

    if inputs:
        for node, label in _input_links(process):
            export(node, label, "input", process, "inputs")
    for proc, base in _process_folders(process, calculation_outputs):
        for node, label in _output_links(proc):
            export(node, label, "output", proc, base)

    from aiida import __version__ as aiida_version

    manifest = {
        "bundle": "aiida-bzs plain-files export",
        "root": {**_process_ref(process), "process_state": process.process_state.value if process.process_state else None,
                 "exit_status": process.exit_status},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "aiida_version": aiida_version,
        "units": {"length": "Å", "energy": "eV", "forces": "eV/Å", "stress": "eV/Å³",
                  "patterns": "see each CSV header"},
        "n_files": len(entries),
        "n_nodes": len({e["uuid"] for e in entries}),
        "files": entries,
        "skipped": dict(sorted(skipped.items())),
        "seconds": round(time.perf_counter() - start, 3),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    (folder / "MANIFEST.md").write_text(_manifest_markdown(manifest))
    return manifest


def _manifest_markdown(manifest: dict) -> str:
    root = manifest["root"]
    lines = [
        f"# Files of {root['process_label']} (pk {root['pk']}, uuid {root['uuid']})",
        "",
        (f"State: {root['process_state']} (exit status {root['exit_status']}); written {manifest['created']} "
         f"with aiida-core {manifest['aiida_version']}. Units: Å, eV, eV/Å, eV/Å³; CSV headers name their units. "
         "`manifest.json` has the same rows with full UUIDs and each node's other link labels."),
        "",
        "| file | node type | uuid | created by | exported as |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in manifest["files"]:
        creator = entry["created_by"]
        made = f"{creator['process_label']} (pk {creator['pk']})" if creator else "—"
        origin = entry["exported_from"]
        lines.append(f"| `{entry['file']}` | {entry['node_type']} | `{entry['uuid'][:8]}` | {made} | "
                     f"{origin['role']} `{origin['link_label']}` of {origin['process_label']} |")
    if manifest["skipped"]:
        lines += ["", "Not written (kept in the AiiDA archive): " +
                  ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"].items()) + "."]
    return "\n".join(lines) + "\n"
