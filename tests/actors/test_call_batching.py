"""Calls queued behind a running call of a plain actor travel together (actor_manager.py
`_forward`): the exec messages of calls that cannot start yet wait on the connection and go in
one write when the running call's Done arrives.  Order, results, cancel and death must be
exactly what they are when every call is sent at once; concurrent actors are never batched."""

from __future__ import annotations

import asyncio
import threading

import pytest

import nbray
from nbray.exceptions import ActorDiedError, TaskCancelledError
from nbray.transport import framing
from tests._support import FileEvent, poll_for


@nbray.remote
class Log:
    def __init__(self):
        self.items = []

    def add(self, x):
        self.items.append(x)
        return len(self.items)

    def hold(self, started, go):
        started.set()
        go.wait(120)
        return "held"

    def items_(self):
        return list(self.items)


@pytest.fixture
def sends_later(monkeypatch):
    """How many messages were queued rather than sent at once."""
    count = [0]
    original = framing.MessageConnection.send_later

    def counting(conn, msg):
        count[0] += 1
        original(conn, msg)

    monkeypatch.setattr(framing.MessageConnection, "send_later", counting)
    return count


def test_a_burst_of_calls_is_batched_in_order(cluster, sends_later):
    log = Log.remote()
    refs = [log.add.remote(i) for i in range(500)]
    assert nbray.get(refs) == list(range(1, 501))
    assert nbray.get(log.items_.remote()) == list(range(500))
    assert sends_later[0] > 0  # most of the burst waited behind a running call


def test_calls_behind_a_long_call_wait_for_it_then_run(cluster, tmp_path, sends_later):
    log = Log.remote()
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    held = log.hold.remote(started, go)
    poll_for(started.is_set, msg="the long call to start")
    later = [log.add.remote(i) for i in range(20)]
    assert sends_later[0] >= 20
    ready, _ = nbray.wait(later, num_returns=1, timeout=0.3)
    assert ready == []  # still behind the long call, as without batching
    go.set()
    assert nbray.get(held) == "held"
    assert nbray.get(later) == list(range(1, 21))


def test_cancel_of_a_batched_call(cluster, tmp_path):
    log = Log.remote()
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    held = log.hold.remote(started, go)
    poll_for(started.is_set, msg="the long call to start")
    keep, dropped, after = log.add.remote("a"), log.add.remote("b"), log.add.remote("c")
    nbray.cancel(dropped)
    go.set()
    assert nbray.get(held) == "held"
    with pytest.raises(TaskCancelledError):
        nbray.get(dropped)
    assert nbray.get([keep, after]) == [1, 2]
    assert nbray.get(log.items_.remote()) == ["a", "c"]


def test_kill_with_batched_calls_fails_them_all(cluster, tmp_path):
    log = Log.remote()
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    held = log.hold.remote(started, go)
    poll_for(started.is_set, msg="the long call to start")
    queued = [log.add.remote(i) for i in range(10)]
    nbray.kill(log)
    for ref in [held] + queued:
        with pytest.raises(ActorDiedError):
            nbray.get(ref, timeout=60)
    go.set()


@nbray.remote(max_concurrency=2)
class Gate:
    def __init__(self):
        self.event = threading.Event()

    def wait_open(self):
        return self.event.wait(60)

    def open(self):
        self.event.set()
        return True


@nbray.remote
class AsyncGate:
    def __init__(self):
        self.event = asyncio.Event()

    async def wait_open(self):
        await asyncio.wait_for(self.event.wait(), 60)
        return True

    async def open(self):
        self.event.set()
        return True


@pytest.mark.parametrize("cls", [Gate, AsyncGate], ids=["threaded", "async"])
def test_concurrent_actors_get_every_call_at_once(cluster, cls, sends_later):
    """A call that waits for a later call of the same actor: batching would hold the later
    one back behind it for good."""
    gate = cls.remote()
    waiting = gate.wait_open.remote()
    opened = gate.open.remote()
    assert nbray.get([waiting, opened], timeout=60) == [True, True]
    assert sends_later[0] == 0


def test_framing_sends_queued_messages_first_in_one_write():
    import socket

    a, b = socket.socketpair()
    try:
        sender, receiver = framing.MessageConnection(a), framing.MessageConnection(b)
        sender.send_later(("one",))
        sender.send_later(("two",))
        assert sender.queued == 2
        sender.send(("three",))
        assert sender.queued == 0
        assert [receiver.recv() for _ in range(3)] == [("one",), ("two",), ("three",)]
        sender.send_later(("four",))
        sender.flush()
        sender.flush()  # nothing queued: nothing sent
        assert receiver.recv() == ("four",)
    finally:
        a.close()
        b.close()
