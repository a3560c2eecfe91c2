"""Fixtures of the ACE tests: the pw.x-labelled BaZrS3 fixture set and a real fitted potential.

Codes (pacemaker, pace_*, pw, lmp) come from the shared ``bzs_code`` factory of tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ACE_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ace"


@pytest.fixture(scope="session")
def ace_fixtures() -> Path:
    return ACE_FIXTURES


@pytest.fixture(scope="session")
def dataset_images():
    """The 16 pw.x-labelled structures (eV, eV/Å) and isolated-atom energies (eV)."""
    from ase.io import read

    images = read(ACE_FIXTURES / "dataset.extxyz", ":")
    meta = json.loads((ACE_FIXTURES / "reference_energies.json").read_text())
    return images, meta["reference_energies"], meta["dft_settings"]


@pytest.fixture(scope="session")
def ace_training_set(aiida_profile, dataset_images):
    """The fixture dataset as a stored TrainingSetData."""
    from aiida_bzs.data.training_set import TrainingSetData

    images, refs, settings = dataset_images
    node = TrainingSetData.from_atoms(images, reference_energies=refs, dft_settings=settings)
    node.label = "ace fixture dataset"
    return node.store()


@pytest.fixture(scope="session")
def fitted_potential(aiida_profile) -> "AcePotentialData":  # noqa: F821
    """The potential of the stored real pacemaker run ``pacemaker/maxiter`` (no active set)."""
    from aiida_bzs.data.ace_potential import AcePotentialData

    return AcePotentialData.get_or_create(ACE_FIXTURES / "pacemaker" / "maxiter" / "output_potential.yaml")
