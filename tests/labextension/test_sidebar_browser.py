"""The nbray sidebar in a real JupyterLab, seen through headless Chromium.

Its rows are exactly the objects `nbray.memory(limit=None)` reports in the
kernel (spilled ones included), named as the notebook names them (held by a
variable, made in "In [n] line k"), with short ids that copy in full, sortable
columns and a filter that finds variables, all within a default-width sidebar;
it follows frees and new objects, it tells a kernel without a cluster how to
start one, and the "Load extension in notebook" command inserts a
`%load_ext nbray` cell at the top and runs it.  Screenshots go to
test-artifacts/sidebar*.png, and the one the docs show to
$NBRAY_SCREENSHOT_DIR/sidebar.png when that is set.
"""

from __future__ import annotations

import json
import os
import re

import nbformat

from tests.browser._browser_support import ARTIFACTS, TIMEOUT

MS = TIMEOUT * 1000
TAB = '.jp-SideBar.jp-mod-left li[data-id="nbray-sidebar"]'
SIDEBAR = "#nbray-sidebar"
NO_CLUSTER = "no nbray cluster in this kernel: run %load_ext nbray"

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
                           "spilled": sorted(o["object_id"] for o in rows if o["where"] == "spilled")}))

state('STATE-1')
print('NAMES', json.dumps({"small": small.hex(), "medium": medium.hex(),
                           "big": [r.hex() for r in big]}))"""
CHANGE = """gone = medium.hex()
del medium, big[3]
fresh = nbray.put(np.arange(1000))
deadline = time.monotonic() + 30
while gone in {o["object_id"] for o in nbray.memory(limit=None).objects}:
    assert time.monotonic() < deadline, "medium was never freed"
    time.sleep(0.05)
state('STATE-2')"""

ROW_IDS = (f"() => [...document.querySelectorAll('{SIDEBAR} tr.nbray-Object')]"
           ".map(r => r.dataset.objectId).sort()")
ROW_ORDER = (f"() => [...document.querySelectorAll('{SIDEBAR} tr.nbray-Object')]"
             ".map(r => r.dataset.objectId)")
# Whether the sidebar or its object table scrolls sideways.
SCROLLS_SIDEWAYS = (f"() => [document.querySelector('{SIDEBAR}'), "
                    f"document.querySelector('{SIDEBAR} .nbray-ObjectTableBody')]"
                    ".some(e => e.scrollWidth > e.clientWidth + 1)")
KEY_COLUMNS = ["id", "size", "type", "where", "held by"]


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
    assert page.evaluate("() => window.jupyterapp.hasPlugin('nbray-labextension:plugin')"), (
        "the nbray lab extension is not loaded: pip install -e '.[test,jupyter]' "
        "(check `jupyter labextension list`)")


def _run_cell(page, index):
    page.evaluate("(i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
                  " nb.activeCellIndex = i; return window.jupyterapp.commands.execute("
                  "'notebook:run-cell'); }", index)


def _printed(page, tag):
    """The JSON a cell printed after `tag` (waits for it to appear)."""
    out = page.locator(".jp-OutputArea-output pre", has_text=f"{tag} {{")
    out.first.wait_for(timeout=2 * MS)
    return json.loads(re.search(rf"{tag} (\{{.*\}})", out.first.inner_text()).group(1))


def _open_sidebar(page):
    from playwright.sync_api import expect

    page.locator(TAB).click()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_be_visible()
    return sidebar


def _widen_sidebar(page, width=1250):
    """Drag the left sidebar's edge so every column of the object table shows."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").first
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(width, y, steps=8)
    page.mouse.up()


def _wait_rows(page, ids):
    page.wait_for_function(f"(want) => JSON.stringify(({ROW_IDS})()) === JSON.stringify(want)",
                           arg=sorted(ids), timeout=MS)


def _cell_errors(page):
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count()


def test_sidebar_rows_are_the_kernels_objects_and_follow_frees(jupyter_lab, page):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root / "objects.ipynb",
                    [SETUP, "%load_ext nbray", OBJECTS, CHANGE])
    _open_notebook(page, jupyter_lab, "objects.ipynb")
    sidebar = _open_sidebar(page)
    expect(sidebar.locator(".nbray-Message")).to_have_text(NO_CLUSTER)

    for i in range(3):
        _run_cell(page, i)
    first = _printed(page, "STATE-1")
    assert len(first["ids"]) == 6 and len(first["spilled"]) >= 1, first
    _wait_rows(page, first["ids"])

    # cluster status: one node, CPUs, a store bar, spilled bytes
    expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("1 node")
    expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("2 CPUs")
    node = sidebar.locator(".nbray-Node")
    expect(node).to_have_count(1)
    expect(node.locator(".nbray-StoreBar-used")).to_have_count(1)
    expect(node.locator(".nbray-Node-spilled")).to_contain_text(
        f"in {len(first['spilled'])} objects")
    assert int(node.locator(".nbray-Node-spilled").get_attribute("data-spilled-bytes")) > 0
    names = _printed(page, "NAMES")
    _check_object_table(page, sidebar, first, names)

    # the controls reach the server: only spilled objects, then all again
    sidebar.locator("select.nbray-Where").select_option("spilled")
    _wait_rows(page, first["spilled"])
    sidebar.locator("select.nbray-Where").select_option("")
    _wait_rows(page, first["ids"])

    os.makedirs(ARTIFACTS, exist_ok=True)
    _widen_sidebar(page)
    page.screenshot(path=str(ARTIFACTS / "sidebar.png"))
    for column in KEY_COLUMNS:
        expect(sidebar.locator(".nbray-ObjectTable th", has_text=column)).to_be_in_viewport()

    # frees and new objects show up without touching the sidebar
    _run_cell(page, 3)
    second = _printed(page, "STATE-2")
    assert len(second["ids"]) == 5, second
    assert set(first["ids"]) - set(second["ids"]) and set(second["ids"]) - set(first["ids"])
    _wait_rows(page, second["ids"])
    expect(sidebar.locator(".nbray-PageLabel")).to_have_text("1-5 of 5 objects, page 1/1")
    page.screenshot(path=str(ARTIFACTS / "sidebar-after-free.png"))
    assert _cell_errors(page) == 0


def _check_object_table(page, sidebar, first, names):
    """At the default sidebar width: the key columns without sideways scrolling, names
    of holders, cells as call sites, short ids that copy, header sorting, the filter."""
    from playwright.sync_api import expect

    width = page.evaluate(f"() => document.querySelector('{SIDEBAR}').clientWidth")
    assert 200 <= width <= 320, f"the sidebar opened {width} px wide"
    headers = sidebar.locator(".nbray-ObjectTable thead th")
    assert [h.rstrip(" ▲▼") for h in headers.all_inner_texts()] == KEY_COLUMNS
    for i in range(len(KEY_COLUMNS)):
        expect(headers.nth(i)).to_be_in_viewport()
    assert not page.evaluate(SCROLLS_SIDEWAYS)
    expect(sidebar.locator(".nbray-PageLabel")).to_have_text("1-6 of 6 objects, page 1/1")

    def row(oid):
        return sidebar.locator(f"tr.nbray-Object[data-object-id='{oid}']")

    # held by the notebook's names
    expect(row(names["small"]).locator(".nbray-HeldBy")).to_have_text("small")
    expect(row(names["medium"]).locator(".nbray-HeldBy")).to_have_text("medium")
    for i, oid in enumerate(names["big"]):
        expect(row(oid).locator(".nbray-HeldBy")).to_have_text(f"big[{i}]")
    # a click on a row shows its details: the cell that made it, where a spilled copy is
    row(names["small"]).click()
    detail = sidebar.locator(f"tr.nbray-ObjectDetail[data-object-id='{names['small']}']")
    expect(detail.locator(".nbray-Detail-call-site")).to_have_text("In [3] line 3")
    expect(detail.locator(".nbray-Detail-id")).to_have_text(names["small"])
    for oid in first["spilled"]:
        expect(row(oid)).to_have_attribute("data-where", "spilled")
        row(oid).click()
        expect(sidebar.locator(f"tr.nbray-ObjectDetail[data-object-id='{oid}']")
               ).to_contain_text("spilled → file://")
        row(oid).click()
        expect(sidebar.locator(f"tr.nbray-ObjectDetail[data-object-id='{oid}']")).to_have_count(0)
    expect(row(names["big"][0])).to_have_attribute("title", "created at In [3] line 6")
    _docs_screenshot(page)
    row(names["small"]).click()
    expect(detail).to_have_count(0)

    # ids: the shortest prefix unique on the page (8 or more), the full id in the title
    # and, on a click, on the clipboard, with a visible confirmation
    shown = sidebar.locator("td.nbray-ObjectId").evaluate_all(
        "cells => cells.map(c => [c.closest('tr').dataset.objectId, c.textContent, c.title])")
    for oid, text, title in shown:
        prefix = text.rstrip("…")
        assert text.endswith("…") and len(prefix) >= 8 and oid.startswith(prefix), text
        assert [o for o, _, _ in shown if o.startswith(prefix)] == [oid]
        assert oid in title
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    cell = row(names["medium"]).locator("td.nbray-ObjectId")
    cell.click()
    expect(cell).to_have_text("copied ✓")
    assert page.evaluate("() => navigator.clipboard.readText()") == names["medium"]
    expect(sidebar.locator(f"tr.nbray-ObjectDetail[data-object-id='{names['medium']}']")
           ).to_have_count(0)   # copying does not open the row
    expect(cell).to_have_text(re.compile(r"^[0-9a-f]{8,}…$"))

    # sorting by a click on a header, with an arrow for the direction
    size = sidebar.locator("th[data-sort-key='size']")
    expect(size).to_have_text("size ▼")
    size.click()
    expect(size).to_have_text("size ▲")
    page.wait_for_function(f"(id) => ({ROW_ORDER})()[0] === id", arg=names["small"], timeout=MS)
    sidebar.locator("th[data-sort-key='object_id']").click()
    expect(sidebar.locator("th[data-sort-key='object_id']")).to_have_text("id ▲")
    expect(size).to_have_text("size")
    page.wait_for_function(f"(ids) => JSON.stringify(({ROW_ORDER})()) === JSON.stringify(ids)",
                           arg=sorted(first["ids"]), timeout=MS)
    held = sidebar.locator("th[data-sort-key='held_by']")
    held.click()
    expect(held).to_have_text("held by ▲")
    by_name = names["big"] + [names["medium"], names["small"]]
    page.wait_for_function(f"(ids) => JSON.stringify(({ROW_ORDER})()) === JSON.stringify(ids)",
                           arg=by_name, timeout=MS)
    size.click()
    expect(size).to_have_text("size ▼")
    page.wait_for_function(f"(id) => ({ROW_ORDER})().slice(-1)[0] === id", arg=names["small"],
                           timeout=MS)

    # the filter finds objects by the variable holding them
    search = sidebar.locator("input.nbray-Filter")
    search.fill("big")
    _wait_rows(page, names["big"])
    search.fill("medium")
    _wait_rows(page, [names["medium"]])
    search.fill("")
    _wait_rows(page, first["ids"])
    assert not page.evaluate(SCROLLS_SIDEWAYS)


def _docs_screenshot(page):
    """docs/images/sidebar.png: the notebook and the sidebar at its default width."""
    target = os.environ.get("NBRAY_SCREENSHOT_DIR")
    if not target:
        return
    os.makedirs(target, exist_ok=True)
    page.mouse.move(0, 0)   # no hover highlight
    page.screenshot(path=os.path.join(target, "sidebar.png"),
                    clip={"x": 0, "y": 0, "width": 1100, "height": 720})


def test_load_extension_command_injects_and_runs_the_cell(jupyter_lab, page):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root / "fresh.ipynb", ["x = 41 + 1\nx"])
    _open_notebook(page, jupyter_lab, "fresh.ipynb")
    sidebar = _open_sidebar(page)
    expect(sidebar.locator(".nbray-Message")).to_have_text(NO_CLUSTER)
    expect(sidebar.locator("button.nbray-LoadButton")).to_be_visible()
    expect(sidebar.locator(".nbray-Target")).to_contain_text("fresh.ipynb")

    # through the command palette, as a user would
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette input")
    expect(palette).to_be_visible()
    palette.fill("nbray: Load extension")
    item = page.locator("#command-palette .lm-CommandPalette-item",
                        has_text="nbray: Load extension in notebook")
    expect(item).to_have_count(1)
    item.click()

    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(2)
    source = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model"
                           ".cells.get(0).sharedModel.getSource()")
    assert source == "%load_ext nbray"
    # it ran: an execution count and the cluster status it displays
    expect(cells.nth(0).locator(".jp-InputPrompt")).to_contain_text("[1]", timeout=2 * MS)
    expect(cells.nth(0).locator(".jp-OutputArea-output")).not_to_have_count(0)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model"
                         ".cells.get(1).sharedModel.getSource()") == "x = 41 + 1\nx"

    # the sidebar now shows the new cluster, with no rows yet
    expect(sidebar.locator(".nbray-Message")).to_be_hidden()
    expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("1 node")
    expect(sidebar.locator(".nbray-PageLabel")).to_have_text("0-0 of 0 objects, page 1/1")
    expect(sidebar.locator("button.nbray-LoadButton")).to_be_hidden()
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sidebar-load-extension.png"))

    # running it again reuses the cell instead of adding another
    page.evaluate("() => window.jupyterapp.commands.execute('nbray:load-extension')")
    expect(cells.nth(0).locator(".jp-InputPrompt")).to_contain_text("[2]", timeout=2 * MS)
    expect(cells).to_have_count(2)
    assert _cell_errors(page) == 0
