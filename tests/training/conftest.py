"""Fixtures of the training-data tests: small labelled sets (synthetic labels, seeded), pw.x code."""

from __future__ import annotations

import pytest
from ase import Atoms

from training_helpers import labelled_images


@pytest.fixture
def images() -> list[Atoms]:
    return labelled_images()


@pytest.fixture(scope="session")
def training_pw_code(bzs_code):
    """The real ``pw.x`` on the shared session computer (skips without it)."""
    return bzs_code("pw")
