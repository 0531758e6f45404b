"""Actor classes and method calls: decorator forms, options, call order, num_returns, arguments.

Every actor here is a real worker process of a fresh local cluster.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nbray
from tests._support import FileEvent, poll_for
from tests.actors._helpers import actor_row, wait_for_state


@nbray.remote
class Tally:
    """A counter: the state lives in the actor's process between calls."""

    def __init__(self, start=0):
        self.value = start

    def add(self, n=1):
        self.value += n
        return self.value

    def read(self):
        return self.value

    def pid(self):
        return os.getpid()


@nbray.remote(num_cpus=1, max_restarts=2, max_task_retries=1, max_concurrency=3)
class Configured:
    def ping(self):
        return "pong"


@nbray.remote
class Recorder:
    """Appends every argument it is called with, in the order the calls run."""

    def __init__(self, *args, **kwargs):
        self.init_args = args
        self.init_kwargs = kwargs
        self.log = []

    def record(self, item):
        self.log.append(item)
        return len(self.log)

    def history(self):
        return self.log

    def constructor_args(self):
        return self.init_args, self.init_kwargs

    def describe(self, *args, **kwargs):
        """Type names of the arguments as the method sees them, and the values of nested refs."""
        def show(v):
            if isinstance(v, nbray.ObjectRef):
                return ("ref", nbray.get(v))
            if isinstance(v, (list, tuple)):
                return [show(x) for x in v]
            if isinstance(v, dict):
                return {k: show(x) for k, x in v.items()}
            if isinstance(v, np.ndarray):
                return ("ndarray", v.shape, float(v.sum()))
            return ("value", v)
        return [show(a) for a in args], {k: show(v) for k, v in kwargs.items()}

    def nested_init_refs(self):
        """Resolve refs the constructor got inside containers."""
        return [nbray.get(r) if isinstance(r, nbray.ObjectRef) else r for r in self.init_args[0]]

    @nbray.method(num_returns=2)
    def split(self, pair):
        return pair[0], pair[1]

    @nbray.method(num_returns=2)
    def as_pair(self, items):
        return items

    def triple(self):
        return "a", "b", "c"

    def wrap(self, value):
        return [nbray.put(value)]

    @nbray.method(num_returns=0)
    def fire_and_forget(self, item):
        self.log.append(item)


@nbray.remote
def slow_value(gate, value):
    assert gate.wait(60), "the test never opened the gate"
    return value


@nbray.remote
def make_value(x):
    return x * 10


# -- decorator forms and handles ---------------------------------------------------------
def test_plain_decorator_makes_an_actor_class_and_remote_returns_a_handle(cluster):
    assert isinstance(Tally, nbray.ActorClass)
    counter = Tally.remote(10)
    assert isinstance(counter, nbray.ActorHandle)
    ref = counter.add.remote(5)
    assert isinstance(ref, nbray.ObjectRef)
    assert nbray.get(ref) == 15
    assert nbray.get(counter.add.remote()) == 16
    assert nbray.get(counter.read.remote()) == 16


def test_each_actor_is_its_own_process_with_its_own_state(cluster):
    a, b = Tally.remote(), Tally.remote(100)
    assert nbray.get([a.add.remote(1), b.add.remote(1), a.add.remote(1)]) == [1, 101, 2]
    pid_a, pid_b = nbray.get([a.pid.remote(), b.pid.remote()])
    assert pid_a != pid_b
    assert os.getpid() not in (pid_a, pid_b)
    assert {pid_a, pid_b} <= set(cluster.worker_pids())


def test_decorator_with_options(cluster):
    assert isinstance(Configured, nbray.ActorClass)
    actor = Configured.remote()
    assert nbray.get(actor.ping.remote()) == "pong"
    wait_for_state(actor, "ALIVE")
    # num_cpus=1 is held for the actor's whole life.
    poll_for(lambda: nbray.available_resources().get("CPU") == 1.0,
             msg="the actor to hold one of the two CPUs")


def test_num_cpus_holds_the_actor_back_until_its_cpus_are_free(cluster):
    Big = Tally.options(num_cpus=2)
    first = Big.remote()
    wait_for_state(first, "ALIVE")
    second = Big.remote(7)
    ref = second.add.remote(1)
    assert actor_row(second)["state"] == "PENDING_CREATION"
    nbray.kill(first)
    assert nbray.get(ref, timeout=30) == 8
    wait_for_state(second, "ALIVE")


def test_instantiating_directly_raises_type_error_pointing_to_remote(cluster):
    with pytest.raises(TypeError, match=r"Tally\.remote\(\)"):
        Tally()
    with pytest.raises(TypeError, match=r"Tally\.remote\(\)"):
        Tally(1)
    counter = Tally.remote()
    with pytest.raises(TypeError, match=r"add\.remote\(\)"):
        counter.add(1)
    assert nbray.get(counter.read.remote()) == 0  # the failed call did nothing


def test_options_returns_a_new_class_and_leaves_the_original_alone(cluster):
    Named = Tally.options(name="only-one")
    assert isinstance(Named, nbray.ActorClass)
    named = Named.remote(1)
    # The original class has no name: any number of instances.
    plain1, plain2 = Tally.remote(2), Tally.remote(3)
    assert nbray.get([named.read.remote(), plain1.read.remote(), plain2.read.remote()]) == [1, 2, 3]
    rows = {r["actor_id"]: r for r in nbray.list_actors()}
    assert rows[named._actor_id_hex()]["name"] == "only-one"
    assert rows[plain1._actor_id_hex()]["name"] is None


def test_invalid_options_are_rejected_up_front(cluster):
    with pytest.raises(ValueError, match="lifetime"):
        Tally.options(lifetime="forever")
    with pytest.raises(ValueError, match="max_concurrency"):
        Tally.options(max_concurrency=0)
    with pytest.raises(ValueError, match="max_restarts"):
        Tally.options(max_restarts=-2)
    with pytest.raises(ValueError, match="unknown option"):
        Tally.options(no_such_option=1)
    with pytest.raises(TypeError, match="name"):
        Tally.options(name=42)
    assert nbray.list_actors() == []


# -- call order --------------------------------------------------------------------------
def test_calls_from_one_caller_run_in_submission_order(cluster):
    rec = Recorder.remote()
    refs = [rec.record.remote(i) for i in range(50)]
    assert nbray.get(refs) == list(range(1, 51))
    assert nbray.get(rec.history.remote()) == list(range(50))


def test_order_holds_when_an_earlier_call_waits_for_a_slow_argument(cluster, tmp_path):
    gate = FileEvent(tmp_path / "gate")
    rec = Recorder.remote()
    slow = slow_value.remote(gate, "slow")
    first = rec.record.remote(slow)            # its argument is not ready yet
    later = [rec.record.remote(f"fast-{i}") for i in range(5)]
    ready, _ = nbray.wait(later, num_returns=1, timeout=0)
    assert ready == []  # nothing could have overtaken the waiting call
    gate.set()
    assert nbray.get([first] + later, timeout=30) == [1, 2, 3, 4, 5, 6]
    assert nbray.get(rec.history.remote()) == ["slow"] + [f"fast-{i}" for i in range(5)]


# -- num_returns -------------------------------------------------------------------------
def test_method_num_returns_from_the_decorator(cluster):
    rec = Recorder.remote()
    left, right = rec.split.remote(("L", "R"))
    assert isinstance(left, nbray.ObjectRef) and isinstance(right, nbray.ObjectRef)
    assert nbray.get([left, right]) == ["L", "R"]


def test_method_num_returns_from_options(cluster):
    rec = Recorder.remote()
    refs = rec.triple.options(num_returns=3).remote()
    assert isinstance(refs, list) and len(refs) == 3
    assert nbray.get(refs) == ["a", "b", "c"]
    # options() made a new method: the plain one still returns a single tuple.
    assert nbray.get(rec.triple.remote()) == ("a", "b", "c")


def test_method_num_returns_zero_returns_none_and_still_runs(cluster):
    rec = Recorder.remote()
    assert rec.fire_and_forget.remote("x") is None
    assert nbray.get(rec.history.remote()) == ["x"]


def test_wrong_number_of_returns_raises_on_get(cluster):
    rec = Recorder.remote()
    a, b = rec.as_pair.remote(("only one",))
    with pytest.raises(ValueError, match="num_returns=2"):
        nbray.get(a)
    with pytest.raises(ValueError, match="num_returns=2"):
        nbray.get(b)
    assert nbray.get(rec.record.remote("still alive")) == 1


# -- argument rules (as for tasks) --------------------------------------------------------
def test_method_top_level_refs_are_resolved_nested_refs_are_passed_as_refs(cluster):
    rec = Recorder.remote()
    put_ref = nbray.put(2)
    task_ref = make_value.remote(3)
    args, kwargs = nbray.get(rec.describe.remote(put_ref, [put_ref], {"k": task_ref},
                                                 kw=task_ref, nested=[task_ref]))
    assert args == [("value", 2), [("ref", 2)], {"k": ("ref", 30)}]
    assert kwargs == {"kw": ("value", 30), "nested": [("ref", 30)]}


def test_constructor_top_level_refs_are_resolved(cluster):
    obj = nbray.put(2)
    rec = Recorder.remote(obj, key=nbray.put("kw"))
    assert nbray.get(rec.constructor_args.remote()) == ((2,), {"key": "kw"})


def test_constructor_waits_for_an_argument_that_is_not_ready_yet(cluster, tmp_path):
    gate = FileEvent(tmp_path / "gate")
    pending = slow_value.remote(gate, "late")
    rec = Recorder.remote(pending, key=make_value.remote(4))
    ref = rec.constructor_args.remote()
    gate.set()
    assert nbray.get(ref, timeout=30) == (("late",), {"key": 40})


def test_constructor_nested_refs_are_passed_as_refs(cluster):
    obj = nbray.put(2)
    rec = Recorder.remote([obj])
    (args, _) = nbray.get(rec.constructor_args.remote())
    assert isinstance(args[0][0], nbray.ObjectRef)
    assert nbray.get(rec.nested_init_refs.remote()) == [2]


def test_large_numpy_arguments_reach_constructor_and_methods(cluster):
    big = np.arange(1_000_000, dtype=np.float64)  # 8 MB: travels through the store
    rec = Recorder.remote(big)
    args, _ = nbray.get(rec.describe.remote(big, nbray.put(big)))
    assert args == [("ndarray", big.shape, float(big.sum()))] * 2
    (init_args, _) = nbray.get(rec.constructor_args.remote())
    np.testing.assert_array_equal(init_args[0], big)


def test_method_errors_are_raised_on_get_and_the_actor_lives_on(cluster):
    counter = Tally.remote()
    bad = counter.add.remote("not a number")
    with pytest.raises(TypeError) as info:
        nbray.get(bad)
    assert isinstance(info.value, nbray.exceptions.RayTaskError)
    assert "Tally.add" in str(info.value)
    assert nbray.get(counter.add.remote(2)) == 2
    wait_for_state(counter, "ALIVE")


def test_a_failed_argument_fails_the_call_without_running_it(cluster):
    rec = Recorder.remote()
    broken = make_value.remote(None)  # None * 10 raises TypeError in the task
    with pytest.raises(TypeError):
        nbray.get(rec.record.remote(broken))
    assert nbray.get(rec.history.remote()) == []


def test_methods_can_return_objects_holding_refs(cluster):
    rec = Recorder.remote()
    (inner,) = nbray.get(rec.wrap.remote("payload"))
    assert isinstance(inner, nbray.ObjectRef)
    assert nbray.get(inner) == "payload"
