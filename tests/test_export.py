"""Export of a campaign (aiida_bzs.export, `aiida-bzs export` / `graph`): archive, picture, files.

One real miniature campaign is run once for the module: a work chain that calls the package's
calcfunctions (Pnma crystal, rattled copies, pack to LargeStructureData, density, XRD 2θ from an
I(Q), a train/test split) and the real ``bzs.analysis`` workchain (a job on ``bzs_job`` and the
PNG figures). The archive is imported with ``verdi archive import`` into a fresh profile made
with ``verdi presto`` in a temporary AIIDA_PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import ToContext, WorkChain, calcfunction, run_get_node
from click.testing import CliRunner

from aiida_bzs.calculations.functions.analysis import mass_density
from aiida_bzs.calculations.functions.large_structures import pack
from aiida_bzs.calculations.functions.scattering import xrd_pattern
from aiida_bzs.calculations.functions.structures import pnma_crystal, rattle, to_atoms
from aiida_bzs.calculations.functions.training_set import split_training_set
from aiida_bzs.cli import cmd_root
from aiida_bzs.data.ace_potential import AcePotentialData
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.data.training_set import TrainingSetData

N_RATTLED = 5
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VERDI = Path(sys.executable).parent / "verdi"


@calcfunction
def debye_iq(structure: orm.StructureData) -> orm.XyData:
    """I(Q) of the cell's atoms as a cluster (Debye sum, f = Z electrons), Q 0.5–6 Å⁻¹: a cheap pattern."""
    atoms = to_atoms(structure)
    q = np.linspace(0.5, 6.0, 221)
    distances = atoms.get_all_distances()
    z = atoms.numbers.astype(float)
    iq = np.einsum("i,j,qij->q", z, z, np.sinc(q[:, None, None] * distances / np.pi))
    return orm.XyData(q, [iq], x_name="Q", x_units="1/Å", y_names=["I"], y_units=["electrons^2"])


class ExportDemoWorkChain(WorkChain):
    """A miniature campaign: structures, a large structure, a pattern, a table, a training split,
    the input potential passed on, and the real analysis workchain with its figures."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("training_set", valid_type=TrainingSetData)
        spec.input("potential", valid_type=AcePotentialData)
        spec.input("n_rattled", valid_type=orm.Int, default=lambda: orm.Int(N_RATTLED))
        spec.outline(cls.build, cls.analyse, cls.finish)
        spec.output("crystal", valid_type=orm.StructureData)
        spec.output("packed", valid_type=LargeStructureData)
        spec.output_namespace("rattled", valid_type=orm.StructureData, dynamic=True)
        spec.output("iq", valid_type=orm.XyData)
        spec.output("xrd", valid_type=orm.XyData)
        spec.output("density", valid_type=orm.Dict)
        spec.output_namespace("training", valid_type=TrainingSetData, dynamic=True)
        spec.output("potential", valid_type=AcePotentialData)
        spec.output_namespace("figures", valid_type=orm.SinglefileData, dynamic=True)
        spec.exit_code(400, "ERROR_ANALYSIS", message="the analysis workchain failed")

    def build(self):
        crystal = pnma_crystal(metadata={"call_link_label": "crystal"})
        self.ctx.crystal = crystal
        self.out("crystal", crystal)
        for i in range(self.inputs.n_rattled.value):
            self.ctx[f"r{i}"] = rattle(crystal, orm.Float(0.05), orm.Int(i))
            self.out(f"rattled.r{i}", self.ctx[f"r{i}"])
        self.out("packed", pack(crystal))
        iq = debye_iq(crystal)
        self.out("iq", iq)
        self.out("xrd", xrd_pattern(iq, orm.Dict({"qmin": 1.0, "qmax": 5.0, "wavelength": "Cu"})))
        self.out("density", mass_density(crystal))
        split = split_training_set(self.inputs.training_set, orm.Dict({"test_fraction": 0.25, "seed": 0}))
        self.out("training.train", split["train"])
        self.out("training.test", split["test"])
        self.out("potential", self.inputs.potential)

    def analyse(self):
        from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

        builder = StructureAnalysisWorkChain.get_builder_from_protocol(
            {"crystal": self.ctx.crystal, "rattled": self.ctx.r0},
            overrides={"analysis": {"rdf_r_max": 5.0, "adf_bins": 36}})
        builder.metadata.call_link_label = "analysis"
        return ToContext(analysis=self.submit(builder))

    def finish(self):
        analysis = self.ctx.analysis
        if not analysis.is_finished_ok:
            return self.exit_codes.ERROR_ANALYSIS
        for triple in analysis.base.links.get_outgoing(link_type=LinkType.RETURN).all():
            if triple.link_label.startswith("plots__"):
                self.out(f"figures.{triple.link_label.removeprefix('plots__')}", triple.node)
        return None


@pytest.fixture(scope="module")
def campaign(aiida_profile, localhost_job_code, md_fixtures):
    """The finished ExportDemoWorkChain node (about 15 s: the analysis job and its figures)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_bzs.structures import pnma_crystal as crystal_atoms
    from aiida_bzs.structures import rattle as rattle_atoms

    if localhost_job_code is None:
        pytest.skip("aiida-bzs-job not found; run ./setup.sh")
    potential = AcePotentialData.get_or_create(md_fixtures / "tiny.yaml", yace=md_fixtures / "tiny.yace",
                                               asi=md_fixtures / "tiny.asi")
    calc = potential.get_calculator(active_set=False)
    images = []
    for seed in range(4):
        atoms = rattle_atoms(crystal_atoms(), 0.05, seed)
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        atoms.info["config_type"] = "rattled"
        images.append(atoms)
    training_set = TrainingSetData.from_atoms(images).store()  # energies (eV), forces (eV/Å) of the tiny ACE
    _, node = run_get_node(ExportDemoWorkChain, training_set=training_set, potential=potential)
    assert node.is_finished_ok, node.exit_message
    return node


def _returned(process) -> dict[str, str]:
    return {t.link_label: t.node.uuid for t in process.base.links.get_outgoing(link_type=LinkType.RETURN).all()}


def test_archive_imports_into_a_fresh_profile(campaign, tmp_path):
    archive = tmp_path / "campaign.aiida"
    start = time.perf_counter()
    result = CliRunner().invoke(cmd_root, ["export", str(campaign.pk), str(archive)])
    assert result.exit_code == 0, (result.output, result.exc_info)
    assert "nodes" in result.output and "verdi archive import" in result.output

    from aiida_bzs.export import archive_node_count

    n_nodes = archive_node_count(archive)
    descendants = campaign.called_descendants
    assert n_nodes > len(descendants) + len(_returned(campaign))
    assert f"{n_nodes:,} nodes" in result.output
    again = CliRunner().invoke(cmd_root, ["export", str(campaign.pk), str(archive)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    exported = time.perf_counter() - start

    # a fresh profile of its own (config in a temporary AIIDA_PATH), SQLite storage, no broker
    env = {k: v for k, v in os.environ.items() if k not in ("AIIDA_PROFILE",)}
    env["AIIDA_PATH"] = str(tmp_path / "fresh")
    profile = "bzs-import-check"

    def run(*args):
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)

    made = run(str(VERDI), "presto", "--profile-name", profile, "--no-broker", "-n")
    assert made.returncode == 0, made.stdout + made.stderr
    imported = run(str(VERDI), "-p", profile, "archive", "import", str(archive))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    check = f"""
import json
from aiida import load_profile, orm
from aiida.common.links import LinkType
load_profile({profile!r})
node = orm.load_node({campaign.uuid!r})
print(json.dumps({{
    "label": node.process_label, "ok": node.is_finished_ok,
    "returned": {{t.link_label: t.node.uuid for t in node.base.links.get_outgoing(link_type=LinkType.RETURN).all()}},
    "descendants": sorted(p.uuid for p in node.called_descendants),
    "nodes": orm.QueryBuilder().append(orm.Node).count(),
    "yaml": orm.load_node({campaign.outputs.potential.uuid!r}).get_content("yaml").decode(),
}}))
"""
    shown = run(sys.executable, "-c", check)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    there = json.loads(shown.stdout.strip().splitlines()[-1])
    assert there["label"] == "ExportDemoWorkChain" and there["ok"]
    assert there["returned"] == _returned(campaign)
    assert there["descendants"] == sorted(p.uuid for p in descendants)
    assert there["nodes"] == n_nodes
    assert there["yaml"] == campaign.outputs.potential.get_content("yaml").decode()
    print(f"archive: {n_nodes} nodes, {archive.stat().st_size / 1e6:.2f} MB, export {exported:.1f} s, "
          f"fresh profile + import + check {time.perf_counter() - start - exported:.1f} s")


def test_graph_is_pruned_and_collapses_siblings(campaign, tmp_path):
    from aiida_bzs.export import provenance_graph

    svg = tmp_path / "campaign.svg"
    result = CliRunner().invoke(cmd_root, ["graph", str(campaign.pk), "-o", str(svg), "--max-siblings", "3"])
    assert result.exit_code == 0, (result.output, result.exc_info)
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    assert text.count('class="node"') >= 15
    assert f"{N_RATTLED} × rattle" in text  # five rattles under one parent: one summary box
    assert "StructureAnalysisWorkChain" in text and "StructureAnalysisCalculation" in text
    for noise in ("RemoteData", "FolderData", "InstalledCode"):
        assert noise not in text

    source = provenance_graph(campaign, max_siblings=0).source  # never collapse: every rattle drawn
    assert source.count("rattle (") == N_RATTLED and "× rattle" not in source
    workflows_only = provenance_graph(campaign, include_calculations=False, depth=1).source
    assert "StructureAnalysisWorkChain" in workflows_only and "rattle (" not in workflows_only
    capped = provenance_graph(campaign, max_data=1).source  # root inputs: potential, training set
    assert "… and 1 more inputs" in capped and f"… and {len(_returned(campaign)) - 1} more outputs" in capped
    assert "AcePotentialData" in capped  # the most telling output is the one drawn


def test_files_bundle_with_manifest(campaign, tmp_path):
    from ase.io import read

    bundle = tmp_path / "bundle"
    start = time.perf_counter()
    result = CliRunner().invoke(cmd_root, ["export", str(campaign.pk), str(bundle), "--files"])
    assert result.exit_code == 0, (result.output, result.exc_info)
    seconds = time.perf_counter() - start
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = {entry["file"]: entry for entry in manifest["files"]}
    for name, entry in files.items():
        assert (bundle / name).is_file(), name
        assert type(orm.load_node(entry["uuid"])).__name__ == entry["node_type"]
    assert manifest["root"]["uuid"] == campaign.uuid
    assert manifest["skipped"] == {"remote folder": 2, "retrieved folder": 2}
    assert "MANIFEST.md" in os.listdir(bundle) and "outputs/crystal.extxyz" in (bundle / "MANIFEST.md").read_text()

    # structures: the crystal (made by pnma_crystal, exported as the workflow's output) and the packed copy
    crystal = files["outputs/crystal.extxyz"]
    assert crystal["uuid"] == campaign.outputs.crystal.uuid
    assert crystal["created_by"]["process_label"] == "pnma_crystal"
    assert crystal["exported_from"]["link_label"] == "crystal"
    assert any(ref["process"] == "pnma_crystal" and ref["link_label"] == "result" for ref in crystal["also"])
    expected = to_atoms(campaign.outputs.crystal)
    for name in ("outputs/crystal.extxyz", "outputs/packed.extxyz"):
        atoms = read(bundle / name)
        assert atoms.get_chemical_symbols() == expected.get_chemical_symbols()
        np.testing.assert_allclose(atoms.positions, expected.positions, atol=1e-8)
        np.testing.assert_allclose(atoms.cell[:], expected.cell[:], atol=1e-8)
    assert files["outputs/packed.extxyz"]["node_type"] == "LargeStructureData"
    assert {f"outputs/rattled/r{i}.extxyz" for i in range(N_RATTLED)} <= set(files)

    # the input potential: every file, exactly; also the workflow's output `potential`
    potential = campaign.inputs.potential
    for suffix, kind in ((".yaml", "yaml"), (".yace", "yace"), (".asi", "asi")):
        assert (bundle / f"inputs/potential{suffix}").read_bytes() == potential.get_content(kind)
    assert any(ref["link_label"] == "potential" and ref["role"] == "output"
               for ref in files["inputs/potential.yaml"]["also"])

    # training sets with energies (eV) and forces (eV/Å)
    stored = campaign.inputs.training_set.to_atoms()
    frames = read(bundle / "inputs/training_set.extxyz", ":")
    assert len(frames) == len(stored) == 4
    for frame, atoms in zip(frames, stored):
        assert frame.get_potential_energy() == atoms.get_potential_energy()
        np.testing.assert_array_equal(frame.get_forces(), atoms.get_forces())
    n_split = sum(len(read(bundle / f"outputs/training/{part}.extxyz", ":")) for part in ("train", "test"))
    assert n_split == 4

    # patterns as CSV with named columns and units
    lines = (bundle / "outputs/xrd.csv").read_text().splitlines()
    assert lines[0] == "two_theta (degrees),I (electrons^2)"
    table = np.loadtxt(bundle / "outputs/xrd.csv", delimiter=",", skiprows=1)
    _, two_theta, _ = campaign.outputs.xrd.get_x()
    np.testing.assert_array_equal(table[:, 0], two_theta)
    np.testing.assert_array_equal(table[:, 1], campaign.outputs.xrd.get_y()[0][1])
    assert files["outputs/xrd.csv"]["info"]["wavelength"] == pytest.approx(1.5406, abs=1e-3)
    assert (bundle / "outputs/iq.csv").read_text().startswith("Q (1/Å),I (electrons^2)")

    # tables as JSON, figures copied, the analysis results under the child's call link label
    assert json.loads((bundle / "outputs/density.json").read_text()) == campaign.outputs.density.get_dict()
    assert (bundle / "outputs/figures/overview.png").read_bytes().startswith(PNG_MAGIC)
    rdf = np.load(bundle / "analysis/results/crystal/rdf.npz")
    assert rdf.files and files["analysis/results/crystal/rdf.npz"]["created_by"]["process_label"] == \
        "StructureAnalysisCalculation"
    assert json.loads((bundle / "inputs/n_rattled.json").read_text()) == N_RATTLED

    # one file set per node: no UUID written twice
    firsts = {}
    for entry in manifest["files"]:
        firsts.setdefault(entry["uuid"], set()).add(Path(entry["file"]).with_suffix("").as_posix())
    assert all(len(stems) == 1 for stems in firsts.values())
    print(f"bundle: {manifest['n_files']} files of {manifest['n_nodes']} nodes in {seconds:.1f} s")


def test_trajectory_frames_keep_steps_forces_and_energies(aiida_profile, tmp_path):
    """A pw.x-like trajectory (forces eV/Å, energy eV per step) becomes one extxyz frame per step."""
    from ase.io import read

    from aiida_bzs.export import _write_trajectory

    rng = np.random.default_rng(0)
    positions, forces = rng.uniform(0, 4, (3, 2, 3)), rng.normal(size=(3, 2, 3))
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(symbols=["Ba", "S"], positions=positions, stepids=np.array([0, 10, 20]),
                              cells=np.array([np.eye(3) * 5.0] * 3), pbc=[True, True, True])
    trajectory.set_array("forces", forces)
    trajectory.set_array("energy", np.array([-1.0, -1.5, -1.75]))
    [(path, fmt, info)] = _write_trajectory(trajectory, tmp_path / "trajectory")
    frames = read(path, ":")
    assert fmt == "extxyz" and info["units"] == {"positions": "Å", "forces": "eV/Å", "energy": "eV"}
    assert [f.info["step"] for f in frames] == [0, 10, 20]
    for i, frame in enumerate(frames):
        np.testing.assert_allclose(frame.positions, positions[i])
        np.testing.assert_allclose(frame.get_forces(), forces[i])
        assert frame.get_potential_energy() == pytest.approx([-1.0, -1.5, -1.75][i])


def test_export_refuses_a_data_node_and_a_foreign_folder(aiida_profile, tmp_path):
    node = orm.Int(3).store()
    result = CliRunner().invoke(cmd_root, ["graph", str(node.pk)])
    assert result.exit_code != 0 and "not a ProcessNode" in result.output
    process = mass_density(pnma_crystal()).creator  # a real calcfunction node
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    for extra in ([], ["-f"]):  # a folder that is not a bundle is never replaced
        result = CliRunner().invoke(cmd_root, ["export", str(process.pk), str(tmp_path / "full"), "--files", *extra])
        assert result.exit_code != 0 and "no earlier bundle" in result.output
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    bundle = tmp_path / "bundle"
    for extra in ([], ["-f"]):  # an earlier bundle is replaced with --overwrite
        result = CliRunner().invoke(cmd_root, ["export", str(process.pk), str(bundle), "--files", *extra])
        assert result.exit_code == 0, (result.output, result.exc_info)
    again = CliRunner().invoke(cmd_root, ["export", str(process.pk), str(bundle), "--files"])
    assert again.exit_code != 0 and "--overwrite" in again.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [e["file"] for e in manifest["files"]] == ["inputs/structure.extxyz", "outputs/result.json"]
    wrong = CliRunner().invoke(cmd_root, ["export", str(process.pk), str(bundle), "--files", "--with-callers"])
    assert wrong.exit_code != 0 and "archive only" in wrong.output
