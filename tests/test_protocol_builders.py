"""Every work chain of the package has ``get_builder_from_protocol`` (issue #13: the numbers are
recorded on the top-level node's inputs, not read from YAML at run time)."""

from __future__ import annotations

from importlib.metadata import entry_points


def test_every_workchain_has_a_protocol_builder():
    missing = []
    for ep in entry_points(group="aiida.workflows"):
        if ep.name.startswith("bzs."):
            workchain = ep.load()
            if "get_builder_from_protocol" not in vars(workchain):
                missing.append(ep.name)
    assert missing == []


def test_one_merge_for_overrides():
    """No module keeps its own recursive dict merge beside protocols.recursive_merge."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "aiida_bzs"
    own = [str(p.relative_to(package)) for p in package.rglob("*.py")
           if re.search(r"^def (_?merge|_?deep_update|_merged)\(", p.read_text(), flags=re.M)]
    assert own == [], f"use aiida_bzs.workflows.protocols.recursive_merge instead: {own}"
