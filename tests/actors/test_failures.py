"""Actor failure: a dying process, a raising constructor, restarts, call retries, list_actors()."""

from __future__ import annotations

import os
import signal

import pytest

import nbray
from nbray.exceptions import ActorDiedError, RayActorError, RayTaskError
from tests._support import Counter, FileEvent, poll_for
from tests.actors._helpers import actor_row, sigkill, wait_for_state


@nbray.remote
class Tally:
    def __init__(self, start=0, births=None):
        self.value = start
        if births is not None:
            births.hit()  # one line per run of the constructor, in any process

    def add(self, n=1):
        self.value += n
        return self.value

    def read(self):
        return self.value

    def pid(self):
        return os.getpid()

    def actor_id(self):
        return nbray.get_runtime_context().get_actor_id()

    def block(self, started, gate):
        started.set()
        assert gate.wait(60), "the test never opened the gate"
        return "unblocked"

    def die_on_first_attempt(self, attempts):
        """Kill this process the first time it runs; return the attempt number after that."""
        n = attempts.hit()
        if n == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    def exit(self):
        os._exit(3)


@nbray.remote
class Broken:
    def __init__(self, reason):
        raise ValueError(f"cannot build: {reason}")

    def method(self):
        return "never"


def _died(ref):
    with pytest.raises(ActorDiedError) as info:
        nbray.get(ref, timeout=30)
    assert isinstance(info.value, RayActorError)
    return info.value


# -- the process dies ------------------------------------------------------------------------
def test_sigkilled_actor_fails_running_queued_and_later_calls(cluster, tmp_path):
    started, gate = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "gate")
    counter = Tally.remote()
    pid = nbray.get(counter.pid.remote())
    running = counter.block.remote(started, gate)
    poll_for(started.is_set, msg="the blocking call to start")
    queued = [counter.add.remote(1) for _ in range(3)]
    sigkill(pid)
    for ref in [running] + queued:
        err = _died(ref)
        text = str(err)
        assert "Tally" in text and counter._actor_id_hex() in text
        assert "SIGKILL" in text and str(pid) in text  # the cause
        assert err.actor_id == counter._actor_id_hex()
    later = _died(counter.add.remote(1))
    assert "SIGKILL" in str(later)
    row = wait_for_state(counter, "DEAD")
    assert "SIGKILL" in row["death_cause"]


def test_actor_found_through_list_actors_can_be_killed_by_pid(cluster):
    counter = Tally.options(name="listed").remote()
    assert nbray.get(counter.add.remote(1)) == 1
    row = wait_for_state(counter, "ALIVE")
    sigkill(row["pid"])
    err = _died(counter.read.remote())
    assert "'listed'" in str(err) and err.actor_name == "listed"
    # A dead actor's name is free again.
    with pytest.raises(ValueError):
        nbray.get_actor("listed")


def test_actor_process_exiting_by_itself_is_reported(cluster):
    counter = Tally.remote()
    ref = counter.exit.remote()
    err = _died(ref)
    assert "exited with code 3" in str(err)
    _died(counter.read.remote())


def test_the_cluster_keeps_working_after_an_actor_dies(cluster):
    counter = Tally.remote()
    sigkill(nbray.get(counter.pid.remote()))
    _died(counter.read.remote())
    fresh = Tally.remote(1)
    assert nbray.get(fresh.add.remote(1)) == 2


# -- the constructor raises ----------------------------------------------------------------
def test_constructor_error_fails_every_call_with_the_original_message(cluster):
    actor = Broken.remote("no disk")
    for _ in range(2):
        err = _died(actor.method.remote())
        text = str(err)
        assert "cannot build: no disk" in text
        assert "ValueError" in text
        assert "Broken" in text and "constructor" in text
    row = wait_for_state(actor, "DEAD")
    assert "cannot build: no disk" in row["death_cause"]


def test_constructor_error_is_not_restarted(cluster, tmp_path):
    births = Counter(tmp_path / "births")

    @nbray.remote(max_restarts=3)
    class FailsAfterCounting:
        def __init__(self, births):
            births.hit()
            raise RuntimeError("broken on purpose")

        def method(self):
            return 1

    actor = FailsAfterCounting.remote(births)
    assert "broken on purpose" in str(_died(actor.method.remote()))
    row = wait_for_state(actor, "DEAD")
    assert row["restarts"] == 0
    assert births.value() == 1


# -- restarts ----------------------------------------------------------------------------------
def test_max_restarts_restarts_the_process_and_reruns_the_constructor(cluster, tmp_path):
    births = Counter(tmp_path / "births")
    counter = Tally.options(max_restarts=1).remote(10, births)
    assert nbray.get([counter.add.remote(1) for _ in range(3)]) == [11, 12, 13]
    first_pid = nbray.get(counter.pid.remote())
    sigkill(first_pid)
    row = wait_for_state(counter, "ALIVE", restarts=1)
    assert row["pid"] != first_pid
    # State was reset: the constructor ran again in a new process.
    assert nbray.get(counter.read.remote(), timeout=30) == 10
    assert nbray.get(counter.pid.remote()) == row["pid"]
    assert births.value() == 2 and births.pids() == [first_pid, row["pid"]]
    assert nbray.get(counter.add.remote(5)) == 15
    # The second death is one too many.
    sigkill(row["pid"])
    err = _died(counter.read.remote())
    assert "SIGKILL" in str(err)
    row = wait_for_state(counter, "DEAD")
    assert row["restarts"] == 1
    assert births.value() == 2


def test_calls_made_after_a_restart_began_run_on_the_new_process(cluster, tmp_path):
    counter = Tally.options(max_restarts=-1).remote(0)
    for generation in range(3):
        pid = nbray.get(counter.pid.remote(), timeout=30)
        sigkill(pid)
        # Once the node has seen the death, new calls wait for the new process.  (Calls sent
        # before that go to the dead process and fail, as max_task_retries=0 says.)
        poll_for(lambda: actor_row(counter)["restarts"] == generation + 1,
                 msg="the node to notice the death")
        refs = [counter.add.remote(1) for _ in range(3)]
        assert nbray.get(refs, timeout=30) == [1, 2, 3]
        assert nbray.get(counter.pid.remote()) != pid
    assert actor_row(counter)["restarts"] == 3


def test_in_flight_call_fails_without_max_task_retries(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    counter = Tally.options(max_restarts=1).remote()
    err = _died(counter.die_on_first_attempt.remote(attempts))
    assert "max_task_retries" in str(err)
    assert attempts.value() == 1
    # The actor itself came back.
    assert nbray.get(counter.add.remote(1), timeout=30) == 1
    assert actor_row(counter)["restarts"] == 1


def test_max_task_retries_resends_in_flight_calls(cluster, tmp_path):
    attempts = Counter(tmp_path / "attempts")
    counter = Tally.options(max_restarts=1, max_task_retries=1).remote()
    first = counter.die_on_first_attempt.remote(attempts)
    after = [counter.add.remote(1) for _ in range(3)]
    assert nbray.get(first, timeout=30) == 2
    assert nbray.get(after, timeout=30) == [1, 2, 3]  # still in submission order
    pids = attempts.pids()
    assert len(pids) == 2 and pids[0] != pids[1]
    assert actor_row(counter)["restarts"] == 1


def test_max_task_retries_from_the_class_decorator(cluster, tmp_path):
    @nbray.remote(max_restarts=2, max_task_retries=-1)
    class Resilient:
        def die_on_first_attempt(self, attempts):
            n = attempts.hit()
            if n == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return n

    attempts = Counter(tmp_path / "attempts")
    actor = Resilient.remote()
    assert nbray.get(actor.die_on_first_attempt.remote(attempts), timeout=30) == 2


def test_method_exceptions_do_not_restart_or_kill_the_actor(cluster):
    counter = Tally.options(max_restarts=2).remote()
    with pytest.raises(RayTaskError):
        nbray.get(counter.add.remote(None))
    assert nbray.get(counter.add.remote(1)) == 1
    row = wait_for_state(counter, "ALIVE")
    assert row["restarts"] == 0


# -- list_actors -------------------------------------------------------------------------------
def test_list_actors_shows_every_actor(cluster):
    assert nbray.list_actors() == []
    plain = Tally.remote()
    named = Tally.options(name="alice", namespace="lab").remote()
    ids = nbray.get([plain.actor_id.remote(), named.actor_id.remote()])
    pids = nbray.get([plain.pid.remote(), named.pid.remote()])
    rows = {r["actor_id"]: r for r in nbray.list_actors()}
    assert set(rows) == set(ids) == {plain._actor_id_hex(), named._actor_id_hex()}
    for actor_id, pid in zip(ids, pids):
        row = rows[actor_id]
        assert {"actor_id", "class_name", "name", "state", "restarts", "node_id",
                "pid"} <= set(row)
        assert row["class_name"] == "Tally"
        assert row["state"] == "ALIVE"
        assert row["restarts"] == 0
        assert row["node_id"] == cluster.node.node_id
        assert row["pid"] == pid
    assert rows[ids[0]]["name"] is None
    assert rows[ids[1]]["name"] == "alice" and rows[ids[1]]["namespace"] == "lab"
    nbray.kill(named)
    wait_for_state(named, "DEAD")
    assert actor_row(plain)["state"] == "ALIVE"


def test_list_actors_shows_pending_creation(cluster, tmp_path):
    # Two CPUs: the first actor takes both, the second waits for them.
    big = Tally.options(num_cpus=2)
    first = big.remote()
    wait_for_state(first, "ALIVE")
    second = big.remote()
    row = actor_row(second)
    assert row["state"] == "PENDING_CREATION"
    nbray.kill(first)
    wait_for_state(second, "ALIVE")


def test_list_actors_shows_restarting_or_restarted(cluster, tmp_path):
    started, gate = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "gate")

    @nbray.remote(max_restarts=1)
    class SlowToStart:
        def __init__(self, started, gate):
            if started.is_set():  # the second run waits, so the test sees RESTARTING
                assert gate.wait(60)
            started.set()

        def pid(self):
            return os.getpid()

    actor = SlowToStart.remote(started, gate)
    pid = nbray.get(actor.pid.remote())
    sigkill(pid)
    wait_for_state(actor, "RESTARTING", restarts=1)
    gate.set()
    row = wait_for_state(actor, "ALIVE", restarts=1)
    assert nbray.get(actor.pid.remote(), timeout=30) == row["pid"] != pid
