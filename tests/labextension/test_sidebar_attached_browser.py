"""The nbray sidebar of a notebook whose kernel is attached to a two-node cluster
(`nbray start --head` plus a second node), seen through headless Chromium.

The kernel attaches with nbray.init(address=...) (the token in its environment, as
NBRAY_TOKEN), then `%load_ext nbray`; the sidebar
then shows the whole cluster, as the status display does: both nodes (and the kernel's
own store, labelled as this driver's), the same node/worker/object counts as the
display's, and the objects the kernel made, on either node; `%reload_ext nbray` leaves it
all in place.  The screenshot goes to $NBRAY_SCREENSHOT_DIR/sidebar-attached.png when
that is set, else to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser._browser_support import (ARTIFACTS, TIMEOUT, Lab, missing_requirements,
                                            running_lab)
from tests.jupyter._cli_cluster import two_node_cluster

from .test_sidebar_browser import (_cell_errors, _open_notebook, _open_sidebar, _printed,
                                   _run_cell, _wait_rows, _write_notebook)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(bool(missing_requirements()),
                                 reason=missing_requirements() or "")]

MS = TIMEOUT * 1000

ATTACH = "import nbray as ray\nray.init(address={address!r})  # the token: NBRAY_TOKEN"
OBJECTS = """import json
import numpy as np

@ray.remote(resources={"w": 1})
def on_node(n):
    return np.ones(n, dtype=np.uint8)

keep_me = ray.put(np.arange(100_000))
far = [on_node.remote(200_000 + i) for i in range(2)]
ray.wait(far, num_returns=2)
print("STATE", json.dumps({"ids": sorted([keep_me.hex()] + [r.hex() for r in far])}))"""
STATUS = """from nbray.cluster_info import cluster_summary
s = cluster_summary()  # what the status display shows
print("COUNTS", json.dumps({k: s[k] for k in ("nodes", "workers", "objects", "attached_to")}))"""


@contextlib.contextmanager
def _lab_with_token(tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """JupyterLab whose kernels get the cluster token from their environment, as a user's
    would, so the notebook names only the address."""
    monkeypatch.setenv("NBRAY_TOKEN", token)
    with running_lab(tmp_path) as lab:
        yield lab


def _screenshot_path(name: str) -> Path:
    where = os.environ.get("NBRAY_SCREENSHOT_DIR")
    folder = Path(where) if where else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def test_sidebar_of_an_attached_kernel_shows_both_nodes_and_its_objects(
        page, tmp_path, tmp_path_factory, monkeypatch):
    from playwright.sync_api import expect

    with two_node_cluster(tmp_path_factory.mktemp("cluster")) as (address, env), \
            _lab_with_token(tmp_path, env["NBRAY_TOKEN"], monkeypatch) as jupyter_lab:
        _write_notebook(jupyter_lab.root / "attached.ipynb", [
            ATTACH.format(address=address), "%load_ext nbray",
            OBJECTS, STATUS, "%reload_ext nbray", STATUS])
        _open_notebook(page, jupyter_lab, "attached.ipynb")
        sidebar = _open_sidebar(page)
        for i in range(4):
            _run_cell(page, i)
        state = _printed(page, "STATE")
        counts = _printed(page, "COUNTS")
        assert counts["nodes"] == 2 and counts["attached_to"] == address, counts
        # what init() and %load_ext display say where the kernel is attached
        expect(page.locator(".jp-OutputArea-output", has_text=f"Attached to {address}")) \
            .to_have_count(2)

        # the kernel's objects, those on the second node included
        _wait_rows(page, state["ids"])
        # the whole cluster: the same counts as the status display, head and node listed,
        # and this kernel's own store labelled as the driver's
        summary = sidebar.locator(".nbray-ClusterSummary")
        expect(summary).to_contain_text("2 nodes")
        expect(summary).to_contain_text(f"{counts['workers']} workers")
        expect(summary).to_contain_text(f"attached to {address}")
        nodes = sidebar.locator(".nbray-Node:not(.nbray-Node--driver)")
        expect(nodes).to_have_count(2)
        expect(sidebar.locator(".nbray-Node--driver")).to_have_count(1)
        expect(sidebar.locator(".nbray-Node--driver .nbray-Node-title")).to_contain_text(
            "this kernel")
        # where the objects are: the second node holds the two task results, the kernel's
        # store the put (the head none), and their store bars say so
        in_use = re.compile(r"store [1-9][0-9.]* [KM]iB of")
        expect(nodes.filter(has_text=in_use).filter(has_text="· 2 objects")).to_have_count(1)
        expect(nodes.filter(has_text="· 0 objects")).to_have_count(1)
        expect(sidebar.locator(".nbray-Node--driver", has_text=in_use)).to_contain_text(
            "· 1 objects")
        page.screenshot(path=str(_screenshot_path("sidebar-attached")))

        # %reload_ext: the same attachment, the same objects, no new cluster
        _run_cell(page, 4)
        _run_cell(page, 5)
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-OutputArea-output pre').length && "
            "[...document.querySelectorAll('.jp-OutputArea-output pre')]"
            ".filter(p => p.innerText.startsWith('COUNTS')).length === 2", timeout=2 * MS)
        outputs = page.locator(".jp-OutputArea-output pre", has_text="COUNTS {").all_inner_texts()
        again = json.loads(re.search(r"COUNTS (\{.*\})", outputs[-1]).group(1))
        assert again["nodes"] == 2 and again["attached_to"] == address, again
        _wait_rows(page, state["ids"])
        expect(sidebar.locator(".nbray-Node:not(.nbray-Node--driver)")).to_have_count(2)
        assert _cell_errors(page) == 0
