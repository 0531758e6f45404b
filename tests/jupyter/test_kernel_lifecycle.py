"""%load_ext / %reload_ext / %unload_ext nbray, nbray.init() again, and what a kernel
restart or SIGKILL leaves behind (it must leave no worker processes)."""

from __future__ import annotations

import os
import signal

from ._kernel_session import TIMEOUT, poll_for, wait_gone, workers_started_by


def test_load_ext_shows_status_and_starts_workers(kernel):
    cell = kernel.execute("%load_ext nbray")
    shown = cell.displays()
    assert len(shown) == 1, cell.messages
    data = shown[0]["data"]
    assert data["text/plain"].startswith("nbray cluster "), data
    assert "node(s)" in data["text/plain"] and "CPUs" in data["text/plain"]
    assert "nbray-cluster" in data["text/html"]
    assert "%%remote" in data["text/html"]
    poll_for(kernel.workers, TIMEOUT, "worker processes after %load_ext nbray")
    # `nbray` needs no import after %load_ext (the display suggests nbray.inspect())
    assert kernel.value("nbray.is_initialized()") is True


def test_load_twice_and_init_again_reuse_the_cluster(kernel):
    kernel.execute("import nbray\nnbray.init(num_cpus=2)\n%load_ext nbray\n"
                   "node = nbray.get_runtime_context().get_node_id()")
    workers = {p.pid for p in poll_for(lambda: len(kernel.workers()) >= 2 and kernel.workers(),
                                       TIMEOUT, "the two workers of a 2-CPU cluster")}
    again = kernel.execute("%load_ext nbray")
    assert again.error is None
    # IPython's own answer; the cluster is not touched
    assert "already loaded" in again.stdout
    kernel.execute("ctx = nbray.init()\nctx2 = nbray.init(num_cpus=2)")
    assert kernel.value("[ctx.node_id == node, ctx2.node_id == node, len(nbray.nodes())]") \
        == [True, True, 1]
    assert kernel.value("nbray.cluster_resources()['CPU']") == 2.0
    # no second cluster: the same worker processes, no new ones
    assert not [p.pid for p in kernel.workers() if p.pid not in workers]
    assert kernel.execute("%%remote\n6 * 7").result == "42"


def test_init_with_other_arguments_after_load_ext_explains(kernel):
    kernel.execute("import nbray\nnbray.init(num_cpus=2)\n%load_ext nbray")
    cell = kernel.execute("nbray.init(num_cpus=1)", allow_errors=True)
    assert cell.error["ename"] == "RuntimeError"
    assert "shutdown()" in cell.error["evalue"]
    assert kernel.execute("%%remote\n1 + 1").result == "2"
    # the user's own cluster outlives the extension
    kernel.execute("%unload_ext nbray")
    assert kernel.value("[nbray.is_initialized(), nbray.get(nbray.put(7))]") == [True, 7]
    assert kernel.execute("%load_ext nbray").error is None
    assert kernel.value("len(nbray.nodes())") == 1


def test_reload_ext_keeps_the_cluster_and_every_ref(kernel):
    # %load_ext started this cluster; %reload_ext (unload + load in one cell) keeps it
    kernel.execute("%load_ext nbray\n"
                   "import numpy as np\n"
                   "big = nbray.put(np.arange(1_000_000))\n"
                   "@nbray.remote\ndef double(x):\n    return 2 * x\n"
                   "made = double.remote(21)\n"
                   "node = nbray.get_runtime_context().get_node_id()")
    old = {p.pid for p in poll_for(kernel.workers, TIMEOUT, "workers")}
    cell = kernel.execute("%reload_ext nbray")
    assert cell.error is None
    assert any(d["data"]["text/plain"].startswith("nbray cluster ") for d in cell.displays())
    assert kernel.value("[int(nbray.get(big)[-1]), nbray.get(made), "
                        "nbray.get_runtime_context().get_node_id() == node]") \
        == [999_999, 42, True]
    assert kernel.execute("%%remote\n'still works'").result == "'still works'"
    assert kernel.value("len(nbray.nodes())") == 1
    assert {p.pid for p in kernel.workers()} <= old  # no second cluster started
    # a later %unload_ext still stops the cluster %load_ext started, at the end of its cell
    workers = kernel.workers()
    assert workers
    kernel.execute("%unload_ext nbray")
    wait_gone(workers, TIMEOUT, "workers to exit after %unload_ext")
    assert kernel.value("nbray.is_initialized()") is False


def test_unload_ext_stops_the_workers(kernel):
    kernel.execute("%load_ext nbray")
    workers = poll_for(kernel.workers, TIMEOUT, "workers")
    cell = kernel.execute("%unload_ext nbray")
    assert cell.error is None
    wait_gone(workers, TIMEOUT, "workers to exit after %unload_ext nbray")
    poll_for(lambda: not kernel.workers(), TIMEOUT, "no worker processes left")
    assert kernel.value("__import__('nbray').is_initialized()") is False
    # loading again starts a new cluster
    kernel.execute("%load_ext nbray")
    assert kernel.execute("%%remote\n'back'").result == "'back'"


def test_kernel_restart_leaves_no_workers(kernel):
    kernel.execute("%load_ext nbray\nimport nbray\n"
                   "refs = [nbray.put(bytes(200_000)) for _ in range(3)]")
    workers = poll_for(kernel.workers, TIMEOUT, "workers")
    old_pid = kernel.pid
    kernel.km.restart_kernel(now=False)
    wait_gone(workers, 5.0, "workers to exit after a kernel restart")
    poll_for(lambda: not workers_started_by(old_pid), 5.0, "no worker of the old kernel left")
    assert kernel.pid != old_pid
    kernel.kc.wait_for_ready(timeout=TIMEOUT)
    # the restarted kernel starts clean and can load the extension again
    kernel.execute("%load_ext nbray")
    assert kernel.execute("%%remote\n'fresh'").result == "'fresh'"


def test_kernel_sigkill_leaves_no_workers(kernel):
    kernel.execute("%load_ext nbray\nimport nbray\n"
                   "@nbray.remote\ndef busy():\n    import time\n    time.sleep(600)\n"
                   "running = [busy.remote() for _ in range(2)]")
    workers = poll_for(lambda: len(kernel.workers()) >= 2 and kernel.workers(), TIMEOUT,
                       "two workers")
    kernel_pid = kernel.pid
    os.kill(kernel_pid, signal.SIGKILL)
    kernel.km.provisioner.process.wait(TIMEOUT)
    wait_gone(workers, 5.0, "workers to exit after the kernel was SIGKILLed")
    # also any worker that was still starting when the kernel died
    poll_for(lambda: not workers_started_by(kernel_pid), 5.0, "no worker of the killed kernel left")
