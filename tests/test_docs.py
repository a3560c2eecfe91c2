"""The documentation builds without a warning (as CI builds it), the protocols page matches the
YAML, and the API reference covers every public module."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Packages whose every module has a section in docs/api/<package>.md.
API_PACKAGES = ("workflows", "calculations", "parsers", "data", "structures", "analysis", "scattering",
                "training", "md", "common")


def test_sphinx_builds_without_warnings(tmp_path):
    """`sphinx-build -W --keep-going` (what docs/conf.py documents): about 20 s of CPU on 2 cores."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html", str(DOCS),
         str(tmp_path / "html"), "-d", str(tmp_path / "doctrees")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    problems = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not problems, "\n".join(problems) or result.stderr[-3000:]
    assert (tmp_path / "html" / "api" / "workflows.html").is_file()


def test_protocols_page_is_current():
    """docs/protocols.md is generated from the YAML: regenerate with `.venv/bin/python docs/make_protocols.py`."""
    sys.path.insert(0, str(DOCS))
    try:
        import make_protocols
    finally:
        sys.path.remove(str(DOCS))
    assert (DOCS / "protocols.md").read_text() == make_protocols.render(), \
        "docs/protocols.md is stale: run .venv/bin/python docs/make_protocols.py"


def test_api_reference_covers_every_module():
    missing = []
    for package in API_PACKAGES:
        page = (DOCS / "api" / f"{package}.md").read_text()
        root = importlib.import_module(f"aiida_bzs.{package}")
        names = [root.__name__] + [m.name for m in pkgutil.walk_packages(root.__path__, root.__name__ + ".")]
        missing += [f"{name} (docs/api/{package}.md)" for name in names if f".. automodule:: {name}\n" not in page]
    assert missing == [], "add a section per module (## `name`, then an eval-rst automodule block): " + ", ".join(missing)
