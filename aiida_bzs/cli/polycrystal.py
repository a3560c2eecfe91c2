"""``aiida-bzs polycrystal``: Voronoi polycrystals — build one, relax and analyse a series, analyse one.

``polycrystal build`` runs the build job (``bzs.job.polycrystal``) for random grains (``--box``,
``--grains``, ``--seed``) or an Atomsk parameter file (``--from-atomsk``, read here first so that a
bad line is named before any job), prints the build report and can write the structure as extxyz
with its per-atom ``grain`` column. ``polycrystal relax`` runs ``PolycrystalWorkChain``
(``bzs.polycrystal``: build → relax → γ → boundary vs interior → XRD) from
``protocols/polycrystal.yaml`` and prints one line per model. ``polycrystal analyse`` runs the
boundary-vs-interior job (``bzs.job.interfaces``) on a structure already there (e.g. a relaxed
polycrystal) and prints the same line.

The text is made by pure functions (:func:`format_build_report`, :func:`format_models`,
:func:`format_scherrer`) of the output dictionaries, so they are tested without running anything.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from . import cmd_root
from .md import _allow_unusable, _code, _potential_gate, _run_inputs, _submit
from .utils import launch, with_profile

#: Width of the wrapped lines of the report (per-grain counts, Scherrer sizes).
WIDTH = 100


# ------------------------------------------------------------------------------------ parsing options

def parse_box(text: str | None) -> list[float] | None:
    """``'200'`` → [200, 200, 200] (a cube); ``'200,180,150'`` (or ``x``/space separated) → three edges (Å)."""
    if text is None:
        return None
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give one edge (a cube) or X,Y,Z in Å, e.g. 200 or 200,200,150",
                                 param_hint="--box") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or not all(v > 0 for v in values):
        raise click.BadParameter(f"{text!r}: give one edge (a cube) or three edges X,Y,Z in Å, all > 0",
                                 param_hint="--box")
    return values


def read_atomsk_file(path, seed: int | None = None):
    """(text, spec) of an Atomsk parameter file, parsed here: a bad line is one ``Error:`` line naming it."""
    from ..structures.errors import StructureInputError
    from ..structures.polycrystal import read_atomsk

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the Atomsk file {str(path)!r}: {exc}") from None
    try:
        spec = read_atomsk(text if "\n" in text else text + "\n", seed=seed)
    except StructureInputError as exc:
        message = str(exc).replace("Atomsk parameters", path.name, 1)
        raise click.ClickException(message) from None
    return text, spec


def _outputs_in(node, namespace: str, incoming: bool = False) -> dict:
    """``{key: node}`` of the outputs (or with ``incoming`` the inputs) in ``namespace`` of a process
    node, in link order; empty when there are none."""
    from aiida.common.links import LinkType

    prefix = f"{namespace}__"
    if incoming:
        links = node.base.links.get_incoming(link_type=(LinkType.INPUT_CALC, LinkType.INPUT_WORK)).all()
    else:
        links = node.base.links.get_outgoing(link_type=(LinkType.CREATE, LinkType.RETURN)).all()
    return {link.link_label[len(prefix):]: link.node for link in links if link.link_label.startswith(prefix)}


def write_plots(plots: dict, folder, prefix: str = "") -> list[Path]:
    """Write each SinglefileData PNG of ``{name: node}`` as ``<folder>/<prefix><name>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, node in sorted(plots.items()):
        path = folder / f"{prefix}{name}.png"
        path.write_bytes(node.get_content(mode="rb"))
        written.append(path)
    return written


# ------------------------------------------------------------------------------------ formatting (pure)

def _num(value, spec: str, default: str = "-") -> str:
    return default if value is None else format(value, spec)


def _pair(first, second, spec: str) -> str:
    """``a/b`` of two numbers (``-`` for a missing one)."""
    return f"{_num(first, spec)}/{_num(second, spec)}"


def format_build_report(report: dict) -> str:
    """The report of ``bzs.job.polycrystal`` as a few lines: atoms, grains, box, removed atoms by
    element, composition and its deviation from BaZrS3, density (g/cm³), atoms per grain."""
    box = " × ".join(f"{x:g}" for x in report.get("box", ()))
    source = report.get("source")
    seed = report.get("seed")
    origin = {"random": f"random, seed {seed}", "atomsk": "Atomsk file"}.get(source, source or "")
    lines = [f"polycrystal: {report['n_atoms']} atoms, {report['n_grains']} grains in a {box} Å box"
             + (f" ({origin})" if origin else "") + f", clearance {report.get('clearance', 0):g} Å"]
    removed = report.get("removed") or {}
    by_element = ", ".join(f"{el} {n}" for el, n in sorted((removed.get("by_element") or {}).items()))
    lines.append(f"removed at the boundaries: {removed.get('count', 0)} atoms" + (f" ({by_element})" if by_element else ""))
    counts = report.get("counts") or {}
    fractions = report.get("composition") or {}
    deviation = report.get("deviation") or {}
    composition = ", ".join(f"{el} {counts.get(el, 0)} ({100 * fractions.get(el, 0):.2f} %)" for el in counts)
    shifts = ", ".join(f"{el} {100 * d:+.2f}" for el, d in deviation.items())
    lines.append(f"composition: {composition}; deviation from BaZrS3 (%-points): {shifts}")
    excess = {el: n for el, n in (report.get("excess") or {}).items() if n}
    if excess:
        lines.append(f"  {report.get('formula_units', 0)} formula units + excess "
                     + ", ".join(f"{el} {n}" for el, n in excess.items()))
    lines.append(f"density: {report['density_g_cm3']:.4f} g/cm³")
    grains = report.get("grains") or []
    if grains:
        sizes = [g["n_atoms"] for g in grains]
        head = (f"atoms per grain (min {min(sizes)}, max {max(sizes)}, mean {sum(sizes) / len(sizes):.0f}): ")
        body = " ".join(f"{g['id']}:{g['n_atoms']}" for g in grains)
        lines.extend(textwrap.wrap(head + body, WIDTH, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(lines)


#: Header of :func:`format_models`; b/i: grain boundary / grain interior.
MODEL_HEADER = (f"{'model':<16}{'atoms':>9}{'grains':>7}{'bound. %':>9}{'Zr CN b/i':>13}"
                f"{'Zr–S Å b/i':>15}{'S/Zr b/i':>12}{'max γ':>9}{'γ>2 %':>8}")


def model_row(label: str, interfaces: dict, gamma: dict | None = None) -> str:
    """One model: atoms, grains, boundary fraction %, Zr CN, Zr–S mean length (Å) and S/Zr of the
    boundary / interior, max γ and % of atoms with γ > 2.

    ``interfaces``: the ``summary`` of ``bzs.job.interfaces``; ``gamma``: the ``summary`` of
    ``bzs.job.grade`` (``max``, ``fraction_above_2``) — without it the γ of the interface summary
    (its ``all`` set) is shown when it has one.
    """
    boundary = interfaces.get("boundary") or {}
    interior = interfaces.get("interior") or {}
    everything = interfaces.get("all") or {}
    fraction = interfaces.get("boundary_fraction")
    if gamma:
        max_gamma, above = gamma.get("max"), gamma.get("fraction_above_2")
    else:
        max_gamma, above = everything.get("gamma_max"), everything.get("gamma_fraction_above_2")
    return (f"{label:<16}{_num(interfaces.get('n_atoms'), 'd'):>9}{_num(interfaces.get('n_grains'), 'd'):>7}"
            f"{_num(None if fraction is None else 100 * fraction, '.1f'):>9}"
            f"{_pair(boundary.get('zr_cn_mean'), interior.get('zr_cn_mean'), '.2f'):>13}"
            f"{_pair(boundary.get('zr_s_bond_length_mean'), interior.get('zr_s_bond_length_mean'), '.3f'):>15}"
            f"{_pair(boundary.get('s_zr_ratio'), interior.get('s_zr_ratio'), '.2f'):>12}"
            f"{_num(max_gamma, '.3g'):>9}{_num(None if above is None else 100 * above, '.2f'):>8}")


def format_scherrer(scherrer: dict) -> str:
    """``Scherrer size: grains_8 12.3 nm (FWHM 0.412°), …`` of the ``scherrer`` output, single crystal last."""
    from ..calculations.functions.scattering import no_size_flag

    order = sorted(scherrer, key=lambda label: (label == "single_crystal", label))
    parts = []
    for label in order:
        entry = scherrer[label] or {}
        if entry.get("size_nm") is not None:
            parts.append(f"{label} {entry['size_nm']:.1f} nm (FWHM {entry['fwhm']:.3f}°)")
        elif no_size_flag(entry):
            parts.append(f"{label} - ({no_size_flag(entry).replace('_', ' ')})")
        else:
            parts.append(f"{label} - ({entry.get('error', 'no size')})")
    return "\n".join(textwrap.wrap("Scherrer size: " + ", ".join(parts), WIDTH, subsequent_indent="  ",
                                   break_on_hyphens=False))


def format_models(interfaces: dict, gamma: dict | None = None, scherrer: dict | None = None,
                  order=None) -> str:
    """The per-model table (header, :func:`model_row` per model in ``order`` or the dict's order),
    the Scherrer sizes below when the XRD ran. ``interfaces`` / ``gamma``: ``{model: summary}``."""
    gamma = gamma or {}
    labels = [label for label in (order or interfaces) if label in interfaces]
    lines = [MODEL_HEADER] + [model_row(label, interfaces[label], gamma.get(label)) for label in labels]
    lines.append("b/i: grain boundary / grain interior; Zr CN within 3.1 Å; γ: extrapolation grade "
                 "(reliable below 2)")
    if scherrer:
        lines.append(format_scherrer(scherrer))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ commands

@cmd_root.group("polycrystal")
def cmd_polycrystal():
    """Voronoi polycrystals of BaZrS3: build one, relax and analyse a series with ACE, analyse one."""


_box = click.option("--box", "box_text", default=None,
                    help="Box edge in Å (a cube, e.g. 200) or X,Y,Z (e.g. 200,200,150).")
_seed = click.option("--seed", type=int, default=None,
                     help="Seed of the random grains (positions, orientations) and of Atomsk 'random' lines [1].")
_clearance = click.option("--clearance", type=float, default=None,
                          help="Atoms closer than this across a boundary are removed (Å) [2.0].")
_crystal = click.option("--crystal", default=None,
                        help="Reference crystal filling the grains (pk/UUID or file) [default: the experimental "
                             "Pnma cell].")
_job_code = click.option("--job-code", "job_code_label", default=None,
                         help="aiida-bzs-job code running the build/analysis jobs [default: bzs_job@localhost; "
                              "for relax: bzs_job@<computer of --code>].")
_plots = click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                      help="Write every PNG output into this folder.")


def _load_job_code(label: str | None):
    from ..calculations.jobs import job_code_beside
    from ..common.codes import MissingCodeError, load_code

    try:
        return load_code(label) if label else job_code_beside(None)
    except MissingCodeError as exc:
        raise click.ClickException(exc.args[0] if exc.args else str(exc)) from None


def _crystal_node(identifier: str | None):
    from .analysis import resolve_structure

    if identifier:
        return resolve_structure(identifier, None)[0]
    from ..calculations.functions.structures import pnma_crystal

    return pnma_crystal()


def _failed(process) -> click.ClickException:
    return click.ClickException(f"{process.process_label} pk {process.pk} failed: [{process.exit_status}] "
                                f"{process.exit_message}; see `verdi process report {process.pk}`")


@cmd_polycrystal.command("build")
@_box
@click.option("--grains", type=int, default=None, help="Number of grains (random seeds and orientations).")
@_seed
@click.option("--from-atomsk", "atomsk_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Atomsk --polycrystal parameter file (box, node x y z α β γ) instead of --box/--grains.")
@_clearance
@_crystal
@_job_code
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the polycrystal here as extxyz (with the per-atom grain column).")
@_submit
@with_profile
def cmd_build(box_text, grains, seed, atomsk_file, clearance, crystal, job_code_label, out_file, submit):
    """Build one polycrystal (job bzs.job.polycrystal); prints the report and the pk.

    Random grains: --box 200 --grains 8 --seed 1. From an Atomsk file: --from-atomsk FILE.
    """
    from ..calculations.jobs import PolycrystalCalculation

    box = parse_box(box_text)
    if atomsk_file is not None and (box is not None or grains is not None):
        raise click.UsageError("give either --from-atomsk FILE or --box and --grains, not both")
    if atomsk_file is None and (box is None or grains is None):
        raise click.UsageError("give --box and --grains (random grains, with --seed) or --from-atomsk FILE"
                               + (f" (--{'grains' if box is not None else 'box'} is missing)"
                                  if (box is None) != (grains is None) else ""))
    if out_file is not None and submit:
        raise click.UsageError("--out needs the built structure: drop --submit, or export it later with "
                               "`verdi data bzs.large_structure export PK -o FILE`")
    seed = 1 if seed is None else seed
    if atomsk_file is not None:
        text, spec = read_atomsk_file(atomsk_file, seed=seed)
        parameters = {"atomsk": text, "seed": seed}
        click.echo(f"{atomsk_file.name}: {spec.n_grains} grains in a "
                   f"{' × '.join(f'{x:g}' for x in spec.box)} Å box")
    else:
        if grains < 1:
            raise click.BadParameter(f"grain count must be ≥ 1, got {grains}", param_hint="--grains")
        parameters = {"box": box, "grains": grains, "seed": seed}
    if clearance is not None:
        parameters["clearance"] = clearance
    from aiida import orm

    inputs = {"code": _load_job_code(job_code_label), "crystal": _crystal_node(crystal),
              "parameters": orm.Dict(parameters)}
    node = launch(PolycrystalCalculation, submit, inputs=inputs)
    if node is None:
        return
    structure = node.outputs.structure
    click.echo(format_build_report(node.outputs.report.get_dict()))
    click.echo(f"LargeStructureData pk {structure.pk} ({structure.n_atoms} atoms, per-atom array 'grain'); "
               f"Atomsk file of the grains: SinglefileData pk {node.outputs.atomsk.pk}")
    if out_file is not None:
        from ase.io import write

        write(out_file, structure.get_ase(), format="extxyz")
        click.echo(f"written: {out_file}")
    click.echo(f"{node.process_label} pk {node.pk}")


@cmd_polycrystal.command("relax")
@click.option("--potential", "potential", required=True, help="AcePotentialData pk, UUID or label.")
@click.option("--protocol", type=click.Choice(["fast", "balanced"]), default=None,
              help="Preset of protocols/polycrystal.yaml [balanced: the study's 200 Å box, 8 and 50 grains].")
@click.option("--grains", "grains", type=int, multiple=True,
              help="A grain count (repeat for a series, e.g. --grains 8 --grains 50) [preset].")
@_box
@_seed
@_clearance
@click.option("--from-atomsk", "atomsk_files", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="Atomsk parameter file, one model each, labelled by the file stem (repeatable); "
                                  "without --grains these are the only models.")
@click.option("--xrd/--no-xrd", "xrd", default=None,
              help="XRD of the models and a one-grain crystal (finite mode, Scherrer sizes) [preset].")
@click.option("--no-relax", "no_relax", is_flag=True, help="Analyse the models as built (no LAMMPS).")
@_crystal
@_allow_unusable
@_code
@click.option("--np", "--num-mpiprocs", "num_mpiprocs", type=int, default=None,
              help="MPI ranks per LAMMPS relaxation [preset: 1 in fast, 128 in balanced]; > 1 picks "
                   "lmp-mpi@localhost-mpich unless --code is given.")
@click.option("--walltime", type=int, default=None,
              help="Wall time per LAMMPS job (s) [preset]; LAMMPS stops cleanly before it and continues in the next job.")
@_job_code
@click.option("--scatter-code", "scatter_code", default=None,
              help="aiida-bzs-scatter code of the XRD [default: bzs_scatter@localhost].")
@click.option("--gpu-code", "gpu_code", default=None, help="aiida-bzs-scatter code on a GPU computer for the XRD.")
@_plots
@_submit
@with_profile
def cmd_relax(potential, protocol, grains, box_text, seed, clearance, atomsk_files, xrd, no_relax, crystal,
              allow_unusable, code_label, num_mpiprocs, walltime, job_code_label, scatter_code, gpu_code, plots_dir,
              submit):
    """Build, relax, grade and analyse polycrystals (bzs.polycrystal); prints the model table.

    One line per model: boundary vs interior chemistry after the ACE relaxation (LAMMPS), the
    extrapolation grade γ, and the Scherrer sizes when the XRD ran.
    """
    from aiida import orm

    from ..common.codes import MissingCodeError, load_code
    from ..workflows.polycrystal import PolycrystalWorkChain
    from ..workflows.protocols import get_protocol
    from .ace import load_potential
    from .utils import unique_link_label

    if plots_dir is not None and submit:
        raise click.UsageError("--plots needs the results: drop --submit, or run `aiida-bzs polycrystal analyse` "
                               "on the relaxed structures later")
    preset = get_protocol("polycrystal", protocol)
    overrides: dict = {}
    box = parse_box(box_text)
    if box is not None:
        overrides["box"] = box
    if seed is not None:
        overrides["seed"] = seed
    if clearance is not None:
        overrides["clearance"] = clearance
    if grains:
        overrides["grains"] = list(grains)
    elif atomsk_files:
        overrides["grains"] = []
    if xrd is not None:
        overrides["xrd"] = xrd
    if no_relax:
        overrides["relax"] = False
    atomsk: dict = {}
    taken: set[str] = set()
    for path in atomsk_files:
        read_atomsk_file(path, seed=overrides.get("seed", preset.get("seed")))
        atomsk[unique_link_label(path.stem, taken)] = orm.SinglefileData(path.resolve())

    potential_node = load_potential(potential)
    _potential_gate(potential_node, allow_unusable)
    ranks = int(num_mpiprocs if num_mpiprocs is not None else preset["num_mpiprocs"])
    lammps_protocol = get_protocol("relax", preset["relax_protocol"])["lammps_protocol"]
    code = _run_inputs(code_label, ranks, walltime, lammps_protocol)["lammps"]["code"]
    try:
        builder = PolycrystalWorkChain.get_builder_from_protocol(
            code, potential_node, crystal=_crystal_node(crystal) if crystal else None, protocol=protocol,
            overrides=overrides, atomsk=atomsk or None,
            options={"max_wallclock_seconds": walltime} if walltime else None, num_mpiprocs=ranks,
            scattering_code=scatter_code, gpu_code=gpu_code)
        if job_code_label:
            builder.job_code = load_code(job_code_label)
    except MissingCodeError as exc:
        raise click.ClickException(exc.args[0] if exc.args else str(exc)) from None
    builder.relax.allow_unusable_potential = orm.Bool(allow_unusable)
    process = launch(builder, submit, check=False)
    if process is None:
        return
    interfaces = {label: node.get_dict() for label, node in _outputs_in(process, "interfaces").items()}
    gamma = {label: node.get_dict() for label, node in _outputs_in(process, "gamma_summaries").items()}
    scherrer = process.outputs.scherrer.get_dict() if "scherrer" in process.outputs else None
    if interfaces:
        from ..workflows.polycrystal import model_labels

        order = model_labels(process.inputs.parameters.get_dict(), sorted(_outputs_in(process, "atomsk", incoming=True)))
        click.echo(format_models(interfaces, gamma, scherrer, order=order))
    if plots_dir is not None:
        plots = _outputs_in(process, "plots")
        if "xrd_plot" in process.outputs:
            plots["xrd"] = process.outputs.xrd_plot
        for path in write_plots(plots, plots_dir):
            click.echo(f"plot: {path}")
    click.echo(f"{process.process_label} pk {process.pk}")
    if not process.is_finished_ok:
        raise _failed(process)


@cmd_polycrystal.command("analyse")
@click.argument("structure")
@click.option("--grains", "grains_id", default=None,
              help="LargeStructureData whose 'grain' array gives the grains (same atoms and order; e.g. the "
                   "as-built polycrystal of a relaxed one) [default: the structure's own].")
@click.option("--gamma", "gamma_id", default=None,
              help="Per-atom γ of the structure: the `gamma` ArrayData of bzs.job.grade on it.")
@click.option("--boundary-cutoff", type=float, default=3.8, show_default=True,
              help="An atom with an atom of another grain this close (Å) is a boundary atom.")
@click.option("--shells", type=int, default=1, show_default=True, help="Layers of boundary atoms.")
@_job_code
@_plots
@_submit
@with_profile
def cmd_analyse(structure, grains_id, gamma_id, boundary_cutoff, shells, job_code_label, plots_dir, submit):
    """Boundary vs interior of one polycrystal (job bzs.job.interfaces); prints the model line.

    STRUCTURE: pk/UUID, e.g. a relaxed polycrystal (with --grains: the as-built one). Zr CN, Zr–S
    length (Å), S/Zr and γ of the boundary and of the interior.
    """
    from aiida import orm

    from ..calculations.jobs import InterfaceAnalysisCalculation
    from ..data.large_structure import LargeStructureData
    from .analysis import resolve_structure
    from .utils import load_typed_node

    if plots_dir is not None and submit:
        raise click.UsageError("--plots needs the results: drop --submit")
    node, label = resolve_structure(structure, None)
    inputs = {"code": _load_job_code(job_code_label), "structure": node,
              "parameters": orm.Dict({"boundary_cutoff": boundary_cutoff, "shells": shells})}
    if grains_id:
        inputs["grains"] = load_typed_node(grains_id, LargeStructureData)
    if gamma_id:
        inputs["gamma"] = load_typed_node(gamma_id, orm.ArrayData)
    process = launch(InterfaceAnalysisCalculation, submit, inputs=inputs)
    if process is None:
        return
    click.echo(format_models({label: process.outputs.summary.get_dict()}))
    if plots_dir is not None:
        for path in write_plots(_outputs_in(process, "plots"), plots_dir, prefix=f"{label}_"):
            click.echo(f"plot: {path}")
    click.echo(f"{process.process_label} pk {process.pk}")
