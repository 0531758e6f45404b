"""Tutorial 04 run with Run All in a real JupyterLab ends as the issue asked: no cell failed,
its last cell shows a live inspector with rows, and the nbray sidebar is filled with the
kernel's objects, named by the variables that hold them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.browser._browser_support import ARTIFACTS, TIMEOUT
from tests.labextension.test_sidebar_browser import SIDEBAR, _cell_errors, _open_notebook, _open_sidebar

MS = TIMEOUT * 1000
TUTORIAL = Path(__file__).resolve().parents[2] / "notebooks" / "04-jupyter.ipynb"

# Every code cell has run once Run All is through: none is waiting ("[*]") or unrun ("[ ]").
ALL_RAN = ("() => { const nb = window.jupyterapp.shell.currentWidget.content;"
           " const cells = nb.widgets.filter(c => c.model.type === 'code');"
           " return cells.length > 0 && cells.every(c => typeof c.model.executionCount === 'number')"
           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'; }")


def test_run_all_of_tutorial_04_ends_with_a_live_inspector_and_a_filled_sidebar(jupyter_lab, page):
    from playwright.sync_api import expect

    shutil.copy(TUTORIAL, jupyter_lab.root / "04-jupyter.ipynb")
    _open_notebook(page, jupyter_lab, "04-jupyter.ipynb")
    sidebar = _open_sidebar(page)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_RAN, timeout=6 * MS)
    assert _cell_errors(page) == 0

    # The last cell's output is a live inspector (a widget view, not the static snapshot)
    # listing the objects that are still alive after %reload_ext.
    last = page.locator(".jp-Notebook .jp-CodeCell").last
    inspector = last.locator(".jp-OutputArea-output .nbray-objects")
    expect(inspector.first).to_be_visible(timeout=MS)
    expect(last.locator(".jupyter-widgets").first).to_be_visible()
    expect(inspector.first.locator("tr.nbray-object").first).to_be_visible()
    assert inspector.first.locator("tr.nbray-object").count() >= 3

    # The sidebar shows the same cluster and its objects, held by the tutorial's names.
    expect(sidebar.locator(".nbray-ClusterSummary")).to_contain_text("1 node", timeout=MS)
    rows = sidebar.locator("tr.nbray-Object")
    expect(rows.first).to_be_visible(timeout=MS)
    expect(sidebar.locator(".nbray-HeldBy", has_text="label")).to_have_count(1, timeout=MS)
    expect(sidebar.locator(".nbray-HeldBy", has_text="batches[")).to_have_count(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tutorial-04-run-all.png"))
    assert page.evaluate(f"() => document.querySelectorAll('{SIDEBAR} tr.nbray-Object').length") >= 3
