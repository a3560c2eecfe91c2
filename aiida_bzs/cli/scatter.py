"""``aiida-bzs scatter``: XRD and PDF of structures, compared with measured data, in one command.

Runs :class:`~aiida_bzs.workflows.scattering.ScatteringWorkChain` in this process (no daemon
needed), prints a table (atoms, device, time, Rwp, Scherrer size) and writes the overlay PNG.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import cmd_root
from .utils import launch, unique_link_label


@cmd_root.command("scatter")
@click.argument("structures", nargs=-1, required=True)
@click.option("--xrd", "want_xrd", is_flag=True, help="Show and compare the XRD pattern (default: both).")
@click.option("--pdf", "want_pdf", is_flag=True, help="Show and compare the PDF (default: both).")
@click.option("--wavelength", default=None, help="Å or anode (Cu, Mo, Co, Ag); default Cu Kα1 1.5406 Å.")
@click.option("--compare", "compare_xrd", type=click.Path(exists=True, dir_okay=False),
              help="Measured XRD file (columns 2θ or Q, intensity[, σ]).")
@click.option("--compare-axis", type=click.Choice(["two_theta", "q"]), default="two_theta", show_default=True,
              help="First column of the --compare file: 2θ (degrees) or Q (Å⁻¹).")
@click.option("--compare-pdf", type=click.Path(exists=True, dir_okay=False),
              help="Measured PDF file (columns r in Å, G(r) in Å⁻²).")
@click.option("--nanoparticles", "-n", "diameters", type=float, multiple=True,
              help="Also cut spheres of this diameter (nm) from the first structure; repeat the option.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write the overlay PNG here.")
@click.option("--protocol", type=click.Choice(["fast", "balanced", "stringent"]), default=None,
              help="Preset of workflows/protocols/scattering.yaml (default balanced).")
@click.option("--periodic", is_flag=True, help="Periodic mode: bulk pattern of periodic cells (no surfaces).")
@click.option("--radiation", type=click.Choice(["xray", "neutron"]), default=None, help="Default xray.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="Device of --code (default cpu).")
@click.option("--code", "code_label_", default=None, help="aiida-bzs-scatter code (default bzs_scatter@localhost).")
@click.option("--gpu-code", default=None, help="Code on a GPU computer for structures above gpu_min_atoms.")
def cmd_scatter(structures, want_xrd, want_pdf, wavelength, compare_xrd, compare_axis, compare_pdf, diameters,
                plot_path, protocol, periodic, radiation, device, code_label_, gpu_code):
    """XRD and PDF of STRUCTURES (files or node identifiers) through AiiDA, with Rwp against
    measured data and a figure-4-style plot. Example:

        aiida-bzs scatter crystal.cif -n 2 -n 5 -n 10 --compare np.xy --plot fig4.png
    """
    from aiida import orm

    from ..analysis.errors import AnalysisInputError
    from ..scattering.units import resolve_wavelength
    from ..calculations.functions.nanoparticle import cut_nanoparticle
    from ..common.codes import MissingCodeError
    from ..data.measured_pattern import MeasuredPatternData
    from ..workflows.scattering import ScatteringWorkChain, validate_inputs
    from .analysis import resolve_structure

    taken: set[str] = set()
    nodes = {}
    for identifier in structures:
        node, label = resolve_structure(identifier, None)
        nodes[unique_link_label(label, taken)] = node
    first = next(iter(nodes.values()))
    for diameter in diameters:
        if diameter <= 0:
            raise click.BadParameter(f"nanoparticle diameter must be > 0 nm, got {diameter}")
        particle = cut_nanoparticle(first, orm.Float(diameter * 5.0))
        nodes[unique_link_label(f"np_{diameter:g}nm".replace(".", "p"), taken)] = particle
        click.echo(f"nanoparticle {diameter:g} nm: {len(particle.sites)} atoms (pk {particle.pk})")

    overrides: dict = {"parameters": {}, "plot": {}}
    try:
        if wavelength is not None:
            overrides["xrd"] = {"wavelength": resolve_wavelength(wavelength)}
        lam = resolve_wavelength(wavelength) if wavelength or compare_axis == "two_theta" else None
        measured_xrd = MeasuredPatternData.from_file(compare_xrd, "xrd", compare_axis, lam).store() if compare_xrd else None
        measured_pdf = MeasuredPatternData.from_file(compare_pdf, "pdf", "r").store() if compare_pdf else None
    except AnalysisInputError as exc:
        raise click.UsageError(str(exc)) from None
    if measured_xrd is not None and compare_axis == "two_theta" and wavelength is None:
        click.echo("note: measured 2θ data taken at Cu Kα1 (1.5406 Å); give --wavelength otherwise")
    if periodic:
        overrides["parameters"]["mode"] = "periodic"
    if radiation:
        overrides["parameters"]["radiation"] = radiation
    if device:
        overrides["parameters"]["device"] = device
    panels = [k for k, wanted in (("xrd", want_xrd), ("pdf", want_pdf)) if wanted] or ["xrd", "pdf"]
    overrides["plot"]["panels"] = panels
    try:
        builder = ScatteringWorkChain.get_builder_from_protocol(
            nodes, code=code_label_, protocol=protocol, overrides=overrides,
            measured_xrd=measured_xrd if "xrd" in panels else None,
            measured_pdf=measured_pdf if "pdf" in panels else None, gpu_code=gpu_code,
        )
        if code_label_ is None:
            from ..common.codes import code_label, load_code

            builder.code = load_code(code_label("bzs_scatter"))
    except MissingCodeError as exc:
        raise click.UsageError(str(exc)) from None
    except ValueError as exc:  # a port validator refused a protocol value or an override
        raise click.UsageError(str(exc).removeprefix("invalid attribute value ")) from None
    problem = validate_inputs(builder, None)  # the builder checks ports one by one, not together
    if problem:
        raise click.UsageError(problem)

    _warn_short_cutoff(builder, nodes)
    click.echo(f"running ScatteringWorkChain on {len(nodes)} structure(s): {', '.join(nodes)}")
    node = launch(builder, check=False, unit="scattering jobs")
    results = {label: node.outputs[label] for label in node.outputs}
    if not node.is_finished_ok:
        raise click.ClickException(f"ScatteringWorkChain pk={node.pk} failed: {node.exit_message or node.exit_status}")
    _print_table(node, nodes, results)
    if plot_path:
        Path(plot_path).write_bytes(results["plot"].get_content(mode="rb"))
        click.echo(f"plot written to {plot_path} (SinglefileData pk={results['plot'].pk})")
    click.echo(f"ScatteringWorkChain pk={node.pk}")


def _warn_short_cutoff(builder, nodes) -> None:
    """Before running: warn (stderr) for each structure whose periodic-mode cutoff is too short
    for a meaningful pattern (:func:`~aiida_bzs.scattering.periodic.short_cutoff_warning`)."""
    from ase import Atoms

    from ..scattering.params import validate_parameters
    from ..scattering.periodic import periodic_rcut, short_cutoff_warning

    params = validate_parameters(builder.parameters.get_dict())
    if params["mode"] != "periodic":
        return
    for label, node in nodes.items():
        cell = Atoms(cell=node.cell, pbc=node.pbc)  # the cell alone: cheap for any size
        warning = short_cutoff_warning(periodic_rcut(cell, params), node.cell)
        if warning:
            click.echo(f"warning: {label}: {warning}", err=True)


#: Why a pattern has no Scherrer size (scattering.scherrer flags), as the table's short word.
_NO_SIZE = {"window_limited": "window", "not_crystalline": "halo", "exceeds_particle": ">particle",
            "below_resolution": "<resolved"}


def _no_size(entry: dict) -> str:
    from ..calculations.functions.scattering import no_size_flag

    return _NO_SIZE.get(no_size_flag(entry), "-")


def _print_table(node, nodes, results) -> None:
    scherrer = results["scherrer"].get_dict()
    comparisons = results.get("comparisons", {})
    header = f"{'label':<20} {'atoms':>8} {'device':>6} {'time/s':>8} {'Rwp XRD':>8} {'Rwp PDF':>8} {'Scherrer/nm':>11}"
    click.echo(header)
    click.echo("-" * len(header))
    for label in nodes:
        calc = node.base.links.get_outgoing(link_label_filter=f"scatter_{label}").one().node
        meta = calc.outputs.output_parameters.get_dict()
        fits = comparisons.get(label, {})
        rwp = {k: f"{fits[k]['rwp']:.4f}" if k in fits else "-" for k in ("xrd", "pdf")}
        size = scherrer.get(label, {}).get("size_nm")
        click.echo(
            f"{label:<20} {meta.get('n_atoms', 0):>8} {meta.get('device', '?'):>6} "
            f"{meta.get('compute_time_s', 0):>8.2f} {rwp['xrd']:>8} {rwp['pdf']:>8} "
            f"{(f'{size:.2f}' if size else _no_size(scherrer.get(label, {}))):>11}"
        )
