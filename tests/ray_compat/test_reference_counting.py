"""Reference counting as far as the public API shows it: an object stays readable while anything
(a pending task, an actor, a closure, an enclosing object) still refers to it, however the driver
drops its own refs; an actor ends when its last handle goes; dropped objects make room."""

from __future__ import annotations

import os

import numpy as np
import psutil
import pytest

from tests._support import poll_for
from tests.ray_compat._helpers import make_gate


def test_pending_task_keeps_its_argument_alive(ray):
    @ray.remote
    def total(array, _gate_done):
        return float(array.sum())

    gate = make_gate(ray)
    array_ref = ray.put(np.ones(2_000_000))
    result = total.remote(array_ref, gate.wait.remote())
    del array_ref
    for _ in range(3):                      # churn the store while the task waits
        ray.put(np.zeros(2_000_000))
    ray.get(gate.open.remote())
    assert ray.get(result) == 2_000_000.0


def test_ref_nested_in_a_pending_argument_stays_alive(ray):
    @ray.remote
    def read_nested(holder, _gate_done):
        return ray.get(holder[0])

    gate = make_gate(ray)
    inner = ray.put("still here")
    result = read_nested.remote([inner], gate.wait.remote())
    del inner
    ray.get(gate.open.remote())
    assert ray.get(result) == "still here"


def test_actor_holding_a_ref_keeps_the_object_alive(ray):
    @ray.remote
    class Holder:
        def hold(self, boxed):
            self.ref = boxed[0]

        def read(self):
            return ray.get(self.ref)

    holder = Holder.remote()
    ref = ray.put({"payload": list(range(100))})
    ray.get(holder.hold.remote([ref]))
    del ref
    assert ray.get(holder.read.remote()) == {"payload": list(range(100))}


def test_object_inside_a_stored_container_outlives_its_own_ref(ray):
    inner = ray.put(np.arange(1000))
    outer = ray.put([inner])
    del inner
    (inner_again,) = ray.get(outer)
    assert int(ray.get(inner_again).sum()) == 499500


def test_ref_created_in_a_finished_task_stays_readable(ray):
    @ray.remote
    def make():
        return {"ref": ray.put(np.full(100_000, 7))}

    holder = ray.get(make.remote())
    assert int(ray.get(holder["ref"])[0]) == 7


def test_ref_captured_by_a_remote_function_outlives_the_driver_variable(ray):
    captured = ray.put("captured value")

    @ray.remote
    def read():
        return ray.get(captured)

    result = read.remote()       # the function (and the ref it captures) travels now
    del captured
    assert ray.get(result) == "captured value"


def test_results_of_a_chain_stay_readable_after_intermediate_refs_go(ray):
    @ray.remote
    def step(x):
        return x + 1

    ref = ray.put(0)
    for _ in range(20):
        ref = step.remote(ref)      # each earlier ref is dropped here
    assert ray.get(ref) == 20


def test_actor_process_ends_when_its_last_handle_is_dropped(ray):
    @ray.remote
    class Short:
        def pid(self):
            return os.getpid()

    actor = Short.remote()
    pid = ray.get(actor.pid.remote())
    assert psutil.pid_exists(pid)
    del actor
    poll_for(lambda: not _alive(pid), msg="the actor process to exit after its handle was dropped")


def test_actor_lives_while_a_task_still_holds_a_handle(ray):
    @ray.remote
    class Service:
        def pid(self):
            return os.getpid()

        def value(self):
            return "served"

    @ray.remote
    def use_later(service, _gate_done):
        return ray.get(service.value.remote())

    gate = make_gate(ray)
    service = Service.remote()
    pid = ray.get(service.pid.remote())
    result = use_later.remote(service, gate.wait.remote())
    del service
    ray.get(gate.open.remote())
    assert ray.get(result) == "served"
    poll_for(lambda: not _alive(pid), msg="the actor process to exit once the task finished")


@pytest.mark.init(num_cpus=1, object_store_memory=100 * 2**20)
def test_dropped_objects_make_room_for_new_ones(ray_fresh):
    ray = ray_fresh
    last = None
    for i in range(20):                     # 400 MiB through a 100 MiB store
        last = ray.put(np.full(20 * 2**20 // 8, i, dtype=np.int64))
    assert int(ray.get(last)[0]) == 19


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
