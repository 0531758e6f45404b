"""Generator tasks, nbray-specific: exact reference counts, memory rows, store bytes given
back, and callers that go away (the generator dropped early, the calling worker dead).

The behaviour Ray shares is tested on both systems in tests/ray_compat/test_generators.py.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import nbray
from nbray import api
from nbray.runtime import context
from tests._support import FileEvent, poll_for

MiB = 2**20


def _counts():
    return nbray.reference_counts()   # also applies the driver's pending ref drops


def _store_used():
    _counts()
    return context.current_driver().node.store_stats()["used"]


def _unfinished_tasks():
    return api._query("tasks")


def _wait_task_gone(name):
    poll_for(lambda: not [t for t in _unfinished_tasks() if t["name"] == name],
             msg=f"{name}() to finish")


def _wait_nothing_left(base):
    poll_for(lambda: _counts() == {}, msg="every object to be freed")
    poll_for(lambda: _store_used() == base, msg="the store to be back to its base use")


@nbray.remote
def big_items(n, mib=2):
    for i in range(n):
        yield np.full(mib * MiB, i, dtype=np.uint8)


@nbray.remote
def gated_big_items(event, n):
    event.wait()
    for i in range(n):
        yield np.full(2 * MiB, i, dtype=np.uint8)


def test_taken_items_live_while_their_refs_do_then_everything_is_freed(cluster):
    base = _store_used()
    gen = big_items.remote(3)
    refs = list(gen)
    counts = _counts()
    assert [(counts[r.hex()]["local"], counts[r.hex()]["where"]) for r in refs] == [(1, "shm")] * 3
    assert [int(nbray.get(r)[0]) for r in refs] == [0, 1, 2]
    assert _store_used() >= base + 6 * MiB
    first = refs[0]
    del gen, refs
    gc.collect()
    counts = _counts()
    assert first.hex() in counts and len(
        [h for h in counts if h[:32] == first.hex()[:32]]) == 1, counts
    del first
    _wait_nothing_left(base)


def test_dropping_a_generator_frees_the_items_it_never_handed_out(cluster):
    base = _store_used()
    gen = big_items.remote(3)
    assert nbray.get(gen.completed()) is None     # all three items exist now
    task = gen.task_id().hex()
    assert len([h for h in _counts() if h.startswith(task)]) == 4   # 3 items + return object
    kept = next(gen)
    del gen
    gc.collect()
    assert [h for h in _counts() if h.startswith(task)] == [kept.hex()]
    assert int(nbray.get(kept)[0]) == 0
    del kept
    _wait_nothing_left(base)


def test_items_yielded_after_the_generator_was_dropped_are_not_kept(cluster, tmp_path):
    base = _store_used()
    event = FileEvent(tmp_path / "go")
    gen = gated_big_items.remote(event, 3)
    del gen
    gc.collect()
    _counts()                         # the node knows the generator is gone
    event.set()
    _wait_task_gone("gated_big_items")
    assert _counts() == {}
    _wait_nothing_left(base)


def test_memory_lists_items_like_task_results(cluster):
    gen = big_items.remote(1, mib=1)
    ref = next(gen)
    row = [o for o in nbray.memory(limit=None).objects if o["object_id"] == ref.hex()][0]
    assert row["created_by"] == "big_items"
    assert row["task_id"] == gen.task_id().hex()
    assert row["owner"]["process"] == "driver"
    assert row["where"] == "shared_memory" and row["size"] >= MiB
    assert "LOCAL_REFERENCE" in row["reference_types"]
    assert "test_generators.py" in row["call_site"]
    del gen, ref


def test_dynamic_items_live_as_long_as_the_object_that_lists_them(cluster):
    base = _store_used()
    with pytest.warns(DeprecationWarning, match="dynamic"):
        f = big_items.options(num_returns="dynamic")
    outer = f.remote(2)
    dyn = nbray.get(outer)
    task = outer.hex()[:32]
    items = [h for h in _counts() if h.startswith(task) and h != outer.hex()]
    assert len(items) == 2
    for h in items:
        assert _counts()[h]["contained_in"] == 1
    del outer
    gc.collect()
    assert len(dyn) == 2          # the deserialized value holds refs of its own
    refs = list(dyn)
    del dyn
    assert [int(nbray.get(r)[0]) for r in refs] == [0, 1]
    del refs
    _wait_nothing_left(base)


def test_a_generator_dropped_inside_a_task_frees_what_it_did_not_take(cluster):
    base = _store_used()

    @nbray.remote
    def take_first(n):
        gen = big_items.remote(n)
        first = int(nbray.get(next(gen))[0])
        nbray.get(gen.completed())          # the rest exist, untaken, when it is dropped
        return first

    assert nbray.get(take_first.remote(3)) == 0
    _wait_task_gone("big_items")
    _wait_nothing_left(base)


def test_items_of_a_worker_that_died_holding_a_generator_are_freed(cluster):
    base = _store_used()

    @nbray.remote(max_retries=0)
    def takes_one_then_dies(n):
        gen = big_items.remote(n)
        nbray.get(next(gen))
        nbray.get(gen.completed())
        os._exit(1)

    ref = takes_one_then_dies.remote(3)
    with pytest.raises(nbray.exceptions.WorkerCrashedError):
        nbray.get(ref)
    _wait_task_gone("big_items")
    poll_for(lambda: set(_counts()) == {ref.hex()}, msg="only the crashed task's error left")
    poll_for(lambda: _store_used() == base, msg="the items' memory to be given back")


def test_a_worker_waiting_for_the_next_item_lends_its_cpu(make_cluster, tmp_path):
    make_cluster(num_cpus=1)
    event = FileEvent(tmp_path / "go")

    @nbray.remote
    def consume():
        gen = gated_big_items.remote(event, 2)
        return [int(nbray.get(r)[0]) for r in gen]

    ref = consume.remote()
    # The generator task can only run because its caller, blocked in next(), gave the one
    # CPU back; it waits for the event only once it has started.
    poll_for(lambda: any(t["name"] == "gated_big_items" and t["state"] == "RUNNING"
                         for t in _unfinished_tasks()), msg="the generator task to start")
    event.set()
    assert nbray.get(ref, timeout=60) == [0, 1]


def test_wait_inside_a_task_on_a_generator(cluster, tmp_path):
    event = FileEvent(tmp_path / "go")

    @nbray.remote
    def waits(ev):
        gen = gated_big_items.remote(ev, 1)
        before = nbray.wait([gen], timeout=0)[0] == []
        ev.set()
        ready, _ = nbray.wait([gen], timeout=30)
        return before, ready == [gen], int(nbray.get(next(gen))[0])

    assert nbray.get(waits.remote(event), timeout=60) == (True, True, 0)



def test_cancelling_a_task_blocked_in_next_frees_the_generator_it_held(cluster, tmp_path):
    base = _store_used()
    event = FileEvent(tmp_path / "go")
    started = FileEvent(tmp_path / "started")

    @nbray.remote
    def consume(ev, st):
        gen = gated_big_items.remote(ev, 2)
        st.set()
        return [int(nbray.get(r)[0]) for r in gen]

    ref = consume.remote(event, started)
    poll_for(started.is_set, msg="the consumer to start")
    poll_for(lambda: any(t["name"] == "gated_big_items" and t["state"] == "RUNNING"
                         for t in _unfinished_tasks()), msg="the generator task to start")
    nbray.cancel(ref)
    with pytest.raises(nbray.exceptions.TaskCancelledError):
        nbray.get(ref, timeout=30)
    event.set()                      # the generator now yields to a caller that is gone
    _wait_task_gone("gated_big_items")
    poll_for(lambda: set(_counts()) == {ref.hex()}, msg="only the cancelled task's error left")
    poll_for(lambda: _store_used() == base, msg="the items' memory to be given back")


def _room_waiters(task_id):
    node = context.current_driver().node
    with node.lock:
        stream = node.streams.streams.get(task_id)
        return len(stream.room_waiters) if stream is not None else 0


def _lines(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return len(f.read().splitlines())


@pytest.mark.parametrize("actor", [False, True])
def test_backpressure_pauses_the_generator_until_the_caller_takes_items(cluster, tmp_path, actor):
    log = str(tmp_path / "yields")

    def logged(path, n):
        for i in range(n):
            with open(path, "a") as f:
                f.write(f"{i}\n")
            yield i

    if actor:
        @nbray.remote
        class Source:
            def items(self, path, n):
                yield from logged(path, n)

        source = Source.remote()
        gen = source.items.options(_generator_backpressure_num_objects=2).remote(log, 5)
    else:
        gen = nbray.remote(logged).options(_generator_backpressure_num_objects=2).remote(log, 5)
    # Two items ahead of the caller, then the task waits (it has not run its third step).
    poll_for(lambda: _room_waiters(gen.task_id()) == 1, msg="the generator to pause")
    assert _lines(log) == 2
    assert nbray.get(next(gen)) == 0
    poll_for(lambda: _lines(log) == 3 and _room_waiters(gen.task_id()) == 1,
             msg="one more step, then a pause")
    assert [nbray.get(r) for r in gen] == [1, 2, 3, 4]
    assert _lines(log) == 5


def test_backpressure_of_a_dropped_generator_lets_the_task_finish(cluster, tmp_path):
    log = str(tmp_path / "yields")

    def logged(path, n):
        for i in range(n):
            with open(path, "a") as f:
                f.write(f"{i}\n")
            yield i

    gen = nbray.remote(logged).options(_generator_backpressure_num_objects=1).remote(log, 4)
    poll_for(lambda: _room_waiters(gen.task_id()) == 1, msg="the generator to pause")
    del gen
    gc.collect()
    _counts()
    _wait_task_gone("logged")
    assert _lines(log) == 4
    poll_for(lambda: _counts() == {}, msg="every object to be freed")


def test_backpressure_option_is_checked(cluster):
    def gen():
        yield 1

    with pytest.raises(ValueError, match="_generator_backpressure_num_objects"):
        nbray.remote(gen).options(_generator_backpressure_num_objects=0)
