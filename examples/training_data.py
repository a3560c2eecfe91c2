"""Worked example: generate, label, curate and export a BaZrS3 training set, all in provenance.

    python examples/training_data.py --label 4 --quick        # ~5–10 min on 2 busy cores
    python examples/training_data.py --label 50 --protocol balanced

Steps (each a calcfunction or workchain, so each result is a node linked to its inputs):
1. ~300 structures in four families: RSS cells (1–4 formula units, some symmetric), dimers,
   strained+rattled Pnma cells and crystal–random interfaces; stored in group ``example/structures``.
2. A subset (round robin over the families) labelled by one ``DftLabelWorkChain`` (pw.x, PBEsol) with isolated-atom
   energies; failures would be listed in its ``excluded`` output.
3. Curation: a "full" set (|F| <= 20 eV/Å) and a "filtered" one (also <= 1 eV/atom above the
   lowest cohesive energy per atom), then a seeded 80/20 train/test split of the full set.
4. Export: ``train.pckl.gzip`` (pacemaker), ``train.extxyz`` and ``filtered.pckl.gzip``.

``--quick`` lowers cutoffs (15/120 Ry), uses Γ only and a 6 Å isolated-atom box and picks only
the small cells: numbers for a demonstration, not for fitting.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from aiida import load_profile, orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching

from aiida_bzs.calculations.functions import structures as fn
from aiida_bzs.calculations.functions.generators import (
    generate_dimers,
    generate_interface,
    generate_perturbed,
    generate_rss,
)
from aiida_bzs.calculations.functions.training_set import filter_training_set, split_training_set
from aiida_bzs.workflows.label import PW_CALCULATION, DftLabelWorkChain


def generate(group: orm.Group) -> list[orm.StructureData]:
    """About 300 structures in four families, added to ``group``."""
    nodes = []
    nodes += generate_rss(orm.Dict({"count": 200, "formula_units": [1, 2, 3, 4], "seed": 1})).values()
    nodes += generate_rss(
        orm.Dict({"count": 40, "formula_units": [2, 4], "seed": 1000, "spacegroups": [2, 4, 7, 14, 19]})
    ).values()
    nodes += generate_dimers(orm.Dict({"points": 6})).values()
    crystal = fn.pnma_crystal()
    nodes += generate_perturbed(crystal, orm.Dict({"count": 20, "max_strain": 0.03, "seed": 7})).values()
    for seed in range(4):
        nodes.append(generate_interface(crystal, orm.Dict({"axis": 1, "seed": seed, "amorphous_thickness": 6.0})))
    group.add_nodes(nodes)
    return nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default="pw@localhost")
    parser.add_argument("--protocol", default="fast")
    parser.add_argument("--label", type=int, default=6, help="how many structures to label")
    parser.add_argument("--quick", action="store_true", help="demonstration settings (low cutoff, Γ only)")
    parser.add_argument("--out", default="training_example", help="folder for the exported files")
    args = parser.parse_args()
    load_profile()

    group, _ = orm.Group.collection.get_or_create("example/structures")
    structures = generate(group)
    families = Counter(node.base.attributes.get("config_type") for node in structures)
    print(f"generated {len(structures)} structures: {dict(families)}; group {group.label!r}")

    # a subset to label: round robin over the families (in --quick mode only cells of ≤ 20 atoms,
    # smallest first, so the demonstration runs in minutes)
    by_family: dict[str, list[orm.StructureData]] = {}
    for node in structures:
        if not args.quick or len(node.sites) <= 20:
            by_family.setdefault(node.base.attributes.get("config_type"), []).append(node)
    if args.quick:
        for members in by_family.values():
            members.sort(key=lambda s: len(s.sites))
    chosen: list[orm.StructureData] = []
    while len(chosen) < args.label and any(by_family.values()):
        for members in by_family.values():
            if members and len(chosen) < args.label:
                chosen.append(members.pop(0))

    inputs = {
        "structures": {f"s{n.pk}": n for n in chosen},
        "code": orm.load_code(args.code),
        "protocol": orm.Str(args.protocol),
    }
    if args.quick:
        inputs.update(
            kpoints_distance=orm.Float(5.0),
            parameter_overrides=orm.Dict({"SYSTEM": {"ecutwfc": 15.0, "ecutrho": 120.0}}),
            isolated_atom_box=orm.Float(6.0),
        )
    print(f"labelling {len(chosen)} structures with pw.x ({args.protocol}{', quick' if args.quick else ''}) ...")
    with enable_caching(identifier=PW_CALCULATION):  # relabelling the same structure is free
        results, node = run_get_node(DftLabelWorkChain, **inputs)
    print(f"DftLabelWorkChain pk {node.pk}: exit status {node.exit_status}")
    for key, reason in results["excluded"].get_dict().items():
        print(f"  excluded {key}: [{reason['exit_status']}] {reason['exit_message']}")
    labelled = results["training_set"]
    print(f"TrainingSetData pk {labelled.pk}: {len(labelled)} structures {labelled.config_types}")
    print(f"isolated-atom energies (eV): {labelled.reference_energies}")

    # the study's two datasets: "full" (here minus pathological forces) and "filtered"
    # (also without structures > 1 eV/atom above the lowest cohesive energy per atom)
    full = filter_training_set(labelled, orm.Dict({"max_force": 20.0}))
    filtered = filter_training_set(full, orm.Dict({"max_energy_above_min": 1.0}))
    print(f"full: {len(full)} structures (pk {full.pk}); filtered: {len(filtered)} (pk {filtered.pk})")
    train = full
    if len(full) >= 2:
        parts = split_training_set(full, orm.Dict({"test_fraction": 0.2, "seed": 0}))
        train = parts["train"]
        print(f"split: train pk {train.pk} ({len(train)}), test pk {parts['test'].pk} ({len(parts['test'])})")

    out = Path(args.out)
    out.mkdir(exist_ok=True)
    train.write_pacemaker_pickle(out / "train.pckl.gzip")
    train.write_extxyz(out / "train.extxyz")
    filtered.write_pacemaker_pickle(out / "filtered.pckl.gzip")
    print(f"exported {out}/train.pckl.gzip, train.extxyz and filtered.pckl.gzip")
    print(f"provenance: verdi node graph generate {train.pk}")


if __name__ == "__main__":
    main()
