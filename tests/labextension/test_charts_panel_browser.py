"""The "nbray charts" panel in a real JupyterLab, seen through headless Chromium.

Opened from the command palette while the notebook's kernel has no cluster, it says so
and offers to load nbray; once the kernel runs one it shows the charts page of that
kernel (an IFrame that runs scripts as the same origin, so Jupyter's cookie
authenticates the page's API calls).  Inside it, the store, memory, task stream, task
rate and actors charts are drawn from what the kernel ran: each function's colour is on
the task-stream canvas, the actors table lists the live and the killed actor.  The
panel follows the active notebook (to one without a cluster and back) and JupyterLab's
dark theme, and the sidebar's "Charts" button brings it back after it is closed.

Screenshots: `$NBRAY_SCREENSHOT_DIR/lab-charts.png` when that is set (with a longer run
of tasks, so the picture has a task stream to look at), else test-artifacts/lab-charts.png;
and lab-charts-dark.png there too; test-artifacts/lab-charts-no-cluster.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.browser._browser_support import ARTIFACTS, TIMEOUT
from tests.labextension.test_sidebar_browser import (_cell_errors, _open_notebook, _printed,
                                                     _run_cell, _write_notebook)

MS = TIMEOUT * 1000
PANEL = "#nbray-charts"
FRAME = f"{PANEL} iframe"
NO_CLUSTER = "no nbray cluster in this kernel: run %load_ext nbray"
SECTIONS = ("store", "memory", "timeline", "rate", "actors")

SETUP = "import nbray\nnbray.init(object_store_memory=128 * 2**20, num_cpus=2)"
# Waves of tasks of two functions and calls of a named actor, the store filling and
# emptying; then a second actor is killed.  The docs picture gets 20 s of them, whatever
# the machine's speed, so that its task stream is two thirds full.
SECONDS = 20 if os.environ.get("NBRAY_SCREENSHOT_DIR") else 0
WORK = """import time
import numpy as np

@nbray.remote
def square(n):
    return sum(i * i for i in range(n))

@nbray.remote
def cube(n):
    return sum(i ** 3 for i in range(n))

@nbray.remote
class Counter:
    def __init__(self):
        self.n = 0
    def incr(self):
        self.n += 1
        return self.n

counter = Counter.options(name="tally").remote()
blobs = []
wave, until = 0, time.monotonic() + SECONDS
while wave < 6 or time.monotonic() < until:
    blobs.append(nbray.put(np.ones(2**18 * (1 + wave % 4))))   # 2 to 8 MiB
    del blobs[:-6]
    size = 300_000 * (1 + wave % 3)
    nbray.get([square.remote(size), cube.remote(size), square.remote(2 * size),
               cube.remote(size // 2), counter.incr.remote()])
    wave += 1
assert nbray.get(counter.incr.remote()) == wave + 1
gone = Counter.remote()
nbray.get(gone.incr.remote())
nbray.kill(gone)
print("WORK {}")""".replace("SECONDS", str(SECONDS))

# Pixels of a chart's plot area (inside the axes: legends carry the colours too) within a
# few levels of a CSS colour (Chart.js fills bars and strokes lines with it exactly); runs
# in the charts page.
PIXELS = """([chart, css]) => {
  const canvas = document.querySelector(`section[data-chart="${chart}"] canvas`);
  const drawn = canvas && window.Chart.getChart(canvas);
  if (!drawn || !drawn.chartArea) return 0;
  const area = drawn.chartArea, k = drawn.currentDevicePixelRatio || 1;
  const w = Math.floor((area.right - area.left) * k), h = Math.floor((area.bottom - area.top) * k);
  if (w <= 0 || h <= 0) return 0;
  const probe = document.createElement('canvas').getContext('2d');
  probe.fillStyle = css; probe.fillRect(0, 0, 1, 1);
  const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
  const data = canvas.getContext('2d').getImageData(
    Math.ceil(area.left * k), Math.ceil(area.top * k), w, h).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 &&
        Math.abs(data[i + 2] - b) < 8) n++;
  }
  return n;
}"""


def _screenshot_path(name: str) -> Path:
    folder = os.environ.get("NBRAY_SCREENSHOT_DIR")
    out = Path(folder) if folder else ARTIFACTS
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{name}.png"


def _open_charts_from_palette(page):
    from playwright.sync_api import expect

    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette input")
    expect(palette).to_be_visible()
    palette.fill("nbray: Open charts")
    item = page.locator("#command-palette .lm-CommandPalette-item", has_text="nbray: Open charts")
    expect(item).to_have_count(1)
    item.click()
    panel = page.locator(PANEL)
    expect(panel).to_be_visible()
    return panel


def _run_cells(page, notebook_id, count):
    """Run the first `count` cells of the notebook (activated first: the panel may be current)."""
    page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", notebook_id)
    for i in range(count):
        _run_cell(page, i)


def _charts_frame(page):
    """The charts page's frame (a Playwright Frame), once it has loaded."""
    page.locator(FRAME).wait_for(timeout=MS)
    frame = page.locator(FRAME).element_handle().content_frame()
    frame.wait_for_function("() => window.NbrayCharts !== undefined", timeout=MS)
    return frame


def _wait_drawn(frame, chart, css):
    """Wait until the page has drawn colour `css` on `chart`'s canvas (it redraws each second)."""
    frame.wait_for_function(f"(a) => ({PIXELS})(a) > 20", arg=[chart, css], timeout=2 * MS)


def test_charts_panel_shows_the_kernels_charts_and_follows_theme(jupyter_lab, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1600, "height": 1100})
    _write_notebook(jupyter_lab.root / "charts.ipynb", [SETUP, "%load_ext nbray", WORK])
    _open_notebook(page, jupyter_lab, "charts.ipynb")
    notebook_id, kernel_id = page.evaluate(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return [w.id, w.sessionContext.session.kernel.id]; }")

    # No cluster yet: the panel says so and offers the load button instead of a page.
    panel = _open_charts_from_palette(page)
    expect(page.locator(".lm-TabBar-tab", has_text="nbray charts")).to_be_visible()
    expect(panel.locator(".nbray-Message")).to_have_text(NO_CLUSTER)
    expect(panel.locator("button.nbray-LoadButton")).to_be_visible()
    expect(panel.locator(".nbray-Target")).to_contain_text("charts.ipynb")
    expect(panel.locator(".nbray-ChartsFrame")).to_be_hidden()
    # beside the notebook, not over it
    expect(page.locator(".jp-NotebookPanel")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab-charts-no-cluster.png"))

    # The kernel starts a cluster and works: the panel shows that kernel's charts page.
    _run_cells(page, notebook_id, 3)
    _printed(page, "WORK")
    expect(panel.locator(".nbray-ChartsFrame")).to_be_visible(timeout=2 * MS)
    expect(panel.locator(".nbray-Message")).to_be_hidden()
    expect(panel.locator("button.nbray-LoadButton")).to_be_hidden()
    iframe = page.locator(FRAME)
    assert set(iframe.get_attribute("sandbox").split()) == {"allow-scripts", "allow-same-origin"}
    src = iframe.get_attribute("src")
    assert src == f"/nbray/charts/charts.html?api=%2Fnbray%2Fapi%2F&kernel_id={kernel_id}&theme=light"

    frame = _charts_frame(page)
    for key in SECTIONS:
        expect(frame.locator(f"section[data-chart='{key}']")).to_be_visible()
    expect(frame.locator(".nbray-charts-status")).to_be_empty()
    # the task stream (first: it shows the newest 30 s): bars in each function's colour
    expect(frame.locator("section[data-chart='timeline']")).to_have_attribute(
        "data-functions", re.compile(r"\bcube\b.*\bsquare\b"), timeout=2 * MS)
    for name in ("square", "cube"):
        _wait_drawn(frame, "timeline", frame.evaluate("n => NbrayCharts.colourOf(n)", name))
    # store: one bar for the one node, its in-memory part drawn
    store = frame.locator("section[data-chart='store']")
    expect(store).to_have_attribute("data-nodes", re.compile(r"^[0-9a-f]+$"), timeout=2 * MS)
    _wait_drawn(frame, "store", "#2563eb")
    # nothing was spilled: no spilled part on the bar (its legend's colour is outside the plot)
    assert frame.evaluate(f"(a) => ({PIXELS})(a)", ["store", "#d97706"]) == 0
    # tasks per second (bars) and the node's memory over time (a line in its colour)
    _wait_drawn(frame, "rate", "#059669")
    line = frame.evaluate(
        "() => Chart.getChart(document.querySelector('section[data-chart=\"memory\"] canvas'))"
        ".data.datasets.map(d => [d.label, d.borderColor])")
    label = store.get_attribute("data-labels")
    assert [name for name, _ in line] == [f"{label} in memory"], line
    _wait_drawn(frame, "memory", line[0][1])
    # actors: the live named one and the killed one, with their states
    actors = frame.locator("section[data-chart='actors'] tr.nbray-actor")
    expect(actors).to_have_count(2, timeout=2 * MS)
    expect(actors.and_(frame.locator("[data-state='ALIVE']"))).to_contain_text("tally")
    expect(actors.and_(frame.locator("[data-state='DEAD']"))).to_contain_text("Counter")

    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", "nbray-charts")
    page.screenshot(path=str(_screenshot_path("lab-charts")))

    # JupyterLab's dark theme: the page is reloaded dark.
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                  " {theme: 'JupyterLab Dark'})")
    dark = src.replace("theme=light", "theme=dark")
    expect(iframe).to_have_attribute("src", dark, timeout=2 * MS)
    frame = _charts_frame(page)
    expect(frame.locator("body.nbray-dark section[data-chart='timeline']")).to_be_visible()
    _wait_drawn(frame, "rate", "#34d399")
    # ...in JupyterLab's own colours (its theme variables), not the page's bluer dark palette
    resolve = ("(v) => { const e = document.createElement('div'); e.style.color = `var(${v})`;"
               " document.body.appendChild(e); const c = getComputedStyle(e).color; e.remove();"
               " return c; }")
    lab_bg, lab_fg = (page.evaluate(resolve, v) for v in ("--jp-layout-color0", "--jp-ui-font-color1"))
    assert frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor") == lab_bg
    charts = frame.locator(".nbray-charts")
    assert charts.evaluate("c => [c.dataset.palette, getComputedStyle(c).color]") == \
        ["parent", lab_fg]
    assert lab_bg != "rgb(17, 24, 39)"  # #111827, the page's own dark background
    page.screenshot(path=str(_screenshot_path("lab-charts-dark")))

    # It follows the active notebook: another one, whose kernel runs no cluster, and back.
    _write_notebook(jupyter_lab.root / "other.ipynb", ["1 + 1"])
    page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", notebook_id)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:open',"
                  " {path: 'other.ipynb'})")
    expect(panel.locator(".nbray-Target")).to_contain_text("other.ipynb", timeout=2 * MS)
    expect(panel.locator(".nbray-Message")).to_have_text(NO_CLUSTER, timeout=2 * MS)
    expect(panel.locator(".nbray-ChartsFrame")).to_be_hidden()
    page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", notebook_id)
    expect(panel.locator(".nbray-Target")).to_contain_text("charts.ipynb")
    expect(iframe).to_have_attribute("src", dark, timeout=2 * MS)
    expect(panel.locator(".nbray-ChartsFrame")).to_be_visible()

    # Closed, it comes back from the sidebar's Charts button, on the same kernel.
    page.locator(".lm-TabBar-tab", has_text="nbray charts").locator(
        ".lm-TabBar-tabCloseIcon").click()
    expect(panel).to_have_count(0)
    page.locator('.jp-SideBar.jp-mod-left li[data-id="nbray-sidebar"]').click()
    page.locator("#nbray-sidebar button.nbray-ChartsButton").click()
    expect(page.locator(FRAME)).to_have_attribute("src", dark, timeout=2 * MS)
    assert _cell_errors(page) == 0
