"""The nbray sidebar and inspector of a notebook on a real Ray cluster, in headless Chromium.

The notebook is plain Ray code with `%load_ext nbray` after `import ray` and before
`ray.init()` (so Ray records call sites and task output is routed exactly): the sidebar
then lists Ray's objects with sizes, the variables holding them and the cells that made
them, the cluster's summary says it is Ray, and `nbray.inspect()` shows the same objects.  The
screenshots go to $NBRAY_SCREENSHOT_DIR/{sidebar-ray,inspector-ray}.png when that is set,
else to test-artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser._browser_support import TIMEOUT, ARTIFACTS, missing_requirements, running_lab

from .test_sidebar_browser import (SIDEBAR, _cell_errors, _open_notebook, _open_sidebar,
                                   _printed, _run_cell, _write_notebook)

pytest.importorskip("ray", reason="Ray is not installed: pip install 'nbray[ray]'")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(bool(missing_requirements()),
                                 reason=missing_requirements() or "")]

MS = TIMEOUT * 1000
RAY_MS = max(MS, 120_000)  # Ray starts in seconds, more under load

LOAD = "import ray\n%load_ext nbray"
START = "ray.init(num_cpus=2, include_dashboard=True)\nprint('RAY-UP')"
OBJECTS = """import json
import numpy as np

@ray.remote
def make(n):
    print("made", n)
    return np.ones(n, dtype=np.uint8)

keep_me = ray.put(np.arange(300_000))
results = [make.remote(400_000 + i) for i in range(2)]
ray.wait(results, num_returns=2)
print("STATE", json.dumps({"ids": [keep_me.hex()] + [r.hex() for r in results]}))"""
INSPECT = "nbray.inspect()"


def _screenshot_path(name: str) -> Path:
    where = os.environ.get("NBRAY_SCREENSHOT_DIR")
    folder = Path(where) if where else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


@pytest.mark.timeout(300)  # JupyterLab, then Ray's start: tens of seconds under load
def test_sidebar_and_inspector_on_ray(page, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    with running_lab(tmp_path) as lab:
        _write_notebook(lab.root / "on-ray.ipynb",
                        [LOAD, START, OBJECTS, INSPECT, "ray.shutdown()"])
        _open_notebook(page, lab, "on-ray.ipynb")
        sidebar = _open_sidebar(page)
        _run_cell(page, 0)
        expect(page.locator(".jp-OutputArea-output", has_text="not initialized yet").first) \
            .to_be_visible(timeout=RAY_MS)
        _run_cell(page, 1)
        page.locator(".jp-OutputArea-output", has_text="RAY-UP").first.wait_for(
            timeout=RAY_MS)
        _run_cell(page, 2)
        ids = _printed(page, "STATE")["ids"]
        # the task output is under its cell, with nbray's prefix, once
        expect(page.locator(".jp-OutputArea-output", has_text="made 400000")).to_have_count(
            1, timeout=RAY_MS)

        # the sidebar: Ray's objects, named by the variables holding them
        page.wait_for_function(
            f"(want) => {{ const got = [...document.querySelectorAll('{SIDEBAR} "
            f"tr.nbray-Object')].map(r => r.dataset.objectId); "
            f"return want.every(i => got.includes(i)); }}", arg=ids, timeout=RAY_MS)
        row = sidebar.locator(f"tr.nbray-Object[data-object-id='{ids[0]}']")
        expect(row).to_contain_text("keep_me")
        expect(row).to_contain_text("2.3 MiB")
        expect(sidebar.locator(f"tr.nbray-Object[data-object-id='{ids[1]}']")) \
            .to_contain_text("results[0]")
        expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("1 node")
        expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("Ray cluster at")
        # a row's details: the cell that made it; Ray lists the processes holding a ref,
        # not how many (no "null in ...")
        row.click()
        detail = sidebar.locator(f"tr.nbray-ObjectDetail[data-object-id='{ids[0]}']")
        expect(detail.locator(".nbray-Detail-call-site")).to_have_text("In [3] line 9")
        expect(detail).to_contain_text("in ")
        expect(detail).not_to_contain_text("null")
        row.click()
        page.screenshot(path=str(_screenshot_path("sidebar-ray")))

        # the inspector widget: the same objects, one line each
        _run_cell(page, 3)
        inspector = page.locator(".nbray-inspector").first
        expect(inspector).to_contain_text("keep_me", timeout=RAY_MS)
        expect(inspector).to_contain_text("results[1]")
        expect(inspector).to_contain_text("In [3] line 10")  # where the tasks were submitted
        inspector.scroll_into_view_if_needed()
        inspector.screenshot(path=str(_screenshot_path("inspector-ray")))
        assert _cell_errors(page) == 0
        _run_cell(page, 4)  # ray.shutdown(): the kernel leaves no Ray process behind
