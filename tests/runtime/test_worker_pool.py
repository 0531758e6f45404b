"""The worker pool on its own (runtime/worker_pool.py): real worker processes on a real
arena, started, told to leave, killed, reaped and shut down, with no node around them."""

from __future__ import annotations

import os
import select
import signal
import threading
from typing import Any, Iterator, List

import pytest

from nbray.runtime.worker_pool import WorkerHandle, WorkerPool
from nbray.runtime.worker_process import worker_env
from nbray.store.shm import create_arena_fd
from nbray.transport.framing import ConnectionClosed

from .._support import DEFAULT_TIMEOUT

NODE_ID = "ab" * 16
CAPACITY = 1 << 20


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    fd = create_arena_fd(CAPACITY)
    watched: List[WorkerHandle] = []
    p = WorkerPool(NODE_ID, fd, CAPACITY, worker_env(1024, "file:///nonexistent", {}),
                   threading.RLock(), watched.append)
    p.watched = watched  # type: ignore[attr-defined]
    try:
        yield p
    finally:
        p.shutdown()
        os.close(fd)


def next_message(worker: WorkerHandle) -> Any:
    """The worker's next message (ConnectionClosed once it exited)."""
    ready, _, _ = select.select([worker.conn.fileno()], [], [], DEFAULT_TIMEOUT)
    assert ready, f"no message from {worker.worker_id} within {DEFAULT_TIMEOUT} s"
    return worker.conn.recv()


def started(pool: WorkerPool) -> WorkerHandle:
    worker = pool.spawn()
    assert worker is not None
    assert next_message(worker) == ("ready", worker.pid)
    return worker


def test_spawn_starts_a_worker_that_reports_ready(pool: WorkerPool) -> None:
    worker = started(pool)
    assert worker.worker_id.startswith(NODE_ID[:8])
    assert worker.node_id == NODE_ID and worker.state == "starting"
    assert pool.workers == {worker.worker_id: worker}
    assert pool.watched == [worker]  # type: ignore[attr-defined]
    assert pool.stats["workers_started"] == 1


def test_worker_ids_are_unique(pool: WorkerPool) -> None:
    a, b = started(pool), started(pool)
    assert a.worker_id != b.worker_id and a.pid != b.pid


def test_shutdown_stops_every_worker(pool: WorkerPool) -> None:
    workers = [started(pool), started(pool)]
    pool.shutdown()
    assert all(w.proc is not None and w.proc.poll() is not None for w in workers)


def test_no_worker_is_started_after_shutdown(pool: WorkerPool) -> None:
    pool.shutdown()
    assert pool.spawn() is None
    assert pool.workers == {} and pool.stats["workers_started"] == 0


def test_forget_reaps_a_killed_worker_and_returns_its_exit_code(pool: WorkerPool) -> None:
    worker = started(pool)
    pool.kill(worker)
    with pytest.raises(ConnectionClosed):
        next_message(worker)
    assert pool.forget(worker, None) == -signal.SIGKILL
    assert worker.state == "dead" and worker.worker_id not in pool.workers


class Relay:
    """Stands for the connection of a worker of another node (reached through its node)."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_forget_of_a_relayed_worker_returns_the_reported_code(pool: WorkerPool) -> None:
    relay = Relay()
    worker = WorkerHandle("other-w1", None, relay, node_id="cd" * 16, remote_pid=4242)
    pool.add(worker)
    assert worker.pid == 4242
    assert pool.forget(worker, 3) == 3
    assert relay.closed and pool.workers == {}


def test_start_requested_starts_what_was_asked_and_empties_the_queue(pool: WorkerPool) -> None:
    pool.request(2)
    pool.request(1)
    pool.start_requested(lambda: False, pytest.fail)
    assert len(pool.workers) == 3 and not pool.spawn_requests


def test_start_requested_stops_when_stopping(pool: WorkerPool) -> None:
    pool.request(3)
    calls: List[int] = []

    def stopping() -> bool:
        calls.append(1)
        return len(calls) > 1  # one worker, then stop

    pool.start_requested(stopping, pytest.fail)
    assert len(pool.workers) == 1
    assert list(pool.spawn_requests) == [2]  # still counted as asked for


def test_reap_idle_asks_only_long_idle_extra_workers_to_exit(pool: WorkerPool) -> None:
    a, b, c = started(pool), started(pool), started(pool)
    a.state, a.idle_since = "idle", 0.0      # idle for long: reaped
    b.state, b.idle_since = "idle", 95.0     # idle, but not for long
    c.state = "busy"
    pool.reap_idle(keep=1, idle_timeout_s=10.0, now=100.0)
    assert (a.state, b.state, c.state) == ("exiting", "idle", "busy")
    with pytest.raises(ConnectionClosed):  # it left on its own
        next_message(a)
    assert pool.forget(a, None) == 0


def test_reap_idle_keeps_the_pool_at_its_size(pool: WorkerPool) -> None:
    a, b = started(pool), started(pool)
    for w in (a, b):
        w.state, w.idle_since = "idle", 0.0
    pool.reap_idle(keep=2, idle_timeout_s=10.0, now=100.0)
    pool.reap_idle(keep=1, idle_timeout_s=10.0, now=100.0)
    assert sorted(w.state for w in (a, b)) == ["exiting", "idle"]


def test_live_task_workers_are_this_nodes_live_non_actor_workers(pool: WorkerPool) -> None:
    mine = WorkerHandle("w-mine", None, Relay(), state="idle", node_id=NODE_ID)
    dead = WorkerHandle("w-dead", None, Relay(), state="dead", node_id=NODE_ID)
    actor = WorkerHandle("w-actor", None, Relay(), state="busy", node_id=NODE_ID, actor_id=b"a")
    other = WorkerHandle("w-other", None, Relay(), state="idle", node_id="cd" * 16)
    for w in (mine, dead, actor, other):
        pool.add(w)
    assert pool.live_task_workers() == [mine]
