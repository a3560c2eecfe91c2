"""``aiida-bzs generate / label / dataset`` and ``verdi data bzs.training_set`` end to end (no DFT)."""

from __future__ import annotations

import gzip
import pickle
import re

import numpy as np
from aiida import orm
from ase.io import read, write
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root
from aiida_bzs.cli.data_training_set import training_set as verdi_training_set
from aiida_bzs.data.training_set import TrainingSetData

from training_helpers import labelled_images



def invoke(*args, command=cmd_root):
    result = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    return result


def test_generate_commands_fill_a_group(aiida_profile):
    result = invoke("generate", "rss", "--count", 6, "--formula-units", "1,2", "--seed", 5,
                    "--min-separation", "S-S=2.0", "--group", "cli-rss")
    assert result.exit_code == 0, result.output
    group = orm.load_group("cli-rss")
    assert group.count() == 6
    assert {n.base.attributes.get("config_type") for n in group.nodes} == {"rss"}
    creator = next(iter(group.nodes)).creator
    assert creator.inputs.parameters["min_separation"]["S-S"] == 2.0

    result = invoke("generate", "dimers", "--pairs", "Ba-S,S-S", "--points", 2, "--distance-range", 2.0, 4.0,
                    "--group", "cli-rss")
    assert result.exit_code == 0, result.output
    assert orm.load_group("cli-rss").count() == 10

    result = invoke("structure", "crystal", "--group", "cli-crystal")
    crystal_pk = re.search(r"pk=(\d+)", result.output).group(1)
    result = invoke("generate", "rattle", crystal_pk, "--count", 2, "--group", "cli-crystalline")
    assert result.exit_code == 0, result.output
    result = invoke("generate", "interface", crystal_pk, "--axis", 1, "--count", 2, "--group", "cli-interface")
    assert result.exit_code == 0, result.output
    assert {n.base.attributes.get("config_type") for n in orm.load_group("cli-interface").nodes} == {"interface"}

    bad = invoke("generate", "rss", "--composition", "BaZrO3", "--group", "cli-bad")
    assert bad.exit_code != 0 and "not Ba, Zr or S" in bad.output


def test_label_refuses_overlapping_structure_before_dft(aiida_profile, training_pw_code):
    from ase import Atoms

    from aiida_bzs.calculations.functions.structures import to_structure

    group, _ = orm.Group.collection.get_or_create("cli-overlap")
    node = to_structure(Atoms("S2", positions=[(0, 0, 0), (0.2, 0, 0)], cell=[6] * 3, pbc=True)).store()
    group.add_nodes(node)
    n_calcs = orm.QueryBuilder().append(orm.CalcJobNode).count()
    result = invoke("label", "cli-overlap", "--code", training_pw_code.full_label, "--protocol", "fast")
    assert result.exit_code != 0
    assert f"pk{node.pk}" in result.output and "overlapping" in result.output
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == n_calcs


def test_dataset_import_show_filter_export(aiida_profile, tmp_path):
    images = labelled_images()
    images[1].calc.results["forces"][0] = [0.0, 0.0, 40.0]
    source = tmp_path / "in.extxyz"
    write(source, images)
    refs = tmp_path / "refs.json"
    refs.write_text('{"Ba": -700.0, "Zr": -1300.0, "S": -300.0}')

    result = invoke("dataset", "import", source, "--reference-energies", refs, "--label", "cli-set")
    assert result.exit_code == 0, result.output
    pk = re.search(r"pk (\d+)", result.output).group(1)

    shown = invoke("dataset", "show", pk)
    assert shown.exit_code == 0 and "dimer" in shown.output and "eV/atom" in shown.output
    listed = invoke("list", command=verdi_training_set)
    assert "cli-set" in listed.output

    filtered = invoke("dataset", "filter", pk, "--max-force", 10.0)
    assert filtered.exit_code == 0, filtered.output
    new_pk = int(re.search(r"pk (\d+)", filtered.output).group(1))
    assert len(orm.load_node(new_pk)) == len(images) - 1

    xyz = tmp_path / "out.extxyz"
    assert invoke("export", pk, xyz, command=verdi_training_set).exit_code == 0
    back = read(xyz, ":")
    assert [a.get_potential_energy() for a in back] == [a.get_potential_energy() for a in images]

    pickle_path = tmp_path / "out.pckl.gzip"
    assert invoke("dataset", "export", new_pk, pickle_path).exit_code == 0
    with gzip.open(pickle_path, "rb") as fh:
        df = pickle.load(fh)
    assert len(df) == len(images) - 1
    imported = read(source, ":")  # ASE's writer rounded the input file; the export is exact to it
    np.testing.assert_array_equal(df.forces.iloc[0], imported[0].get_forces())

    split = invoke("dataset", "split", pk, "--test-fraction", 0.3, "--seed", 1)
    assert split.exit_code == 0 and "train" in split.output and "test" in split.output
    selected = invoke("dataset", "select", pk, "dimer")
    assert selected.exit_code == 0, selected.output
    merged = invoke("dataset", "merge", pk, new_pk)
    assert merged.exit_code == 0, merged.output
    merged_pk = int(re.search(r"pk (\d+)", merged.output).group(1))
    assert len(orm.load_node(merged_pk)) == 2 * len(images) - 1
    assert isinstance(orm.load_node(merged_pk), TrainingSetData)
