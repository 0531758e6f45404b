"""The notebook front end in a real JupyterLab, seen through headless Chromium.

The inspector widget renders, its rows are exactly the objects nbray.memory() reports
(a spilled one included), it follows frees and new objects without re-running its
cell, and output printed by a task after its cell finished shows under that cell.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re

import nbformat

from ._browser_support import ARTIFACTS, TIMEOUT

MS = TIMEOUT * 1000

SETUP = "import nbray\nnbray.init(object_store_memory=64 * 2**20, num_cpus=2)"
OBJECTS = """import json, time
import numpy as np
small = nbray.put(np.arange(10))
medium = nbray.put(np.ones(2**17))
# 4 x 24 MiB into a 64 MiB store: the oldest are spilled
big = [nbray.put(np.full(3 * 2**20, i, dtype=np.float64)) for i in range(4)]

def state(tag):
    rows = nbray.memory(limit=None).objects
    print(tag, json.dumps({"ids": sorted(o["object_id"] for o in rows),
                           "spilled": sorted(o["object_id"] for o in rows if o["where"] == "spilled"),
                           "small": small.hex(), "big0": big[0].hex()}))
"""
INSPECT = "insp = nbray.inspect(refresh_s=0.5)\ninsp"
FIRST_STATE = "state('STATE-1')"
CHANGE = """gone = medium.hex()
del medium
fresh = nbray.put(np.arange(1000))
deadline = time.monotonic() + 30
while gone in {o["object_id"] for o in nbray.memory(limit=None).objects}:
    assert time.monotonic() < deadline, "medium was never freed"
    time.sleep(0.05)
print('GONE', gone, 'FRESH', fresh.hex())
state('STATE-2')"""

ROW_IDS = ("() => [...document.querySelectorAll('.nbray-inspector tr.nbray-object')]"
           ".map(r => r.dataset.objectId).sort()")


def _write_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(path))


def _open_notebook(page, lab, name):
    from playwright.sync_api import expect

    page.goto(lab.url(f"/lab/tree/{name}") + "&reset")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=2 * MS)
    expect(page.locator(".jp-LabShell")).to_be_visible()
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.content && "
        "w.sessionContext?.session?.kernel?.status === 'idle'; }", timeout=2 * MS)


def _run_cell(page, index):
    page.evaluate("(i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
                  " nb.activeCellIndex = i; return window.jupyterapp.commands.execute("
                  "'notebook:run-cell'); }", index)


def _printed(page, tag):
    """The JSON a cell printed after `tag` (waits for it to appear)."""
    out = page.locator(".jp-OutputArea-output pre", has_text=f"{tag} {{")
    out.first.wait_for(timeout=2 * MS)
    text = out.first.inner_text()
    return json.loads(re.search(rf"{tag} (\{{.*\}})", text).group(1))


def _wait_rows(page, ids):
    page.wait_for_function(f"(want) => JSON.stringify(({ROW_IDS})()) === JSON.stringify(want)",
                           arg=sorted(ids), timeout=MS)


def _cell_errors(page):
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count()


def test_inspector_renders_matches_memory_and_updates_live(jupyter_lab, page):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root / "inspector.ipynb",
                    [SETUP, "%load_ext nbray", OBJECTS, INSPECT, FIRST_STATE, CHANGE])
    _open_notebook(page, jupyter_lab, "inspector.ipynb")
    for i in range(5):
        _run_cell(page, i)
    first = _printed(page, "STATE-1")
    assert len(first["spilled"]) >= 1, first
    assert first["small"] in first["ids"] and first["big0"] in first["ids"]
    assert len(first["ids"]) == 6

    inspector = page.locator(".nbray-inspector")
    expect(inspector).to_have_count(1)
    expect(inspector).to_be_visible()
    _wait_rows(page, first["ids"])

    # one node bar, with the spilled bytes; spilled rows say so; holders are annotated
    expect(inspector.locator(".nbray-node")).to_have_count(1)
    expect(inspector.locator(".nbray-node")).to_contain_text("spilled")
    for oid in first["spilled"]:
        expect(inspector.locator(f"tr.nbray-object[data-object-id='{oid}']")).to_contain_text(
            "spilled")
    expect(inspector.locator(f"tr.nbray-object[data-object-id='{first['small']}']")) \
        .to_contain_text("held by small")
    expect(inspector.locator(f"tr.nbray-object[data-object-id='{first['big0']}']")) \
        .to_contain_text("held by big[0]")
    expect(inspector).to_contain_text("of 6 objects")
    # the controls render as widgets, not as text
    expect(inspector.locator("select").first).to_be_visible()
    expect(inspector.locator("button", has_text="live")).to_be_visible()

    os.makedirs(ARTIFACTS, exist_ok=True)
    page.evaluate("window.jupyterapp.shell.collapseLeft()")
    inspector.scroll_into_view_if_needed()
    inspector.screenshot(path=str(ARTIFACTS / "inspector.png"))
    page.screenshot(path=str(ARTIFACTS / "inspector-page.png"))

    # live: free one object and create another in a later cell; the table follows
    _run_cell(page, 5)
    second = _printed(page, "STATE-2")
    assert len(second["ids"]) == 6
    assert set(first["ids"]) - set(second["ids"]) and set(second["ids"]) - set(first["ids"])
    _wait_rows(page, second["ids"])
    expect(inspector).to_have_count(1)
    inspector.screenshot(path=str(ARTIFACTS / "inspector-after-update.png"))
    assert _cell_errors(page) == 0
    # the 'where' filter starts at "anywhere", and its box says so
    shown = page.evaluate("() => [...document.querySelectorAll('.nbray-inspector select')]"
                          ".map(s => s.selectedIndex >= 0 ? s.options[s.selectedIndex].text : '')")
    assert shown == ["size", "anywhere"], f"the inspector's dropdowns show {shown}"


LATE = """@nbray.remote
def late(go):
    import os, time
    while not os.path.exists(go):
        time.sleep(0.01)
    print('LATE OUTPUT OF CELL A')
    return 1

ref = late.remote('go-file')
print('cell A done')"""
CELL_B = "open('go-file', 'w').close()\nprint('cell B got', nbray.get(ref, timeout=30))"


def test_late_task_output_shows_under_its_own_cell(jupyter_lab, page):
    _write_notebook(jupyter_lab.root / "late.ipynb",
                    [SETUP + "\n%load_ext nbray", LATE, CELL_B])
    _open_notebook(page, jupyter_lab, "late.ipynb")
    for i in range(3):
        _run_cell(page, i)
    page.locator(".jp-OutputArea-output pre", has_text="cell B got 1").wait_for(timeout=2 * MS)
    cells = page.locator(".jp-Notebook .jp-Cell")
    late_in_a = cells.nth(1).locator(".jp-OutputArea-output", has_text="LATE OUTPUT OF CELL A")
    late_in_a.wait_for(timeout=MS)
    assert "cell A done" in cells.nth(1).locator(".jp-OutputArea").inner_text()
    assert "LATE OUTPUT" not in cells.nth(2).locator(".jp-OutputArea").inner_text()
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "late-output.png"))
