"""Sphinx configuration: Markdown pages through MyST, the API reference from the docstrings.

Build (as CI does, warnings are errors): ``.venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html``
"""

project = "aiida-bzs"
author = "aiida-bzs developers"
extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
# wide pages: the protocol tables have a column per preset
html_theme_options = {"page_width": "min(96%, 1600px)", "sidebar_width": "230px", "body_max_width": "none"}
html_static_path = ["_static"]
html_css_files = ["tables.css"]

# `[text](page.md#a-heading)` links: GitHub-style anchors for headings down to level 3.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# API reference (api/*.md): members in source order, documented ones only, each where it is defined
# (not again where a package re-exports it); the package imports in
# a few seconds (no heavy module at import time), so nothing is mocked.
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True,
                           "ignore-module-all": True}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"  # no "Parameters: args, kwargs" on every WorkChain
autodoc_inherit_docstrings = False  # aiida-core's define()/setup() text is not repeated on every class
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# The docstrings use autodoc's own field lists (:param x:, :returns:); no napoleon (none are
# Google/NumPy style, and its member filter fails on the pydantic models of AiiDA's Data classes).
# Type hints name classes of aiida-core, ASE, numpy … that this build has no inventory for.
nitpicky = False
