"""Sphinx configuration (Markdown pages through MyST): `sphinx-build docs docs/_build`."""

project = "aiida-bzs"
author = "aiida-bzs developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
