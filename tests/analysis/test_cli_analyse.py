"""``aiida-bzs analyse``: files or nodes in, a table and a comparison figure out."""

import ase.io
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root
from aiida_bzs.structures import make_supercell
from aiida_bzs.structures.errors import StructureInputError


@pytest.fixture
def files(tmp_path, crystal, make_random_bazrs3):
    xyz = tmp_path / "crystal.xyz"
    ase.io.write(xyz, make_supercell(crystal, (2, 1, 2)), format="extxyz")
    data = tmp_path / "random.data"
    ase.io.write(data, make_random_bazrs3(16, seed=4), format="lammps-data", masses=True,
                 specorder=["Ba", "Zr", "S"])
    bare = tmp_path / "bare.data"
    ase.io.write(bare, make_random_bazrs3(4, seed=4), format="lammps-data", specorder=["Ba", "Zr", "S"])
    return xyz, data, bare


def test_compare_a_crystal_file_with_a_lammps_file(aiida_profile, files, tmp_path):
    xyz, data, _ = files
    png = tmp_path / "out.png"
    result = CliRunner().invoke(cmd_root, ["analyse", str(xyz), "--compare", str(data), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("structure"))
    columns = [c.strip() for c in header.split("  ") if c.strip()]
    assert columns[:4] == ["structure", "atoms", "ρ (g/cm³)", "CN Zr–S"]
    table = {line.split()[0]: dict(zip(columns, line.split())) for line in lines
             if line.split() and line.split()[0] in ("crystal", "random")}
    assert table["crystal"]["atoms"] == table["random"]["atoms"] == "80"
    assert table["crystal"]["ρ (g/cm³)"] == table["random"]["ρ (g/cm³)"] == "4.355"
    assert table["crystal"]["CN Zr–S"] == "6.00" and table["crystal"]["CN Ba–S"] == "8.00"
    assert float(table["random"]["CN Zr–S"]) < 6
    # the files became nodes with their origin recorded
    imported = orm.QueryBuilder().append(orm.StructureData, tag="s").append(
        orm.CalcFunctionNode, with_outgoing="s", filters={"attributes.process_label": "structure_from_file"}
    )
    assert imported.count() == 2


def test_lammps_types_for_files_without_masses(aiida_profile, files):
    from aiida_bzs.calculations.functions.structure_files import structure_from_file

    bare = orm.SinglefileData(files[2])
    node = structure_from_file(bare, types=orm.List(["Ba", "Zr", "S"]))
    assert node.get_formula() == "Ba4S12Zr4"
    with pytest.raises(StructureInputError, match="--types Ba,Zr,S"):
        structure_from_file(bare)
    result = CliRunner().invoke(cmd_root, ["analyse", str(files[2])])
    assert result.exit_code != 0 and "--types Ba,Zr,S" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bond", "Zr-S=0"], "must be a number of Å > 0"),
        (["--bond", "Zr-O=2.2"], "has no ['O']"),
        (["--bond", "Zr-S"], "write BOND=Å"),
        (["--r-max", "-1"], "rdf_r_max must be > 0"),
    ],
)
def test_bad_options_end_in_one_line(aiida_profile, crystal, args, message):
    from aiida_bzs.common.structure_nodes import structure_from_atoms

    node = structure_from_atoms(crystal).store()  # by pk this time, not a file
    result = CliRunner().invoke(cmd_root, ["analyse", str(node.pk), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_unknown_structure(aiida_profile):
    result = CliRunner().invoke(cmd_root, ["analyse", "no-such-thing"])
    assert result.exit_code == 2 and "neither a file nor a node" in result.output
