"""Concurrency inside one actor: threaded actors (max_concurrency > 1) and async actors.

Overlap is proven without timing: a threading.Barrier / asyncio.Event inside the actor
can only be passed when several calls are inside the actor at the same time.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import nbray
from tests._support import Counter, FileEvent, poll_for


@nbray.remote(max_concurrency=2)
class Threaded:
    def __init__(self, parties=2):
        self.barrier = threading.Barrier(parties, timeout=30)
        self.lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def meet(self):
        """Returns only once `parties` calls are inside at once."""
        self.barrier.wait()
        return threading.current_thread().name

    def hold(self, entered, gate):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        entered.hit()
        try:
            assert gate.wait(60), "the test never opened the gate"
        finally:
            with self.lock:
                self.inside -= 1
        return "done"

    def peak(self):
        return self.most_inside


@nbray.remote
class Sequential:
    def __init__(self):
        self.inside = 0
        self.most_inside = 0

    def hold(self, entered, gate):
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        entered.hit()
        assert gate.wait(60)
        self.inside -= 1

    def peak(self):
        return self.most_inside


@nbray.remote
class AsyncWaiter:
    def __init__(self):
        self.event = asyncio.Event()
        self.waiting = 0

    async def wait_for_event(self, i):
        self.waiting += 1
        await asyncio.wait_for(self.event.wait(), timeout=30)
        return i

    async def waiting_count(self):
        return self.waiting

    async def set_event(self):
        self.event.set()
        return "set"


@nbray.remote
class AsyncHolder:
    def __init__(self):
        self.inside = 0
        self.most_inside = 0

    async def hold(self, entered, gate):
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        entered.hit()
        for _ in range(12000):  # up to 60 s
            if gate.is_set():
                break
            await asyncio.sleep(0.005)
        self.inside -= 1
        return "done"

    async def peak(self):
        return self.most_inside


def test_threaded_actor_runs_calls_at_the_same_time(cluster):
    actor = Threaded.remote(2)
    names = nbray.get([actor.meet.remote(), actor.meet.remote()], timeout=30)
    assert len(set(names)) == 2  # two threads, both inside meet() at once


def test_threaded_actor_runs_up_to_max_concurrency_calls(cluster, tmp_path):
    entered, gate = Counter(tmp_path / "entered"), FileEvent(tmp_path / "gate")
    actor = Threaded.options(max_concurrency=3).remote(3)
    refs = [actor.hold.remote(entered, gate) for _ in range(5)]
    poll_for(lambda: entered.value() >= 3, msg="three calls inside at once")
    ready, _ = nbray.wait(refs, num_returns=1, timeout=0)
    assert ready == []
    gate.set()
    assert nbray.get(refs, timeout=30) == ["done"] * 5
    assert nbray.get(actor.peak.remote()) == 3
    assert entered.value() == 5


def test_max_concurrency_one_runs_calls_one_at_a_time(cluster, tmp_path):
    entered, gate = Counter(tmp_path / "entered"), FileEvent(tmp_path / "gate")
    actor = Sequential.remote()
    refs = [actor.hold.remote(entered, gate) for _ in range(3)]
    poll_for(lambda: entered.value() >= 1, msg="the first call to start")
    gate.set()
    nbray.get(refs, timeout=30)
    assert nbray.get(actor.peak.remote()) == 1


def test_async_actor_runs_many_calls_on_its_event_loop(cluster):
    actor = AsyncWaiter.remote()
    waiters = [actor.wait_for_event.remote(i) for i in range(10)]
    # All ten are suspended inside the actor; a later call still gets in and releases them.
    poll_for(lambda: nbray.get(actor.waiting_count.remote()) == 10,
             msg="all ten calls to wait on the event")
    assert nbray.get(actor.set_event.remote(), timeout=30) == "set"
    assert nbray.get(waiters, timeout=30) == list(range(10))


def test_async_actor_max_concurrency_limits_running_calls(cluster, tmp_path):
    entered, gate = Counter(tmp_path / "entered"), FileEvent(tmp_path / "gate")
    actor = AsyncHolder.options(max_concurrency=2).remote()
    refs = [actor.hold.remote(entered, gate) for _ in range(5)]
    poll_for(lambda: entered.value() >= 2, msg="two calls inside at once")
    ready, _ = nbray.wait(refs, num_returns=1, timeout=0)
    assert ready == []
    gate.set()
    assert nbray.get(refs, timeout=30) == ["done"] * 5
    assert nbray.get(actor.peak.remote()) == 2
    assert entered.value() == 5


def test_async_actor_method_errors_are_raised_on_get(cluster):
    @nbray.remote
    class AsyncFailing:
        async def fail(self):
            await asyncio.sleep(0)
            raise KeyError("missing")

        async def ok(self):
            return "ok"

    actor = AsyncFailing.remote()
    with pytest.raises(KeyError, match="missing"):
        nbray.get(actor.fail.remote(), timeout=30)
    assert nbray.get(actor.ok.remote(), timeout=30) == "ok"


def test_threaded_actor_keeps_state_shared_between_threads(cluster):
    @nbray.remote(max_concurrency=4)
    class SharedCount:
        def __init__(self):
            self.lock = threading.Lock()
            self.n = 0

        def add(self):
            with self.lock:
                self.n += 1
                return self.n

        def read(self):
            return self.n

    actor = SharedCount.remote()
    results = nbray.get([actor.add.remote() for _ in range(40)], timeout=30)
    assert sorted(results) == list(range(1, 41))
    assert nbray.get(actor.read.remote()) == 40
