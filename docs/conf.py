"""Sphinx configuration for Findig's documentation."""

from __future__ import annotations

import findig

project = "Findig"
author = "The Findig developers"
copyright = "2026, The Findig developers"
version = release = findig.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
# No network at build time: intersphinx has no inventories to fetch.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
suppress_warnings = ["ref.python"]
