"""Tasks pipelined to another node's workers (several in flight per worker), with real
processes: a task waiting behind one that blocks is not stuck, a pipelined task cancelled
before it started is dropped, and a worker dying with several in flight loses none and
runs none twice; resources come back whole."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, List

import pytest

import nbray
from nbray import exceptions as exc
from tests._support import poll_for


def _until(path: str) -> None:
    while not os.path.exists(path):  # (in the task: the test creates the file when it may go on)
        time.sleep(0.01)


def _log(path: str, name: str) -> None:
    with open(path, "a") as f:
        f.write(name + "\n")


@nbray.remote
def until_file(path: str) -> str:
    _until(path)
    return "done"


@nbray.remote
def run_logged(log: str, name: str, gate: str = "") -> str:
    _log(log, name)
    if gate:
        _until(gate)
    return name


@nbray.remote
def logged_after(log: str, name: str, gate: str) -> str:
    _until(gate)
    _log(log, name)
    return name


@nbray.remote
def block_after(go: str, gate: str) -> str:
    """Runs until `go` exists, then blocks in a nested get until `gate` exists."""
    _until(go)
    return nbray.get(until_file.remote(gate))


def on_w(fn: Any, w: float = 1.0, **options: Any) -> Any:
    return fn.options(resources={"w": w}, **options)


def pipelined(head: Any) -> List[Any]:
    with head.node.lock:
        return [s for wk in head.node.workers.values() for s in wk.pipelined]


def runs(log: Path) -> List[str]:
    return log.read_text().split() if log.exists() else []


def test_remote_tasks_are_pipelined_and_resources_come_back_whole(head):
    head.join(cpus=1, resources='{"w": 10}')
    refs = [on_w(run_logged).remote(os.devnull, str(i)) for i in range(200)]
    assert nbray.get(refs, timeout=120) == [str(i) for i in range(200)]
    assert head.node.stats["tasks_pipelined"] > 0
    poll_for(lambda: nbray.available_resources().get("w") == 10.0 and
             nbray.available_resources().get("CPU") == 2.0, msg="resources given back")


def test_a_task_behind_one_that_blocks_is_taken_back_and_runs_elsewhere(head, tmp_path):
    head.join(cpus=2, resources='{"w": 10}')
    go, release, gate = (str(tmp_path / n) for n in ("go", "release", "gate"))
    # `long` takes one remote worker (its demand differs: nothing waits behind it), `a` the
    # other; b can only wait behind a.
    long = on_w(until_file, w=2).remote(release)
    a = on_w(block_after).remote(go, gate)
    b = on_w(run_logged).remote(str(tmp_path / "log"), "b")
    poll_for(lambda: [s.name for s in pipelined(head)] == ["run_logged"],
             msg="b waits behind a")
    assert nbray.available_resources()["w"] == 7.0  # what runs holds; b holds nothing yet
    Path(go).touch()  # a blocks in get(): b goes back to the queue
    poll_for(lambda: head.node.stats["pipelined_taken_back"] == 1, msg="b taken back")
    Path(release).touch()  # the other worker is free: b runs there while a still blocks
    assert nbray.get(b, timeout=60) == "b"
    assert nbray.get(long, timeout=60) == "done"
    ready, _ = nbray.wait([a], timeout=0)
    assert not ready
    Path(gate).touch()
    assert nbray.get(a, timeout=60) == "done"
    assert runs(tmp_path / "log") == ["b"]
    poll_for(lambda: nbray.available_resources().get("w") == 10.0, msg="resources given back")


@pytest.mark.parametrize("force", [False, True])
def test_cancel_of_a_pipelined_task_drops_it(head, tmp_path, force):
    head.join(cpus=1, resources='{"w": 10}')
    log, gate = tmp_path / "log", str(tmp_path / "gate")
    a = on_w(run_logged).remote(str(log), "a", gate)
    # b would log only after a gate that never opens: the worker is told to skip it, and
    # should a loaded machine let a finish before that word arrives, b has started and is
    # interrupted instead (the cancel says so at once either way); it never logs.
    b = on_w(logged_after).remote(str(log), "b", str(tmp_path / "never"))
    c = on_w(run_logged).remote(str(log), "c")
    poll_for(lambda: len(pipelined(head)) == 2, msg="b and c wait behind a")
    poll_for(lambda: runs(log) == ["a"], msg="a runs")
    nbray.cancel(b, force=force)
    with pytest.raises(exc.TaskCancelledError):
        nbray.get(b, timeout=30)  # at once: a still runs
    ready, _ = nbray.wait([a], timeout=0)
    assert not ready
    Path(gate).touch()
    # a was not killed with b (force or not), the worker skipped b and ran c.
    assert nbray.get([a, c], timeout=60) == ["a", "c"]
    assert runs(log) == ["a", "c"]
    # The worker runs the same function again after skipping b.
    assert nbray.get(on_w(logged_after).remote(str(log), "d", gate), timeout=60) == "d"
    poll_for(lambda: nbray.available_resources().get("w") == 10.0, msg="resources given back")


def test_recursive_cancel_drops_a_pipelined_child(head, tmp_path):
    head.join(cpus=1, resources='{"w": 10}')
    log, gate = tmp_path / "log", str(tmp_path / "gate")
    blocker = on_w(run_logged).remote(str(log), "blocker", gate)
    poll_for(lambda: runs(log) == ["blocker"], msg="the remote worker is busy")

    @nbray.remote
    def parent(log: str, gate: str) -> Any:
        child = on_w(run_logged).remote(log, "child")
        return nbray.get(child)

    p = parent.remote(str(log), gate)
    poll_for(lambda: [s.name for s in pipelined(head)] == ["run_logged"],
             msg="the child waits behind the blocker")
    nbray.cancel(p, recursive=True)
    with pytest.raises(exc.TaskCancelledError):
        nbray.get(p, timeout=30)
    Path(gate).touch()
    assert nbray.get(blocker, timeout=60) == "blocker"
    assert runs(log) == ["blocker"]


def test_a_worker_dying_with_tasks_in_flight_loses_none_and_runs_none_twice(head, tmp_path):
    head.join(cpus=1, resources='{"w": 10}')
    log, gate = tmp_path / "log", str(tmp_path / "gate")
    # No retries for any of them: a fails with the worker; b, c, d never started, so they
    # run (once) without using a retry.
    a = on_w(run_logged, max_retries=0).remote(str(log), "a", gate)
    rest = [on_w(run_logged, max_retries=0).remote(str(log), n) for n in "bcd"]
    poll_for(lambda: len(pipelined(head)) == 3, msg="b, c, d wait behind a")
    poll_for(lambda: runs(log) == ["a"], msg="a runs")
    with head.node.lock:
        victim = [wk for wk in head.node.workers.values() if wk.task is not None
                  and wk.task.name == "run_logged"][0]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(exc.WorkerCrashedError):
        nbray.get(a, timeout=60)
    assert nbray.get(rest, timeout=60) == ["b", "c", "d"]
    assert sorted(runs(log)) == ["a", "b", "c", "d"]
    poll_for(lambda: nbray.available_resources().get("w") == 10.0, msg="resources given back")


def test_a_retried_task_and_the_ones_behind_it_each_finish_once(head, tmp_path):
    head.join(cpus=1, resources='{"w": 10}')
    log, gate = tmp_path / "log", str(tmp_path / "gate")
    a = on_w(run_logged, max_retries=1).remote(str(log), "a", gate)
    rest = [on_w(run_logged, max_retries=0).remote(str(log), n) for n in "bc"]
    poll_for(lambda: len(pipelined(head)) == 2 and runs(log) == ["a"], msg="a runs, b, c wait")
    with head.node.lock:
        victim = [wk for wk in head.node.workers.values() if wk.task is not None
                  and wk.task.name == "run_logged"][0]
    os.kill(victim.pid, signal.SIGKILL)
    Path(gate).touch()
    assert nbray.get([a] + rest, timeout=60) == ["a", "b", "c"]
    assert sorted(runs(log)) == ["a", "a", "b", "c"]  # a twice: it started, then its retry


def test_a_node_lost_with_tasks_in_flight_loses_none_and_runs_none_twice(head, tmp_path):
    lost = head.join(cpus=1, resources='{"w": 10}')
    head.join(cpus=1, resources='{"w": 10}')
    log, gate = tmp_path / "log", str(tmp_path / "gate")
    refs = {n: on_w(run_logged, max_retries=0).remote(str(log), n, gate) for n in "abcdef"}
    poll_for(lambda: len(pipelined(head)) == 4 and len(runs(log)) == 2,
             msg="one task runs on each node, four wait behind them")
    lost_id = head.info_of(lost).node_id
    with head.node.lock:
        there = [wk for wk in head.node.workers.values() if wk.node_id == lost_id
                 and wk.task is not None]
        crashed = there[0].task.return_ids[0]
        behind = list(there[0].pipelined)
    assert len(behind) == 2
    lost.kill()
    lost.wait()
    poll_for(lambda: len(head.alive_nodes()) == 2, msg="the node is declared lost")
    Path(gate).touch()
    outcome = {}
    for name, ref in refs.items():
        try:
            outcome[name] = nbray.get(ref, timeout=60)
        except exc.WorkerCrashedError:
            outcome[name] = "crashed"
    # The task that ran there fails (no retries); those waiting behind it run on the other
    # node without using a retry; every task ran exactly once.
    crashed_name = [n for n, r in refs.items() if r.binary() == crashed]
    assert [n for n, v in outcome.items() if v == "crashed"] == crashed_name
    assert sorted(runs(log)) == list("abcdef")
    poll_for(lambda: nbray.available_resources().get("w") == 10.0, msg="resources given back")
