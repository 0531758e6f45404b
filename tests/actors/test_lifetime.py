"""Actor lifetime: an actor ends when no handle to it is left and its calls are done;
a detached actor lives on until it is killed or the cluster shuts down."""

from __future__ import annotations

import gc
import os
import pickle

import pytest

import nbray
from nbray.exceptions import ActorDiedError
from tests._support import FileEvent, pid_gone, poll_for
from tests.actors._helpers import actor_row


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

    def block(self, started, gate, result):
        started.set()
        assert gate.wait(60), "the test never opened the gate"
        return result


@nbray.remote
class Holder:
    """Keeps a handle to another actor."""

    def __init__(self, other):
        self.other = other

    def read_other(self):
        return nbray.get(self.other.read.remote())

    def take(self, other):
        self.other = other
        return "taken"

    def drop(self):
        self.other = None
        return "dropped"

    def read_nothing(self):
        return self.other

    def pid(self):
        return os.getpid()


@nbray.remote
def read_later(handle, gate):
    assert gate.wait(60), "the test never opened the gate"
    return nbray.get(handle.read.remote())


def _actor_id_and_pid(handle):
    return handle._actor_id_hex(), nbray.get(handle.pid.remote())


def _row(actor_id):
    return next((r for r in nbray.list_actors() if r["actor_id"] == actor_id), None)


def test_actor_ends_when_its_last_handle_is_dropped(cluster):
    counter = Tally.remote()
    actor_id, pid = _actor_id_and_pid(counter)
    del counter
    gc.collect()
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit")
    row = poll_for(lambda: (r := _row(actor_id)) and r["state"] == "DEAD" and r,
                   msg="the actor to be DEAD")
    assert "out of scope" in row["death_cause"]


def test_copies_of_a_handle_keep_it_alive(cluster):
    counter = Tally.remote(3)
    actor_id, pid = _actor_id_and_pid(counter)
    copy = nbray.get(nbray.put([counter]))[0]
    del counter
    gc.collect()
    assert nbray.get(copy.add.remote(1)) == 4
    assert _row(actor_id)["state"] == "ALIVE"
    del copy
    gc.collect()
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit")


def test_queued_calls_finish_before_an_unreferenced_actor_ends(cluster, tmp_path):
    started, gate = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "gate")
    counter = Tally.remote()
    actor_id, pid = _actor_id_and_pid(counter)
    slow = counter.block.remote(started, gate, "finished")
    after = counter.add.remote(1)
    poll_for(started.is_set, msg="the slow call to start")
    del counter
    gc.collect()
    # No handle is left, but two calls are not done: the actor must stay.
    assert _row(actor_id)["state"] == "ALIVE"
    assert not pid_gone(pid)
    gate.set()
    assert nbray.get([slow, after], timeout=30) == ["finished", 1]
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit after its calls")
    poll_for(lambda: _row(actor_id)["state"] == "DEAD", msg="the actor to be DEAD")


def test_handle_held_by_another_actor_keeps_it_alive(cluster):
    counter = Tally.remote(7)
    actor_id, pid = _actor_id_and_pid(counter)
    holder = Holder.remote(None)
    assert nbray.get(holder.take.remote(counter)) == "taken"
    del counter
    gc.collect()
    assert nbray.get(holder.read_other.remote()) == 7
    assert _row(actor_id)["state"] == "ALIVE"
    assert nbray.get(holder.drop.remote()) == "dropped"
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit once the holder let go")
    assert nbray.get(holder.read_nothing.remote()) is None


def test_handle_given_to_a_constructor_lives_as_long_as_that_actor(cluster):
    # Constructor arguments stay pinned while the actor lives (a restart re-runs the
    # constructor with them), so the handle lives until the holder ends.
    counter = Tally.remote(7)
    actor_id, pid = _actor_id_and_pid(counter)
    holder = Holder.remote(counter)
    holder_pid = nbray.get(holder.pid.remote())
    del counter
    gc.collect()
    assert nbray.get(holder.read_other.remote()) == 7
    del holder
    gc.collect()
    poll_for(lambda: pid_gone(holder_pid), msg="the holder to end")
    poll_for(lambda: pid_gone(pid), msg="the held actor to end after its holder")
    poll_for(lambda: _row(actor_id)["state"] == "DEAD", msg="the held actor to be DEAD")


def test_handle_held_by_a_pending_task_keeps_it_alive(cluster, tmp_path):
    gate = FileEvent(tmp_path / "gate")
    counter = Tally.remote(5)
    actor_id, pid = _actor_id_and_pid(counter)
    ref = read_later.remote(counter, gate)
    del counter
    gc.collect()
    assert _row(actor_id)["state"] == "ALIVE"
    gate.set()
    assert nbray.get(ref, timeout=30) == 5
    del ref
    poll_for(lambda: pid_gone(pid), msg="the actor's process to exit after the task")


def test_detached_actor_outlives_its_handles(cluster):
    keeper = Tally.options(name="keeper", lifetime="detached").remote(42)
    plain = Tally.remote()
    keeper_id, keeper_pid = _actor_id_and_pid(keeper)
    plain_id, plain_pid = _actor_id_and_pid(plain)
    assert _row(keeper_id)["detached"] is True
    del keeper, plain
    gc.collect()
    # Once the plain actor (dropped at the same time) is gone, the detached one must not be.
    poll_for(lambda: pid_gone(plain_pid), msg="the non-detached actor to end")
    assert not pid_gone(keeper_pid)
    assert _row(keeper_id)["state"] == "ALIVE"
    again = nbray.get_actor("keeper")
    assert nbray.get(again.add.remote(1)) == 43
    del again
    gc.collect()
    assert nbray.get(nbray.get_actor("keeper").read.remote()) == 43
    # ... until it is killed.
    nbray.kill(nbray.get_actor("keeper"))
    poll_for(lambda: pid_gone(keeper_pid), msg="the killed detached actor to exit")
    poll_for(lambda: _row(keeper_id)["state"] == "DEAD", msg="the node to see the death")
    with pytest.raises(ValueError, match="keeper"):
        nbray.get_actor("keeper")


def test_detached_actor_ends_at_shutdown(cluster):
    keeper = Tally.options(name="until-shutdown", lifetime="detached").remote()
    pid = nbray.get(keeper.pid.remote())
    del keeper
    nbray.shutdown()
    poll_for(lambda: pid_gone(pid), msg="the detached actor to end with its cluster")


def test_detached_actor_handle_from_a_task(cluster):
    @nbray.remote
    def create_detached():
        handle = Tally.options(name="made-in-task", lifetime="detached").remote(9)
        return nbray.get(handle.pid.remote())

    pid = nbray.get(create_detached.remote())
    found = nbray.get_actor("made-in-task")
    assert nbray.get(found.add.remote(1)) == 10
    assert nbray.get(found.pid.remote()) == pid
    nbray.kill(found)
    poll_for(lambda: pid_gone(pid), msg="the detached actor to exit")


def test_actor_created_in_a_task_ends_when_the_task_drops_it(cluster):
    @nbray.remote
    def use_and_drop():
        handle = Tally.remote(1)
        return nbray.get(handle.pid.remote()), handle._actor_id_hex()

    pid, actor_id = nbray.get(use_and_drop.remote())
    poll_for(lambda: pid_gone(pid), msg="the task's actor to end")
    poll_for(lambda: _row(actor_id)["state"] == "DEAD", msg="the task's actor to be DEAD")


def test_calls_on_an_ended_actor_raise(cluster):
    counter = Tally.remote()
    pid = nbray.get(counter.pid.remote())
    # Keep a pickled copy only: unpickling it later makes a new handle to the ended actor.
    blob = pickle.dumps(counter)
    del counter
    gc.collect()
    poll_for(lambda: pid_gone(pid), msg="the actor to end")
    revived = pickle.loads(blob)
    with pytest.raises(ActorDiedError, match="out of scope"):
        nbray.get(revived.read.remote(), timeout=30)
    assert actor_row(revived)["state"] == "DEAD"
    del revived
