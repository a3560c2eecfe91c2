"""AcePotentialData on a real fitted potential: metadata, deduplication, files, pyace, LAMMPS lines."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_bzs.data.ace_potential import AcePotentialData, AcePotentialError, read_potential_metadata


def test_metadata_and_deduplication(fitted_potential, ace_fixtures):
    yaml_path = ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml"
    assert fitted_potential.is_stored
    assert fitted_potential.elements == ["Ba", "S", "Zr"]
    assert fitted_potential.cutoff == pytest.approx(5.0)
    assert set(fitted_potential.n_functions) == {"Ba", "S", "Zr"}
    assert not fitted_potential.has_active_set
    again = AcePotentialData.get_or_create(yaml_path)
    assert again.pk == fitted_potential.pk
    meta = read_potential_metadata(yaml_path.read_text())
    assert meta["n_functions"] == fitted_potential.n_functions


def test_write_files_and_lammps_lines(fitted_potential, tmp_path):
    files = fitted_potential.write_files(tmp_path)
    assert files["asi"] is None
    assert files["yaml"].read_bytes() == fitted_potential.get_content("yaml")
    assert files["yace"].exists()
    lines = fitted_potential.as_lammps_potential(["Ba", "Zr", "S"])
    assert lines.splitlines() == ["pair_style pace", "pair_coeff * * potential.yace Ba Zr S"]
    with pytest.raises(AcePotentialError, match=r"\['O'\] are not in the potential"):
        fitted_potential.as_lammps_potential(["Ba", "O"])


def test_yace_refused_where_yaml_needed(fitted_potential, tmp_path):
    """A .yace cannot carry an active set: offering it as the potential is a clear error."""
    yace = fitted_potential.write_files(tmp_path)["yace"]
    with pytest.raises(AcePotentialError, match="give the B-basis .yaml"):
        AcePotentialData.get_or_create(yace)
    renamed = tmp_path / "disguised.yaml"
    renamed.write_bytes(yace.read_bytes())
    with pytest.raises(AcePotentialError, match="C-tilde .yace file; the B-basis .yaml"):
        AcePotentialData(renamed)
    with pytest.raises(AcePotentialError, match="no active set"):
        fitted_potential.get_content("asi")


def test_calculator_yaml_equals_yace(fitted_potential, dataset_images, tmp_path):
    """pyace on the .yaml and on the converted .yace give the same energies and forces."""
    from pyace import PyACECalculator

    files = fitted_potential.write_files(tmp_path)
    atoms = dataset_images[0][-1].copy()  # the rattled 20-atom Pnma cell
    b = atoms.copy()
    b.calc = fitted_potential.get_calculator()
    c = atoms.copy()
    c.calc = PyACECalculator(str(files["yace"]))
    assert b.get_potential_energy() == pytest.approx(c.get_potential_energy(), abs=1e-8)
    assert np.allclose(b.get_forces(), c.get_forces(), atol=1e-8)
