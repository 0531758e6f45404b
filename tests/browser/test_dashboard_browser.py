"""The head's web dashboard in headless Chromium: login once, rows match nbray.memory(), live;
its charts render a running workload; rows are labelled; `nbray dashboard` lets you back in.

Screenshots go to test-artifacts/, or, when NBRAY_SCREENSHOT_DIR is set, the ones the docs
use (dashboard.png, timeline.png) go there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import nbray
from tests._support import driver_env, poll_for

from ._browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT, missing_requirements

pytestmark = pytest.mark.browser
MS = TIMEOUT * 1000


def _memory_ids() -> set:
    return {o["object_id"] for o in nbray.memory(limit=None).objects}


def _shots() -> Path:
    """Where docs screenshots go: NBRAY_SCREENSHOT_DIR, else test-artifacts/."""
    out = Path(os.environ.get("NBRAY_SCREENSHOT_DIR") or ARTIFACTS)
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_dashboard_rows_follow_the_object_table(make_cluster):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    from nbray.runtime.head_server import HeadServer

    make_cluster(object_store_memory=64 * 2**20)
    head = HeadServer(nbray.runtime.context.current_driver().node, write_address=False)
    try:
        small = nbray.put(list(range(10)))
        big = [nbray.put(np.full(3 * 2**20, float(i))) for i in range(3)]  # 72 MiB: one spills
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 900},
                                        permissions=["clipboard-read", "clipboard-write"])
                # Without logging in, the page refuses to show anything.
                page.goto(head.object_url + "/")
                assert "one-time login" in page.content()
                page.goto(head.dashboard_login_url())
                page.wait_for_selector("tr.nbray-object", timeout=TIMEOUT * 1000)

                def shown() -> set:
                    return set(page.eval_on_selector_all(
                        "tr.nbray-object", "rows => rows.map(r => r.dataset.objectId)"))

                poll_for(lambda: shown() == _memory_ids(), timeout=TIMEOUT,
                         msg="dashboard rows equal nbray.memory()")
                assert "spilled" in page.inner_text("#objects")
                _dense_objects_table(page)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dashboard-objects.png"), full_page=True)

                # Live: freeing and creating objects shows up without reloading.
                gone = big.pop()
                gone_id = gone.hex()
                del gone
                fresh = nbray.put("fresh")
                poll_for(lambda: shown() == _memory_ids() and gone_id not in shown()
                         and fresh.hex() in shown(), timeout=TIMEOUT,
                         msg="dashboard follows frees and puts")
                # A used login link does not work twice.
                other = browser.new_page()
                url = head.dashboard_login_url()
                other.goto(url)
                second = browser.new_context().new_page()
                response = second.goto(url)
                assert response is not None and response.status == 403
            finally:
                browser.close()
        del small, big
    finally:
        nbray.shutdown()
        head.close()


def _dense_objects_table(page) -> None:
    """The objects table as the sidebar shows it: five narrow columns (short ids whose full
    form is in the title and copied on click, size with a bar, type, where, call site), the
    rest in a detail row a click opens, and column headers that sort."""
    heads = page.eval_on_selector_all("#objects thead th", "ths => ths.map(t => t.textContent)")
    assert heads == ["object id", "size", "type", "where", "call site"]
    ids = page.eval_on_selector_all("tr.nbray-object", """rows => rows.map(r => ({
        full: r.dataset.objectId, short: r.querySelector('code.copy').textContent,
        title: r.querySelector('code.copy').title, bar: !!r.querySelector('.sbar > span')}))""")
    assert len({i["short"] for i in ids}) == len(ids)
    for i in ids:  # a prefix ("1a2b3c4d…"); ids sharing a long one: "ffff…0a1b", "ff…0a1b2c…"
        parts = i["short"].split("…")
        assert i["full"].startswith(parts[0]), i
        at = len(parts[0])
        for part in parts[1:]:
            at = i["full"].index(part, at) + len(part)   # each piece in order
        assert len(i["short"]) <= 12, i
        assert i["full"] in i["title"] and i["bar"], i
    # The table fits its page: no cell wider than the table, no horizontal scrolling.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    first = page.locator("tr.nbray-object").first
    oid = first.get_attribute("data-object-id")
    first.locator("code.copy").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == oid
    # A click elsewhere on the row opens its detail (owner, locations, references).
    first.locator("td.size").click()
    detail = page.locator(f"tr.nbray-object-detail[data-object-id='{oid}']")
    detail.wait_for(timeout=TIMEOUT * 1000)
    text = detail.inner_text()
    assert oid in text and "owner" in text and "references" in text and "bytes" in text
    # Headers sort: type ascending, then a second click descending; size puts the largest first.
    page.locator("#objects th[data-sort=type]").click()
    poll_for(lambda: page.eval_on_selector_all(
        "tr.nbray-object td:nth-child(3)", "tds => tds.map(t => t.textContent)") == sorted(
        page.eval_on_selector_all("tr.nbray-object td:nth-child(3)",
                                  "tds => tds.map(t => t.textContent)")),
        timeout=TIMEOUT, msg="rows sorted by type")
    assert page.get_attribute("#objects th[data-sort=type]", "aria-sort") == "ascending"
    page.locator("#objects th[data-sort=type]").click()
    assert page.get_attribute("#objects th[data-sort=type]", "aria-sort") == "descending"
    page.locator("#objects th[data-sort=size]").click()

    def sizes() -> list:
        return page.eval_on_selector_all("tr.nbray-object td.size", "tds => tds.map(t => "
                                         "Number(t.title.replace(/[^0-9]/g, '')))")
    poll_for(lambda: sizes() == sorted(sizes(), reverse=True) and sizes()[0] > 2**20,
             timeout=TIMEOUT, msg="rows sorted by size, largest first")
    assert page.input_value("#sort_by") == "size"


# -- the charts, the labelled rows, and the way back in ---------------------------------------

@nbray.remote
def load_block(i):
    import time
    time.sleep(0.03 + 0.01 * (i % 4))
    return i


@nbray.remote
def reduce_sum(*parts):
    import time
    time.sleep(0.05)
    return sum(parts)


@nbray.remote
class Counter:
    def inc(self):
        return 1


ATTACHED = """
import sys
import nbray
nbray.init(address=sys.argv[1])
kept = nbray.put("made by the attached driver")
print("ATTACHED", flush=True)
sys.stdin.read()   # until the test closes our stdin
"""

CHART = "section[data-chart='{}']"
# A canvas counts as drawn when some pixel is not transparent.
DRAWN = """(sel) => { const c = document.querySelector(sel + ' canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }"""
CHART_DATA = """(sel) => { const ch = Chart.getChart(document.querySelector(sel + ' canvas'));
  return { labels: ch.data.labels, sets: ch.data.datasets.map(d => ({label: d.label, n: d.data.length})) }; }"""

# The tooltip of the first bar of a function in the task stream (as a hover shows it).
TOOLTIP_OF_FIRST = """(label) => {
  const ch = Chart.getChart(document.querySelector("section[data-chart='timeline'] canvas"));
  const i = ch.data.datasets.findIndex(d => d.label === label);
  const bar = ch.getDatasetMeta(i).data[0];
  ch.tooltip.setActiveElements([{ datasetIndex: i, index: 0 }], { x: bar.x, y: bar.y });
  ch.update();
  return { title: ch.tooltip.title, body: ch.tooltip.body.flatMap(b => b.lines) }; }"""


def _header(page) -> dict:
    return page.evaluate("() => Object.assign({}, document.getElementById('cluster').dataset)")


def _shown(page) -> dict:
    """What the dashboard's rows show: live nodes, drivers, task workers, objects."""
    return page.evaluate("""() => ({
      nodes: String(document.querySelectorAll('.node[data-alive=true]:not([data-role=driver])').length),
      drivers: String(document.querySelectorAll('.node[data-alive=true][data-role=driver]').length),
      workers: String([...document.querySelectorAll('tr.nbray-worker')]
                      .filter(r => !r.cells[1].textContent.startsWith('driver')).length),
      objects: (document.getElementById('page').textContent.match(/\\((\\d+) objects\\)/) || [])[1] })""")


def _counts_agree(page, drivers: str) -> None:
    def agree() -> bool:
        return _header(page) == _shown(page) and _header(page)["drivers"] == drivers
    try:
        poll_for(agree, timeout=TIMEOUT, interval=0.2, msg="the header to count the rows shown")
    except AssertionError as e:
        raise AssertionError(f"{e}: header {_header(page)}, rows {_shown(page)}") from None


def test_dashboard_charts_labels_and_the_way_back_in(make_cluster):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    from nbray.runtime.head_server import HeadServer

    expect.set_options(timeout=MS)
    make_cluster(object_store_memory=64 * 2**20, num_cpus=2)
    head = HeadServer(nbray.runtime.context.current_driver().node, write_address=False)
    stop = threading.Event()

    def workload() -> None:
        recent = []  # a few MiB put and freed as it goes: the memory chart moves
        while not stop.is_set():
            nbray.get(reduce_sum.remote(*[load_block.remote(i) for i in range(6)]))
            recent = recent[-4:] + [nbray.put(np.ones(2**18))]

    runner = threading.Thread(target=workload, name="dashboard-workload")
    driver = agent = None
    try:
        # A second node (its own process, store and one worker), as `nbray start --address`.
        agent = subprocess.Popen([sys.executable, "-m", "nbray.runtime.node_agent", head.address,
                                  "1", "{}", str(64 * 2**20), "127.0.0.1"],
                                 stdout=subprocess.DEVNULL,
                                 env=driver_env({"NBRAY_TOKEN": head.token}))
        poll_for(lambda: sum(n["Alive"] for n in nbray.nodes()) == 2 or agent.poll() is not None,
                 timeout=TIMEOUT, msg="the second node to join")
        assert agent.poll() is None, agent.returncode
        agent_node = next(n["NodeID"] for n in nbray.nodes() if n["pid"] == agent.pid)
        alive, gone = Counter.remote(), Counter.options(name="tally").remote()
        assert nbray.get([alive.inc.remote(), gone.inc.remote()]) == [1, 1]
        nbray.kill(gone)
        big = [nbray.put(np.full(3 * 2**20, float(i))) for i in range(3)]  # 72 MiB: one spills
        runner.start()
        driver = subprocess.Popen([sys.executable, "-c", ATTACHED, head.address],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=driver_env({"NBRAY_TOKEN": head.token}))
        assert driver.stdout is not None and driver.stdout.readline().strip() == "ATTACHED"

        # `nbray dashboard` prints a fresh link to this head; the 401 page names it.
        link = subprocess.run([sys.executable, "-m", "nbray", "dashboard", "--address", head.address],
                              capture_output=True, text=True, timeout=60,
                              env=driver_env({"NBRAY_TOKEN": head.token}))
        assert link.returncode == 0, link.stderr
        url = link.stdout.strip()
        assert url.startswith(head.object_url + "/login?otp="), url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                response = page.goto(head.object_url + "/")
                assert response is not None and response.status == 401
                assert f"nbray dashboard --address {head.address}" in page.inner_text("body")
                page.goto(url)
                expect(page.locator("#cluster")).to_contain_text("node")

                # Every chart draws: store bars per node, memory and rate over time, the task
                # stream with a bar colour per function, actors with their state.
                for key in ("store", "memory", "timeline", "rate"):
                    page.wait_for_function(DRAWN, arg=CHART.format(key), timeout=MS)
                page.wait_for_function(
                    "(sel) => /load_block/.test(document.querySelector(sel).dataset.functions || '')"
                    " && /reduce_sum/.test(document.querySelector(sel).dataset.functions)",
                    arg=CHART.format("timeline"), timeout=MS)
                timeline = page.evaluate(CHART_DATA, CHART.format("timeline"))
                bars = {s["label"]: s["n"] for s in timeline["sets"]}
                assert bars.get("load_block", 0) >= 6 and bars.get("reduce_sum", 0) >= 1, bars
                assert all(label.split()[-1].isdigit() for label in timeline["labels"])  # "... pid N"
                tooltip = page.evaluate(TOOLTIP_OF_FIRST, "load_block")
                assert tooltip["title"] == ["load_block"], tooltip
                assert " on " in tooltip["body"][0] and tooltip["body"][0].split()[1] in ("ms", "s"), tooltip
                page.wait_for_function(  # the second node's worker has a row too
                    "(prefix) => Chart.getChart(document.querySelector(\"section[data-chart='timeline'] canvas\"))"
                    ".data.labels.some(l => l.startsWith(prefix))", arg=agent_node[:8], timeout=MS)
                page.wait_for_function(  # a bar per store: the head, the node, the driver
                    "(sel) => (document.querySelector(sel).dataset.nodes || '').split(' ').length === 3",
                    arg=CHART.format("store"), timeout=MS)
                store = page.evaluate(CHART_DATA, CHART.format("store"))
                assert [s["label"] for s in store["sets"]] == ["in memory", "free", "spilled (on disk)"]
                names = page.get_attribute(CHART.format("store"), "data-labels").split("\n")
                assert len(store["labels"]) == 3 and names[0].endswith("(head)"), names
                assert names[1].endswith(f" {agent_node[:8]}"), names   # a worker node: host and id
                assert names[2].endswith(f"(driver pid {driver.pid})"), names
                page.wait_for_function(  # spilled bytes reach the bars
                    "() => Chart.getChart(document.querySelector(\"section[data-chart='store'] canvas\"))"
                    ".data.datasets[2].data[0] > 0", timeout=MS)
                memory = page.evaluate(CHART_DATA, CHART.format("memory"))
                assert any(s["n"] >= 1 for s in memory["sets"]), memory
                actors = page.locator(CHART.format("actors") + " tr.nbray-actor")
                expect(actors.locator("xpath=self::*[@data-state='ALIVE']")).to_have_count(1)
                expect(actors.locator("xpath=self::*[@data-state='DEAD']")).to_contain_text("tally")

                # Rows say which node is the head and which row is the attached driver, and
                # the header counts what the rows show.
                head_row = page.locator(".node[data-role='head']")
                expect(head_row).to_contain_text("head node")
                expect(page.locator(f".node[data-node-id='{agent_node}']")).to_contain_text("worker node")
                driver_row = page.locator(".node[data-role='driver']")
                expect(driver_row).to_contain_text(f"driver pid {driver.pid}")
                _counts_agree(page, drivers="1")
                if os.environ.get("NBRAY_SCREENSHOT_DIR"):  # for the docs: 20 s of history
                    page.wait_for_function(
                        "() => Chart.getChart(document.querySelector(\"section[data-chart='memory'] canvas\"))"
                        ".data.datasets[0].data.length >= 20", timeout=3 * MS)
                page.screenshot(path=str(_shots() / "dashboard.png"))
                page.locator(CHART.format("timeline")).screenshot(path=str(_shots() / "timeline.png"))
                # The objects table, dense, with one row's detail open.
                objects = page.locator("section:has(#objects)")
                page.locator("tr.nbray-object:has(td.where-shared_memory)").first.locator(
                    "td:nth-child(3)").click()
                page.locator("tr.nbray-object-detail").first.wait_for(timeout=TIMEOUT * 1000)
                objects.screenshot(path=str(_shots() / "dashboard-objects.png"))

                # The driver goes away: its row says so and what became of its objects.
                assert driver.stdin is not None
                driver.stdin.close()
                driver.wait(timeout=60)
                expect(driver_row).to_have_attribute("data-alive", "false")
                expect(driver_row).to_contain_text("disconnected")
                expect(driver_row).to_contain_text("references it held were released")
                page.locator("#nodes").screenshot(path=str(ARTIFACTS / "dashboard-driver-gone.png"))
                _counts_agree(page, drivers="0")
                assert errors == []
            finally:
                browser.close()
        del big, alive, gone
    finally:
        stop.set()
        if runner.is_alive():
            runner.join(timeout=60)
        if agent is not None:
            agent.terminate()
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(timeout=30)
        if driver is not None:
            if driver.poll() is None:
                driver.kill()
                driver.wait(timeout=30)
            for pipe in (driver.stdin, driver.stdout):
                if pipe is not None:
                    pipe.close()
        nbray.shutdown()
        head.close()


# -- the same charts in Jupyter, through the server extension --------------------------------

KERNEL_WORK = """import threading, time
import nbray
nbray.init(num_cpus=2, object_store_memory=64 * 2**20)

@nbray.remote
def kernel_task(i):
    time.sleep(0.02)
    return i

@nbray.remote
class Keeper:
    def ping(self):
        return 1

keeper = Keeper.remote()
nbray.get(keeper.ping.remote())
stop_work = threading.Event()

def work():
    while not stop_work.is_set():
        nbray.get([kernel_task.remote(i) for i in range(4)])

threading.Thread(target=work, daemon=True).start()
print("WORKING")"""


def test_jupyter_serves_the_charts_of_a_kernels_cluster(jupyter_lab, page):
    """{base_url}nbray/charts/ behind Jupyter's login, the API at {base_url}nbray/api/ with
    the kernel's id: the page the JupyterLab panel opens, here in the dark theme."""
    import nbformat
    import urllib.error
    import urllib.request
    from playwright.sync_api import expect

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_WORK)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(jupyter_lab.root / "charts.ipynb"))
    page.goto(jupyter_lab.url("/lab/tree/charts.ipynb") + "&reset")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=2 * MS)
    expect(page.locator(".jp-LabShell")).to_be_visible()
    kernel_id = page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.content && "
        "w.sessionContext?.session?.kernel?.status === 'idle' && w.sessionContext.session.kernel.id; }",
        timeout=2 * MS).json_value()
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0;"
                  " return window.jupyterapp.commands.execute('notebook:run-cell'); }")
    page.locator(".jp-OutputArea-output pre", has_text="WORKING").wait_for(timeout=2 * MS)

    # Without Jupyter's login, neither the page nor its scripts are served.
    for path in ("/nbray/charts/", "/nbray/charts/charts.js"):
        try:
            with urllib.request.urlopen(jupyter_lab.base + path, timeout=10) as r:
                status, final = r.status, r.url
        except urllib.error.HTTPError as e:
            e.close()
            status, final = e.code, path
        assert status in (401, 403) or "/login" in final, (path, status, final)

    # The page as the panel opens it: a full URL of the same origin for api=, cookies only.
    api = f"{jupyter_lab.base}/nbray/api/"
    page.goto(f"{jupyter_lab.base}/nbray/charts/charts.html?api={urllib.request.quote(api, safe='')}"
              f"&kernel_id={kernel_id}&theme=dark")
    for key in ("store", "memory", "timeline", "rate"):
        page.wait_for_function(DRAWN, arg=CHART.format(key), timeout=2 * MS)
    page.wait_for_function("(sel) => /kernel_task/.test(document.querySelector(sel).dataset.functions || '')",
                           arg=CHART.format("timeline"), timeout=2 * MS)
    expect(page.locator(CHART.format("actors") + " tr.nbray-actor[data-state='ALIVE']")) \
        .to_contain_text("Keeper")
    assert page.evaluate("document.body.classList.contains('nbray-dark')")
    expect(page.locator(".nbray-charts-status")).to_have_text("")
    page.screenshot(path=str(ARTIFACTS / "charts-jupyter-dark.png"))
    # In a sandboxed same-origin iframe, as the JupyterLab panel shows it: cookies still go.
    url = page.url
    page.evaluate("(src) => { document.body.innerHTML = ''; const f = document.createElement('iframe');"
                  " f.id = 'probe'; f.sandbox = 'allow-scripts allow-same-origin'; f.src = src;"
                  " f.style.width = '1200px'; f.style.height = '900px'; document.body.appendChild(f); }", url)
    frame = page.frame_locator("iframe#probe")
    expect(frame.locator(CHART.format("timeline"))).to_have_attribute(
        "data-functions", re.compile("kernel_task"))
    expect(frame.locator(".nbray-charts-status")).to_have_text("")
    # A kernel that is not there: the page says so instead of drawing.
    page.goto(f"{jupyter_lab.base}/nbray/charts/?api=/nbray/api/&kernel_id=no-such-kernel")
    expect(page.locator(".nbray-charts-status")).to_contain_text("no kernel 'no-such-kernel'")
