"""Sphinx configuration of the nbray documentation (built with warnings as errors by the tests)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "nbray"
author = "the nbray developers"
copyright = "2026, the nbray developers"
release = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
myst_enable_extensions = ["colon_fence", "deflist"]
# The tutorials are executed at build time, so the docs show real output.
nb_execution_mode = "force"
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
html_theme = "furo"
html_title = "nbray"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
# An output that carries a static HTML form next to a widget view (the nbray inspector) shows
# the HTML: a built page has no kernel, and the widget would only say "Loading widget...".
nb_mime_priority_overrides = [("html", "text/html", 5)]


# The tutorials are the repository's notebooks: link them in, so there is one copy.
_here = os.path.dirname(os.path.abspath(__file__))
_tutorials = os.path.join(_here, "tutorials")
os.makedirs(_tutorials, exist_ok=True)
for _name in sorted(os.listdir(os.path.join(_here, "..", "notebooks"))):
    if _name.endswith(".ipynb"):
        _dst = os.path.join(_tutorials, _name)
        if not os.path.lexists(_dst):
            os.symlink(os.path.join("..", "..", "notebooks", _name), _dst)
exclude_patterns += ["tutorials/README.md"]
