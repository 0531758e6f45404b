"""Pipelining tasks to workers of other nodes: which tasks go ahead of time and where, the
hand-over when the task ahead ends, take-back when it blocks, cancel, worker exit, and the
resource accounting through all of it (pure decisions: no process, socket or clock)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from nbray import exceptions as exc
from nbray.core import pipelining
from nbray.core.scheduler import Assign, Fail, Instruction, Interrupt, Revoke, Scheduler
from nbray.core.specs import TaskSpec
from tests.core.test_scheduler import (HEAD, OTHER, FakeLocality, FakeNode, FakeWorker,
                                       assigned, task)


def cluster(depth: int = 3, remote_workers: int = 1, local_workers: int = 1,
            locality: Any = None) -> Scheduler:
    nodes = {HEAD: FakeNode({"CPU": 1.0}), OTHER: FakeNode({"CPU": float(remote_workers),
                                                             "w": 10.0})}
    pool: Dict[str, FakeWorker] = {f"w{i}": FakeWorker(f"w{i}") for i in range(local_workers)}
    pool.update({f"r{i}": FakeWorker(f"r{i}", node_id=OTHER) for i in range(remote_workers)})
    return Scheduler(HEAD, nodes, pool, 1, 8, locality=locality, pipeline_depth=depth)


def on_w(name: str = "f", **kw: Any) -> TaskSpec:
    """A task that can only run on the other node (it asks for resource w)."""
    return task(name, w=1.0, **kw)


def add(s: Scheduler, *specs: TaskSpec) -> List[Instruction]:
    for spec in specs:
        s.register(spec)
        s.enqueue(spec)
    return s.schedule()


def w(s: Scheduler, wid: str) -> FakeWorker:
    return s.workers[wid]  # type: ignore[return-value]


def finish(s: Scheduler, wid: str) -> List[Instruction]:
    """The worker reports its running task done; the runtime then calls after_run and
    schedules again."""
    worker = w(s, wid)
    spec = worker.task
    assert spec is not None
    outcome = s.task_done(worker, spec.task_id, retry=False)
    assert outcome == (spec, False)
    s.forget(spec.task_id)
    s.after_run(worker, spec, 0.0)
    return s.schedule()


def test_tasks_go_to_a_busy_remote_worker_up_to_the_depth():
    s = cluster(depth=3)
    a, b, c, d = (on_w(n) for n in "abcd")
    out = add(s, a, b, c, d)
    r0 = w(s, "r0")
    assert out == [Assign(r0, a), Assign(r0, b), Assign(r0, c)]
    assert r0.task is a and list(r0.pipelined) == [b, c]
    assert list(s.ready) == [d]  # the depth (3 in flight) is reached
    # Only the running task holds resources.
    assert s.nodes[OTHER].available == {"CPU": 0.0, "w": 9.0}
    assert s.stats["tasks_pipelined"] == 2


def test_depth_one_sends_one_task_at_a_time():
    s = cluster(depth=1)
    assert assigned(add(s, on_w("a"), on_w("b"))) == ["a"]
    assert not w(s, "r0").pipelined


def test_a_one_node_cluster_never_pipelines():
    s = Scheduler(HEAD, {HEAD: FakeNode({"CPU": 1.0})}, {"w0": FakeWorker("w0")}, 1, 8,
                  pipeline_depth=4)
    assert assigned(add(s, task("a"), task("b"))) == ["a"]
    assert not w(s, "w0").pipelined and [t.name for t in s.ready] == ["b"]


def test_local_workers_are_never_sent_tasks_ahead_of_time():
    s = cluster(depth=4)
    # a runs on the local worker, b on the remote one; c may only wait behind b.
    out = add(s, task("a"), task("b"), task("c"))
    assert [(i.worker.worker_id, i.spec.name) for i in out if isinstance(i, Assign)] == \
        [("w0", "a"), ("r0", "b"), ("r0", "c")]
    assert not w(s, "w0").pipelined


def test_the_shortest_pipeline_is_chosen():
    s = cluster(depth=3, remote_workers=2)
    out = add(s, *(on_w(n) for n in "abcd"))
    placed = [(i.worker.worker_id, i.spec.name) for i in out if isinstance(i, Assign)]
    assert placed == [("r0", "a"), ("r1", "b"), ("r0", "c"), ("r1", "d")]


def test_the_next_task_starts_with_exactly_the_resources_the_last_gave_back():
    s = cluster(depth=3)
    a, b, c, d = (on_w(n) for n in "abcd")
    add(s, a, b, c, d)
    r0 = w(s, "r0")
    out = finish(s, "r0")
    assert r0.state == "busy" and r0.task is b and r0.held == {"CPU": 1.0, "w": 1.0}
    assert s.nodes[OTHER].available == {"CPU": 0.0, "w": 9.0}
    assert out == [Assign(r0, d)] and list(r0.pipelined) == [c, d]
    for _ in range(3):
        finish(s, "r0")
        assert min(s.nodes[OTHER].available.values()) >= 0
    assert r0.state == "idle" and r0.task is None and r0.held == {}
    assert s.nodes[OTHER].available == {"CPU": 1.0, "w": 10.0}


def test_a_retried_task_goes_back_to_the_queue_and_the_next_one_runs():
    s = cluster(depth=2)
    a, b = on_w("a"), on_w("b")
    add(s, a, b)
    r0 = w(s, "r0")
    assert s.task_done(r0, a.task_id, retry=True) == (a, True)
    assert r0.task is b and list(s.ready) == [a] and a.attempt == 1
    assert s.nodes[OTHER].available == {"CPU": 0.0, "w": 9.0}


@pytest.mark.parametrize("second", [
    on_w("other-demand", cpus=2.0),
    task("gpu", w=1.0, GPU=1.0),
    on_w("actor-call", kind="actor-call"),
])
def test_a_task_of_another_demand_or_kind_does_not_wait_behind(second: TaskSpec):
    s = cluster(depth=4)
    s.nodes[OTHER].total.update(CPU=4.0, GPU=1.0)
    s.nodes[OTHER].available.update(CPU=1.0, GPU=0.0)  # everything fits only once a is done
    add(s, on_w("a"))
    s.register(second)
    s.enqueue(second)
    s.schedule()
    assert not w(s, "r0").pipelined


def test_generators_and_max_calls_tasks_are_not_pipelined_nor_waited_behind():
    for first, second in ((on_w("a"), on_w("gen")), (on_w("gen"), on_w("b"))):
        s = cluster(depth=4)
        for spec in (first, second):
            if spec.name == "gen":
                spec.generator = True
        add(s, first, second)
        assert not w(s, "r0").pipelined
    s = cluster(depth=4)
    limited = on_w("limited")
    limited.max_calls = 1
    add(s, on_w("a"), limited)
    assert not w(s, "r0").pipelined


def test_a_task_whose_arguments_are_not_on_that_node_is_not_pipelined():
    where = FakeLocality()
    s = cluster(depth=4, locality=where)
    b = on_w("b", args=[b"obj"])
    add(s, on_w("a"), b)
    assert not w(s, "r0").pipelined and list(s.ready) == [b]
    where.bytes[OTHER] = {b"obj": 10.0}
    assert s.schedule() == [Assign(w(s, "r0"), b)]


def test_nothing_is_sent_behind_a_blocked_task():
    s = cluster(depth=4)
    a = on_w("a")
    add(s, a)
    r0 = w(s, "r0")
    s.lend(r0)
    b = on_w("b")
    add(s, b)
    assert not r0.pipelined


def test_a_blocking_task_gives_back_what_waits_behind_it_in_order():
    s = cluster(depth=4)
    a, b, c, d = (on_w(n) for n in "abcd")
    add(s, a, b, c, d)
    r0 = w(s, "r0")
    assert s.lend(r0)
    assert s.take_back(r0) == [Revoke(r0, (b, c, d), False)]
    assert list(s.ready) == [b, c, d] and not r0.pipelined
    assert r0.revoked == {b.task_id: 1, c.task_id: 1, d.task_id: 1}
    # The blocked task lent its CPU: b may run (were there an idle worker); nothing leaks.
    assert s.nodes[OTHER].available == {"CPU": 1.0, "w": 10.0}
    assert s.take_back(r0) == []


def test_the_skipped_runs_a_worker_reports_are_recognised_once_each():
    s = cluster(depth=4)
    a, b = on_w("a"), on_w("b")
    add(s, a, b)
    r0 = w(s, "r0")
    s.lend(r0)
    s.take_back(r0)
    s.reclaim(r0)
    # b is sent to r0 again (behind a): r0 reports the skipped run first, then the real one.
    assert s.schedule() == [Assign(r0, b)]
    assert s.skipped(r0, b.task_id) and not s.skipped(r0, b.task_id)
    assert s.task_done(r0, a.task_id, retry=False) == (a, False)
    assert r0.task is b


def test_cancel_of_a_pipelined_task_fails_it_at_once_and_the_worker_skips_it():
    for force in (False, True):
        s = cluster(depth=4)
        a, b, c = on_w("a"), on_w("b"), on_w("c")
        add(s, a, b, c)
        r0 = w(s, "r0")
        out = s.cancel(b.task_id, force=force, recursive=False)
        # No Kill even with force: the worker runs a, which must not die with b.
        assert [type(i) for i in out] == [Revoke, Fail]
        assert out[0] == Revoke(r0, (b,), True)
        assert isinstance(out[1].error, exc.TaskCancelledError)
        assert r0.task is a and list(r0.pipelined) == [c] and r0.revoked == {b.task_id: 1}
        assert s.nodes[OTHER].available == {"CPU": 0.0, "w": 9.0}


def test_recursive_cancel_reaches_a_pipelined_child():
    s = cluster(depth=4)
    parent = task("parent")
    add(s, parent)
    w0 = w(s, "w0")
    assert w0.task is parent
    a, child = on_w("a"), on_w("child", parent=parent.task_id)
    add(s, a, child)
    r0 = w(s, "r0")
    assert list(r0.pipelined) == [child]
    out = s.cancel(parent.task_id, force=False, recursive=True)
    assert Interrupt(w0, parent.task_id) in out and Revoke(r0, (child,), True) in out
    assert any(isinstance(i, Fail) and i.spec is child for i in out)


def test_a_dead_worker_queues_its_pipelined_tasks_again_without_using_a_retry():
    s = cluster(depth=4)
    a, b, c = on_w("a", max_retries=0), on_w("b", max_retries=0), on_w("c", max_retries=0)
    add(s, a, b, c)
    r0 = w(s, "r0")
    out = s.worker_exited(r0, "was killed")
    fails = [i for i in out if isinstance(i, Fail)]
    assert [f.spec for f in fails] == [a]  # the one that ran, out of retries
    assert isinstance(fails[0].error, exc.WorkerCrashedError)
    assert list(s.ready) == [b, c] and b.attempt == c.attempt == 0
    assert not r0.pipelined and s.nodes[OTHER].available == {"CPU": 1.0, "w": 10.0}


def test_a_dead_worker_retries_its_running_task_first():
    s = cluster(depth=4)
    a, b = on_w("a"), on_w("b")
    add(s, a, b)
    s.worker_exited(w(s, "r0"), "was killed")
    assert list(s.ready) == [a, b] and a.attempt == 1 and b.attempt == 0


def test_a_dead_worker_started_the_task_it_reported_reaching():
    s = cluster(depth=4)
    a, b, c = on_w("a", max_retries=0), on_w("b", max_retries=0), on_w("c")
    add(s, a, b, c)
    r0 = w(s, "r0")
    finish(s, "r0")                  # a's Done arrived: b started
    out = s.worker_exited(r0, "was killed")
    assert [i.spec for i in out if isinstance(i, Fail)] == [b]
    assert list(s.ready) == [c]


def test_pipelining_helpers_keep_the_revoked_counts():
    r = FakeWorker("r", node_id=OTHER)
    a, b = on_w("a"), on_w("b")
    r.pipelined.extend([a, b])
    assert pipelining.take_back(r) == (a, b) and not r.pipelined
    r.pipelined.append(a)
    pipelining.revoke(r, a)
    assert r.revoked == {a.task_id: 2, b.task_id: 1}
    assert pipelining.skipped(r, a.task_id) and r.revoked[a.task_id] == 1
    assert not pipelining.skipped(r, b"unknown")
