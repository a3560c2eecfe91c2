"""The runner aiida-bzs-scatter, in-process: a real run and its clear errors for bad input."""

import json

import numpy as np
import pytest

from aiida_bzs.scripts.scatter import main
from aiida_bzs.scripts.scatter_files import read_result, read_xyz, write_xyz
from aiida_bzs.structures import pnma_crystal


def run(tmp_path, symbols, positions, params, cell=None, pbc=(False,) * 3, raw_xyz=None):
    structure, parameters, output = tmp_path / "s.xyz", tmp_path / "p.json", tmp_path / "out.json"
    if raw_xyz is not None:
        structure.write_text(raw_xyz)
    else:
        write_xyz(structure, symbols, positions, cell, pbc)
    parameters.write_text(params if isinstance(params, str) else json.dumps(params))
    status = main(["--structure", str(structure), "--parameters", str(parameters), "--output", str(output)])
    return status, read_result(output.read_text())


SMALL = {"qmin": 1.0, "qmax": 10.0, "qstep": 0.05, "rmax": 8.0, "rstep": 0.05}


def test_xyz_round_trip(tmp_path):
    crystal = pnma_crystal()
    write_xyz(tmp_path / "c.xyz", crystal.get_chemical_symbols(), crystal.positions, crystal.cell[:], crystal.pbc)
    symbols, positions, cell, pbc = read_xyz(tmp_path / "c.xyz")
    assert symbols == crystal.get_chemical_symbols() and pbc == (True, True, True)
    assert np.allclose(positions, crystal.positions, atol=1e-8) and np.allclose(cell, crystal.cell[:])
    import ase.io

    assert len(ase.io.read(tmp_path / "c.xyz")) == 20  # readable by ASE (extended XYZ)


def test_run_records_versions_and_warns_about_cell(tmp_path):
    crystal = pnma_crystal()
    status, result = run(tmp_path, crystal.get_chemical_symbols(), crystal.positions, SMALL, crystal.cell[:], crystal.pbc)
    assert status == 0
    meta = result["metadata"]
    assert meta["debyecalculator_version"] == "1.1.1" and meta["device"] == "cpu" and meta["n_atoms"] == 20
    assert any("cell is ignored" in w for w in meta["warnings"])
    assert result["curves"]["sq"][-1] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    "case, code, fragment",
    [
        ("empty", "INVALID_STRUCTURE", "the structure is empty"),
        ("unknown", "UNKNOWN_ELEMENT", "['Xx']"),
        ("reversed", "INVALID_PARAMETERS", "Q range reversed"),
        ("json", "INVALID_PARAMETERS", "line 1: not valid JSON"),
        ("badline", "INVALID_STRUCTURE", "line 4: expected 'symbol x y z'"),
        ("periodic_no_cell", "INVALID_STRUCTURE", "periodic mode needs a cell"),
    ],
)
def test_bad_input(tmp_path, case, code, fragment):
    symbols, positions, params, raw = ["Ba", "S"], [[0, 0, 0], [2.5, 0, 0]], SMALL, None
    if case == "empty":
        raw = "0\n\n"
    elif case == "unknown":
        raw = "2\n\nBa 0 0 0\nXx 2.5 0 0\n"  # ASE (the writer) refuses a species that is not an element
    elif case == "reversed":
        params = {**SMALL, "qmin": 12.0}
    elif case == "json":
        params = "{qmin: 1"
    elif case == "badline":
        raw = "2\n\nBa 0 0 0\nS 2.5 zero 0\n"
    elif case == "periodic_no_cell":
        params = {**SMALL, "mode": "periodic"}
    status, result = run(tmp_path, symbols, positions, params, raw_xyz=raw)
    assert status == 2 and result["status"] == "error"
    assert result["error"]["code"] == code and fragment in result["error"]["message"]


def test_cuda_unavailable_is_reported(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    status, result = run(tmp_path, ["Ba", "S"], [[0, 0, 0], [2.5, 0, 0]], {**SMALL, "device": "cuda"})
    assert status == 2 and result["error"]["code"] == "DEVICE_UNAVAILABLE" and "no CUDA GPU" in result["error"]["message"]


@pytest.mark.parametrize("params, status", [(SMALL, 0), ({**SMALL, "qmin": 20.0}, 2)])
def test_console_script_exit_status_and_result_file(tmp_path, params, status):
    """The installed entry point skips interpreter teardown; its status and files must survive that."""
    import subprocess
    import sys

    crystal = pnma_crystal()
    write_xyz(tmp_path / "structure.xyz", crystal.get_chemical_symbols(), crystal.positions)
    (tmp_path / "parameters.json").write_text(json.dumps(params))
    done = subprocess.run([sys.executable, "-c", "from aiida_bzs.scripts.scatter import console; console()"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stderr
    result = read_result((tmp_path / "scattering.json").read_text())
    if status == 0:
        assert "20 atoms on cpu" in done.stdout and len(result["curves"]["iq"]) > 10
    else:
        assert result["status"] == "error" and "qmin" in done.stderr


@pytest.mark.parametrize("text, fragment", [
    ("", "line 1: empty file"),
    ("two\n\nBa 0 0 0\n", "line 1: expected the number of atoms"),
    ("3\n\nBa 0 0 0\nS 2.5 0 0\n", "header says 3 atoms but only 2 atom lines follow"),
    ("2\n\nBa 0 0 0\nS 2.5 0\n", "line 4: expected 'symbol x y z'"),
    ("2\n\nBa 0 0 0\nS nan 0 0\n", "line 4: non-finite position"),
])
def test_xyz_errors_name_the_line(tmp_path, text, fragment):
    """ASE reads the file; when it cannot, the error still names the file and the line at fault."""
    from aiida_bzs.scripts.scatter_files import ScatterFileError

    path = tmp_path / "s.xyz"
    path.write_text(text)
    with pytest.raises(ScatterFileError, match=fragment) as info:
        read_xyz(path)
    assert str(path) in str(info.value)


def test_xyz_from_other_writers(tmp_path):
    """Plain XYZ (no Lattice, no pbc) and ASE's own extended XYZ with more columns both read."""
    import ase.io

    (tmp_path / "plain.xyz").write_text("2\nsome comment\nBa 0 0 0\nS 2.5 0 0\n")
    symbols, positions, cell, pbc = read_xyz(tmp_path / "plain.xyz")
    assert symbols == ["Ba", "S"] and cell is None and pbc == (False,) * 3 and positions[1, 0] == 2.5
    crystal = pnma_crystal()
    crystal.set_momenta(np.ones((20, 3)))
    ase.io.write(tmp_path / "ase.xyz", crystal, format="extxyz")
    symbols, positions, cell, pbc = read_xyz(tmp_path / "ase.xyz")
    assert symbols == crystal.get_chemical_symbols() and pbc == (True,) * 3 and np.allclose(cell, crystal.cell[:])
