"""The committed prebuilt bundle (nbray/labextension/) matches labextension/'s sources.

`jlpm build:prod` writes labextension/bundle.sha256, a hash of every file the
bundle is built from; a source change without a rebuild fails here.  (The
bundle's bytes depend on the checkout path, so rebuilding and diffing would not
work.)
"""

from __future__ import annotations

import json

import nbray
import nbray.jupyter

from ._bundle import BUNDLE, EXT, REBUILD, STAMP, source_hash


def test_bundle_is_there():
    assert (BUNDLE / "static" / "style.js").is_file(), f"no bundle; build it: {REBUILD}"
    built = json.loads((BUNDLE / "package.json").read_text())
    assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert (BUNDLE / built["jupyterlab"]["_build"]["load"]).is_file()


def test_bundle_is_fresh():
    assert STAMP.is_file(), f"no {STAMP.name}; {REBUILD}"
    assert STAMP.read_text().strip() == source_hash(), (
        f"nbray/labextension/ is older than labextension/ sources; {REBUILD}")


def test_bundle_names_the_package():
    source = json.loads((EXT / "package.json").read_text())
    built = json.loads((BUNDLE / "package.json").read_text())
    assert built["name"] == source["name"] == "nbray-labextension"
    assert built["version"] == source["version"] == nbray.__version__


def test_labextension_paths_point_at_the_bundle():
    """`jupyter labextension develop` finds the bundle through nbray's paths hook."""
    from pathlib import Path

    (entry,) = nbray._jupyter_labextension_paths()
    assert entry["dest"] == "nbray-labextension"
    assert (Path(nbray.__file__).parent / entry["src"]).resolve() == BUNDLE.resolve()
    assert nbray.jupyter._jupyter_server_extension_points() == [{"module": "nbray.jupyter"}]
