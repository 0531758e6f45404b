"""nbray's notebook layer on a real Ray cluster, driven through a real Jupyter kernel.

Two kernels, one Ray each (Ray takes seconds to start, so each kernel runs many checks):
- a local Ray that the notebook starts after `%load_ext nbray` (`import ray` first, then
  `ray.init()`: the exact output routing), and
- a two-node `ray.cluster_utils.Cluster` that the notebook starts and joins before
  `%load_ext nbray` (output routed by task name).
Each checks what the issue asks: task output under the cell that submitted it (also when
it arrives while a later cell runs), objects listed with sizes and holders, the widget
built, interrupt cancels the awaited tasks, `%%remote` runs as a Ray task.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ._kernel_session import TIMEOUT, poll_for, start_kernel, stop_kernel, strip_ansi

pytest.importorskip("ray", reason="Ray is not installed: pip install 'nbray[ray]'")

RAY_TIMEOUT = max(TIMEOUT, 90.0)  # Ray's start and its log pipeline are slow under load

HOLD = """
import os, time
FLAGS = {flags!r}

@ray.remote
def hold(name):
    open(os.path.join(FLAGS, 'started-' + name), 'w').close()
    while not os.path.exists(os.path.join(FLAGS, 'release-' + name)):
        time.sleep(0.01)
    print('done', name)
    return name

@ray.remote
def child(name):
    print('child of', name)
    return name

@ray.remote
def parent(name):
    print('parent', name)
    return ray.get(child.remote(name))
"""


def _stdout_under(k, msg_id: str, text: str) -> None:
    """Wait until a stream message carrying `text` arrives with `msg_id` as its parent."""
    k.wait_for_message(
        lambda m: (m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
                   and text in m["content"]["text"]), RAY_TIMEOUT, f"{text!r} under its cell")


def _streams(k, text: str):
    return [m["parent_header"].get("msg_id") for m in k.iopub
            if m["msg_type"] == "stream" and text in m["content"]["text"]]


def _release(flags: Path, name: str) -> None:
    (flags / f"release-{name}").touch()


def test_local_ray_started_after_load_ext(kernelspec_dir, tmp_path):
    k = start_kernel(kernelspec_dir, tmp_path, {"RAY_USAGE_STATS_ENABLED": "0"})
    try:
        loaded = k.execute("import ray\n%load_ext nbray")
        assert "not initialized yet" in (loaded.result or "") + json.dumps(loaded.displays())
        started = k.execute("ray.init(num_cpus=2, include_dashboard=True)", timeout=RAY_TIMEOUT)
        assert started.error is None, started.traceback_text()
        status = k.execute("%nbray status")
        assert "Ray cluster" in status.result and "exact" in status.result, status.result
        k.execute(HOLD.format(flags=str(tmp_path)))

        # output under the cell that submitted the task, though it arrives while a later
        # cell runs; a nested task's output goes to the root task's cell
        first = k.execute("slow = hold.remote('slow')\nnested = parent.remote('p1')")
        poll_for(lambda: (tmp_path / "started-slow").exists(), RAY_TIMEOUT, "the slow task")
        _stdout_under(k, first.msg_id, "parent p1")
        _stdout_under(k, first.msg_id, "child of p1")
        later = k.submit("ray.get(hold.remote('later'))")
        poll_for(lambda: (tmp_path / "started-later").exists(), RAY_TIMEOUT, "the later task")
        _release(tmp_path, "slow")
        _stdout_under(k, first.msg_id, "done slow")
        _release(tmp_path, "later")
        k.wait_idle(later, RAY_TIMEOUT)
        _stdout_under(k, later, "done later")
        assert set(_streams(k, "done slow")) == {first.msg_id}
        assert set(_streams(k, "child of p1")) == {first.msg_id}
        # Ray's own printer is off: each line comes once, with nbray's prefix
        line = [m["content"]["text"] for m in k.iopub if m["msg_type"] == "stream"
                and "done slow" in m["content"]["text"]]
        assert len(line) == 1 and re.search(r"\(hold pid=\d+\) done slow", line[0]), line

        # objects: sizes, holders (variables and Out[n]), the widget
        k.execute("import numpy as np\nbig = ray.put(np.zeros(1_000_000))\n"
                  "many = [ray.put(i) for i in range(3)]")
        k.execute("big")  # Out[n] holds the ref too
        memory = k.execute("%nbray memory --width 160 --limit 20")
        text = strip_ansi(memory.stdout)
        big_line = next(ln for ln in text.splitlines() if "big" in ln)
        assert "7.6 MiB" in big_line and "Out[" in big_line, text
        assert "many[0]" in text, text
        rows = k.value("[(o['size'], o['held_by'], o['where']) for o in "
                       "nbray.memory(filter='big').objects]")
        assert len(rows) == 1 and rows[0][0] >= 8_000_000 and "big" in rows[0][1], rows
        assert rows[0][2] == "shared_memory", rows
        # the kernel's state socket (what the sidebar, the charts panel and `nbray memory`
        # in a terminal read) answers from Ray too
        from nbray.runtime.state_server import query, sessions_dir

        sock = str(Path(sessions_dir()) / f"{k.pid}.sock")
        assert query(sock, "summary")["backend"] == "ray"
        page = query(sock, "memory", filter="big", limit=5)
        assert [o["held_by"][:1] for o in page["objects"]] == [["big"]], page["objects"]
        assert query(sock, "metrics")["samples"] and query(sock, "node_view")[0]["role"] == "head"
        inspector = k.execute("nbray.inspect()")
        tables = [s.get("value", "") for s in inspector.comm_models().values()
                  if "<table" in str(s.get("value", ""))]
        assert any("big" in t for t in tables), tables

        # interrupt cancels the tasks the cell waits on, and the bar says so
        msg_id = k.submit("awaited = [hold.remote(f'a{i}') for i in range(4)]\nray.get(awaited)")
        poll_for(lambda: len(list(tmp_path.glob("started-a*"))) == 2, RAY_TIMEOUT,
                 "two awaited tasks running")
        k.wait_for_message(
            lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "comm_msg"
                       and "ray.get 4 objects" in str(m["content"]["data"].get("state", {}))),
            RAY_TIMEOUT, "the progress bar of ray.get")
        k.km.interrupt_kernel()
        cell = k.wait_idle(msg_id, RAY_TIMEOUT, allow_errors=True)
        assert cell.error["ename"] == "KeyboardInterrupt", cell.error
        k.execute("def _kind(r):\n    try:\n        ray.get(r, timeout=60)\n        return 'finished'\n"
                  "    except ray.exceptions.TaskCancelledError:\n        return 'cancelled'\n"
                  "    except Exception as e:\n        return type(e).__name__", RAY_TIMEOUT)
        kinds = k.value("[_kind(r) for r in awaited]", RAY_TIMEOUT)
        assert kinds == ["cancelled"] * 4, kinds
        bars = [s for s in cell.comm_models().values() if s.get("_model_name") == "IntProgressModel"]
        assert bars and bars[-1]["bar_style"] == "warning", bars

        # %%remote runs the cell as a Ray task (another process), names in and out
        k.execute("x = 20")
        remote = k.execute("%%remote --pull y\nimport os\ny = x + 1\nos.getpid()",
                           RAY_TIMEOUT)
        assert remote.error is None, remote.traceback_text()
        assert int(remote.result) != k.pid and k.value("y") == 21
        k.execute("ray.shutdown()", RAY_TIMEOUT)
    finally:
        stop_kernel(k)


def test_two_node_ray_cluster_joined_before_load_ext(kernelspec_dir, tmp_path):
    k = start_kernel(kernelspec_dir, tmp_path, {"RAY_USAGE_STATS_ENABLED": "0"})
    try:
        started = k.execute(
            "import ray\nfrom ray.cluster_utils import Cluster\n"
            "cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})\n"
            "worker_node = cluster.add_node(num_cpus=1, resources={'second': 1})\n"
            "ray.init(address=cluster.address)\ncluster.wait_for_nodes()", RAY_TIMEOUT)
        assert started.error is None, started.traceback_text()
        loaded = k.execute("%load_ext nbray")
        text = (loaded.result or "") + json.dumps(loaded.displays())
        assert "Ray cluster" in text and "by task name" in text, text
        k.execute(HOLD.format(flags=str(tmp_path)))
        # a task on the second node: its output comes back under its cell, node ip named
        on_second = k.execute("far = hold.options(resources={'second': 1}).remote('far')")
        poll_for(lambda: (tmp_path / "started-far").exists(), RAY_TIMEOUT, "the far task")
        later = k.execute("1 + 1")
        _release(tmp_path, "far")
        _stdout_under(k, on_second.msg_id, "done far")
        assert later.msg_id not in _streams(k, "done far")
        # both nodes in the node rows and in the sidebar's summary; objects on the far node
        k.execute("import numpy as np\n"
                  "@ray.remote(resources={'second': 1})\ndef make():\n"
                  "    return np.ones(500_000)\n"
                  "made = make.remote()\nray.wait([made], timeout=60, fetch_local=False)")
        summary = k.value("nbray.memory(filter='made').to_dict()", RAY_TIMEOUT)
        assert len(summary["nodes"]) == 2, summary["nodes"]
        (row,) = summary["objects"]
        assert row["size"] >= 4_000_000 and row["held_by"] == ["made"], row
        far_node = k.value("worker_node.node_id")
        assert row["locations"] == [far_node], (row, far_node)
        status = k.execute("%nbray status").result
        assert "2 node(s)" in status, status
        # %%remote --node runs there
        remote = k.execute(f"%%remote --node {far_node}\nimport ray\n"
                           "ray.get_runtime_context().get_node_id()", RAY_TIMEOUT)
        assert remote.error is None, remote.traceback_text()
        assert far_node in remote.result
        k.execute("ray.shutdown()\ncluster.shutdown()", RAY_TIMEOUT)
    finally:
        stop_kernel(k)


def test_nbray_backend_ray_starts_ray_and_unload_stops_it(kernelspec_dir, tmp_path):
    k = start_kernel(kernelspec_dir, tmp_path, {"RAY_USAGE_STATS_ENABLED": "0",
                                            "NBRAY_BACKEND": "ray"})
    try:
        loaded = k.execute("%load_ext nbray", RAY_TIMEOUT)  # calls ray.init() itself
        text = (loaded.result or "") + json.dumps(loaded.displays())
        assert "Ray cluster" in text and "exact (worker markers)" in text, text
        cell = k.execute("import ray\n@ray.remote\ndef hi():\n    print('hi from ray')\n"
                         "ray.get(hi.remote())")
        _stdout_under(k, cell.msg_id, "hi from ray")
        # `nbray` is bound for the notebook; %unload_ext stops the Ray that %load_ext started
        k.execute("%unload_ext nbray", RAY_TIMEOUT)
        assert k.value("ray.is_initialized()") is False
    finally:
        stop_kernel(k)


def test_a_kernel_on_nbray_moves_to_ray_when_the_notebook_starts_ray(kernelspec_dir, tmp_path):
    k = start_kernel(kernelspec_dir, tmp_path, {"RAY_USAGE_STATS_ENABLED": "0"})
    try:
        k.execute("%load_ext nbray")
        nbray_workers = poll_for(k.workers, TIMEOUT, "nbray's workers")
        moved = k.execute("import ray\nray.init(num_cpus=1, include_dashboard=True)",
                          RAY_TIMEOUT)
        assert moved.error is None, moved.traceback_text()
        # at the end of that cell: the empty nbray cluster %load_ext started is stopped, and
        # the views show Ray (output by task name: Ray's workers started without the hook)
        status = k.execute("%nbray status").result
        assert status.startswith("Ray cluster") and "by task name" in status, status
        from ._kernel_session import wait_gone

        wait_gone(nbray_workers, TIMEOUT, "nbray's workers after the move to Ray")
        cell = k.execute("@ray.remote\ndef hi():\n    print('hi after the move')\n"
                         "ray.get(hi.remote())")
        _stdout_under(k, cell.msg_id, "hi after the move")
        k.execute("keep = ray.put(1)")
        assert k.value("[o['held_by'] for o in nbray.memory(filter='keep').objects]") == [["keep"]]
        # %reload_ext keeps the Ray backend and its hooks
        k.execute("%reload_ext nbray")
        again = k.execute("ray.get(hi.remote())")
        _stdout_under(k, again.msg_id, "hi after the move")
        k.execute("ray.shutdown()", RAY_TIMEOUT)
    finally:
        stop_kernel(k)
