"""cancel(): recursive by default (the tasks a cancelled task submitted are cancelled too, and
give their CPUs back), recursive=False leaves them running, force=True is refused for actor
calls."""

from __future__ import annotations

import time

import pytest

from tests._support import DEFAULT_TIMEOUT, poll_for
from tests.ray_compat.conftest import is_nbray


class Registry:
    """Where tasks report that they started and leave the refs of the tasks they submit."""

    def __init__(self):
        self.refs = []
        self.started = 0
        self.released = False

    def add(self, refs):
        self.refs.extend(refs)

    def get_refs(self):
        return list(self.refs)

    def start(self):
        self.started += 1

    def count(self):
        return self.started

    def release(self):
        self.released = True

    def is_released(self):
        return self.released


def _registry(ray):
    return ray.remote(Registry).options(num_cpus=0).remote()


def _make_tasks(ray):
    @ray.remote(num_cpus=1)
    def leaf(reg):
        reg.start.remote()
        # Runs until released (or interrupted by cancel()).
        while not ray.get(reg.is_released.remote()):
            time.sleep(0.02)
        return "leaf done"

    @ray.remote(num_cpus=1)
    def parent(reg, n):
        refs = [leaf.remote(reg) for _ in range(n)]
        ray.get(reg.add.remote(refs))       # in a list: passed on as refs
        return ray.get(refs)

    @ray.remote(num_cpus=1)
    def grandparent(reg):
        ref = parent.remote(reg, 1)
        ray.get(reg.add.remote([ref]))
        return ray.get(ref)

    return leaf, parent, grandparent


def _cpus(ray):
    return ray.available_resources().get("CPU", 0)


def _all_cpus_free(ray):
    total = ray.cluster_resources()["CPU"]
    poll_for(lambda: _cpus(ray) == total, msg="every CPU to be free again")


def test_cancel_is_recursive_by_default(ray):
    _all_cpus_free(ray)
    reg = _registry(ray)
    _, parent, _ = _make_tasks(ray)
    top = parent.remote(reg, 2)
    poll_for(lambda: ray.get(reg.count.remote()) == 2, msg="both children to start")
    children = ray.get(reg.get_refs.remote())
    poll_for(lambda: _cpus(ray) == 0, msg="the two children to hold both CPUs")
    ray.cancel(top)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(top, timeout=DEFAULT_TIMEOUT)
    for child in children:
        with pytest.raises(ray.exceptions.TaskCancelledError):
            ray.get(child, timeout=DEFAULT_TIMEOUT)
    _all_cpus_free(ray)


def test_recursive_cancel_reaches_grandchildren(ray):
    _all_cpus_free(ray)
    reg = _registry(ray)
    _, _, grandparent = _make_tasks(ray)
    top = grandparent.remote(reg)
    poll_for(lambda: ray.get(reg.count.remote()) == 1, msg="the grandchild to start")
    poll_for(lambda: len(ray.get(reg.get_refs.remote())) == 2, msg="both refs to be reported")
    below = ray.get(reg.get_refs.remote())     # the child's and the grandchild's
    ray.cancel(top, recursive=True)
    for ref in [top] + below:
        with pytest.raises(ray.exceptions.TaskCancelledError):
            ray.get(ref, timeout=DEFAULT_TIMEOUT)
    _all_cpus_free(ray)


def test_cancel_with_recursive_false_leaves_the_children_running(ray):
    _all_cpus_free(ray)
    reg = _registry(ray)
    _, parent, _ = _make_tasks(ray)
    top = parent.remote(reg, 2)
    poll_for(lambda: ray.get(reg.count.remote()) == 2, msg="both children to start")
    children = ray.get(reg.get_refs.remote())
    ray.cancel(top, recursive=False)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(top, timeout=DEFAULT_TIMEOUT)
    ray.get(reg.release.remote())
    assert ray.get(children, timeout=DEFAULT_TIMEOUT) == ["leaf done", "leaf done"]
    _all_cpus_free(ray)


def test_force_cancel_of_a_task_gives_its_cpu_back(ray):
    _all_cpus_free(ray)
    reg = _registry(ray)
    leaf, _, _ = _make_tasks(ray)
    ref = leaf.remote(reg)
    poll_for(lambda: ray.get(reg.count.remote()) == 1, msg="the task to start")
    ray.cancel(ref, force=True)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=DEFAULT_TIMEOUT)
    _all_cpus_free(ray)


def test_force_is_refused_for_actor_calls(ray):
    @ray.remote(num_cpus=0)
    class Worker:
        def work(self, reg):
            ray.get(reg.start.remote())
            while not ray.get(reg.is_released.remote()):
                time.sleep(0.02)
            return "worked"

        def later(self):
            return "later"

    reg = _registry(ray)
    actor = Worker.remote()
    running = actor.work.remote(reg)
    poll_for(lambda: ray.get(reg.count.remote()) == 1, msg="the call to start")
    queued = actor.later.remote()
    with pytest.raises(ValueError, match="force"):
        ray.cancel(running, force=True)
    ray.cancel(queued)                       # a call that has not started never runs
    ray.get(reg.release.remote())
    assert ray.get(running, timeout=DEFAULT_TIMEOUT) == "worked"
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=DEFAULT_TIMEOUT)


def test_cancel_of_a_finished_task_does_nothing(ray):
    if not is_nbray(ray):
        # Ray 2.60's driver fails an internal check (task_manager.cc:1329, "An unexpected
        # system state has occurred ... a bug in Ray") a moment after a finished task is
        # cancelled, and the check ends the whole process: twice it ended a full test run
        # with exit status 1 and no summary.  The nbray half still runs.
        pytest.skip("Ray 2.60 ends the process when a finished task is cancelled")

    @ray.remote
    def quick():
        return 5

    ref = quick.remote()
    assert ray.get(ref) == 5
    ray.cancel(ref)
    ray.cancel(ref, recursive=False)
    assert ray.get(ref) == 5
