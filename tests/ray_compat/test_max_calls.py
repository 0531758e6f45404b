"""max_calls: a worker process exits after running a function that many times and a new one
takes its place; 0 (or no max_calls) means no limit for CPU tasks; GPU functions default
to 1."""

from __future__ import annotations

import collections
import os

import pytest

from tests._support import poll_for


def _all_cpus_free(ray):
    total = ray.cluster_resources()["CPU"]
    poll_for(lambda: ray.available_resources().get("CPU", 0) == total,
             msg="every CPU to be free again")


def test_max_calls_1_runs_every_call_in_a_new_process(ray):
    @ray.remote(max_calls=1)
    def pid():
        return os.getpid()

    pids = [ray.get(pid.remote()) for _ in range(4)]
    assert len(set(pids)) == 4
    # Calls submitted together: each still gets a process of its own.
    assert len(set(ray.get([pid.remote() for _ in range(4)]))) == 4
    _all_cpus_free(ray)


def test_max_calls_n_limits_the_calls_per_process(ray):
    @ray.remote(max_calls=2)
    def pid():
        return os.getpid()

    pids = [ray.get(pid.remote()) for _ in range(6)]
    assert max(collections.Counter(pids).values()) <= 2
    assert len(set(pids)) >= 3


def test_processes_are_reused_without_max_calls(ray):
    @ray.remote
    def pid():
        return os.getpid()

    @ray.remote(max_calls=0)
    def pid_unlimited():
        return os.getpid()

    for f in (pid, pid_unlimited):
        pids = [ray.get(f.remote()) for _ in range(6)]
        assert len(set(pids)) < len(pids)


def test_the_cluster_keeps_working_after_workers_left(ray):
    @ray.remote(max_calls=1)
    def once(x):
        return x * 2

    @ray.remote
    def plain(x):
        return x + 1

    assert ray.get([once.remote(i) for i in range(6)]) == [0, 2, 4, 6, 8, 10]
    assert ray.get([plain.remote(i) for i in range(6)]) == [1, 2, 3, 4, 5, 6]
    _all_cpus_free(ray)


def test_max_calls_must_be_a_non_negative_integer(ray):
    def f():
        return 1

    with pytest.raises(ValueError):
        ray.remote(max_calls=-1)(f)
    with pytest.raises(TypeError):
        ray.remote(max_calls="2")(f)
    with pytest.raises(TypeError):
        ray.remote(max_calls=1.5)(f)


@pytest.mark.init(num_cpus=2, num_gpus=1)
def test_gpu_functions_get_a_new_process_per_call_by_default(ray_fresh):
    ray = ray_fresh

    @ray.remote(num_gpus=1)
    def gpu_pid():
        return os.getpid()

    @ray.remote(num_gpus=1, max_calls=0)
    def gpu_pid_reused():
        return os.getpid()

    pids = [ray.get(gpu_pid.remote()) for _ in range(3)]
    assert len(set(pids)) == 3
    reused = [ray.get(gpu_pid_reused.remote()) for _ in range(4)]
    assert len(set(reused)) < len(reused)
