#!/usr/bin/env python
"""Build the DFT-labelled starting dataset of the ``demo`` campaign, with its provenance.

The demo campaign (``protocols/campaign.yaml`` preset ``demo``) has 20 minutes on 2 cores: its
live DFT can label only a handful of cells, and a potential fitted on those alone turns the crystal
into a gas. So the package ships a starting dataset that it computed itself, with its own
workchains, and this script is how it was made (and how to remake it):

1. **structures** with the package's generators (calcfunctions, so every structure records how it
   was made; each keeps its ``config_type``): the 20-atom Pnma cell (``crystal``); strained and
   rattled copies of it at several volumes (``crystal_perturbed``: near-equilibrium ones and hot
   ones, rattled by 0.15–0.3 Å at up to 1.15 × the crystal volume, i.e. thermal and pre-melting
   distortions); random 4-formula-unit cells at liquid-like volumes with liquid-like minimum
   separations (``rss``). Every cell has 20 atoms, so Γ-only DFT (pw.yaml ``demo``) samples all of
   them alike. Optionally (``--counts dimers=N``, ``--counts contacts=N``, joining at generation
   ``--contacts-at``): dimers of all six pairs in the isolated atoms' 10 Å box (``dimer``) and random
   cells with close contacts, S–S down to 1.9 Å (``rss``), the short distances a hot melt reaches.
2. **labels**: ``DftLabelWorkChain`` (``bzs.label``), protocol ``demo`` (PBEsol, pslibrary
   1.0.0 US, 25/200 Ry, Γ only: *demo-grade DFT, not converged*), ``max_concurrent`` 2 jobs of
   1 MPI rank each, isolated-atom energies for pacemaker's ``energy_corrected``.
3. optionally, ``--md-generations N`` rounds of the MD families: fit (``FitAceWorkChain``,
   protocol ``demo``) on the data so far; ``MdSamplingWorkChain`` (``bzs.md_sampling``) runs
   NVT melts, a melt–quench and high-temperature MD of the 20-atom cell with that potential in
   LAMMPS; the frames with the largest extrapolation grade γ per family (``--md-per-family``) are
   taken (``take_indices``), labelled like the rest and merged (``merge_training_sets``).
4. **export**: the final ``TrainingSetData`` with its provenance (generators, PwCalculations and
   their inputs, the fits and MD runs that chose the MD frames) via
   ``aiida.tools.archive.create_archive`` into ``aiida_bzs/resources/demo_dataset.aiida``, and a
   summary (uuid, structures per config_type, DFT settings, date, command) into
   ``aiida_bzs/resources/demo_dataset.json``.
5. optionally (``--validate``, before the export): the final dataset is split exactly as the demo
   campaign's ``learn`` stage splits it (``split_training_set``, its ``test_fraction`` and seed);
   the demo fit runs on the train part, tested on the fixed test part, and a ``MeltQuenchWorkChain``
   (protocol ``demo``) of a 2×2×2 Pnma supercell runs with its ``full`` potential; the script prints
   its ``product_check`` (classification, density ratio, Zr–S/Ba–S CN). The train part, the test
   set and that potential go into the archive too (json ``demo_inputs``): the demo campaign's
   ``learn`` starts from them (generation 0 = the shipped potential, never trained on the test set),
   so the campaign spends its minutes on one live generation, not on refitting the shipped data.
   ``--validation-fit STAGE`` takes a fit already made of exactly the final dataset (e.g. ``fit_4``,
   the fit that would drive MD generation 4) instead: its own split and potential are the inputs.

Re-running is cheap: every stage's result is kept in the group ``demo_dataset/<tag>`` (node extra
``demo_dataset_stages``) and reused; pw.x and pacemaker calculations are also cached by AiiDA.
``--fresh`` ignores the group. Examples::

    .venv/bin/python tools/make_demo_dataset.py --profile bzs --md-generations 1 --validate
    .venv/bin/python tools/make_demo_dataset.py --counts rss=4 --counts hot=2 --tag small --no-export

A next version can start from the shipped one instead of relabelling it: ``--resume-from
aiida_bzs/resources/demo_dataset.aiida`` imports that archive and takes its labels, MD generations
and merges as this tag's finished stages. v10 (shipped) = v8's 73 cells + 30 dimers and 6
close-contact cells joining after MD generation 3 (``--contacts-at 4 --md-generations 3``),
validated with ``--validation-fit fit_4``; the json's ``command`` records it. (Its MD generation 4,
labelled too, made the 800-iteration refit worse: its melt ran away; docs/campaign.md.)

Units: volumes as scales of the crystal volume, rattles in Å, energies eV, forces eV/Å.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "aiida_bzs" / "resources"
STAGE_EXTRA = "demo_dataset_stages"

#: Liquid-like minimum separations (Å) for the random cells: a little inside the shortest bonds of
#: the crystal (Zr–S 2.55, Ba–S ≥ 2.95 Å in Pnma), so the repulsive side of every bond is sampled,
#: but not the 1.9–2.1 Å contacts of the default RSS table. (S–S 2.9 Å and more could not be
#: placed in 200 random 20-atom cells; accepted cells come out at 27–30 Å³/atom.)
LIQUID_SEPARATIONS = {"Ba-Ba": 3.4, "Ba-Zr": 3.2, "Ba-S": 2.7, "Zr-Zr": 3.0, "Zr-S": 2.25, "S-S": 2.5}

#: Close-contact random cells (``--counts contacts=N``): S–S down to 1.9 Å (S2 1.89 Å, polysulfide
#: S–S 2.05 Å), Zr–S 2.15 Å, Ba–S 2.6 Å. v8 had no S–S below 2.5 Å at all, and its potential's hot
#: melt collapsed into S–S contacts of 1.86–1.96 Å (a 50 eV drop in 15 fs on 160 atoms).
CONTACT_SEPARATIONS = {**LIQUID_SEPARATIONS, "Ba-S": 2.6, "Zr-S": 2.15, "S-S": 1.9}

#: Labelling batches (one DftLabelWorkChain each), by the structure keys' prefixes. The `contacts`
#: batch (dimers, close-contact cells) joins at generation ``--contacts-at``.
BATCHES = {"crystal": ("crystal", "perturbed", "hot"), "random": ("rss",)}
CONTACT_BATCH = ("dimer", "contact")

#: Default number of structures per group of the starting set (``--counts NAME=N``; ``dimers`` is
#: the number of distances per element pair, all six pairs).
DEFAULT_COUNTS = {"perturbed": 8, "hot": 10, "rss": 12, "dimers": 0, "contacts": 0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--profile", default="bzs", help="AiiDA profile (default: bzs)")
    parser.add_argument("--tag", default="v1", help="results are kept in the group demo_dataset/<tag> (default v1)")
    parser.add_argument("--fresh", action="store_true", help="recompute every stage (pw.x/pacemaker caching still applies)")
    parser.add_argument("--counts", action="append", default=[], metavar="NAME=N",
                        help=f"structures per group: perturbed, hot, rss (default {DEFAULT_COUNTS})")
    parser.add_argument("--seed", type=int, default=0, help="base seed of every generator")
    parser.add_argument("--label-protocol", default="demo", help="label.yaml preset (default demo)")
    parser.add_argument("--fit-protocol", default="demo", help="fit.yaml preset (default demo)")
    parser.add_argument("--pw-code", default="pw@localhost")
    parser.add_argument("--pacemaker-code", default="pacemaker@localhost")
    parser.add_argument("--lmp-code", default="lmp@localhost")
    parser.add_argument("--max-concurrent", type=int, default=2, help="pw.x jobs at once (default 2)")
    parser.add_argument("--num-mpiprocs", type=int, default=1, help="MPI ranks per pw.x job (default 1)")
    parser.add_argument("--md-generations", type=int, default=0,
                        help="rounds of fit → MD families → label the most extrapolative frames (default 0)")
    parser.add_argument("--contacts-at", type=int, default=0,
                        help="generation at whose start the dimers and close-contact cells join (default 0: the "
                             "starting set; md_generations + 1: after the last one)")
    parser.add_argument("--md-per-family", type=int, default=5,
                        help="MD frames labelled per family and round (largest γ first; default 5)")
    parser.add_argument("--export", default=str(RESOURCES / "demo_dataset.aiida"),
                        help="archive file (default aiida_bzs/resources/demo_dataset.aiida)")
    parser.add_argument("--no-export", action="store_true", help="do not write the archive and the json")
    parser.add_argument("--one-batch", action="store_true",
                        help="label every starting structure in one DftLabelWorkChain (no idle tail between batches)")
    parser.add_argument("--resume-from", metavar="ARCHIVE",
                        help="import an earlier demo dataset archive (its json beside it) and take its labels, MD "
                             "generations and merges as this tag's finished stages: a next version builds on the "
                             "shipped data instead of relabelling it")
    parser.add_argument("--dry-run", action="store_true", help="make the structures, print the settings, label nothing")
    parser.add_argument("--validate", action="store_true",
                        help="fit the final dataset (demo) and melt-quench a 2x2x2 supercell (demo)")
    parser.add_argument("--validation-fit", metavar="STAGE",
                        help="validate with this stage's fit (e.g. fit_4, made of exactly the final dataset) instead "
                             "of a new one: its own train/test split and potential become the demo's inputs")
    parser.add_argument("--validate-repeat", default="2,2,2", help="supercell of the validation melt-quench")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


# -- stage bookkeeping -----------------------------------------------------------------------------
class Stages:
    """Results of finished stages: the group ``demo_dataset/<tag>`` holds the nodes, its extra
    ``demo_dataset_stages`` maps stage name → node uuid."""

    def __init__(self, tag: str, fresh: bool):
        from aiida import orm

        self.group, _ = orm.Group.collection.get_or_create(f"demo_dataset/{tag}")
        self.fresh = fresh

    def _table(self) -> dict:
        return dict(self.group.base.extras.get(STAGE_EXTRA, {}))

    def get(self, name: str):
        from aiida import orm

        uuid = self._table().get(name)
        if self.fresh or uuid is None:
            return None
        return orm.load_node(uuid)

    def put(self, name: str, node):
        table = self._table()
        table[name] = node.uuid
        self.group.add_nodes(node)
        self.group.base.extras.set(STAGE_EXTRA, table)
        return node


def resume_from(archive: Path, stages: Stages) -> None:
    """Import ``archive`` and record its stages: walking back from its final dataset (json ``uuid``)
    through ``merge_training_sets(a_previous, b_md)``, each MD generation's labels (``label_<g>``)
    and merged set (``dataset_<g>``), down to the starting set's labels (``label_all``)."""
    from aiida import orm
    from aiida.common.links import LinkType
    from aiida.tools.archive import import_archive

    record = json.loads(archive.with_suffix(".json").read_text())
    import_archive(str(archive))
    node = orm.load_node(record["uuid"])

    def label_of(training_set):
        returns = training_set.base.links.get_incoming(node_class=orm.WorkChainNode, link_type=LinkType.RETURN).all()
        labels = [link.node for link in returns if link.node.process_label == "DftLabelWorkChain"]
        if len(labels) != 1:
            raise SystemExit(f"--resume-from: TrainingSetData<{training_set.pk}> was not returned by one DftLabelWorkChain")
        return labels[0]

    generations = []
    while node.creator is not None and "a_previous" in node.creator.inputs and "b_md" in node.creator.inputs:
        generations.append((node, label_of(node.creator.inputs.b_md)))
        node = node.creator.inputs.a_previous
    stages.put("label_all", label_of(node))
    for generation, (merged, label_node) in enumerate(reversed(generations), start=1):
        stages.put(f"label_{generation}", label_node)
        stages.put(f"dataset_{generation}", merged)
    say(f"resumed from {archive.name}: starting labels + {len(generations)} MD generations "
        f"({record['num_structures']} structures)")


def run_process(builder, what: str):
    """Run a process in this interpreter; print its pk, exit status and wall time."""
    from aiida.engine import run_get_node

    start = time.time()
    say(f"{what}: running")
    _, node = run_get_node(builder)
    say(f"{what}: {node.process_label}<{node.pk}> exit {node.exit_status} in {time.time() - start:.0f} s")
    return node


# -- 1. structures ---------------------------------------------------------------------------------
def make_structures(counts: dict, seed: int) -> dict:
    """The starting structures (20 atoms; dimers 2), by key, from the package's generators."""
    from aiida import orm

    from aiida_bzs.calculations.functions.generators import generate_dimers, generate_perturbed, generate_rss
    from aiida_bzs.calculations.functions.structures import pnma_crystal, strain

    crystal = pnma_crystal()
    structures = {"crystal": crystal}

    def scaled(volume_scale: float):
        if abs(volume_scale - 1.0) < 1e-9:
            return crystal
        return strain(crystal, orm.List([volume_scale ** (1.0 / 3.0) - 1.0]))

    # near-equilibrium crystal: volumes 0.94-1.10 x, strain ±3 %, rattle 0.05-0.1 Å
    n = counts["perturbed"]
    plan = [(0.94, 0.05), (0.97, 0.08), (1.0, 0.05), (1.0, 0.1), (1.03, 0.08), (1.06, 0.1), (1.10, 0.1)]
    for i in range(n):
        volume, stdev = plan[i % len(plan)]
        out = generate_perturbed(scaled(volume), orm.Dict({"count": 1, "max_strain": 0.03, "rattle_stdev": stdev,
                                                            "seed": seed + 100 + i}))
        structures[f"perturbed_{i:02d}"] = out["perturbed_0000"]
    # hot crystal: volumes 1.0-1.10 x, strain ±3 %, rattle 0.1-0.15 Å per component (thermal displacements
    # of the crystal run from ~0.05 Å at 300 K to ~0.12 Å near melting; v5 rattled by up to 0.3 Å at
    # 1.15 x and strain ±5 %, which gave forces of 25-32 eV/Å that dominated the force loss of the fits)
    n = counts["hot"]
    plan = [(1.0, 0.1), (1.03, 0.12), (1.06, 0.15), (1.10, 0.12), (1.05, 0.15), (1.08, 0.1)]
    for i in range(n):
        volume, stdev = plan[i % len(plan)]
        out = generate_perturbed(scaled(volume), orm.Dict({"count": 1, "max_strain": 0.03, "rattle_stdev": stdev,
                                                            "seed": seed + 200 + i}))
        structures[f"hot_{i:02d}"] = out["perturbed_0000"]
    def random_cells(prefix: str, count: int, volume_per_atom: list, separations: dict, seed_offset: int):
        if count:
            out = generate_rss(orm.Dict({"count": count, "composition": "BaZrS3", "formula_units": [4],
                                         "volume_per_atom": volume_per_atom, "min_separation": separations,
                                         "seed": seed + seed_offset}))
            for i, key in enumerate(sorted(out)):
                structures[f"{prefix}_{i:02d}"] = out[key]

    # random 20-atom cells at liquid-like volumes (crystal 24.8 Å³/atom; melt ~1.1 x)
    random_cells("rss", counts["rss"], [25.0, 30.0], LIQUID_SEPARATIONS, 300)
    # dimers of all six pairs in the isolated atoms' 10 Å box (from 0.85 x the covalent radii to 5 Å;
    # 50-125 s of pw.x each) and close-contact random cells: the short distances a hot melt reaches
    if counts["dimers"]:
        out = generate_dimers(orm.Dict({"points": counts["dimers"], "box": 10.0}))
        for i, key in enumerate(sorted(out)):
            structures[f"dimer_{i:02d}"] = out[key]
    random_cells("contact", counts["contacts"], [24.0, 28.0], CONTACT_SEPARATIONS, 400)
    return structures


# -- 2. labels -------------------------------------------------------------------------------------
def label(structures=None, training_set=None, args=None, what="label"):
    from aiida_bzs.workflows.label import DftLabelWorkChain

    builder = DftLabelWorkChain.get_builder_from_protocol(
        args.pw_code, structures=structures, training_set=training_set, protocol=args.label_protocol,
        overrides={"max_concurrent": args.max_concurrent}, num_mpiprocs=args.num_mpiprocs)
    node = run_process(builder, what)
    if "training_set" not in node.outputs:
        raise SystemExit(f"{what}: no training set (exit {node.exit_status}: {node.exit_message})")
    excluded = node.outputs.excluded.get_dict()
    if excluded:
        say(f"{what}: {len(excluded)} excluded: {sorted(excluded)}")
    return node


def pw_costs(label_node) -> list[tuple[int, float, float, int]]:
    """(atoms, wall s, CPU s, SCF iterations) of every pw.x job the label run made."""
    rows = []
    for calc in label_node.called_descendants:
        if calc.process_type != "aiida.calculations:quantumespresso.pw" or not calc.is_finished_ok:
            continue
        params = calc.outputs.output_parameters.get_dict()
        cpu = None
        try:
            text = calc.outputs.retrieved.base.repository.get_object_content("aiida.out")
            for line in text.splitlines():
                if "PWSCF        :" in line:
                    cpu = _qe_seconds(line.split(":", 1)[1].split("CPU")[0])
        except (OSError, KeyError, ValueError):
            pass
        rows.append((len(calc.inputs.structure.sites), float(params.get("wall_time_seconds") or 0.0),
                     cpu or 0.0, int(params.get("scf_iterations") or 0)))
    return rows


def _qe_seconds(text: str) -> float:
    """'1m 4.64s' / '45.2s' / '1h 2m' (QE's clock format) → seconds."""
    total, number = 0.0, ""
    for char in text.strip():
        if char.isdigit() or char == ".":
            number += char
        elif char in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total


def print_costs(label_node) -> dict:
    rows = [r for r in pw_costs(label_node) if r[0] > 2]
    if not rows:
        return {}
    import numpy as np

    wall, cpu = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    say(f"pw.x cost per structure ({len(rows)} jobs, {rows[0][0]}-{max(r[0] for r in rows)} atoms): "
        f"wall {wall.mean():.0f} s (min {wall.min():.0f}, max {wall.max():.0f}), CPU {cpu.mean():.0f} s")
    return {"jobs": len(rows), "mean_wall_s": round(float(wall.mean()), 1), "mean_cpu_s": round(float(cpu.mean()), 1),
            "max_wall_s": round(float(wall.max()), 1)}


def add_contacts(dataset, structures, args, stages, label_nodes, costs):
    """Label the dimers and close-contact cells (stage ``label_contacts``) and merge them into
    ``dataset`` (stage ``contacts_merged``), before a later MD generation."""
    from aiida_bzs.calculations.functions.training_set import merge_training_sets

    chosen = {k: v for k, v in structures.items() if k.split("_")[0] in CONTACT_BATCH}
    if not chosen:
        return dataset
    node = stages.get("label_contacts") or stages.put(
        "label_contacts", label(structures=chosen, args=args, what=f"label contacts ({len(chosen)})"))
    label_nodes.append(node)
    costs["contacts"] = print_costs(node)
    merged = stages.get("contacts_merged")
    if merged is None:
        merged = stages.put("contacts_merged", merge_training_sets(
            **{"a_previous": dataset, "b_contacts": node.outputs.training_set}))
    say(f"with dimers and close contacts: {len(merged)} structures {dict(merged.config_types)}")
    return merged


# -- 3. MD families --------------------------------------------------------------------------------
def fit(training_set, args, what="fit", versions=None, test_set=None):
    from aiida_bzs.workflows.fit import FitAceWorkChain

    overrides = {"versions": versions} if versions else None
    builder = FitAceWorkChain.get_builder_from_protocol(args.pacemaker_code, training_set,
                                                        protocol=args.fit_protocol, overrides=overrides,
                                                        test_set=test_set)
    node = run_process(builder, what)
    for version in versions_of(node):
        if True:
            test = node.outputs[version].test_metrics.get_dict()
            metrics = node.outputs[version].metrics.get_dict()
            verdict = node.outputs[version].verdict.get_dict()
            say(f"{what} {version}: train RMSE {_fmt(metrics, 'energy')} meV/atom, {_fmt(metrics, 'forces')} meV/Å; "
                f"test RMSE {test.get('rmse_energy', float('nan')):.1f} meV/atom, "
                f"{test.get('rmse_forces', float('nan')):.0f} meV/Å ({test.get('n_structures', '?')} structures); "
                f"verdict {verdict.get('verdict')}")
    return node


def versions_of(fit_node) -> list[str]:
    """The potential versions (filtered, full) a FitAceWorkChain returned."""
    labels = {link.link_label.split("__")[0] for link in fit_node.base.links.get_outgoing().all()}
    return [v for v in ("filtered", "full") if v in labels]


def _fmt(metrics: dict, kind: str) -> str:
    for key in (f"train_rmse_{kind}", f"rmse_{kind}"):
        if key in metrics and metrics[key] is not None:
            return f"{metrics[key]:.1f}"
    return "?"


def md_frames(potential, crystal, args, generation: int):
    """MdSamplingWorkChain on the 20-atom cell; the frames of largest γ per family."""
    from aiida import orm

    from aiida_bzs.calculations.functions.active_learning import take_indices
    from aiida_bzs.workflows.md_sampling import MdSamplingWorkChain

    families = {
        "timestep": 1.0, "repeat": [1, 1, 1], "max_frames": 8,
        "nvt_melt": {"temperatures": [2500.0, 3500.0], "volume_scales": [1.10, 1.20], "duration": 2.0,
                     "interval": 0.2, "skip": 0.4},
        "melt_quench": {"melt_temperature": 3000.0, "melt_duration": 2.0, "volume_scale": 1.10,
                        "final_temperature": 300.0, "rate": 1.0e15, "interval": 0.3},
        # generation 1 heats the crystal to 1500 K only; later ones also to 2200 K, where the demo's
        # melt-quench heating ran away with the generation-1 potential (v6: 4800-6200 K at 0.9 ps)
        "high_temperature": {"temperatures": [1500.0] if generation == 1 else [1500.0, 2200.0], "duration": 2.0,
                             "interval": 0.2, "skip": 0.4, "cells": ["crystal", "amorphous"]},
    }
    if generation >= 4:
        # from generation 4: the demo melt itself, at 2500 K. v9 sampled the liquid at 1.05-1.15 x the
        # crystal volume (where the v8 potential collapsed into S-S contacts): its melt-quench then
        # finished but the product came out at 1.34 x the crystal volume (74.5 % density; the study:
        # 92.5 %, i.e. 1.08 x), where the data held no disordered cell. v10 brackets both: melts at
        # 1.0 and 1.3 x, the quench at 1.1 x
        families["nvt_melt"].update(temperatures=[2500.0, 3000.0], volume_scales=[1.0, 1.3])
        families["melt_quench"].update(melt_temperature=2500.0, volume_scale=1.1)
        families["high_temperature"].update(temperatures=[2200.0, 2500.0])
    builder = MdSamplingWorkChain.get_builder_from_protocol(
        args.lmp_code, potential, crystal, protocol="fast", overrides={"families": families, "lammps_protocol": "fast"})
    builder.allow_unusable_potential = orm.Bool(True)  # exploring where a potential fails is the point
    node = run_process(builder, f"MD families, generation {generation}")
    if "candidates" not in node.outputs:
        say(f"no MD candidates: {node.exit_message}")
        return None, node
    candidates = node.outputs.candidates
    arrays = candidates.get_arrays()
    types = [str(t) for t in arrays["config_type"]] if "config_type" in arrays else [a.info.get("config_type") for a in candidates.to_atoms()]
    gamma = node.outputs.max_gamma.get_array("max_gamma") if "max_gamma" in node.outputs else [0.0] * len(types)
    chosen = []
    for family in sorted(set(types)):
        idx = [i for i, t in enumerate(types) if t == family]
        idx.sort(key=lambda i: -float(gamma[i]))
        chosen += idx[: args.md_per_family]
        say(f"  {family}: {len(idx)} frames, γ max {max(float(gamma[i]) for i in idx):.1f}; taking {min(len(idx), args.md_per_family)}")
    return take_indices(candidates, orm.List(sorted(chosen))), node


# -- 4. export -------------------------------------------------------------------------------------
def export(dataset, label_nodes, args, costs, argv, demo_inputs=None):
    from aiida.tools.archive import create_archive

    path = Path(args.export)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    say(f"exporting TrainingSetData<{dataset.pk}> with its provenance to {path}")
    create_archive([dataset, *(demo_inputs or {}).values()], filename=str(path), include_authinfos=False)
    size = path.stat().st_size / 2**20
    from aiida import orm
    from aiida.tools.archive.abstract import get_format

    with get_format().open(str(path), "r") as reader:
        n_nodes = reader.querybuilder().append(orm.Node).count()
        n_pw = reader.querybuilder().append(
            orm.CalcJobNode, filters={"process_type": "aiida.calculations:quantumespresso.pw"}).count()
    say(f"archive {path.name}: {size:.2f} MiB, {n_nodes} nodes, {n_pw} pw.x calculations (their inputs included)")
    settings = dataset.base.attributes.get("dft_settings", None) or {}
    summary = {
        "uuid": dataset.uuid,
        "archive": path.name,
        "num_structures": len(dataset),
        "num_atoms": int(sum(len(a) for a in dataset.to_atoms())),
        "config_types": dict(dataset.config_types),
        "reference_energies_eV": dict(dataset.reference_energies),
        "dft": {
            "grade": "DEMO-GRADE DFT, NOT CONVERGED: 25/200 Ry (pslibrary US suggests 46/268 Ry), Γ only on 20-atom cells",
            "code": "Quantum ESPRESSO pw.x (Debian), via DftLabelWorkChain (bzs.label)",
            "label_protocol": args.label_protocol,
            "settings": settings,
            "pw_inputs": _pw_inputs(label_nodes[0]) if label_nodes else {},
        },
        "label_workchains": [n.uuid for n in label_nodes],
        "pw_cost": costs,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python tools/make_demo_dataset.py " + " ".join(shlex.quote(a) for a in argv),
        "archive_mib": round(size, 2),
        "archive_nodes": n_nodes,
        "archive_pw_calculations": n_pw,
    }
    if demo_inputs:
        # what the demo campaign starts from: the train part (learn trains on it), the fixed test set
        # (never trained on, by the shipped potential either) and generation 0 of learn
        summary["demo_inputs"] = {name: node.uuid for name, node in demo_inputs.items()}
    out = RESOURCES / "demo_dataset.json" if path.parent == RESOURCES else path.with_suffix(".json")
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n")
    say(f"summary: {out}")
    return summary


def _pw_inputs(label_node) -> dict:
    """The pw.x namelists, k spacing (Å⁻¹) and SCF threshold the labels were made with."""
    pw = label_node.inputs.parameters.get_dict()["pw"] if "parameters" in label_node.inputs else {}
    return {"namelists": pw.get("pw", {}).get("parameters", {}), "kpoints_distance": pw.get("kpoints_distance"),
            "conv_thr_per_atom": pw.get("meta_parameters", {}).get("conv_thr_per_atom"),
            "pseudo_family": pw.get("pseudo_family"), "qe_protocol": label_node.inputs.parameters.get_dict().get("qe_protocol")}


# -- 5. validation ---------------------------------------------------------------------------------
def demo_split(dataset):
    """The train/test split the demo campaign's ``learn`` stage makes of ``dataset`` (its protocol's
    ``test_fraction`` and ``split_seed``; split_training_set is deterministic), as nodes."""
    from aiida import orm

    from aiida_bzs.calculations.functions.training_set import split_training_set
    from aiida_bzs.workflows.campaign import campaign_settings
    from aiida_bzs.workflows.protocols import get_protocol, recursive_merge

    learn = campaign_settings("demo")["learn"]
    settings = recursive_merge(get_protocol("active_learning", learn.get("protocol")), learn.get("overrides") or {})
    parts = split_training_set(dataset, orm.Dict({"test_fraction": settings["test_fraction"],
                                                  "seed": settings.get("split_seed", 0)}))
    return parts["train"], parts["test"]


def validate(dataset, args, stages):
    """Fit on the demo's train part (tested on its fixed test set) and melt-quench with the result:
    the fit's ``full`` potential is what the demo campaign's ``learn`` starts from."""
    from aiida import orm

    from aiida_bzs.calculations.functions.structures import make_supercell, pnma_crystal
    from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain

    key = dataset.uuid[:8]  # a stage per final dataset: a rerun with more data validates again
    if args.validation_fit:
        # a fit already made of exactly this dataset (e.g. the one that drove the next MD generation):
        # its own split is the demo's train part and fixed test set, its potential generation 0
        fit_node = stages.get(args.validation_fit)
        if fit_node is None or fit_node.inputs.training_set.uuid != dataset.uuid:
            raise SystemExit(f"--validation-fit {args.validation_fit}: no such stage, or not a fit of the final "
                             f"dataset TrainingSetData<{dataset.pk}>")
        version = "full" if "full" in versions_of(fit_node) else "filtered"
        train, test = fit_node.outputs[version].training_set, fit_node.outputs[version].test_set
        say(f"validation fit: stage {args.validation_fit}, FitAceWorkChain<{fit_node.pk}>: train {len(train)}, "
            f"fixed test set {len(test)} {dict(test.config_types)}")
    else:
        train, test = demo_split(dataset)
        say(f"demo split: train {len(train)} structures, fixed test set {len(test)} {dict(test.config_types)}")
        fit_node = stages.get(f"validation_fit_{key}") or stages.put(
            f"validation_fit_{key}", fit(train, args, "validation fit (train part)", test_set=test))
    version = "full" if "full" in versions_of(fit_node) else "filtered"
    potential = fit_node.outputs[version].potential
    repeat = [int(x) for x in args.validate_repeat.split(",")]
    structure = make_supercell(pnma_crystal(), orm.List(repeat))
    builder = MeltQuenchWorkChain.get_builder_from_protocol(args.lmp_code, potential, structure, protocol="demo")
    builder.allow_unusable_potential = orm.Bool(True)
    node = stages.get(f"validation_mq_{key}") or stages.put(
        f"validation_mq_{key}", run_process(builder, f"melt-quench demo of {len(structure.sites)} atoms ({version} potential)"))
    if "product_check" in node.outputs:
        check = node.outputs.product_check.get_dict()
        product = check.get("product", {})
        say(f"product_check: {check.get('classification')}; density ratio {check.get('density_ratio')}; "
            f"lro_ratio {check.get('lro_ratio')}; product {json.dumps(product, default=str)[:400]}")
        say(f"reasons: {check.get('reasons')}")
    if "density" in node.outputs:
        say(f"density {node.outputs.density.value:.3f} g/cm³")
    return fit_node, node, {"training_set": train, "test_set": test, "initial_potential": potential}


def validation_status(mq: dict) -> str:
    """``PLAUSIBLE: …`` when the validation melt-quench finished and its product is the study's kind
    of amorphous (product_check ``amorphous``), else ``NOT PLAUSIBLE: …`` with what went wrong (the
    demo campaign warns with it: aiida_bzs.common.demo_dataset.validation_problem)."""
    from aiida_bzs.common.demo_dataset import NOT_PLAUSIBLE, PLAUSIBLE

    product = mq.get("product") or {}

    def mean_cn(element):
        value = (product.get(f"{element}_cn") or {}).get("mean")
        return float("nan") if value is None else value

    figures = (f"density {mq.get('density_ratio') or float('nan'):.1%} of the crystal's, mean Zr-S CN "
               f"{mean_cn('zr'):.2f}, Ba-S CN {mean_cn('ba'):.2f}")
    if mq.get("exit_status") == 0 and mq.get("classification") == "amorphous":
        return f"{PLAUSIBLE}: a potential fitted on the train part melt-quenches the crystal into an amorphous solid ({figures})"
    if mq.get("exit_status") != 0:
        return f"{NOT_PLAUSIBLE}: the validation melt-quench failed (exit {mq.get('exit_status')}): {mq.get('exit_message')}"
    return (f"{NOT_PLAUSIBLE}: the validation melt-quench product is {mq.get('classification')} ({figures}): "
            + "; ".join(mq.get("reasons") or []))


def record_validation(archive: Path, fit_node, mq_node) -> None:
    """Add the validation figures (fit RMSEs, melt-quench outcome) to the dataset's json record."""
    path = RESOURCES / "demo_dataset.json" if archive.parent == RESOURCES else archive.with_suffix(".json")
    record = json.loads(path.read_text())
    fit_block = {"workchain_uuid": fit_node.uuid, "wall_s": round((fit_node.mtime - fit_node.ctime).total_seconds())}
    for version in versions_of(fit_node):
        out = fit_node.outputs[version]
        metrics, test = out.metrics.get_dict(), out.test_metrics.get_dict()
        fit_block[version] = {
            "train_rmse_energy_meV_atom": metrics.get("train_rmse_energy"), "train_rmse_forces_meV_A": metrics.get("train_rmse_forces"),
            "test_rmse_energy_meV_atom": test.get("rmse_energy"), "test_rmse_forces_meV_A": test.get("rmse_forces"),
            "test_structures": test.get("n_structures"), "converged": metrics.get("converged"),
            "verdict": out.verdict.get_dict().get("verdict")}
    mq = {"workchain_uuid": mq_node.uuid, "exit_status": mq_node.exit_status, "exit_message": mq_node.exit_message}
    if "product_check" in mq_node.outputs:
        check = mq_node.outputs.product_check.get_dict()
        mq.update({k: check.get(k) for k in ("classification", "density_ratio", "lro_ratio", "reasons", "product")})
    if "density" in mq_node.outputs:
        mq["density_g_cm3"] = mq_node.outputs.density.value
    record["validation"] = {"fit": fit_block, "melt_quench": mq, "status": validation_status(mq)}
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")
    say(f"validation recorded in {path}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    counts = dict(DEFAULT_COUNTS)
    for item in args.counts:
        name, _, value = item.partition("=")
        if name not in counts or not value.isdigit():
            raise SystemExit(f"--counts {item!r}: use NAME=N with NAME one of {sorted(counts)}")
        counts[name] = int(value)

    from aiida import load_profile, orm

    load_profile(args.profile)
    from aiida_bzs.calculations.functions.training_set import merge_training_sets

    stages = Stages(args.tag, args.fresh)
    if args.resume_from:
        resume_from(Path(args.resume_from), stages)
    start = time.time()
    costs: dict = {}

    # 1 + 2: starting structures and their labels, one DftLabelWorkChain per batch of families (a
    # finished batch is kept even if a later one is interrupted)
    structures = make_structures(counts, args.seed)
    say(f"{len(structures)} structures: " + ", ".join(
        f"{prefix}={sum(1 for k in structures if k.split('_')[0] == prefix)}"
        for prefix in (*(p for group in BATCHES.values() for p in group), *CONTACT_BATCH)))
    if args.dry_run:
        from aiida_bzs.workflows.label import DftLabelWorkChain

        builder = DftLabelWorkChain.get_builder_from_protocol(
            args.pw_code, structures=structures, protocol=args.label_protocol,
            overrides={"max_concurrent": args.max_concurrent}, num_mpiprocs=args.num_mpiprocs)
        say(f"dry run: label parameters {json.dumps(builder.parameters.get_dict()['pw'], default=str)[:600]}")
        return
    label_nodes, parts = [], {}
    batches = {"all": tuple(name for group in BATCHES.values() for name in group)} if args.one_batch else dict(BATCHES)
    if args.contacts_at == 0:
        batches["contacts"] = CONTACT_BATCH
    for batch, prefixes in batches.items():
        chosen = {k: v for k, v in structures.items() if k.split("_")[0] in prefixes}
        if not chosen:
            continue
        node = stages.get(f"label_{batch}")
        if node is None:
            node = stages.put(f"label_{batch}", label(structures=chosen, args=args, what=f"label {batch} ({len(chosen)})"))
        label_nodes.append(node)
        parts[f"{len(parts):02d}_{batch}"] = node.outputs.training_set
        costs[batch] = print_costs(node)
    dataset = stages.get("dataset_0") if not args.fresh else None
    if dataset is None or dataset.base.extras.get("demo_dataset_parts", None) != sorted(p.uuid for p in parts.values()):
        dataset = merge_training_sets(**parts) if len(parts) > 1 else next(iter(parts.values()))
        if len(parts) > 1:
            dataset.base.extras.set("demo_dataset_parts", sorted(p.uuid for p in parts.values()))
            stages.put("dataset_0", dataset)
    say(f"starting set: {len(dataset)} structures {dict(dataset.config_types)}")
    crystal = structures["crystal"]

    # 3: MD families
    for generation in range(1, args.md_generations + 2):
        if generation == args.contacts_at:
            dataset = add_contacts(dataset, structures, args, stages, label_nodes, costs)
        if generation > args.md_generations:
            break  # --contacts-at md_generations + 1: the contacts join after the last MD generation
        merged = stages.get(f"dataset_{generation}")
        if merged is None:
            fit_node = stages.get(f"fit_{generation}") or stages.put(
                f"fit_{generation}", fit(dataset, args, f"fit for MD generation {generation}", versions=["full"]))
            potential = fit_node.outputs.full.potential
            frames, _ = md_frames(potential, crystal, args, generation)
            if frames is None:
                break
            label_md = stages.put(f"label_{generation}", label(training_set=frames, args=args,
                                                                  what=f"label MD frames, generation {generation}"))
            costs[f"md_{generation}"] = print_costs(label_md)
            merged = stages.put(f"dataset_{generation}",
                                merge_training_sets(**{"a_previous": dataset, "b_md": label_md.outputs.training_set}))
        label_nodes += [n for n in [stages.get(f"label_{generation}")] if n is not None]
        if f"md_{generation}" not in costs and stages.get(f"label_{generation}") is not None:
            costs[f"md_{generation}"] = print_costs(stages.get(f"label_{generation}"))
        dataset = merged
        say(f"dataset after MD generation {generation}: {len(dataset)} structures {dict(dataset.config_types)}")
    stages.put("final", dataset)

    fit_node = mq_node = demo_inputs = None
    if args.validate:
        fit_node, mq_node, demo_inputs = validate(dataset, args, stages)
    if not args.no_export:
        export(dataset, label_nodes, args, costs, argv, demo_inputs)
        if fit_node is not None:
            record_validation(Path(args.export), fit_node, mq_node)
    say(f"done in {time.time() - start:.0f} s; final TrainingSetData<{dataset.pk}> uuid {dataset.uuid}")


if __name__ == "__main__":
    main()
