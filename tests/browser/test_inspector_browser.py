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
from pathlib import Path

import nbformat

from ._browser_support import ARTIFACTS, TIMEOUT

MS = TIMEOUT * 1000
SHOTS = Path(os.environ.get("NBRAY_SCREENSHOT_DIR") or ARTIFACTS)

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
MANY = """@nbray.remote
def square(n):
    return np.arange(n) ** 2

arrays = [nbray.put(np.ones(2 ** (i + 6))) for i in range(12)]
records = {f"r{i}": nbray.put({"row": i, "tags": ["x"] * (40 * i)}) for i in range(6)}
labels = [nbray.put(f"label {i}") for i in range(6)]
squares = [square.remote(1000 * (i + 1)) for i in range(3)]
nbray.wait(squares, num_returns=3)
print('MANY', json.dumps({"total": len(nbray.memory(limit=None).objects)}))"""

ROW_IDS = ("() => [...document.querySelectorAll('.nbray-inspector tr.nbray-object')]"
           ".map(r => r.dataset.objectId).sort()")
# The inspector's refresh thread, as the kernel sees it: re-running the inspect cell closes
# the inspector it made before; clearing its output pauses the one shown.
LIFE = """def life(tag, i):
    print(tag, json.dumps({"refreshing": i.refreshing, "closed": i.closed,
                           "state": i.state_label.value}))
old_insp = insp
life('LIFE-1', insp)"""
REPLACED = "life('LIFE-2', old_insp)\nlife('LIFE-3', insp)"
CLEARED = """deadline = time.monotonic() + 60
while insp.refreshing:
    assert time.monotonic() < deadline, "the inspector kept refreshing"
    time.sleep(0.05)
life('LIFE-4', insp)"""


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


# Rows of the inspector's table: height, the size in bytes (the size cell's title), bar width.
ROW_BOXES = """() => [...document.querySelectorAll('.nbray-inspector tr.nbray-object')].map(r => ({
    top: r.getBoundingClientRect().top, height: r.getBoundingClientRect().height,
    bytes: parseInt(r.querySelector('td.nbray-size').title.replace(/,/g, '')),
    bar: r.querySelector('.nbray-bar > span').getBoundingClientRect().width,
    track: r.querySelector('.nbray-bar').getBoundingClientRect().width}))"""

# Whether an element is wholly inside the viewport and every ancestor that clips it.
CLIPPED_BY = """(el) => {
    const r = el.getBoundingClientRect(), out = [];
    if (r.width === 0 || r.left < 0 || r.right > window.innerWidth) out.push('viewport');
    for (let a = el.parentElement; a; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
        const b = a.getBoundingClientRect();
        if (r.left < b.left - 0.5 || r.right > b.right + 0.5) out.push(a.className || a.tagName);
    }
    return out; }"""

# WCAG contrast of an element's text against the first opaque background behind it.
CONTRAST = """(el) => {
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    let bg = null;
    for (let a = el; a; a = a.parentElement) {
        const c = rgb(getComputedStyle(a).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) { bg = c; break; }
    }
    bg = bg || [255, 255, 255];
    const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255;
        return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg);
    return {ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), background: lum(bg)}; }"""


def _contrast(page, selector):
    return page.locator(selector).first.evaluate(CONTRAST)


def _cell_errors(page):
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count()


def test_inspector_renders_matches_memory_and_updates_live(jupyter_lab, page):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root / "inspector.ipynb",
                    [SETUP, "%load_ext nbray", OBJECTS, INSPECT, FIRST_STATE, CHANGE, MANY,
                     LIFE, REPLACED, CLEARED])
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
    # labelled as the sidebar labels nodes: the kernel started this cluster, so it is the head
    expect(inspector.locator(".nbray-node")).to_contain_text("head node ")
    expect(inspector.locator(".nbray-node")).to_contain_text("(this kernel)")
    for oid in first["spilled"]:
        expect(inspector.locator(f"tr.nbray-object[data-object-id='{oid}']")).to_contain_text(
            "spilled")
    held_by = "td:nth-child(5)"
    expect(inspector.locator("th").nth(4)).to_have_text("held by")
    expect(inspector.locator(f"tr.nbray-object[data-object-id='{first['small']}'] {held_by}")) \
        .to_have_text("small")
    expect(inspector.locator(f"tr.nbray-object[data-object-id='{first['big0']}'] {held_by}")) \
        .to_have_text("big[0]")
    # the full id is the short id's tooltip
    small_id = inspector.locator(f"tr.nbray-object[data-object-id='{first['small']}'] td.nbray-id")
    assert small_id.get_attribute("title").startswith(first["small"])
    assert first["small"].startswith(small_id.inner_text().split("…")[0])
    # the display carries a static snapshot of the same rows, for nbconvert and the docs
    snapshot = page.evaluate("() => { const out = window.jupyterapp.shell.currentWidget.content"
                             ".model.cells.get(3).outputs.get(0).data;"
                             " return [out['text/html'], out['text/plain']]; }")
    assert sorted(re.findall(r"data-object-id='([0-9a-f]+)'", snapshot[0])) == first["ids"]
    assert "nbray-objects" in snapshot[0] and "of 6 objects" in snapshot[1]
    expect(inspector).to_contain_text("of 6 objects")
    # the controls render as widgets, not as text
    expect(inspector.locator("select").first).to_be_visible()
    expect(inspector.locator("button", has_text="live")).to_be_visible()

    os.makedirs(ARTIFACTS, exist_ok=True)
    page.evaluate("window.jupyterapp.shell.collapseLeft()")
    inspector.scroll_into_view_if_needed()
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

    # many objects: one line each, 25 on the first page, size bars ordered like the sizes
    _run_cell(page, 6)
    total = _printed(page, "MANY")["total"]
    assert total >= 6 + 12 + 6 + 6 + 3, total
    expect(inspector).to_contain_text(f"1-25 of {total} objects")
    page.wait_for_function(f"() => ({ROW_IDS})().length === 25", timeout=MS)
    rows = page.evaluate(ROW_BOXES)
    assert all(15 <= r["height"] <= 26 for r in rows), [r["height"] for r in rows]
    table_top = rows[0]["top"]
    assert sum(r["top"] + r["height"] - table_top <= 500 for r in rows) >= 15
    sizes = [r["bytes"] for r in rows]
    assert sizes == sorted(sizes, reverse=True), sizes      # sorted by size, descending
    bars = [r["bar"] for r in rows]
    assert all(a >= b for a, b in zip(bars, bars[1:])), list(zip(sizes, bars))
    assert bars[0] >= 0.95 * rows[0]["track"] > 0 and bars[-1] < 0.1 * bars[0], bars
    assert _contrast(page, ".nbray-inspector td.nbray-id")["ratio"] >= 4.5
    assert _contrast(page, ".nbray-inspector .nbray-node")["ratio"] >= 4.5
    os.makedirs(SHOTS, exist_ok=True)
    inspector.scroll_into_view_if_needed()
    inspector.screenshot(path=str(SHOTS / "inspector.png"))

    # a narrow notebook (left sidebar open): every control stays whole, they wrap
    page.set_viewport_size({"width": 1000, "height": 1000})
    page.evaluate("window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_function("() => !window.jupyterapp.shell.leftCollapsed")
    controls = inspector.locator(".nbray-inspector-controls > *")
    expect(controls).to_have_count(9)  # the 8 controls and the (empty) paused note
    descending = inspector.locator("button", has_text="descending")
    descending.scroll_into_view_if_needed()
    expect(descending).to_be_visible()
    for i in range(8):  # the note is empty while live: nothing to clip
        clipped = controls.nth(i).evaluate(CLIPPED_BY)
        assert clipped == [], f"control {i} is clipped by {clipped}"
    assert inspector.locator(".nbray-inspector-controls").evaluate(
        "b => b.scrollWidth <= b.clientWidth + 1")
    page.screenshot(path=str(ARTIFACTS / "inspector-sidebar-open.png"))

    # the dark theme: text stays readable on a dark background
    page.evaluate("window.jupyterapp.shell.collapseLeft()")
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Dark'})")
    page.wait_for_function(f"() => ({CONTRAST})(document.querySelector("
                           "'.nbray-inspector td.nbray-id')).background < 0.1", timeout=2 * MS)
    for selector in ("td.nbray-id", "th", "td.nbray-where-spilled", ".nbray-node",
                     ".widget-label"):
        contrast = _contrast(page, f".nbray-inspector {selector}")
        assert contrast["ratio"] >= 4.5, (selector, contrast)
    inspector.scroll_into_view_if_needed()
    inspector.screenshot(path=str(SHOTS / "inspector-dark.png"))
    assert _cell_errors(page) == 0

    # its lifecycle: re-running the cell replaces the inspector (the old one is closed, its
    # thread stops); clearing the output pauses the new one (JupyterLab counts its views)
    _run_cell(page, 7)
    assert _printed(page, "LIFE-1") == {"refreshing": True, "closed": False, "state": ""}
    _run_cell(page, 3)
    expect(inspector).to_have_count(1)
    _run_cell(page, 8)
    assert _printed(page, "LIFE-2")["closed"] is True
    assert _printed(page, "LIFE-3") == {"refreshing": True, "closed": False, "state": ""}
    page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content;"
                  " nb.activeCellIndex = 3;"
                  " return window.jupyterapp.commands.execute('notebook:clear-cell-output'); }")
    expect(inspector).to_have_count(0)
    _run_cell(page, 9)
    assert _printed(page, "LIFE-4") == {"refreshing": False, "closed": False,
                                        "state": "paused: no longer shown — click live to resume"}
    assert _cell_errors(page) == 0


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
