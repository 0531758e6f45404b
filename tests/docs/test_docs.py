"""The documentation builds with warnings as errors, executing the tutorial notebooks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         os.path.join(ROOT, "docs"), str(out)],
        capture_output=True, text=True, timeout=880)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    index = (out / "index.html").read_text()
    assert "nbray" in index
    # Every tutorial notebook was executed into the site, with its outputs.
    for name in sorted(os.listdir(os.path.join(ROOT, "notebooks"))):
        if name.endswith(".ipynb"):
            page = out / "tutorials" / (name[:-6] + ".html")
            assert page.exists(), f"{name} is missing from the docs"
            assert "output" in page.read_text(), f"{name} was not executed"
    # the inspector's static snapshot stands in for its widget (docs/conf.py prefers text/html)
    jupyter = (out / "tutorials" / "04-jupyter.html").read_text()
    assert "nbray-inspector-snapshot" in jupyter and "<tr class='nbray-object'" in jupyter
