"""Gather a campaign's results into a :class:`~aiida_bzs.report.html.Report`, section by section.

The walk follows the call link labels of ``CampaignWorkChain`` (``reference_relax``, ``dataset``,
``learn``, ``fit``, ``melt_quench_<name>``, ``analysis``, ``grain_boundaries``,
``grain_boundary_dft``, ``polycrystal``, ``scattering``; ``dataset_map`` and ``phonons`` jobs) and
reads the outputs those workchains declare. Any stage may be missing (skipped, failed, not run
yet): its section then says so instead of failing, and a section that cannot be drawn reports the
error in the page, so one bad node never costs the whole report. The work here is light: stored
arrays are redrawn with :mod:`aiida_bzs.report.figures` (seconds), nothing is recomputed — the
dataset map and phonons are jobs (``bzs.job.dataset_map``, ``bzs.job.phonons``) whose results are
looked up, never run here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from aiida import orm
from aiida.common.links import LinkType

from ..calculations.functions.campaign import extrapolation_flag
from . import figures
from .html import Figure, Report, Section, Source, Table, Text

#: Stage call link label → the workchain class it runs (a node of that class given alone is the stage).
STAGES = {
    "reference_relax": "CrystalRelaxWorkChain",
    "dataset": "DftLabelWorkChain",
    "learn": "ActiveLearningWorkChain",
    "fit": "FitAceWorkChain",
    "melt_quench_": "MeltQuenchWorkChain",
    "analysis": "StructureAnalysisWorkChain",
    "grain_boundaries": "GrainBoundaryWorkChain",
    "grain_boundary_dft": "GrainBoundaryDftWorkChain",
    "polycrystal": "PolycrystalWorkChain",
    "scattering": "ScatteringWorkChain",
    "dataset_map": "DatasetMapCalculation",
    "phonons": "PhononsCalculation",
}
_CALL = (LinkType.CALL_WORK, LinkType.CALL_CALC)
_OUT = (LinkType.RETURN, LinkType.CREATE)


# --- reading nodes ------------------------------------------------------------------------------


def source(node: orm.Node, what: str | None = None) -> Source:
    """The citation of ``node``: UUID, pk and what it is (process label or node class)."""
    if what is None:
        what = getattr(node, "process_label", None) or type(node).__name__
    return Source(node.uuid, node.pk, what)


def called(node: orm.ProcessNode, label: str) -> orm.ProcessNode | None:
    """The process ``node`` called with call link label ``label`` (the latest if several), or
    ``node`` itself when it is the stage's own workchain given alone."""
    if label in STAGES and getattr(node, "process_label", None) == STAGES[label]:
        return node
    links = node.base.links.get_outgoing(link_type=_CALL, link_label_filter=label).all()
    children = [link.node for link in links if link.link_label == label]
    return max(children, key=lambda n: n.ctime) if children else None


def called_with_prefix(node: orm.ProcessNode, prefix: str) -> dict[str, orm.ProcessNode]:
    """Processes called with link labels ``<prefix><name>``, by name (e.g. melt_quench_<name>)."""
    out = {}
    for link in node.base.links.get_outgoing(link_type=_CALL).all():
        if link.link_label.startswith(prefix):
            out[link.link_label[len(prefix):]] = link.node
    if not out and getattr(node, "process_label", None) == STAGES.get(prefix):
        out[node.label or "run"] = node
    return dict(sorted(out.items()))


def outputs_under(node: orm.ProcessNode, *path: str) -> dict[str, orm.Data]:
    """Outputs of ``node`` in the namespace ``path`` (e.g. ``'results'``), by their label inside it
    (nested names joined with '.': ``crystal.density``)."""
    prefix = "__".join(path) + "__" if path else ""
    out = {}
    for link in node.base.links.get_outgoing(link_type=_OUT).all():
        if link.link_label.startswith(prefix):
            out[link.link_label[len(prefix):].replace("__", ".")] = link.node
    return dict(sorted(out.items()))


def output(node: orm.ProcessNode | None, *path: str) -> orm.Data | None:
    """The output of ``node`` at ``path`` (``'filtered', 'parity'``), or None."""
    if node is None:
        return None
    label = "__".join(path)
    links = [link for link in node.base.links.get_outgoing(link_type=_OUT, link_label_filter=label).all()
             if link.link_label == label]
    return links[0].node if links else None


def input_of(node: orm.ProcessNode | None, *path: str) -> orm.Data | None:
    """The input of ``node`` at ``path``, or None."""
    if node is None:
        return None
    label = "__".join(path)
    links = [link for link in node.base.links.get_incoming(link_label_filter=label).all()
             if link.link_label == label]
    return links[0].node if links else None


def arrays(node: orm.ArrayData) -> dict[str, np.ndarray]:
    return {name: node.get_array(name) for name in node.get_arraynames()}


def state(node: orm.ProcessNode) -> str:
    """'finished [0]', 'excepted', 'finished [401]: message', … for tables."""
    text = node.process_state.value if node.process_state else "unknown"
    if node.exit_status is not None:
        text += f" [{node.exit_status}]"
    if node.exit_message:
        text += f": {node.exit_message}"
    return text


def _fmt_value(value):
    """A Dict value for a table cell: numbers as they are, short lists joined, the rest as text."""
    if isinstance(value, (list, tuple)):
        if len(value) <= 8 and all(isinstance(v, (int, float, str, type(None))) for v in value):
            return ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
        return f"[{len(value)} values]"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    return value


def dict_rows(data: dict, units: dict | None = None, skip: Iterable[str] = ("units",), depth: int = 2,
              prefix: str = "") -> list[tuple]:
    """(quantity, value, unit) rows of a Dict, nested keys dotted down to ``depth`` levels."""
    units = units if units is not None else dict(data.get("units") or {})
    rows = []
    for key, value in data.items():
        if key in skip:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth > 1 and value:
            rows += dict_rows(value, units, skip, depth - 1, prefix=f"{name}.")
        else:
            rows.append((name, _fmt_value(value), units.get(key, units.get(name, ""))))
    return rows


def stored_figure(node: orm.SinglefileData, caption: str, *extra: orm.Node) -> Figure:
    """A figure a workchain already stored (PNG SinglefileData), embedded as it is."""
    content = node.base.repository.get_object_content(node.filename, mode="rb")
    return Figure(content, caption, (source(node, f"{node.filename}"), *(source(n) for n in extra)))


# --- the sections -------------------------------------------------------------------------------


class Collector:
    """Builds the report of ``node`` (a campaign, or one stage's workchain given alone)."""

    def __init__(self, node: orm.ProcessNode, dataset_map: orm.ProcessNode | None = None,
                 phonons: orm.ProcessNode | None = None):
        if not isinstance(node, orm.ProcessNode):
            raise TypeError(f"a report is of a process (a campaign workflow), got {type(node).__name__} {node.pk}")
        self.node = node
        self.extra = {"dataset_map": dataset_map, "phonons": phonons}
        self.problems: list[str] = []

    # helpers
    def stage(self, label: str) -> orm.ProcessNode | None:
        return self.extra.get(label) or called(self.node, label)

    def _flag(self, section: Section, process: orm.ProcessNode | None, label: str) -> bool:
        """Note a missing or failed stage in ``section``; True when there is something to show."""
        if process is None:
            section.items.append(Text(f"Stage '{label}' was not run in this campaign (skipped, or not reached).",
                                      "note"))
            return False
        if not process.is_finished_ok:
            message = f"{process.process_label} pk {process.pk} ({process.uuid}): {state(process)}"
            section.items.append(Text(f"Stage '{label}' did not finish cleanly — {message}. What it made is shown.",
                                      "problem"))
            self.problems.append(f"{label}: {message}")
        return True

    def build(self) -> Report:
        node = self.node
        report = Report(
            title=f"BaZrS3 campaign report: {node.process_label} {node.pk}",
            subtitle=[f"Campaign node {node.uuid} (pk {node.pk}), {state(node)}; created {node.ctime:%Y-%m-%d %H:%M %Z}.",
                      "Every figure and table cites the node it came from: `verdi node show <UUID>` opens it."],
        )
        makers: list[tuple[str, str, Callable[[Section], None]]] = [
            ("Overview", "overview", self.overview),
            ("Reference crystal (DFT, PBEsol)", "reference", self.reference),
            ("Training data and dataset map", "dataset", self.dataset),
            ("Active learning", "learning", self.learning),
            ("ACE potentials: test errors", "fit", self.fit),
            ("Phonons with the ACE potential", "phonons", self.phonons),
            ("Melt–quench (amorphous BaZrS3)", "melt-quench", self.melt_quench),
            ("Structure analysis", "analysis", self.analysis),
            ("Grain boundaries", "grain-boundaries", self.grain_boundaries),
            ("Polycrystals", "polycrystal", self.polycrystal),
            ("Scattering: XRD and PDF", "scattering", self.scattering),
            ("Provenance: the processes of the campaign", "provenance", self.provenance),
        ]
        for title, anchor, maker in makers:
            section = Section(title, anchor)
            try:
                maker(section)
            except Exception as exc:  # noqa: BLE001 - one bad node must not cost the whole report
                message = f"{title}: the section could not be drawn ({type(exc).__name__}: {exc})"
                self.problems.append(message)
                section.items.append(Text(message, "problem"))
            report.sections.append(section)
        if self.problems:
            report.sections[0].items.insert(0, Text("Problems: " + "; ".join(self.problems), "problem"))
        return report

    # sections
    def overview(self, section: Section) -> None:
        rows = []
        for label in STAGES:
            children = called_with_prefix(self.node, label) if label.endswith("_") else {"": self.stage(label)}
            for name, child in children.items():
                if child is None:
                    rows.append((label, "not run", None, None, None))
                else:
                    rows.append((f"{label}{name}", child.process_label, str(child.pk), child.uuid, state(child)))
        section.items.append(Table(("stage", "process", "pk", "UUID", "state [exit status]"), rows,
                                   "The campaign's stages by call link label and how they ended.", (source(self.node),)))
        summary = output(self.node, "summary")
        if isinstance(summary, orm.Dict):
            caveats = summary.get("caveats") or []
            if caveats:  # before any number: what in them is not a result as it stands
                section.items.insert(0, Text("Read with care — " + "; ".join(caveats) + ".", "problem"))
            section.items.append(Table(("quantity", "value", "unit"),
                                       dict_rows(summary.get_dict(), skip=("units", "caveats"), depth=3),
                                       "The campaign's numbers (campaign summary).", (source(summary, "summary Dict"),)))

    def reference(self, section: Section) -> None:
        process = self.stage("reference_relax")
        crystal = output(self.node, "crystal")
        if not self._flag(section, process, "reference_relax") and crystal is None:
            return
        summary = output(process, "summary") if process is not None else None
        if isinstance(summary, orm.Dict):
            section.items.append(Table(("quantity", "value", "unit"), dict_rows(summary.get_dict()),
                                       "The PBEsol-relaxed reference crystal against experiment.",
                                       (source(summary, "reference summary Dict"),)))
        if isinstance(crystal, orm.StructureData):
            a, b, c = crystal.cell_lengths
            section.items.append(Table(("formula", "atoms", "a (Å)", "b (Å)", "c (Å)", "volume (Å³)"),
                                       [(crystal.get_formula(), len(crystal.sites), a, b, c, crystal.get_cell_volume())],
                                       "The reference crystal every stage used.", (source(crystal, "StructureData"),)))

    def _training_set(self):
        for node, path in ((self.node, ("training_set",)), (self.stage("learn"), ("training_set",)),
                           (self.stage("fit"), ("filtered", "training_set")), (self.stage("dataset"), ("training_set",))):
            found = output(node, *path) if node is not None else None
            if found is not None:
                return found
        return None

    def _job_on(self, node: orm.Node, input_label: str, process_type: str) -> orm.CalcJobNode | None:
        """The latest finished job of ``process_type`` that took ``node`` as ``input_label``."""
        jobs = [link.node for link in node.base.links.get_outgoing(link_type=LinkType.INPUT_CALC).all()
                if link.link_label == input_label and link.node.process_type == process_type
                and link.node.is_finished_ok]
        return max(jobs, key=lambda n: n.ctime) if jobs else None

    def dataset(self, section: Section) -> None:
        training = self._training_set()
        if training is None:
            section.items.append(Text("No training set in this campaign (no dataset, learning or fit stage ran).", "note"))
            return
        summary = training.summary()
        counts = summary["config_types"]
        rows = [(family, n) for family, n in sorted(counts.items())] + [("all", summary["num_structures"])]
        section.items.append(Table(("family (config_type)", "structures"), rows,
                                   f"The final training data: {summary['num_structures']} structures, "
                                   f"{summary['num_atoms']:,} atoms, elements {', '.join(summary['elements'])}.",
                                   (source(training, "TrainingSetData"),)))
        if "energy_per_atom_range" in summary:
            lo, hi = summary["energy_per_atom_range"]
            flo, fhi = summary["max_force_range"]
            section.items.append(Text(f"DFT energies span {lo:.3f} to {hi:.3f} eV/atom (total energy per atom); "
                                      f"the largest force per structure spans {flo:.2f} to {fhi:.2f} eV/Å."))
        job = self.stage("dataset_map") or self._job_on(training, "dataset", "aiida.calculations:bzs.job.dataset_map")
        if job is None:
            section.items.append(Text("No dataset map yet: run the bzs.job.dataset_map job (DatasetMapCalculation) "
                                      "on this training set to add the SOAP + UMAP map.", "note"))
            return
        self._flag(section, job, "dataset_map")
        node = output(job, "map")
        if node is None:
            return
        data = arrays(node)
        method = node.base.attributes.get("method", "UMAP")
        soap = node.base.attributes.get("soap", {})
        image = figures.dataset_map_png(data["embedding"], data["config_type"], method=method)
        settings = ", ".join(f"{k} {v}" for k, v in soap.items())
        section.items.append(Figure(image, f"Dataset map (the study's Fig. 1b): per-structure SOAP vectors "
                                           f"({settings}; r_cut and sigma in Å) embedded in 2-D with {method}, one point "
                                           "per structure, coloured by family. Axes are dimensionless.",
                                    (source(node, "dataset map ArrayData"), source(job))))

    def learning(self, section: Section) -> None:
        process = self.stage("learn")
        if not self._flag(section, process, "learn"):
            return
        curve = output(process, "learning_curve", "curve")
        if curve is not None:
            data = arrays(curve)
            families = sorted({k.split("__", 1)[1] for k in data if "__" in k})
            per_family = {f: (data.get(f"rmse_energy__{f}"), data.get(f"rmse_forces__{f}")) for f in families}
            image = figures.learning_curve_png(data["generation"], data["rmse_energy"], data["rmse_forces"], per_family)
            section.items.append(Figure(image, "Learning curve: RMSE of every generation's potential on the one fixed "
                                               "test set (energy meV/atom, forces meV/Å), total and per family.",
                                        (source(curve, "learning curve ArrayData"), source(process))))
            rows = [(int(g), e, f) for g, e, f in zip(data["generation"], data["rmse_energy"], data["rmse_forces"])]
            section.items.append(Table(("generation", "energy RMSE (meV/atom)", "force RMSE (meV/Å)"), rows,
                                       "Test errors per generation.", (source(curve, "learning curve ArrayData"),)))
        summary = output(process, "summary")
        if isinstance(summary, orm.Dict):
            section.items.append(Table(("quantity", "value", "unit"), dict_rows(summary.get_dict(), depth=1),
                                       "Active-learning summary (per generation: dataset size, γ, selection; "
                                       "stop reason).", (source(summary, "learning summary Dict"),)))

    def fit(self, section: Section) -> None:
        process = self.stage("fit")
        if not self._flag(section, process, "fit"):
            return
        for version in ("filtered", "full"):
            parity = output(process, version, "parity")
            metrics = output(process, version, "test_metrics")
            verdict = output(process, version, "verdict")
            if parity is None and metrics is None:
                continue
            section.items.append(f"The {version} potential")
            if isinstance(verdict, orm.Dict):
                v = verdict.get_dict()
                section.items.append(Text(f"Verdict: {v.get('verdict')}. " + " ".join(v.get("reasons") or []),
                                          "" if v.get("verdict") == "usable" else "note"))
            if parity is not None:
                data = arrays(parity)
                types = parity.base.attributes.get("config_types", None) or ["all"] * len(data["energy_ref"])
                cite = (source(parity, f"{version} parity ArrayData"), source(process))
                section.items.append(Figure(
                    figures.parity_png(data["energy_ref"], data["energy_pred"], data["forces_ref"], data["forces_pred"],
                                       types, data.get("structure_index")),
                    f"{version} potential: ACE against DFT on the held-out test set — cohesive energy per structure "
                    "(eV/atom) and every force component (eV/Å), coloured by family; RMSE in each panel.", cite))
                section.items.append(Figure(
                    figures.error_vs_energy_png(data["energy_ref"], data["energy_pred"], types),
                    f"{version} potential: energy error (meV/atom) against DFT energy (eV/atom) per family, with each "
                    "family's RMSE.", cite))
            if isinstance(metrics, orm.Dict):
                m = metrics.get_dict()
                rows = [("all", m.get("n_structures"), m.get("rmse_energy"), m.get("mae_energy"), m.get("rmse_forces"),
                         m.get("mae_forces"))]
                for family, fm in sorted((m.get("by_config_type") or {}).items()):
                    rows.append((family, fm.get("n_structures"), fm.get("rmse_energy"), fm.get("mae_energy"),
                                 fm.get("rmse_forces"), fm.get("mae_forces")))
                section.items.append(Table(
                    ("family", "test structures", "energy RMSE (meV/atom)", "energy MAE (meV/atom)",
                     "force RMSE (meV/Å)", "force MAE (meV/Å)"), rows,
                    f"{version} potential: errors on the held-out test set. {m.get('definition', '')}",
                    (source(metrics, f"{version} test_metrics Dict"),)))

    def phonons(self, section: Section) -> None:
        job = self.stage("phonons")
        if job is None:
            for potential in outputs_under(self.node, "potentials").values():
                job = self._job_on(potential, "potential", "aiida.calculations:bzs.job.phonons")
                if job is not None:
                    break
        if job is None:
            section.items.append(Text("No phonon job: run bzs.job.phonons (PhononsCalculation) with the campaign's "
                                      "potential on the reference crystal to add the band structure (ACE only).", "note"))
            return
        self._flag(section, job, "phonons")
        node, summary = output(job, "phonons"), output(job, "summary")
        if node is None:
            return
        data = arrays(node)
        segments = data["band_segment"]
        distances = [data["band_distance"][segments == i] for i in np.unique(segments)]
        frequencies = [data["band_frequency"][segments == i] for i in np.unique(segments)]
        path = node.base.attributes.get("path", [])
        s = summary.get_dict() if summary is not None else {}
        title = f"ACE only (no DFT phonons): {s.get('spacegroup', '')}, supercell {s.get('supercell', '')}"
        section.items.append(Figure(
            figures.phonon_png(distances, frequencies, path, data["dos_frequency"], data["dos"], title=title),
            "Phonon band structure (THz) along Γ–X–S–Y–Γ–Z–U–R–T–Z and total DOS (states/THz) of the crystal relaxed "
            "with the ACE potential (phonopy, finite displacements). ACE only: no DFT phonons (the study's Fig. S3 "
            "compares with DFT).", (source(node, "phonons ArrayData"), source(job))))
        if summary is not None:
            keep = {k: s[k] for k in ("spacegroup_before", "spacegroup", "supercell", "displacement", "n_displacements",
                                      "min_frequency", "max_frequency", "n_imaginary_gamma_optical", "relax") if k in s}
            section.items.append(Table(("quantity", "value", "unit"), dict_rows(keep, {**s.get("units", {}),
                                       "min_frequency": "THz", "max_frequency": "THz", "relax.max_force": "eV/Å"}),
                                       "Phonon calculation summary.", (source(summary, "phonons summary Dict"),)))

    def melt_quench(self, section: Section) -> None:
        runs = called_with_prefix(self.node, "melt_quench_")
        if not runs:
            section.items.append(Text("No melt–quench run in this campaign.", "note"))
            return
        rows, sources = [], []
        for name, process in runs.items():
            self._flag(section, process, f"melt_quench_{name}")
            check, density = output(process, "product_check"), output(process, "density")
            c = check.get_dict() if isinstance(check, orm.Dict) else {}
            product = c.get("product", {})
            rows.append((name, c.get("classification"), density.value if density is not None else None,
                         c.get("density_ratio"), c.get("density_ratio_ace"), (product.get("zr_cn") or {}).get("mean"),
                         (product.get("ba_cn") or {}).get("mean"), str(process.pk)))
            sources += [source(n, f"{name} {port}") for port, n in (("product_check", check), ("density", density))
                        if n is not None]
            plot = output(process, "plot")
            if plot is not None:
                section.items.append(stored_figure(plot, f"Melt–quench '{name}': temperature (K) and density (g/cm³) "
                                                         "through the stages (stored by the workchain).", process))
        section.items.append(Table(
            ("run", "product", "density (g/cm³)", "ratio to reference crystal", "ratio to ACE crystal",
             "mean Zr–S CN", "mean Ba–S CN", "workchain pk"), rows,
            "Melt–quench products classified against the crystal (amorphous, recrystallised, gas-like, collapsed).",
            tuple(sources) or (source(self.node),)))

    def analysis(self, section: Section) -> None:
        process = self.stage("analysis")
        if not self._flag(section, process, "analysis"):
            return
        results: dict[str, dict[str, orm.Data]] = {}
        for name, node in outputs_under(process, "results").items():
            key, _, port = name.rpartition(".")
            results.setdefault(key, {})[port] = node
        if not results:
            section.items.append(Text("The analysis stored no results.", "note"))
            return
        rows, histograms, cutoffs, rdfs, adfs, partials = [], {}, {}, {}, {}, []
        for key, ports in results.items():
            density = ports.get("density")
            row = [key, density.get("n_atoms") if density is not None else None,
                   density.get("density") if density is not None else None]
            for port, node in sorted(ports.items()):
                if port.startswith("coordination_"):
                    centre, neighbour = port.split("_")[1:]
                    bond = f"{centre}–{neighbour}"
                    histograms.setdefault(key, {})[bond] = (node.get_array("cn_values"), node.get_array("cn_counts"))
                    cutoffs[bond] = node.base.attributes.get("cutoff")
                    if f"{centre}-{neighbour}" not in partials:
                        partials.append(f"{centre}-{neighbour}")
                    row += [node.base.attributes.get("mean_cn"), node.base.attributes.get("mean_bond_length")]
                elif port.startswith("angles_"):
                    centre, neighbour = port.split("_")[1:]
                    adfs.setdefault(key, {})[f"{centre}–{neighbour}"] = (node.get_array("angle"), node.get_array("density"))
            contacts = ports.get("contacts")
            row.append(100.0 * contacts.base.attributes.get("fraction_in_contact") if contacts is not None
                       and contacts.base.attributes.get("fraction_in_contact") is not None else None)
            rdf = ports.get("rdf")
            if rdf is not None:
                data = arrays(rdf)
                rdfs[key] = (data["r"], data["total"], {k[2:].replace("_", "-"): v for k, v in data.items()
                                                        if k.startswith("g_")})
            rows.append(tuple(row))
        bonds = list(cutoffs)
        header = ["structure", "atoms", "density (g/cm³)"]
        for bond in bonds:
            header += [f"mean {bond} CN", f"mean {bond} length (Å)"]
        header.append("S in S–S contact (%)")
        cite_all = tuple(source(n, f"{k} {p}") for k, ports in results.items() for p, n in ports.items()
                         if p == "density" or p.startswith("coordination_"))
        section.items.append(Table(header, rows, "Density, coordination numbers (CN within the cut-offs "
                                   + ", ".join(f"{b} < {c:g} Å" for b, c in cutoffs.items() if c)
                                   + ") and mean bond lengths of each analysed structure.", cite_all or (source(process),)))
        if histograms:
            section.items.append(Figure(figures.cn_histograms_png(histograms, cutoffs),
                                        "Coordination-number histograms (% of centre atoms) per cation.",
                                        tuple(source(n, f"{k} {p}") for k, ports in results.items()
                                              for p, n in ports.items() if p.startswith("coordination_"))))
        if rdfs:
            section.items.append(Figure(figures.rdf_png(rdfs, partials),
                                        "Pair distribution: total and cation–S partial g(r) (r in Å).",
                                        tuple(source(ports["rdf"], f"{k} rdf") for k, ports in results.items()
                                              if "rdf" in ports)))
        if adfs:
            section.items.append(Figure(figures.adf_png(adfs), "Bond-angle distributions (probability per degree).",
                                        tuple(source(n, f"{k} {p}") for k, ports in results.items()
                                              for p, n in ports.items() if p.startswith("angles_"))))

    def grain_boundaries(self, section: Section) -> None:
        process = self.stage("grain_boundaries")
        if self._flag(section, process, "grain_boundaries"):
            table = output(process, "table")
            if isinstance(table, orm.Dict):
                data = table.get_dict()
                rows = data.get("rows", [])
                section.items.append(Figure(
                    figures.gb_energy_png([r.get("angle") for r in rows], [r.get("e_gbf") for r in rows],
                                          [f"Σ{r['sigma']}" if r.get("sigma") else str(r.get("label")) for r in rows],
                                          [r.get("kind") for r in rows]),
                    "Grain-boundary formation energy E_GBf (J/m²) against misorientation angle (°), ACE (the study's "
                    "Fig. 3a).", (source(table, "GB table Dict"), source(process))))
                section.items.append(Table(
                    ("boundary", "kind", "Σ", "angle (°)", "plane", "E_GBf (J/m²)", "atoms", "area (Å²)", "max γ",
                     "flags"),
                    [(r.get("label"), r.get("kind"), r.get("sigma"), r.get("angle"), _fmt_value(r.get("plane")),
                      r.get("e_gbf"), r.get("n_atoms"), r.get("area"), r.get("max_gamma"),
                      "; ".join(r.get("flags") or [])) for r in rows],
                    f"Grain boundaries with the ACE potential, lowest-energy translation each. {data.get('definition', '')}",
                    (source(table, "GB table Dict"),)))
        dft = self.stage("grain_boundary_dft")
        if dft is not None:
            section.items.append("ACE against DFT")
            self._flag(section, dft, "grain_boundary_dft")
            table = output(dft, "table")
            if isinstance(table, orm.Dict):
                data = table.get_dict()
                section.items.append(Table(
                    ("boundary", "Σ", "angle (°)", "atoms", "E_GBf DFT (J/m²)", "E_GBf ACE (J/m²)", "error (J/m²)"),
                    [(r.get("label"), r.get("sigma"), r.get("angle"), r.get("n_atoms"), r.get("e_gbf_dft"),
                      r.get("e_gbf_ace"), r.get("error")) for r in data.get("rows", [])],
                    "Grain-boundary formation energies, ACE against DFT (pw.x).", (source(table, "GB DFT table Dict"),)))
            plot = output(dft, "plot")
            if plot is not None:
                section.items.append(stored_figure(plot, "E_GBf parity, ACE against DFT (J/m²; stored by the workchain).",
                                                   dft))

    def polycrystal(self, section: Section) -> None:
        process = self.stage("polycrystal")
        if not self._flag(section, process, "polycrystal"):
            return
        summaries = outputs_under(process, "gamma_summaries")
        if summaries:
            rows = [(label, s.get("n_atoms"), s.get("max"), s.get("mean"), s.get("fraction_above_2"),
                     s.get("fraction_above_5")) for label, s in ((k, n.get_dict()) for k, n in summaries.items())]
            for label, node in summaries.items():
                flag = extrapolation_flag(node.get("fraction_above_2"))
                if flag:
                    section.items.append(Text(f"Polycrystal {label}: {flag}.", "problem"))
            section.items.append(Table(("polycrystal", "atoms", "max γ", "mean γ", "fraction γ > 2", "fraction γ > 5"),
                                       rows, "Extrapolation grade γ (dimensionless) of every atom of each relaxed "
                                       "polycrystal: above 2 the potential extrapolates.",
                                       tuple(source(n, f"gamma_summaries.{k}") for k, n in summaries.items())))
        gammas = {label: node for label, node in outputs_under(process, "gamma").items()
                  if "per_atom" in node.get_arraynames()}
        if gammas:
            section.items.append(Figure(figures.gamma_histograms_png({k: n.get_array("per_atom") for k, n in gammas.items()}),
                                        "Histograms of per-atom γ (log bins); dashed: the reliable limit γ = 2.",
                                        tuple(source(n, f"gamma.{k}") for k, n in gammas.items())))
        interfaces = outputs_under(process, "interfaces")
        if interfaces:
            rows = []
            for label, node in interfaces.items():
                s = node.get_dict()
                for part in ("boundary", "interior"):
                    p = s.get(part) or {}
                    rows.append((label, part, p.get("n_atoms"), p.get("s_zr_ratio"), p.get("zr_cn_mean"),
                                 p.get("ba_cn_mean"), p.get("zr_s_bond_length_mean"), p.get("gamma_mean")))
            section.items.append(Table(("polycrystal", "atoms in", "atoms", "S/Zr", "mean Zr–S CN", "mean Ba–S CN",
                                        "mean Zr–S length (Å)", "mean γ"), rows,
                                       "Grain-boundary against grain-interior atoms (bulk S/Zr = 3).",
                                       tuple(source(n, f"interfaces.{k}") for k, n in interfaces.items())))
        for name, plot in outputs_under(process, "plots").items():
            section.items.append(stored_figure(plot, f"Polycrystal figure '{name}' (stored by the workchain).", process))
        self._scherrer(section, output(process, "scherrer"))
        xrd = outputs_under(process, "xrd")
        if xrd:
            patterns = {label: _xy(node)[1:] for label, node in xrd.items()}
            wavelength = next(iter(xrd.values())).base.attributes.get("wavelength", None)
            section.items.append(Figure(figures.xrd_png(patterns, wavelength=wavelength),
                                        "Simulated XRD of the polycrystals and the crystal (normalised, offset): "
                                        "broadening with grain count.", tuple(source(n, f"xrd.{k}") for k, n in xrd.items())))

    def _scherrer(self, section: Section, node) -> None:
        if not isinstance(node, orm.Dict):
            return
        rows = []
        for label, s in sorted(node.get_dict().items()):
            if isinstance(s, dict):
                rows.append((label, s.get("two_theta"), s.get("fwhm"), s.get("size_nm"),
                             s.get("error") or s.get("window_limited_reason") or ""))
        section.items.append(Table(("pattern", "main peak 2θ (°)", "FWHM (°)", "Scherrer size (nm)", "note"), rows,
                                   "Scherrer domain sizes from the main XRD peak.", (source(node, "Scherrer Dict"),)))

    def scattering(self, section: Section) -> None:
        process = self.stage("scattering")
        if not self._flag(section, process, "scattering"):
            return
        measured_xrd, measured_pdf = input_of(process, "measured_xrd"), input_of(process, "measured_pdf")
        xrd = outputs_under(process, "xrd")
        if xrd:
            wavelength = next(iter(xrd.values())).base.attributes.get("wavelength", None)
            measured = _measured_two_theta(measured_xrd, wavelength)
            cite = tuple(source(n, f"xrd.{k}") for k, n in xrd.items()) + ((source(measured_xrd, "measured XRD"),)
                                                                          if measured else ())
            section.items.append(Figure(figures.xrd_png({k: _xy(n)[1:] for k, n in xrd.items()}, measured, wavelength),
                                        "XRD I(2θ) of each model (normalised, offset)"
                                        + (", measured pattern in black." if measured else "; no measured pattern given."),
                                        cite))
        gr = outputs_under(process, "gr")
        if gr:
            measured = None
            if measured_pdf is not None:
                x, y, _ = measured_pdf.get_curve()
                measured = (x, y, "measured PDF")
            cite = tuple(source(n, f"gr.{k}") for k, n in gr.items()) + ((source(measured_pdf, "measured PDF"),)
                                                                        if measured else ())
            section.items.append(Figure(figures.pdf_png({k: _xy(n)[1:] for k, n in gr.items()}, measured),
                                        "Reduced PDF G(r) of each model (r in Å; normalised, offset)"
                                        + (", measured PDF in black." if measured else "; no measured PDF given."), cite))
        comparisons = outputs_under(process, "comparisons")
        if comparisons:
            rows = [(name.rsplit(".", 1)[0], name.rsplit(".", 1)[-1], n.get("rwp"), n.get("scale"), n.get("background"),
                     n.get("n_points")) for name, n in comparisons.items()]
            section.items.append(Table(("model", "data", "Rwp", "scale", "background", "points"), rows,
                                       "Fit of each model to the measured data (scale and flat background).",
                                       tuple(source(n, f"comparisons.{k}") for k, n in comparisons.items())))
        self._scherrer(section, output(process, "scherrer"))

    def provenance(self, section: Section) -> None:
        rows = [(link.link_label, link.node.process_label, str(link.node.pk), link.node.uuid, state(link.node))
                for link in sorted(self.node.base.links.get_outgoing(link_type=_CALL).all(), key=lambda l: l.node.ctime)]
        section.items.append(Table(("call link label", "process", "pk", "UUID", "state [exit status]"), rows,
                                   f"Every process {self.node.process_label} called, in order. "
                                   "`verdi process show <pk>` and `verdi node graph generate <pk>` go further.",
                                   (source(self.node),)))


def _xy(node: orm.XyData) -> tuple[str, np.ndarray, np.ndarray]:
    name, x, _ = node.get_x()
    return name, np.asarray(x, float), np.asarray(node.get_y()[0][1], float)


def _measured_two_theta(measured, wavelength: float | None):
    """A measured XRD pattern on the 2θ axis (degrees) for overlay, or None."""
    if measured is None:
        return None
    x, y, _ = measured.get_curve()
    axis = measured.base.attributes.get("axis")
    if axis == "two_theta":
        return x, y, "measured XRD"
    if axis == "q" and wavelength:
        from ..scattering.units import two_theta_from_q

        inside = x <= 4 * np.pi / wavelength
        return two_theta_from_q(x[inside], wavelength), y[inside], "measured XRD"
    return None


def collect(node: orm.ProcessNode, dataset_map: orm.ProcessNode | None = None,
            phonons: orm.ProcessNode | None = None) -> tuple[Report, list[str]]:
    """The report of a campaign-like workflow ``node`` and the problems met (failed stages,
    sections that could not be drawn). ``dataset_map`` / ``phonons``: jobs to show when the
    campaign did not call them (otherwise they are looked up on its training set and potentials)."""
    collector = Collector(node, dataset_map, phonons)
    report = collector.build()
    return report, collector.problems


__all__ = ["collect", "Collector", "STAGES", "called", "output", "outputs_under", "source"]
