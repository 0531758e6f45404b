"""Actor handles: passed to tasks and other actors, pickled inside objects, looked up by name,
and killed."""

from __future__ import annotations

import os
import pickle

import pytest

import nbray
from nbray.exceptions import ActorDiedError, RayActorError
from tests._support import FileEvent, pid_gone, poll_for
from tests.actors._helpers import actor_row, wait_for_state


@nbray.remote
class Tally:
    def __init__(self, start=0):
        self.value = start

    def add(self, n=1):
        self.value += n
        return self.value

    def read(self):
        return self.value

    def pid(self):
        return os.getpid()

    def block(self, started, gate):
        started.set()
        assert gate.wait(60), "the test never opened the gate"
        return "unblocked"


@nbray.remote
class Forwarder:
    """Holds a handle to another actor and calls it."""

    def __init__(self, target):
        self.target = target

    def add_to_target(self, n):
        return nbray.get(self.target.add.remote(n))

    def add_to(self, handle, n):
        return nbray.get(handle.add.remote(n))

    def target_handle(self):
        return self.target


@nbray.remote
def add_via(handle, n):
    return nbray.get(handle.add.remote(n))


@nbray.remote
def add_via_container(box, n):
    return nbray.get(box["counter"].add.remote(n))


@nbray.remote
def add_via_pickled_bytes(blob, n):
    return nbray.get(pickle.loads(blob).add.remote(n))


@nbray.remote
def add_via_name(name, n, namespace=None):
    return nbray.get(nbray.get_actor(name, namespace=namespace).add.remote(n))


@nbray.remote
def fire_calls(handle, count):
    """Submit calls without waiting for them; the caller gets their refs."""
    return [handle.add.remote(1) for _ in range(count)]


# -- passing handles around ---------------------------------------------------------------
def test_handle_passed_to_tasks(cluster):
    counter = Tally.remote()
    assert sorted(nbray.get([add_via.remote(counter, 1) for _ in range(5)])) == [1, 2, 3, 4, 5]
    assert nbray.get(counter.read.remote()) == 5


def test_handle_passed_to_another_actor(cluster):
    counter = Tally.remote(10)
    fwd = Forwarder.remote(counter)
    assert nbray.get(fwd.add_to_target.remote(5)) == 15
    assert nbray.get(counter.add.remote(1)) == 16
    # A handle that comes back from an actor is the same actor.
    back = nbray.get(fwd.target_handle.remote())
    assert back == counter
    assert nbray.get(back.read.remote()) == 16


def test_handle_passed_to_a_method_of_another_actor(cluster):
    counter = Tally.remote()
    other = Tally.remote()
    fwd = Forwarder.remote(other)
    assert nbray.get(fwd.add_to.remote(counter, 2)) == 2
    assert nbray.get(fwd.add_to.remote(counter, 3)) == 5
    assert nbray.get(fwd.add_to_target.remote(7)) == 7
    assert nbray.get([counter.read.remote(), other.read.remote()]) == [5, 7]


def test_handle_pickled_inside_objects(cluster):
    counter = Tally.remote()
    assert nbray.get(add_via_container.remote({"counter": counter}, 1)) == 1
    stored = nbray.put({"counter": counter})
    assert nbray.get(add_via_container.remote(stored, 2)) == 3
    assert nbray.get(add_via_pickled_bytes.remote(pickle.dumps(counter), 3)) == 6
    copy = pickle.loads(pickle.dumps(counter))
    assert copy == counter and hash(copy) == hash(counter)
    assert nbray.get(copy.read.remote()) == 6


def test_calls_submitted_from_a_task_run_in_its_order(cluster):
    counter = Tally.remote()
    refs = nbray.get(fire_calls.remote(counter, 20))
    assert nbray.get(refs) == list(range(1, 21))


# -- names ---------------------------------------------------------------------------------
def test_get_actor_by_name_in_the_default_namespace(cluster):
    counter = Tally.options(name="counter").remote(1)
    found = nbray.get_actor("counter")
    assert found == counter
    assert nbray.get(found.add.remote(1)) == 2
    assert nbray.get(counter.read.remote()) == 2
    assert nbray.get(add_via_name.remote("counter", 10)) == 12


def test_get_actor_honours_namespaces(cluster):
    a = Tally.options(name="shared-name", namespace="team-a").remote(100)
    b = Tally.options(name="shared-name", namespace="team-b").remote(200)
    assert nbray.get(nbray.get_actor("shared-name", namespace="team-a").read.remote()) == 100
    assert nbray.get(nbray.get_actor("shared-name", namespace="team-b").read.remote()) == 200
    with pytest.raises(ValueError, match="shared-name"):
        nbray.get_actor("shared-name")  # not in the default namespace
    assert nbray.get(add_via_name.remote("shared-name", 1, "team-b")) == 201
    rows = {r["actor_id"]: r for r in nbray.list_actors()}
    assert rows[a._actor_id_hex()]["namespace"] == "team-a"
    assert rows[b._actor_id_hex()]["namespace"] == "team-b"


def test_get_actor_of_unknown_name_raises_value_error(cluster):
    with pytest.raises(ValueError, match="no-such-actor"):
        nbray.get_actor("no-such-actor")
    with pytest.raises(ValueError, match="non-empty"):  # ValueError, as in Ray
        nbray.get_actor("")


def test_tasks_look_names_up_in_the_drivers_namespace(make_cluster):
    make_cluster(namespace="lab")
    counter = Tally.options(name="lab-counter").remote()
    assert nbray.get(nbray.get_actor("lab-counter").add.remote(1)) == 1
    # A task of this driver runs in the driver's namespace, as in Ray.
    assert nbray.get(add_via_name.remote("lab-counter", 1)) == 2
    del counter


# -- kill ----------------------------------------------------------------------------------
def test_kill_fails_running_and_queued_calls_and_later_calls(cluster, tmp_path):
    started, gate = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "gate")
    counter = Tally.remote()
    pid = nbray.get(counter.pid.remote())
    running = counter.block.remote(started, gate)
    poll_for(started.is_set, msg="the blocking call to start")
    queued = [counter.add.remote(1) for _ in range(3)]
    nbray.kill(counter)
    for ref in [running] + queued:
        with pytest.raises(ActorDiedError) as info:
            nbray.get(ref, timeout=30)
        assert isinstance(info.value, RayActorError)
        assert "Tally" in str(info.value) and counter._actor_id_hex() in str(info.value)
        assert "kill" in str(info.value)
    with pytest.raises(ActorDiedError, match="kill"):
        nbray.get(counter.add.remote(1), timeout=30)
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit")
    row = wait_for_state(counter, "DEAD")
    assert "kill" in row["death_cause"]
    gate.set()


def test_kill_frees_the_name(cluster):
    first = Tally.options(name="reused").remote(1)
    assert nbray.get(first.read.remote()) == 1
    nbray.kill(first)
    wait_for_state(first, "DEAD")
    with pytest.raises(ValueError):
        nbray.get_actor("reused")
    second = Tally.options(name="reused").remote(2)
    assert nbray.get(nbray.get_actor("reused").read.remote()) == 2
    assert second != first


def test_kill_by_a_handle_from_get_actor(cluster):
    counter = Tally.options(name="victim").remote()
    pid = nbray.get(counter.pid.remote())
    nbray.kill(nbray.get_actor("victim"), no_restart=True)
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit")
    with pytest.raises(ActorDiedError):
        nbray.get(counter.read.remote(), timeout=30)


def test_kill_twice_and_kill_of_non_handles(cluster):
    counter = Tally.remote()
    nbray.kill(counter)
    nbray.kill(counter)  # already dead: nothing to do
    wait_for_state(counter, "DEAD")
    with pytest.raises(ValueError, match="actor handle"):  # ValueError, as in Ray
        nbray.kill("not a handle")
    with pytest.raises(ValueError, match="actor handle"):
        nbray.kill(counter.read.remote)


def test_kill_without_no_restart_restarts_a_restartable_actor(cluster):
    counter = Tally.options(max_restarts=1).remote(5)
    assert nbray.get(counter.add.remote(1)) == 6
    pid = nbray.get(counter.pid.remote())
    nbray.kill(counter, no_restart=False)
    wait_for_state(counter, "ALIVE", restarts=1)
    assert nbray.get(counter.read.remote(), timeout=30) == 5  # constructor ran again
    assert nbray.get(counter.pid.remote()) != pid
    # no_restart=True (the default) ends it for good even with restarts left.
    restartable = Tally.options(max_restarts=5).remote()
    nbray.get(restartable.read.remote())
    nbray.kill(restartable)
    row = wait_for_state(restartable, "DEAD")
    assert row["restarts"] == 0
    assert actor_row(counter)["state"] == "ALIVE"
