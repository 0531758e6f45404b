"""nbray installs as a JupyterLab extension: the lab extension and the server extension.

The listing tests read the environment pytest runs in (`pip install -e
'.[test,jupyter]'` or `pip install .` installs both through the wheel's
shared data).  The wheel test builds nbray's wheel and sdist with hatchling in
this environment (the committed bundle is used, so node does not run).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from ._bundle import BUNDLE, REPO_ROOT

needs_jupyterlab = pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                                      reason="jupyterlab is not installed (pip install jupyterlab)")
REINSTALL = "pip install -e '.[test,jupyter]' (or pip install .)"


def _jupyter(tmp_path, *args: str) -> str:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    out = subprocess.run([sys.executable, "-m", "jupyter", *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # no colour codes


@needs_jupyterlab
def test_labextension_is_listed_enabled(tmp_path):
    text = _jupyter(tmp_path, "labextension", "list")
    line = next((ln for ln in text.splitlines() if "nbray-labextension" in ln), None)
    assert line is not None, f"nbray-labextension is not installed; {REINSTALL}\n{text}"
    # "(python, nbray)" follows when installed by pip; a `develop` symlink has no install.json
    assert re.search(r"nbray-labextension v0\.1\.0 +enabled +OK", line), line


@needs_jupyterlab
def test_installed_bundle_is_this_checkouts():
    """JupyterLab serves the bundle of this checkout, not an older copy.

    An editable install copies nbray/labextension/ once; after a rebuild, link it
    with `jupyter labextension develop --overwrite .` (or reinstall).
    """
    from jupyter_core.paths import jupyter_path

    found = [Path(d) / "nbray-labextension" for d in jupyter_path("labextensions")
             if (Path(d) / "nbray-labextension" / "package.json").is_file()]
    assert found, f"nbray-labextension is not installed; {REINSTALL}"
    installed = json.loads((found[0] / "package.json").read_text())["jupyterlab"]["_build"]
    ours = json.loads((BUNDLE / "package.json").read_text())["jupyterlab"]["_build"]
    assert installed == ours, (
        f"{found[0]} is not this checkout's bundle: `jupyter labextension develop --overwrite .` "
        f"(with the venv's bin on PATH) links it; or {REINSTALL}")


@needs_jupyterlab
def test_server_extension_is_enabled(tmp_path):
    text = _jupyter(tmp_path, "server", "extension", "list")
    assert re.search(r"^\s*nbray .*enabled", text, re.M), f"{REINSTALL}\n{text}"
    assert re.search(r"^\s*nbray 0\.1\.0 OK", text, re.M), text  # it imports and loads


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None
                    or importlib.util.find_spec("hatch_jupyter_builder") is None,
                    reason="hatchling and hatch-jupyter-builder are not installed")
def test_wheel_and_sdist_ship_the_extension(tmp_path):
    script = ("import sys, hatchling.build as b; "
              "print(b.build_wheel(sys.argv[1])); print(b.build_sdist(sys.argv[1]))")
    env = dict(os.environ)
    env.pop("SKIP_JUPYTER_BUILDER", None)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    wheel_name, sdist_name = out.stdout.split()[-2:]

    with zipfile.ZipFile(tmp_path / wheel_name) as wheel:
        names = set(wheel.namelist())
    data = "nbray-0.1.0.data/data/"
    ext = data + "share/jupyter/labextensions/nbray-labextension/"
    for needed in (ext + "package.json", ext + "install.json", ext + "static/style.js",
                   data + "etc/jupyter/jupyter_server_config.d/nbray.json",
                   "nbray/py.typed", "nbray/dashboard/static/index.html",
                   "nbray/dashboard/static/charts.html",
                   "nbray/dashboard/static/vendor/chart.umd.min.js",
                   "nbray/dashboard/static/vendor/LICENSE.md",
                   "nbray/labextension/package.json", "nbray/jupyter/server_ext.py"):
        assert needed in names, f"{needed} is not in the wheel"
    assert any(n.startswith(ext + "static/remoteEntry.") for n in names)
    assert not any("node_modules" in n or "__pycache__" in n for n in names)
    assert not any(n.startswith(("tests/", "labextension/")) for n in names)

    with tarfile.open(tmp_path / sdist_name) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for needed in ("pyproject.toml", "install.json", "jupyter-config/server-config/nbray.json",
                   "labextension/package.json", "labextension/yarn.lock", "labextension/src/index.ts",
                   "nbray/labextension/static/style.js"):
        assert needed in members, f"{needed} is not in the sdist"
    assert not any("node_modules" in m for m in members)
