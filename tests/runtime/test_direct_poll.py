"""A driver thread blocked in get()/wait() reads its producers' sockets itself
(nbray/runtime/direct_poll.py): the results, errors, interrupts and timeouts it sees must be
exactly those of a wait served by the node's I/O thread."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import nbray
from nbray.exceptions import GetTimeoutError, WorkerCrashedError
from nbray.runtime import direct_poll
from nbray.runtime.context import current_driver
from tests._support import FileEvent, poll_for


@nbray.remote
def echo(x):
    return x


@nbray.remote
def hold(started, go, value):
    started.set()
    go.wait(120)
    return value


@nbray.remote(max_retries=1)
def crash_once(marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return "second run"


@nbray.remote(max_retries=0)
def crash():
    os._exit(4)


@nbray.remote
def nested(x):
    return nbray.get(echo.remote(x)) + 1


class Probe:
    """Counts waits that borrowed a connection (the code under test, not a stand-in)."""

    def __init__(self, monkeypatch):
        self.polls = 0
        original = direct_poll.DirectPoll._poll

        def counting(poller, *args):
            self.polls += 1
            return original(poller, *args)

        monkeypatch.setattr(direct_poll.DirectPoll, "_poll", counting)


def node():
    return current_driver().node


def watched_again(n):
    """Every live worker process is watched by the I/O thread once no wait borrows it."""
    return all(w.reader.acquire(False) and (w.reader.release() or True)
               for w in n.workers.values() if w.proc is not None)


def test_sync_gets_are_served_by_the_waiting_thread(cluster, monkeypatch):
    probe = Probe(monkeypatch)
    assert [nbray.get(echo.remote(i)) for i in range(200)] == list(range(200))
    # Most gets must block (the worker answers after get() started); a few may find the
    # result already handled by the I/O thread on a loaded machine.
    assert probe.polls > 0
    assert watched_again(node())


def test_actor_calls_are_served_by_the_waiting_thread(cluster, monkeypatch):
    @nbray.remote
    class Counter:
        def __init__(self):
            self.n = 0

        def add(self):
            self.n += 1
            return self.n

    counter = Counter.remote()
    probe = Probe(monkeypatch)
    assert [nbray.get(counter.add.remote()) for _ in range(100)] == list(range(1, 101))
    assert probe.polls > 0


def test_wait_and_list_get_through_borrowed_connections(cluster):
    refs = [echo.remote(i) for i in range(300)]
    pending, seen = list(refs), 0
    while pending:
        ready, pending = nbray.wait(pending, num_returns=1)
        seen += len(ready)
    assert seen == 300
    assert nbray.get(refs) == list(range(300))
    assert nbray.get(nested.remote(41)) == 42


def test_timeout_gives_the_connection_back(cluster, tmp_path):
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    ref = hold.remote(started, go, "late")
    poll_for(started.is_set, msg="the task to start")
    with pytest.raises(GetTimeoutError):
        nbray.get(ref, timeout=0.2)
    assert watched_again(node())
    # The result now comes through the I/O thread, to a waiter in another thread.
    got = []
    waiter = threading.Thread(target=lambda: got.append(nbray.get(ref)))
    waiter.start()
    go.set()
    waiter.join(60)
    assert got == ["late"]


def test_worker_death_while_borrowed(cluster, tmp_path):
    with pytest.raises(WorkerCrashedError):
        nbray.get(crash.remote())
    # A retry runs on another worker, whose result the I/O thread hands over through the
    # waiting thread's wake pipe.
    assert nbray.get(crash_once.remote(str(tmp_path / "ran-once"))) == "second run"
    assert nbray.get(echo.remote("still fine")) == "still fine"


def test_two_threads_wait_at_once(cluster):
    out = {}

    def run(k):
        out[k] = [nbray.get(echo.remote((k, i))) for i in range(100)]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert out == {k: [(k, i) for i in range(100)] for k in range(3)}


def test_ctrl_c_while_waiting_interrupts_and_restores_the_handler(cluster, tmp_path):
    before = signal.getsignal(signal.SIGINT)
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    ref = hold.remote(started, go, "kept")
    poll_for(started.is_set, msg="the task to start")
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            nbray.get(ref, timeout=60)
    finally:
        timer.cancel()
        go.set()
    assert signal.getsignal(signal.SIGINT) is before
    assert watched_again(node())
    assert nbray.get(echo.remote("after")) == "after"


def test_interrupt_during_handling_is_raised_after_it(cluster, monkeypatch):
    """A Ctrl-C that lands while the main thread handles a worker's message must not cut
    that handling short: the result is stored whole, then KeyboardInterrupt is raised."""
    n = node()
    original = type(n).handle_batch
    fired = []

    def handle_then_interrupted(self, worker, msgs, handlers):
        if not fired and threading.current_thread() is threading.main_thread():
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs inside this handling
        original(self, worker, msgs, handlers)

    monkeypatch.setattr(type(n), "handle_batch", handle_then_interrupted)
    ref = echo.remote("stored")
    with pytest.raises(KeyboardInterrupt):
        for _ in range(50):  # until one get blocks and handles the result itself
            ref = echo.remote("stored")
            nbray.get(ref)
    assert fired
    monkeypatch.setattr(type(n), "handle_batch", original)
    assert nbray.get(ref, timeout=30) == "stored"
    assert nbray.get(echo.remote("after")) == "after"


def test_guard_defers_only_while_handling():
    raised = []

    def previous(signum, frame):
        raised.append(signum)
        raise KeyboardInterrupt

    guard = direct_poll.InterruptGuard()
    guard.arm(previous)
    guard.handling = True
    guard(signal.SIGINT, None)
    assert raised == [] and guard.deferred is not None
    guard.handling = False
    with pytest.raises(KeyboardInterrupt):
        guard.raise_deferred()
    assert raised == [signal.SIGINT] and guard.deferred is None
    guard.raise_deferred()  # nothing pending: nothing happens
    with pytest.raises(KeyboardInterrupt):
        guard(signal.SIGINT, None)


def test_latch_wakes_its_waiter_only_from_another_thread():
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        latch = direct_poll.PollLatch(2, w)
        latch.count_down()
        latch.count_down()  # the waiter's own thread: no byte
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
        other = direct_poll.PollLatch(1, w)
        t = threading.Thread(target=other.count_down)
        t.start()
        t.join()
        assert os.read(r, 1) == b"x"
        assert latch.wait(0) and other.wait(0)
    finally:
        os.close(r)
        os.close(w)
