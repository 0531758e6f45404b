"""Workers that die mid-task: retries, WorkerCrashedError, replacement workers; retry_exceptions."""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

import nbray
from nbray.exceptions import RayTaskError, WorkerCrashedError
from tests._support import Counter, pid_gone, poll_for


@nbray.remote
def exit_hard(counter, succeed_on=None):
    attempt = counter.hit()
    if succeed_on is None or attempt < succeed_on:
        os._exit(1)
    return attempt


@nbray.remote
def sigkill_self(counter, succeed_on=None):
    attempt = counter.hit()
    if succeed_on is None or attempt < succeed_on:
        os.kill(os.getpid(), signal.SIGKILL)
    return attempt


@nbray.remote
def segfault(counter):
    counter.hit()
    ctypes.string_at(0)


@nbray.remote
def flaky(counter, fail_times, exc_type=ValueError):
    attempt = counter.hit()
    if attempt <= fail_times:
        raise exc_type(f"attempt {attempt}")
    return attempt


@nbray.remote
def ok(x):
    return x


def _wait_for_pool(cluster):
    poll_for(lambda: len(cluster.worker_pids()) >= cluster.options["num_cpus"],
             msg="the worker pool to be refilled")


def test_worker_exit_is_retried_until_success(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    assert nbray.get(exit_hard.remote(attempts, succeed_on=2), timeout=60) == 2
    assert attempts.value() == 2


def test_sigkilled_worker_is_retried_until_success(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    assert nbray.get(sigkill_self.remote(attempts, succeed_on=3), timeout=60) == 3
    assert attempts.value() == 3


def test_default_max_retries_is_three(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    with pytest.raises(WorkerCrashedError):
        nbray.get(exit_hard.remote(attempts), timeout=60)
    assert attempts.value() == 4  # the first try and 3 retries


@pytest.mark.parametrize("task", [exit_hard, sigkill_self, segfault],
                         ids=["os._exit", "SIGKILL", "segfault"])
def test_max_retries_zero_raises_worker_crashed_error(cluster, tmp_path, task):
    attempts = Counter(tmp_path / "attempts")
    with pytest.raises(WorkerCrashedError) as info:
        nbray.get(task.options(max_retries=0).remote(attempts), timeout=60)
    assert not isinstance(info.value, RayTaskError)
    assert attempts.value() == 1
    dead = attempts.pids()[0]
    poll_for(lambda: pid_gone(dead), msg="the crashed worker to be gone")
    assert dead not in cluster.worker_pids()


def test_max_retries_counts_the_retries(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    with pytest.raises(WorkerCrashedError):
        nbray.get(exit_hard.options(max_retries=2).remote(attempts), timeout=60)
    assert attempts.value() == 3
    assert len(set(attempts.pids())) == 3  # each attempt ran in a fresh process


def test_crashed_workers_are_replaced(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    with pytest.raises(WorkerCrashedError):
        nbray.get(sigkill_self.options(max_retries=1).remote(attempts), timeout=60)
    _wait_for_pool(cluster)
    assert not set(attempts.pids()) & set(cluster.worker_pids())
    assert nbray.get([ok.remote(i) for i in range(10)], timeout=60) == list(range(10))


def test_other_tasks_are_unaffected_by_a_crash(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    good = [ok.remote(i) for i in range(20)]
    bad = exit_hard.options(max_retries=0).remote(attempts)
    more = [ok.remote(i) for i in range(20, 40)]
    with pytest.raises(WorkerCrashedError):
        nbray.get(bad, timeout=60)
    assert nbray.get(good + more, timeout=60) == list(range(40))


def test_worker_killed_from_outside_is_retried(cluster, tmp_path):
    from tests._support import FileEvent

    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    attempts = Counter(tmp_path / "attempts")

    @nbray.remote(max_retries=1)
    def victim(counter, started, go):
        counter.hit()
        started.set()
        go.wait(120)
        return "finished"

    ref = victim.remote(attempts, started, go)
    poll_for(started.is_set, msg="the task to start")
    os.unlink(started.path)
    os.kill(attempts.pids()[0], signal.SIGKILL)
    poll_for(started.is_set, msg="the retry to start")
    go.set()
    assert nbray.get(ref, timeout=60) == "finished"
    assert attempts.value() == 2


def test_crash_error_is_raised_by_dependent_tasks(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    crashed = exit_hard.options(max_retries=0).remote(attempts)
    with pytest.raises(WorkerCrashedError):
        nbray.get(ok.remote(crashed), timeout=60)


# -- retry_exceptions ---------------------------------------------------------------
def test_retry_exceptions_true_retries_application_errors(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    ref = flaky.options(max_retries=3, retry_exceptions=True).remote(attempts, 2)
    assert nbray.get(ref, timeout=60) == 3
    assert attempts.value() == 3


def test_retry_exceptions_gives_up_after_max_retries(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    ref = flaky.options(max_retries=2, retry_exceptions=True).remote(attempts, 10)
    with pytest.raises(ValueError, match="attempt 3"):
        nbray.get(ref, timeout=60)
    assert attempts.value() == 3


def test_retry_exceptions_list_retries_only_listed_types(cluster, tmp_path):
    retried = Counter(tmp_path / "retried")
    ref = flaky.options(max_retries=3, retry_exceptions=[KeyError]).remote(retried, 1, KeyError)
    assert nbray.get(ref, timeout=60) == 2
    not_retried = Counter(tmp_path / "not-retried")
    ref = flaky.options(max_retries=3, retry_exceptions=[KeyError]).remote(not_retried, 1, ValueError)
    with pytest.raises(ValueError):
        nbray.get(ref, timeout=60)
    assert not_retried.value() == 1


def test_retry_exceptions_with_max_retries_zero_does_not_retry(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    ref = flaky.options(max_retries=0, retry_exceptions=True).remote(attempts, 1)
    with pytest.raises(ValueError):
        nbray.get(ref, timeout=60)
    assert attempts.value() == 1


def test_retry_exceptions_in_the_decorator(cluster, tmp_path):
    @nbray.remote(max_retries=1, retry_exceptions=True)
    def once_flaky(counter):
        if counter.hit() == 1:
            raise RuntimeError("first try fails")
        return "second try"

    attempts = Counter(tmp_path / "attempts")
    assert nbray.get(once_flaky.remote(attempts), timeout=60) == "second try"


def test_max_retries_minus_one_retries_until_success(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    ref = exit_hard.options(max_retries=-1).remote(attempts, succeed_on=5)
    assert nbray.get(ref, timeout=60) == 5


@nbray.remote
def call_crashing_child(counter):
    return nbray.get(exit_hard.options(max_retries=0).remote(counter))


def test_crash_of_a_nested_task_fails_its_caller(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    with pytest.raises(RayTaskError) as info:
        nbray.get(call_crashing_child.options(max_retries=0).remote(attempts), timeout=60)
    assert "WorkerCrashedError" in str(info.value)
    assert attempts.value() == 1
