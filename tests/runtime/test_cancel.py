"""cancel(): queued tasks are dropped, running ones interrupted (or killed with force=True)."""

from __future__ import annotations

import os
import time

import pytest

import nbray
from nbray.exceptions import TaskCancelledError, WorkerCrashedError
from tests._support import Counter, FileEvent, pid_gone, poll_for


# A cancel takes effect at once; this only leaves room for a loaded machine.
CANCEL_TIMEOUT = 15


@nbray.remote
def hold(started, go, value="done"):
    started.set()
    go.wait(120)
    return value


@nbray.remote
def spin(counter, started):
    counter.hit()
    started.set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # pure Python loop: interruptible
        pass
    return "not cancelled"


@nbray.remote
def sleep_in_c(counter, started):
    counter.hit()
    started.set()
    time.sleep(120)
    return "not cancelled"


@nbray.remote
def pid():
    return os.getpid()


@nbray.remote
def echo(x):
    return x


def _fill_pool(tmp_path, n=2):
    go = FileEvent(tmp_path / "go")
    started = [FileEvent(tmp_path / f"started-{i}") for i in range(n)]
    refs = [hold.remote(s, go, i) for i, s in enumerate(started)]
    for s in started:
        poll_for(s.is_set, msg="the pool to fill")
    return go, refs


def test_cancel_a_queued_task(cluster, tmp_path):
    go, running = _fill_pool(tmp_path)
    ran = FileEvent(tmp_path / "queued-ran")
    queued = hold.remote(ran, go, "queued")
    nbray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        nbray.get(queued, timeout=CANCEL_TIMEOUT)
    go.set()
    assert nbray.get(running, timeout=CANCEL_TIMEOUT) == [0, 1]
    # the pool is free again: anything queued would have run by now
    assert nbray.get(echo.remote("after"), timeout=CANCEL_TIMEOUT) == "after"
    assert not ran.is_set()


@pytest.mark.parametrize("task", [spin, sleep_in_c], ids=["python-loop", "time.sleep"])
def test_cancel_a_running_task(cluster, tmp_path, task):
    attempts, started = Counter(tmp_path / "attempts"), FileEvent(tmp_path / "started")
    ref = task.remote(attempts, started)
    poll_for(started.is_set, msg="the task to start")
    worker = attempts.pids()[0]
    nbray.cancel(ref)
    with pytest.raises(TaskCancelledError):
        nbray.get(ref, timeout=CANCEL_TIMEOUT)
    assert attempts.value() == 1  # cancelled tasks are not retried
    # the worker was interrupted, not killed, and runs the next task
    assert not pid_gone(worker)
    assert worker in cluster.worker_pids()
    assert nbray.get([pid.remote() for _ in range(6)], timeout=CANCEL_TIMEOUT)


def test_force_cancel_kills_the_worker(cluster, tmp_path):
    attempts, started = Counter(tmp_path / "attempts"), FileEvent(tmp_path / "started")
    ref = sleep_in_c.options(max_retries=3).remote(attempts, started)
    poll_for(started.is_set, msg="the task to start")
    worker = attempts.pids()[0]
    nbray.cancel(ref, force=True)
    # Ray: TaskCancelledError, or WorkerCrashedError when force=True
    with pytest.raises((TaskCancelledError, WorkerCrashedError)):
        nbray.get(ref, timeout=CANCEL_TIMEOUT)
    poll_for(lambda: pid_gone(worker), msg="the worker to be killed")
    assert attempts.value() == 1  # not retried despite max_retries=3
    poll_for(lambda: len(cluster.worker_pids()) >= 2, msg="a replacement worker")
    assert nbray.get(echo.remote("alive"), timeout=CANCEL_TIMEOUT) == "alive"


def test_cancel_a_finished_task_does_nothing(cluster):
    ref = echo.remote("finished")
    assert nbray.get(ref) == "finished"
    nbray.cancel(ref)
    nbray.cancel(ref, force=True)
    assert nbray.get(ref) == "finished"


def test_cancel_twice(cluster, tmp_path):
    attempts, started = Counter(tmp_path / "attempts"), FileEvent(tmp_path / "started")
    ref = sleep_in_c.remote(attempts, started)
    poll_for(started.is_set, msg="the task to start")
    nbray.cancel(ref)
    nbray.cancel(ref)
    with pytest.raises(TaskCancelledError):
        nbray.get(ref, timeout=CANCEL_TIMEOUT)


def test_cancel_one_of_many(cluster, tmp_path):
    go, running = _fill_pool(tmp_path)
    queued = [echo.remote(i) for i in range(6)]
    nbray.cancel(queued[2])
    go.set()
    for i, ref in enumerate(queued):
        if i == 2:
            with pytest.raises(TaskCancelledError):
                nbray.get(ref, timeout=CANCEL_TIMEOUT)
        else:
            assert nbray.get(ref, timeout=CANCEL_TIMEOUT) == i
    assert nbray.get(running, timeout=CANCEL_TIMEOUT) == [0, 1]


def test_tasks_depending_on_a_cancelled_task_fail(cluster, tmp_path):
    go, running = _fill_pool(tmp_path)
    queued = echo.remote("never")
    dependent = echo.remote(queued)
    nbray.cancel(queued)
    go.set()
    with pytest.raises(TaskCancelledError):
        nbray.get(dependent, timeout=CANCEL_TIMEOUT)


def test_wait_sees_a_cancelled_task_as_ready(cluster, tmp_path):
    attempts, started = Counter(tmp_path / "attempts"), FileEvent(tmp_path / "started")
    ref = sleep_in_c.remote(attempts, started)
    poll_for(started.is_set, msg="the task to start")
    nbray.cancel(ref)
    assert nbray.wait([ref], timeout=CANCEL_TIMEOUT) == ([ref], [])


def test_cancel_takes_an_object_ref(cluster):
    with pytest.raises(TypeError):
        nbray.cancel("not a ref")
