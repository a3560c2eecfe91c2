"""The campaign's HTML report: figures, the page builder, the collector on a campaign-like workflow of
real nodes (real jobs and the package's calcfunctions), the dataset-map and phonon jobs run through
AiiDA, the command line, and the page opened in headless Chromium."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import ToContext, WorkChain, run_get_node
from aiida.plugins import CalculationFactory, WorkflowFactory
from report_browser import open_in_chromium

from aiida_bzs.report import figures, write_report
from aiida_bzs.report.html import Figure, Report, Section, Source, Table, Text, render

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MD_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "md"
SCATTERING_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scattering"
FAMILIES = ("rattled", "strained", "rss")


def assert_png(data: bytes) -> tuple[int, int]:
    """``data`` decodes as a PNG image; returns its size (pixels)."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.width > 100 and image.height > 100
    return image.size


# --- pure: figures and the page -----------------------------------------------------------------


def test_every_figure_maker_gives_a_png():
    rng = np.random.default_rng(0)
    n, types = 12, [FAMILIES[i % 3] for i in range(12)]
    e, f = rng.normal(-4.0, 0.1, n), rng.normal(0.0, 1.0, 3 * 20 * n)
    pngs = [
        figures.parity_png(e, e + 0.01, f, f + 0.1, types, np.repeat(np.arange(n), 60)),
        figures.error_vs_energy_png(e, e + rng.normal(0, 0.01, n), types),
        figures.learning_curve_png([0, 1], [20.0, 10.0], [200.0, 150.0], {"rss": ([30.0, np.nan], [1.0, 2.0])}),
        figures.dataset_map_png(rng.normal(size=(n, 2)), types),
        figures.cn_histograms_png({"a": {"Zr–S": (np.arange(8), np.arange(8))}}, {"Zr–S": 3.1}),
        figures.rdf_png({"a": (np.linspace(0, 8, 50), np.ones(50), {"Zr-S": np.ones(50)})}, ["Zr-S"]),
        figures.adf_png({"a": {"Zr–S": (np.linspace(0, 180, 90), np.full(90, 1 / 180))}}),
        figures.gb_energy_png([5.0, 36.9], [0.4, None], ["a", "Σ5"], ["low_angle", "csl"]),
        figures.gamma_histograms_png({"p": rng.lognormal(0, 1, 500)}),
        figures.xrd_png({"a": (np.linspace(20, 60, 100), rng.random(100))}, (np.linspace(20, 60, 80), rng.random(80))),
        figures.pdf_png({"a": (np.linspace(1, 20, 100), rng.normal(size=100))}),
        figures.phonon_png([np.linspace(0, 1, 5), np.linspace(1, 2, 5)], [np.ones((5, 3)), np.ones((5, 3))],
                           ["G", "X", "S"], np.linspace(0, 2, 10), np.ones(10)),
    ]
    for data in pngs:
        assert_png(data)


def test_figures_and_tables_must_cite_a_node():
    png = figures.gb_energy_png([5.0], [0.4], ["a"])
    with pytest.raises(ValueError, match="source node"):
        Figure(png, "no source", ())
    with pytest.raises(ValueError, match="UUID"):
        Source("not-a-uuid", 1)
    with pytest.raises(ValueError, match="neither PNG nor SVG"):
        Figure(b"GIF89a....", "a gif", (Source("12345678-1234-1234-1234-123456789abc", 1),))
    with pytest.raises(ValueError, match="source node"):
        Table(("a",), [(1,)], "no source", ())


def test_page_is_self_contained_and_escaped():
    uuid = "12345678-1234-1234-1234-123456789abc"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    report = Report("<Title>", ["a & b"], [Section("One <1>", "one", [
        Figure(svg, "an <svg>", (Source(uuid, 7, "Thing"),)),
        Table(("x", "y (eV)"), [(1, 2.5), ("<b>", None), (True, float("nan"))], "t", (Source(uuid),)),
        Text("note <i>", "note"), "sub-heading"])])
    page = render(report)
    assert "<Title>" not in page and "&lt;Title&gt;" in page and "&lt;b&gt;" in page
    assert "data:image/svg+xml;base64," in page and f"{uuid}</span>, pk 7" in page
    assert re.findall(r'(?:src|href)="([^"#][^"]*)"', page) == [f"data:image/svg+xml;base64,{base64.b64encode(svg).decode()}"]
    assert "<script" not in page and "<link" not in page


def test_small_sets_are_embedded_with_pca():
    from aiida_bzs.scripts.job import _embed

    xy, method, detail = _embed(np.random.default_rng(1).random((3, 20)), {})
    assert method == "PCA" and xy.shape == (3, 2) and "too few" in detail["why"]


# --- a campaign-like workflow of real nodes -----------------------------------------------------


class StageLike(WorkChain):
    """Stands for one stage workchain of the campaign: runs real processes (jobs of the runner, the
    package's calcfunctions) from a recipe and returns their outputs under the stage's output names.

    ``recipe``: [entry point, {input: node key or '@<step>.<output>'}, {stage output: process output}]."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace("nodes", dynamic=True, valid_type=orm.Data)
        spec.input("recipe", valid_type=orm.List)
        spec.outputs.dynamic = True
        spec.outline(cls.run_steps, cls.expose)

    def _inputs(self, args: dict) -> dict:
        inputs = {}
        for name, key in args.items():
            if key.startswith("@"):
                step, _, port = key[1:].partition(".")
                inputs[name] = self.ctx.results[step][port]
            else:
                inputs[name] = self.inputs.nodes[key]
        return inputs

    def run_steps(self):
        self.ctx.results, futures = {}, {}
        for i, (entry, args, _) in enumerate(self.inputs.recipe.get_list()):
            process = CalculationFactory(entry)
            if getattr(process, "is_process_function", False):
                result = process(**self._inputs(args))
                self.ctx.results[str(i)] = result if isinstance(result, dict) else {"result": result}
            else:
                futures[f"step_{i}"] = self.submit(process, **self._inputs(args))
        return ToContext(**futures)

    def expose(self):
        for i, (_, _, expose) in enumerate(self.inputs.recipe.get_list()):
            if f"step_{i}" in self.ctx:
                job = self.ctx[f"step_{i}"]
                assert job.is_finished_ok, job.exit_message
                outputs = {name: job.outputs[name] for name in expose.values()}
            else:
                outputs = self.ctx.results[str(i)]
            for label, name in expose.items():
                self.out(label, outputs[name])


class CampaignLike(WorkChain):
    """A campaign whose stages carry CampaignWorkChain's call link labels: the real analysis and
    scattering workchains, the dataset-map and phonon jobs, and StageLike stand-ins built from real
    jobs and calcfunctions for fit, learn, melt–quench, grain boundaries and polycrystal."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace("nodes", dynamic=True, valid_type=orm.Data)
        spec.outputs.dynamic = True
        spec.outline(cls.simulate, cls.learn, cls.results)

    def _stage(self, label: str, recipe: list, **nodes):
        return self.submit(StageLike, nodes=nodes, recipe=orm.List(recipe), metadata={"call_link_label": label})

    def simulate(self):
        n = self.inputs.nodes
        futures = {
            "fit": self._stage("fit", [["bzs.job.parity", {"code": "code", "potential": "potential", "dataset": "data"},
                                        {"filtered.parity": "parity", "filtered.test_metrics": "metrics",
                                         "filtered.parity_plot": "parity_plot"}]],
                               code=n.job_code, potential=n.potential, data=n.training_set),
            "polycrystal": self._stage("polycrystal", [[
                "bzs.job.grade", {"code": "code", "potential": "potential", "structure": "structure"},
                {"gamma.small": "gamma", "gamma_summaries.small": "summary"}]],
                code=n.job_code, potential=n.potential_asi, structure=n.rattled),
            "melt_quench_demo": self._stage("melt_quench_demo", [
                ["bzs.md.product_check", {"structure": "structure", "parameters": "empty", "crystal": "crystal"},
                 {"product_check": "result"}],
                ["bzs.md.structure_density", {"structure": "structure"}, {"density": "result"}]],
                structure=n.rattled, crystal=n.crystal, empty=orm.Dict()),
            "grain_boundaries": self._stage("grain_boundaries", [
                ["bzs.gb.formation_energies", {"bulk_energy": "bulk_energy", "bulk_structure": "crystal",
                                               "parameters": "gb_parameters", **{f"{k}_{b}_0": f"gb_{b}"
                                               for k in ("structure", "bicrystal") for b in range(3)},
                                               **{f"energy_{b}_0": f"gb_energy_{b}" for b in range(3)}},
                 {"table": "table"}],
                ["bzs.gb.plot", {"table": "@0.table"}, {"plot": "result"}]],
                crystal=n.crystal, bulk_energy=n.bulk_energy, gb_parameters=n.gb_parameters,
                **{k: v for k, v in n.items() if k.startswith("gb_") and k != "gb_parameters"}),
            "dataset_map": self.submit(CalculationFactory("bzs.job.dataset_map"), code=n.job_code,
                                       dataset=n.training_set, metadata={"call_link_label": "dataset_map"}),
            "phonons": self.submit(CalculationFactory("bzs.job.phonons"), code=n.job_code, crystal=n.crystal,
                                   potential=n.potential, parameters=orm.Dict(PHONON_PARAMETERS),
                                   metadata={"call_link_label": "phonons"}),
        }
        analysis = WorkflowFactory("bzs.analysis").get_builder_from_protocol(
            {"crystal": n.crystal, "rattled": n.rattled}, code=n.job_code)
        analysis.metadata.call_link_label = "analysis"
        futures["analysis"] = self.submit(analysis)
        scattering = WorkflowFactory("bzs.scattering").get_builder_from_protocol(
            {"crystal": n.crystal, "particle": n.particle}, code=n.scatter_code, protocol="fast",
            overrides={"parameters": {"qmax": 8.0, "qstep": 0.05}}, measured_xrd=n.measured_xrd,
            measured_pdf=n.measured_pdf)
        scattering.metadata.call_link_label = "scattering"
        futures["scattering"] = self.submit(scattering)
        return ToContext(**futures)

    def learn(self):
        parity = self.ctx.fit.outputs.filtered.parity
        return ToContext(learn=self._stage("learn", [
            ["bzs.ace.learning_curve", {"test_set": "test_set", "gen_0": "gen_0", "gen_1": "gen_1"},
             {"learning_curve.curve": "curve", "learning_curve.table": "table", "learning_curve.plot": "plot"}]],
            test_set=self.inputs.nodes.training_set, gen_0=parity, gen_1=parity))

    def results(self):
        for name in ("fit", "polycrystal", "melt_quench_demo", "grain_boundaries", "dataset_map", "phonons",
                     "analysis", "scattering", "learn"):
            assert self.ctx[name].is_finished_ok, f"{name}: {self.ctx[name].exit_message}"
        self.out("training_set", self.inputs.nodes.training_set)
        self.out("crystal", self.inputs.nodes.crystal)


#: Small phonon run: the 20-atom cell, few band points (seconds with the tiny potential).
PHONON_PARAMETERS = {"supercell": [1, 1, 1], "band_points": 11, "mesh": [4, 4, 4]}


def _labelled_set():
    """12 structures in three families, labelled by the tiny potential plus noise (5 meV/atom,
    0.05 eV/Å), so the parity has errors to show."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from pyace import PyACECalculator

    from aiida_bzs.data.training_set import TrainingSetData
    from aiida_bzs.structures import pnma_crystal

    calc = PyACECalculator(str(MD_FIXTURES / "tiny.yaml"))
    rng = np.random.default_rng(3)
    images = []
    for i in range(12):
        atoms = pnma_crystal()
        family = FAMILIES[i % 3]
        if family == "strained":
            atoms.set_cell(atoms.cell[:] * (1 + 0.01 * (i - 6)), scale_atoms=True)
        atoms.rattle(0.02 + 0.01 * (i % 4), seed=i)
        if family == "rss":
            atoms.rattle(0.25, seed=100 + i)
        atoms.calc = calc
        energy = atoms.get_potential_energy() + rng.normal(0, 0.005) * len(atoms)
        forces = atoms.get_forces() + rng.normal(0, 0.05, (len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        atoms.info["config_type"] = family
        images.append(atoms)
    return TrainingSetData.from_atoms(images)


@pytest.fixture(scope="module")
def campaign(aiida_profile, bzs_code):
    """The campaign-like workflow, run once for the module (real jobs: ~3 min on 2 busy cores)."""
    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.data.measured_pattern import MeasuredPatternData
    from aiida_bzs.structures import pnma_crystal
    from aiida_bzs.structures.nanoparticle import cut_sphere

    crystal = pnma_crystal()
    rattled = crystal.repeat((2, 1, 2))
    rattled.rattle(0.15, seed=4)
    gb_energies = {0: -199.0, 1: -199.6, 2: -199.4}
    boundaries = [{"label": "S5_310", "kind": "csl", "sigma": 5, "angle": 36.87, "plane": [3, 1, 0],
                   "translations": [[0.0, 0.0]]},
                  {"label": "LA_6", "kind": "low_angle", "sigma": None, "angle": 6.0, "plane": [1, 0, 0],
                   "translations": [[0.0, 0.0]]},
                  {"label": "LA_10", "kind": "low_angle", "sigma": None, "angle": 10.0, "plane": [1, 0, 0],
                   "translations": [[0.0, 0.0]]}]
    bicrystal = orm.StructureData(ase=crystal.repeat((2, 1, 1))).store()
    nodes = {
        "job_code": bzs_code("bzs_job", with_mpi=False), "scatter_code": bzs_code("bzs_scatter"),
        "potential": AcePotentialData.get_or_create(MD_FIXTURES / "tiny.yaml", yace=MD_FIXTURES / "tiny.yace"),
        "potential_asi": AcePotentialData.get_or_create(MD_FIXTURES / "tiny.yaml", yace=MD_FIXTURES / "tiny.yace",
                                                        asi=MD_FIXTURES / "tiny.asi"),
        "training_set": _labelled_set().store(), "crystal": orm.StructureData(ase=crystal).store(),
        "rattled": orm.StructureData(ase=rattled).store(),
        "particle": orm.StructureData(ase=cut_sphere(crystal, 6.0)).store(),
        "measured_xrd": MeasuredPatternData.from_file(SCATTERING_FIXTURES / "synthetic_xrd.xy", "xrd", "two_theta",
                                                      1.5406).store(),
        "measured_pdf": MeasuredPatternData.from_file(SCATTERING_FIXTURES / "synthetic_pdf.gr", "pdf", "r").store(),
        "bulk_energy": orm.Float(-100.0).store(), "gb_parameters": orm.Dict({"boundaries": boundaries}).store(),
        **{f"gb_{b}": bicrystal for b in range(3)},
        **{f"gb_energy_{b}": orm.Float(e).store() for b, e in gb_energies.items()},
    }
    _, node = run_get_node(CampaignLike, nodes=nodes)
    assert node.is_finished_ok, node.exit_message
    return node


def _child(node, label):
    return node.base.links.get_outgoing(link_label_filter=label).one().node


@pytest.mark.slow
def test_dataset_map_job_runs_through_aiida(campaign):
    job = _child(campaign, "dataset_map")
    assert job.is_finished_ok, job.exit_message
    training = campaign.outputs.training_set
    embedding = job.outputs.map
    assert embedding.get_array("embedding").shape == (12, 2)
    assert np.isfinite(embedding.get_array("embedding")).all()
    assert embedding.get_array("config_type").tolist() == training.get_arrays()["config_type"].tolist()
    attributes = embedding.base.attributes.all
    assert attributes["method"] == "UMAP" and attributes["config_types"] == training.config_types
    assert attributes["soap"] == {"r_cut": 5.0, "n_max": 6, "l_max": 4, "sigma": 0.5} and attributes["n_features"] > 100
    assert_png(job.outputs.plot.get_content(mode="rb"))


@pytest.mark.slow
def test_phonon_job_runs_through_aiida(campaign):
    job = _child(campaign, "phonons")
    assert job.is_finished_ok, job.exit_message
    summary = job.outputs.summary.get_dict()
    assert summary["spacegroup"] == summary["spacegroup_before"] == "Pnma"  # FixSymmetry kept the space group
    assert summary["relax"]["converged"] and summary["relax"]["max_force"] < 1e-3  # eV/Å
    gamma = np.sort(job.outputs.phonons.get_array("gamma_frequency"))
    assert len(gamma) == 60 and np.abs(gamma[:3]).max() < 0.05  # THz: three acoustic modes at Γ
    assert 0.0 < gamma[3] and gamma[-1] < 30.0  # THz
    bands = job.outputs.phonons.get_array("band_frequency")
    assert bands.shape == (9 * 11, 60) and np.isfinite(bands).all()
    assert_png(job.outputs.plot.get_content(mode="rb"))


def test_job_parameters_are_checked_at_launch(aiida_profile, bzs_code, tiny_potential):
    from aiida_bzs.calculations.jobs import DatasetMapCalculation, PhononsCalculation
    from aiida_bzs.structures import pnma_crystal

    code = bzs_code("bzs_job", with_mpi=False)
    with pytest.raises(ValueError, match="unknown parameter"):
        run_get_node(DatasetMapCalculation, code=code, dataset=_labelled_set(), parameters=orm.Dict({"rcut": 5.0}))
    crystal = orm.StructureData(ase=pnma_crystal())
    with pytest.raises(ValueError, match="three integers"):
        run_get_node(PhononsCalculation, code=code, crystal=crystal, potential=tiny_potential,
                     parameters=orm.Dict({"supercell": [2, 2]}))
    with pytest.raises(ValueError, match="path"):
        run_get_node(PhononsCalculation, code=code, crystal=crystal, potential=tiny_potential,
                     parameters=orm.Dict({"path": ["G", "K"]}))


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)]


@pytest.mark.slow
def test_report_of_a_campaign(campaign, tmp_path):
    import time

    from aiida_bzs.report.collect import collect

    start = time.perf_counter()
    path = write_report(campaign, tmp_path / "out" / "report.html")
    seconds = time.perf_counter() - start
    page = path.read_text(encoding="utf-8")
    _, problems = collect(campaign)
    assert problems == []
    images = _images(page)
    assert len(images) == page.count("<img ") >= 12
    for data in images:
        assert_png(data)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S) + re.findall(r"<caption>(.*?)</caption>", page, re.S)
    assert len(captions) == page.count("<figure ") + page.count("<table ")
    for caption in captions:
        uuids = UUID.findall(caption)
        assert uuids, caption
        for uuid in uuids:
            orm.load_node(uuid)  # every cited node exists
    # what each stage should have put in the page
    for text in ("Dataset map", "Learning curve", "filtered potential: ACE against DFT", "energy error",
                 "ACE only: no DFT phonons", "Coordination-number histograms", "Pair distribution",
                 "Bond-angle distributions", "formation energy E_GBf", "per-atom γ", "XRD I(2θ) of each model",
                 "measured pattern in black", "measured PDF in black", "Fit of each model to the measured data",
                 "Scherrer", "Melt–quench products"):
        assert text in page, text
    assert "Stage &#x27;reference_relax&#x27; was not run" in page  # skipped stages say so
    # a polycrystal with γ > 2 for more than 1 % of its atoms is flagged above its γ table
    fraction = _child(campaign, "polycrystal").outputs.gamma_summaries.small["fraction_above_2"]
    assert ("Polycrystal small: EXTRAPOLATED" in page) is (fraction > 0.01), fraction
    assert "<script" not in page and "<link" not in page
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert seconds < 60  # s: redrawing stored arrays, nothing recomputed
    if os.environ.get("BZS_REPORT_COPY"):  # keep the page to look at: BZS_REPORT_COPY=/path/report.html
        shutil.copy(path, os.environ["BZS_REPORT_COPY"])
    print(f"report: {len(images)} figures, {path.stat().st_size / 1e6:.2f} MB in {seconds:.1f} s")


@pytest.mark.slow
def test_report_command(campaign, tmp_path):
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root

    path = tmp_path / "r.html"
    result = CliRunner().invoke(cmd_root, ["report", str(campaign.pk), "-o", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert path.is_file() and "figures" in result.output and "Warning" not in result.output


def test_report_of_a_process_without_stages(aiida_profile, tmp_path):
    """A process with none of the stages gives a page of notes, not an error."""
    from aiida_bzs.calculations.functions.structures import pnma_crystal

    _, node = run_get_node(pnma_crystal)
    page = write_report(node, tmp_path / "empty.html").read_text()
    assert page.count("was not run in this campaign") >= 7 and "could not be drawn" not in page
    assert node.uuid in page
    with pytest.raises(TypeError, match="a report is of a process"):
        write_report(orm.Int(1).store(), tmp_path / "x.html")


# --- the page in a browser ----------------------------------------------------------------------

@pytest.mark.slow
def test_report_renders_in_headless_chromium(campaign, tmp_path):
    page = write_report(campaign, tmp_path / "report.html").read_text(encoding="utf-8")
    seen = open_in_chromium(page, tmp_path)
    assert seen["n_images"] == len(_images(page)) >= 12
    assert seen["broken"] == [] and min(seen["widths"]) > 100  # pixels: every image decoded and drawn
    assert seen["n_links"] >= 12 and seen["bad_links"] == []  # contents anchors all land in the page
    assert seen["resources"] == []  # nothing fetched from outside the page
    assert seen["title"].startswith("BaZrS3 campaign report")
