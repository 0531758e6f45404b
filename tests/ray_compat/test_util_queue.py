"""`ray.util.queue.Queue` on nbray and on Ray: FIFO, limits, timeouts, batches, sharing.

A blocked `get()` is released by a task or actor putting an item, never by sleeping.
"""

from __future__ import annotations

import asyncio
import importlib
import queue as std_queue

import pytest


def _qmod(ray):
    return importlib.import_module(f"{ray.__name__}.util.queue")


def test_fifo_and_sizes(ray):
    q = _qmod(ray).Queue()
    assert q.empty() and q.size() == 0 and len(q) == 0
    for i in range(5):
        q.put(i)
    assert q.qsize() == 5 and not q.empty() and not q.full()
    assert [q.get() for _ in range(5)] == list(range(5))
    assert q.empty()


def test_maxsize_full_and_nowait_errors(ray):
    qmod = _qmod(ray)
    q = qmod.Queue(maxsize=2)
    q.put_nowait("a")
    q.put("b", block=False)
    assert q.full()
    with pytest.raises(qmod.Full):
        q.put_nowait("c")
    with pytest.raises(std_queue.Full):   # the standard library's class catches it too
        q.put("c", block=False)
    assert q.get_nowait() == "a"
    assert q.get(block=False) == "b"
    with pytest.raises(qmod.Empty):
        q.get_nowait()
    with pytest.raises(std_queue.Empty):
        q.get(block=False)


def test_timeouts(ray):
    qmod = _qmod(ray)
    q = qmod.Queue(maxsize=1)
    with pytest.raises(qmod.Empty):
        q.get(timeout=0.2)
    q.put(1)
    with pytest.raises(qmod.Full):
        q.put(2, timeout=0.2)
    with pytest.raises(ValueError):
        q.put(2, timeout=-1)
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    assert q.get(timeout=5) == 1


def test_batches_are_all_or_nothing(ray):
    qmod = _qmod(ray)
    q = qmod.Queue(maxsize=3)
    q.put_nowait_batch([1, 2])
    with pytest.raises(qmod.Full):
        q.put_nowait_batch([3, 4])
    assert q.size() == 2           # nothing of the refused batch went in
    with pytest.raises(qmod.Empty):
        q.get_nowait_batch(3)
    assert q.size() == 2           # nothing was taken either
    assert q.get_nowait_batch(2) == [1, 2]
    assert q.get_nowait_batch(0) == []


def test_batch_arguments_are_checked(ray):
    q = _qmod(ray).Queue()
    with pytest.raises(TypeError):
        q.put_nowait_batch(5)
    with pytest.raises(TypeError):
        q.get_nowait_batch("2")
    with pytest.raises(ValueError):
        q.get_nowait_batch(-1)


def test_a_blocked_get_is_released_by_a_task(ray):
    q = _qmod(ray).Queue()

    @ray.remote
    def producer(queue, n):
        for i in range(n):
            queue.put(i)
        return "done"

    ref = producer.remote(q, 3)
    assert [q.get(timeout=60) for _ in range(3)] == [0, 1, 2]
    assert ray.get(ref) == "done"


def test_actors_share_one_queue(ray):
    q = _qmod(ray).Queue()

    @ray.remote
    class Consumer:
        def __init__(self, queue):
            self.queue = queue

        def take(self, n):
            return [self.queue.get(timeout=60) for _ in range(n)]

    @ray.remote
    class Producer:
        def give(self, queue, items):
            queue.put_nowait_batch(items)

    consumer = Consumer.remote(q)
    taken = consumer.take.remote(4)
    ray.get(Producer.remote().give.remote(q, ["w", "x", "y", "z"]))
    assert ray.get(taken, timeout=60) == ["w", "x", "y", "z"]
    assert q.empty()


def test_async_put_and_get(ray):
    qmod = _qmod(ray)
    q = qmod.Queue(maxsize=1)

    async def main():
        await q.put_async("x")
        with pytest.raises(qmod.Full):
            await q.put_async("y", block=False)
        with pytest.raises(qmod.Full):
            await q.put_async("y", timeout=0.1)
        first = await q.get_async()
        with pytest.raises(qmod.Empty):
            await q.get_async(block=False)
        with pytest.raises(qmod.Empty):
            await q.get_async(timeout=0.1)
        return first

    assert asyncio.run(main()) == "x"


def test_actor_options_name_the_queue_actor(ray):
    q = _qmod(ray).Queue(actor_options={"name": "util-queue-named"})
    q.put("hello")
    same_actor = ray.get_actor("util-queue-named")
    assert ray.get(same_actor.qsize.remote()) == 1
    q.shutdown()


def test_shutdown_ends_the_actor(ray):
    q = _qmod(ray).Queue()
    q.put(1)
    actor = q.actor
    q.shutdown()
    assert q.actor is None
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.qsize.remote(), timeout=60)
    q.shutdown()  # a second shutdown does nothing


def test_forced_shutdown_kills_the_actor(ray):
    q = _qmod(ray).Queue()
    actor = q.actor
    q.shutdown(force=True)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.qsize.remote(), timeout=60)
