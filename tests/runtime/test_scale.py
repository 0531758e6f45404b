"""Scale: what the node keeps per task is gone once the task's refs are, and the timeline
is a bounded ring.

After thousands of tasks of each kind (plain, sync, failing, nested, actor calls, generators,
wait-drained, small results kept or dropped), every internal table keyed by task or object
id is back to its size before the work; only the refs the program still holds keep entries.
No timing is asserted here: rates per wave are the benchmark's business.
"""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any, Callable, Dict

import numpy as np
import pytest

import nbray
from nbray.runtime.timeline import MAX_EVENTS, Timeline
from tests._support import FileEvent, poll_for

N = 2_000


@nbray.remote
def noop():
    return None


@nbray.remote
def small(i):
    return i


@nbray.remote
def big_bytes():
    return b"b" * 200_000   # in the arena, pickled in-band: every get() copies it out


@nbray.remote
def boom():
    raise ValueError("boom")


@nbray.remote
def takes_two(a, b):
    return None


@nbray.remote
def fan_out(n):
    return sum(nbray.get([small.remote(i) for i in range(n)]))


@nbray.remote(num_returns="streaming")
def count_to(n):
    for i in range(n):
        yield i


@nbray.remote
class Blockable:
    def block(self, go):
        return go.wait(60)

    def take(self, a):
        return a.sum()


@nbray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def add(self):
        self.n += 1
        return self.n


def table_sizes(node: Any) -> Dict[str, int]:
    """The size of every table of the node that gains entries per task or per object."""
    with node.lock:
        node.objects.drain_deferred()
        core = node.tasks.core
        actors = node.actors.table
        client = nbray.runtime.context.current_driver().client
        return {
            "objects": len(node.table.entries),
            "freed but mapped": len(node.table.zombies),
            "store used": node.allocator.used,
            "unfinished tasks": len(core.by_id),
            "ready queue": len(core.ready),
            "tasks waiting for arguments": len(core.pending_deps),
            "children of tasks": len(core.children),
            "cancelled parents": len(core.cancelled_parents),
            "deferred ref drops": len(node.objects.deferred),
            "blocking worker requests": len(node.objects.get_requests),
            "generator streams": len(node.streams.streams),
            "lineage specs": len(node.remote.lineage.specs),
            "lineage items": len(node.remote.lineage.items),
            "fetches": len(node.remote.fetches) + len(node.remote.fetch_state),
            "actor calls waiting for arguments": len(actors.waiting_args),
            "actor call queues": sum(len(r.queues) for r in actors.actors.values()),
            "actor calls in flight": sum(len(r.in_flight) for r in actors.actors.values()),
            "workers' cancelled tasks": sum(len(w.cancelled) for w in node.workers.values()),
            "driver refs": len(client.ref_counter.counts),
        }


def steady_sizes(node: Any) -> Dict[str, int]:
    """Sizes once two readings in a row agree (the warm-up's last messages are in)."""
    seen: Dict[str, Any] = {}

    def steady() -> bool:
        gc.collect()
        last, seen["sizes"] = seen.get("sizes"), table_sizes(node)
        return seen["sizes"] == last

    poll_for(steady, interval=0.05, msg="the node's tables to stop changing")
    return seen["sizes"]


def settled_sizes(node: Any, before: Dict[str, int]) -> Dict[str, int]:
    """Sizes once they stop changing toward `before` (workers' ref drops and unpins
    arrive after the values): the first that equals `before`, else the last seen."""
    seen: Dict[str, Any] = {}

    def back() -> bool:
        gc.collect()
        seen["sizes"] = table_sizes(node)
        return seen["sizes"] == before

    try:
        poll_for(back, timeout=10, msg="the node's tables to shrink back")
    except AssertionError:
        pass  # the comparison below names what stayed
    return seen["sizes"]


def _sync(n: int) -> None:
    for i in range(n):
        assert nbray.get(small.remote(i)) == i


def _errors(n: int) -> None:
    for ref in [boom.remote() for _ in range(n)]:
        with pytest.raises(ValueError):
            nbray.get(ref)


def _wait_drain(n: int) -> None:
    pending = [small.remote(i) for i in range(n)]
    total = 0
    while pending:
        done, pending = nbray.wait(pending, num_returns=1)
        total += nbray.get(done[0])
    assert total == n * (n - 1) // 2


def _actor_calls(n: int) -> None:
    counter = Counter.remote()
    assert nbray.get([counter.add.remote() for _ in range(n)])[-1] == n
    del counter


def _generators(n: int) -> None:
    for _ in range(n // 20):
        assert [nbray.get(r) for r in count_to.remote(20)] == list(range(20))


def _arena_results(n: int) -> None:
    for _ in range(n // 200):   # 20 at a time: 4 MB of the store
        assert nbray.get([big_bytes.remote() for _ in range(20)])[-1][:1] == b"b"


def _failed_arguments(n: int) -> None:
    # The first argument is an error: the task never runs, and the worker never reads the
    # second one (an arena array it was sent): that read ends all the same.
    array = nbray.put(np.ones(100_000))
    for _ in range(n // 20):
        with pytest.raises(ValueError):
            nbray.get(takes_two.remote(boom.remote(), array))


WORKLOADS: Dict[str, Callable[[int], None]] = {
    "async": lambda n: nbray.get([noop.remote() for _ in range(n)]),
    "sync": _sync,
    "errors": _errors,
    "nested": lambda n: nbray.get([fan_out.remote(9) for _ in range(n // 10)]),
    "actor calls": _actor_calls,
    "generators": _generators,
    "wait drain": _wait_drain,
    "results dropped": lambda n: nbray.get([small.remote(i) for i in range(n)]),
    "arena results read": _arena_results,
    "failed arguments": _failed_arguments,
}


@pytest.mark.parametrize("work", list(WORKLOADS), ids=list(WORKLOADS))
def test_tables_are_back_to_their_size_after_thousands_of_tasks(cluster, work):
    node = cluster.node
    WORKLOADS[work](50)   # workers started, functions and the actor class registered
    before = steady_sizes(node)
    WORKLOADS[work](N)
    assert settled_sizes(node, before) == before


def test_actor_calls_cancelled_before_they_ran_release_their_arguments(cluster, tmp_path):
    node = cluster.node
    actor = Blockable.remote()
    assert nbray.get(actor.take.remote(np.ones(10))) == 10
    before = steady_sizes(node)
    go = FileEvent(tmp_path / "go")
    array = nbray.put(np.ones(100_000))
    blocked = actor.block.remote(go)
    calls = [actor.take.remote(array) for _ in range(20)]
    (record,) = [r for r in node.actors.actors.values() if r.state == "ALIVE"]
    poll_for(lambda: len(record.in_flight) == 21, msg="the calls to reach the actor's worker")
    for ref in calls:
        nbray.cancel(ref)
    go.set()
    assert nbray.get(blocked) is True
    for ref in calls:
        with pytest.raises(nbray.exceptions.TaskCancelledError):
            nbray.get(ref)
    del array, blocked, calls, ref, record
    assert settled_sizes(node, before) == before


def test_only_the_refs_kept_keep_their_objects(cluster):
    node = cluster.node
    nbray.get([small.remote(i) for i in range(50)])
    before = steady_sizes(node)
    kept = []
    for wave in range(4):
        refs = [small.remote(wave * N + i) for i in range(N)]
        nbray.get(refs)
        kept += refs[:10]
        del refs
    expected = dict(before, objects=before["objects"] + 40,
                    **{"driver refs": before["driver refs"] + 40})
    assert settled_sizes(node, expected) == expected
    assert nbray.get(kept) == [wave * N + i for wave in range(4) for i in range(10)]
    del kept
    assert settled_sizes(node, before) == before


# -- the timeline ---------------------------------------------------------------------------
def _run(task_id: bytes) -> SimpleNamespace:
    return SimpleNamespace(name="f", kind="task", task_id=task_id, actor_id=None, attempt=0)


WORKER = SimpleNamespace(worker_id="n-w1", node_id="n" * 56, pid=7)


def test_timeline_is_a_ring_of_the_newest_runs():
    timeline = Timeline(3)
    for i in range(5):
        timeline.record(_run(bytes([i])), WORKER, (float(i), i + 0.5))
    assert timeline.maxlen == 3 and timeline.dropped == 2
    assert [e["args"]["task_id"] for e in timeline.events()] == ["02", "03", "04"]


def test_timeline_of_zero_runs_keeps_none_and_counts_them_dropped():
    timeline = Timeline(0)
    timeline.record(_run(b"\x01"), WORKER, (1.0, 2.0))
    assert timeline.events() == [] and timeline.dropped == 1


def test_timeline_keeps_ten_thousand_runs_by_default():
    assert MAX_EVENTS == 10_000 and Timeline().maxlen == MAX_EVENTS


def test_timeline_bound_comes_from_the_environment(make_cluster, monkeypatch):
    monkeypatch.setenv("NBRAY_TIMELINE_EVENTS", "25")
    cluster = make_cluster()
    timeline = cluster.node.timeline
    assert timeline.maxlen == 25
    nbray.get([noop.remote() for _ in range(100)])
    last = noop.remote()
    nbray.get(last)
    events = [e for e in nbray.timeline() if e["ph"] == "X"]  # the runs, not the row names
    assert len(events) == 25 and timeline.dropped == 76
    assert events[-1]["args"]["task_id"] == last.task_id().hex()
