"""Dimer scans start near the bonded distance by default and say which distances they used."""

from __future__ import annotations

import re

import pytest
from aiida import orm
from ase.data import atomic_numbers, covalent_radii
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root
from aiida_bzs.structures.dimers import (
    DEFAULT_DIMER_MAX,
    DIMER_START_FACTOR,
    default_dimer_range,
    describe_scan,
    dimers,
)
from aiida_bzs.structures.errors import StructureInputError


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args], catch_exceptions=False)


def test_default_scan_starts_near_the_bond_and_ends_at_the_cutoff():
    images = dimers(points=4)
    by_pair = {}
    for atoms in images:
        by_pair.setdefault(tuple(atoms.get_chemical_symbols()), []).append(atoms.info["dimer_distance"])
    assert len(by_pair) == 6
    for (a, b), distances in by_pair.items():
        radii = covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]]
        assert min(distances) == pytest.approx(DIMER_START_FACTOR * radii, abs=0.006)
        assert max(distances) == pytest.approx(DEFAULT_DIMER_MAX)
    # inside the crystal's bonds (Zr–S 2.54 Å, Ba–S ≥ 2.95 Å), far from the 1.6 Å of the old default
    assert 2.2 < min(by_pair[("Zr", "S")]) < 2.54
    assert 2.6 < min(by_pair[("Ba", "S")]) < 2.95
    assert 1.7 < min(by_pair[("S", "S")]) < 1.89


def test_one_point_is_the_start_and_is_described():
    images = dimers(pairs=[("Ba", "S")], points=1)
    assert [a.info["dimer_distance"] for a in images] == [default_dimer_range("Ba", "S")[0]]
    assert describe_scan(images) == ["Ba–S: 2.72 Å"]
    assert describe_scan(dimers(pairs=[("S", "S")], distance_range=(1.8, 4.0), points=3)) == ["S–S: 3 points 1.80–4.00 Å"]


def test_default_scan_ends_at_half_a_small_box_and_refuses_a_box_too_small():
    assert default_dimer_range("S", "S", box=10.0) == (1.78, 5.0)
    with pytest.raises(StructureInputError, match="box of at least 7.3 Å"):
        dimers(pairs=[("Ba", "Ba")], box=6.0)


def test_cli_dimers_print_the_distance_and_the_pks(aiida_profile):
    result = invoke("generate", "dimers", "--pairs", "Ba-S", "--points", 1, "--group", "dimer-default")
    assert result.exit_code == 0, result.output
    assert "Ba–S: 2.72 Å" in result.output
    (node,) = orm.load_group("dimer-default").nodes
    assert node.base.attributes.get("dimer_distance") == pytest.approx(2.72)
    assert re.search(r"StructureData pks: (\d+)", result.output).group(1) == str(node.pk)
    assert "warning" not in result.output


def test_cli_dimers_warn_when_a_given_range_starts_deep_inside_the_bond(aiida_profile):
    result = invoke("generate", "dimers", "--pairs", "Zr-S", "--points", 2, "--distance-range", 1.5, 3.0,
                    "--group", "dimer-close")
    assert result.exit_code == 0, result.output
    assert "Zr–S: 2 points 1.50–3.00 Å" in result.output
    assert "warning: Zr–S at 1.50 Å is inside 2.38 Å" in result.output
    assert "StructureData pks: " in result.output
