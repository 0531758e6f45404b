"""ActorTable: actor states, names, per-caller call order and the restart policy (pure).

Workers are plain strings here: the table never looks inside them.
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, List, Optional, Type

import pytest

from nbray import exceptions as exc
from nbray.core.actor_table import (
    ALIVE, DEAD, MAX_DEAD_ACTORS, PENDING_CREATION, RESTARTING, ActorTable, CancelForwarded, CompleteCall,
    CountRestart, EndCreation, FailCall, Forward, Instruction, KillWorker, ReleaseWorker,
    StartActors, StopWorker, StoreCreation, TRANSITIONS, move_state)
from nbray.core.specs import TaskSpec

_ids = itertools.count(1)
OK: List[Any] = [(b"r", "i", b"", 0, [], False, "int")]
RAISED: List[Any] = [(b"r", "i", b"ZeroDivisionError: boom", 0, [], True, "ZeroDivisionError")]


def describe(result: Any) -> str:
    """Stands in for deserializing the error (the shell's job)."""
    return str(result[2].decode())


def _id(prefix: bytes) -> bytes:
    return prefix + next(_ids).to_bytes(8, "big")


def create_spec(actor_id: bytes) -> TaskSpec:
    return TaskSpec(task_id=_id(b"t"), name="A.__init__", function_id=b"f", args=b"", arg_refs=[],
                    nested_refs=[], return_ids=[_id(b"o")], resources={"CPU": 1.0},
                    actor_id=actor_id, kind="actor-create")


def call(actor_id: bytes, owner: str = "driver", name: str = "f") -> TaskSpec:
    return TaskSpec(task_id=_id(b"c"), name=name, function_id=b"", args=b"", arg_refs=[],
                    nested_refs=[], return_ids=[_id(b"o")], resources={}, owner=owner,
                    actor_id=actor_id, method=name, kind="actor-call")


def of(kind: Type[Any], instructions: List[Instruction]) -> List[Any]:
    return [i for i in instructions if isinstance(i, kind)]


def forwarded(instructions: List[Instruction]) -> List[TaskSpec]:
    return [i.spec for i in of(Forward, instructions)]


def failed(instructions: List[Instruction]) -> Dict[bytes, BaseException]:
    return {i.spec.task_id: i.error for i in of(FailCall, instructions)}


def new_actor(table: ActorTable[str], now: float = 0.0, **info: Any) -> bytes:
    actor_id = _id(b"a")
    info.setdefault("class_name", "A")
    table.add(create_spec(actor_id), info, now)
    return actor_id


def started(table: ActorTable[str], worker: str = "w1", **info: Any) -> bytes:
    """An ALIVE actor on `worker`."""
    actor_id = new_actor(table, **info)
    table.on_creation_args_ready(actor_id)
    table.on_worker_assigned(actor_id, worker, 100, "node-1")
    table.on_created(actor_id, OK)
    return actor_id


def submit(table: ActorTable[str], spec: TaskSpec, ready: bool = True) -> List[Instruction]:
    out = table.on_call_submitted(spec)
    if ready and not out:
        out = table.on_call_args_ready(spec)
    return out


# -- creation and start ----------------------------------------------------------------
def test_a_new_actor_is_pending_creation_and_registered_under_its_creation_object():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, now=12.5)
    record = t.actors[aid]
    assert record.state == PENDING_CREATION
    assert t.by_creation_object[record.creation_object] == aid
    assert record.created_at == 12.5
    assert record.worker is None


def test_constructor_args_ready_puts_the_actor_in_the_start_line():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    out = t.on_creation_args_ready(aid)
    assert of(StartActors, out)
    assert t.next_to_start() is t.actors[aid]


def test_worker_assigned_sends_the_constructor_with_options_for_the_worker():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, max_concurrency=4, max_task_retries=2, methods={"f": 1})
    t.on_creation_args_ready(aid)
    out = t.on_worker_assigned(aid, "w7", 321, "node-x")
    record = t.actors[aid]
    assert out == [Forward("w7", record.create_spec)]
    assert (record.worker, record.pid, record.node_id) == ("w7", 321, "node-x")
    start = record.create_spec.actor
    assert start is not None
    assert start.max_concurrency == 4 and start.restarts == 0
    assert start.handle_info is not None and start.handle_info["max_task_retries"] == 2
    assert t.next_to_start() is None
    assert record.state == PENDING_CREATION  # until the constructor reports back


def test_constructor_done_makes_the_actor_alive_and_stores_the_creation_object():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    out = t.on_created(aid, OK)
    assert of(StoreCreation, out) == [StoreCreation(t.actors[aid].create_spec, OK)]
    assert t.actors[aid].state == ALIVE


def test_dead_actors_leave_the_start_line():
    t: ActorTable[str] = ActorTable(describe)
    a, b = new_actor(t), new_actor(t)
    t.on_creation_args_ready(a)
    t.on_creation_args_ready(b)
    t.kill(a, no_restart=True, closed=False)
    assert t.next_to_start() is t.actors[b]


def test_constructor_args_ready_after_death_does_not_start_it():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    t.kill(aid, no_restart=True, closed=False)
    assert t.on_creation_args_ready(aid) == []
    assert t.next_to_start() is None


def test_constructor_that_cannot_run_kills_the_actor_and_ends_its_creation():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    out = t.on_creation_failed(aid, "an argument of its constructor was freed before it ran")
    assert t.actors[aid].state == DEAD
    (end,) = of(EndCreation, out)
    assert isinstance(end.error, exc.ActorDiedError)
    assert "freed before it ran" in str(end.error)


def test_constructor_that_raised_kills_the_actor_for_good_and_its_worker():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, max_restarts=5)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    queued = call(aid)
    submit(t, queued)  # not forwarded: the actor is not alive yet
    out = t.on_created(aid, RAISED)
    record = t.actors[aid]
    assert record.state == DEAD and record.no_restart
    assert "its constructor raised:\nZeroDivisionError: boom" in record.death_cause
    assert isinstance(out[0], StoreCreation)  # the constructor's own error is its result
    assert out[-1] == KillWorker("w1")
    assert isinstance(failed(out)[queued.task_id], exc.ActorDiedError)
    assert ReleaseWorker("w1") in out


# -- names and namespaces -----------------------------------------------------------------
def test_a_name_is_taken_in_its_namespace():
    t: ActorTable[str] = ActorTable(describe)
    new_actor(t, name="svc", namespace="ns")
    with pytest.raises(ValueError, match="already taken in namespace 'ns'"):
        t.claim_name({"name": "svc", "namespace": "ns"})


def test_the_same_name_is_free_in_another_namespace():
    t: ActorTable[str] = ActorTable(describe)
    new_actor(t, name="svc", namespace="a")
    assert t.claim_name({"name": "svc", "namespace": "b"}) is None
    assert t.lookup("svc", "b") is None


def test_no_namespace_means_default():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, name="svc")
    assert t.lookup("svc", "default") is t.actors[aid]


def test_get_if_exists_returns_the_live_actor():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, name="svc")
    assert t.claim_name({"name": "svc", "get_if_exists": True}) is t.actors[aid]


def test_an_unnamed_actor_claims_nothing():
    t: ActorTable[str] = ActorTable(describe)
    assert t.claim_name({"class_name": "A"}) is None


def test_a_dead_actors_name_is_free_again():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, name="svc")
    t.kill(aid, no_restart=True, closed=False)
    t.on_worker_exited(aid, "w1", 100, "was killed", closed=False)
    assert t.lookup("svc", "default") is None
    assert t.claim_name({"name": "svc"}) is None
    again = new_actor(t, name="svc")
    assert t.lookup("svc", "default") is t.actors[again]


def test_lookup_hides_a_dead_actor_even_before_its_name_is_reused():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, name="svc")
    t.on_exit_requested(aid, "exit_actor()")
    assert t.lookup("svc", "default") is None
    assert t.actors[aid].state == DEAD


# -- calls: order and pending arguments ----------------------------------------------------
def test_calls_of_an_alive_actor_go_to_its_worker_in_order():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, "w9")
    specs = [call(aid) for _ in range(3)]
    out: List[Instruction] = []
    for s in specs:
        out += submit(t, s)
    assert out == [Forward("w9", s) for s in specs]
    assert set(t.actors[aid].in_flight) == {s.task_id for s in specs}


def test_calls_wait_while_the_actor_is_being_created_and_go_when_alive():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    specs = [call(aid), call(aid, owner="w2"), call(aid)]
    for s in specs:
        assert submit(t, s) == []
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    out = t.on_created(aid, OK)
    sent = forwarded(out)
    assert sorted(s.task_id for s in sent) == sorted(s.task_id for s in specs)
    by_driver = [s for s in sent if s.owner == "driver"]
    assert by_driver == [specs[0], specs[2]]


def test_a_call_with_a_pending_argument_holds_back_later_calls_of_its_caller():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    first, second = call(aid), call(aid)
    assert submit(t, first, ready=False) == []
    assert submit(t, second) == []  # ready, but behind `first`
    out = t.on_call_args_ready(first)
    assert forwarded(out) == [first, second]


def test_a_pending_argument_does_not_hold_back_another_callers_calls():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    slow = call(aid, owner="driver")
    fast = call(aid, owner="worker-2")
    submit(t, slow, ready=False)
    assert forwarded(submit(t, fast)) == [fast]
    assert t.actors[aid].queues == {"driver": t.actors[aid].queues["driver"]}


def test_a_caller_with_nothing_queued_has_no_queue():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    submit(t, call(aid))
    assert t.actors[aid].queues == {}


def test_a_dropped_call_leaves_the_queue_and_releases_later_ones():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    blocked = call(aid)
    submit(t, blocked, ready=False)
    t.on_call_dropped(blocked)
    later = call(aid)
    assert forwarded(submit(t, later)) == [later]
    assert blocked.task_id not in t.waiting_args


def test_every_call_is_forwarded_and_the_worker_applies_max_concurrency():
    # The node forwards all ready calls; the worker runs up to max_concurrency at once.
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_concurrency=2)
    specs = [call(aid) for _ in range(5)]
    out: List[Instruction] = []
    for s in specs:
        out += submit(t, s)
    assert forwarded(out) == specs
    assert t.actors[aid].create_spec.actor.max_concurrency == 2


def test_a_finished_call_is_completed_with_its_results():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    s = call(aid)
    submit(t, s)
    out = t.on_done(aid, s.task_id, OK)
    assert out == [CompleteCall(s, OK)]
    assert t.actors[aid].in_flight == {}


def test_an_unknown_finished_call_is_ignored():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    assert t.on_done(aid, b"no-such-task", OK) == []
    assert t.on_done(b"no-such-actor", b"x", OK) == []


def test_a_call_to_an_unknown_actor_fails_with_actor_died_error():
    t: ActorTable[str] = ActorTable(describe)
    s = call(b"a" * 16)
    (error,) = failed(t.on_call_submitted(s)).values()
    assert isinstance(error, exc.ActorDiedError)
    assert "unknown to this cluster" in str(error)


def test_a_call_to_a_dead_actor_fails_with_its_cause():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, name="svc")
    t.on_exit_requested(aid, "exit_actor()")
    s = call(aid)
    (error,) = failed(t.on_call_submitted(s)).values()
    assert isinstance(error, exc.ActorDiedError)
    assert "exited on purpose (exit_actor())" in str(error)
    assert "'svc'" in str(error)


# -- cancel ---------------------------------------------------------------------------------
def test_cancel_of_a_queued_call_fails_it_with_task_cancelled_error():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    s = call(aid)
    submit(t, s, ready=False)
    (error,) = failed(t.cancel(s)).values()
    assert isinstance(error, exc.TaskCancelledError)
    assert t.actors[aid].queues == {}


def test_cancel_of_a_forwarded_call_asks_the_worker_to_skip_it():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, "w3")
    s = call(aid)
    submit(t, s)
    assert t.cancel(s) == [CancelForwarded("w3", s.task_id)]
    assert s.task_id in t.actors[aid].in_flight  # it may already run: not failed here


# -- restarts -------------------------------------------------------------------------------
def test_a_crash_with_restarts_left_restarts_the_actor():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=1)
    out = t.on_worker_exited(aid, "w1", 100, "was killed by SIGKILL", closed=False)
    record = t.actors[aid]
    assert record.state == RESTARTING and record.restarts == 1
    assert out[0] == ReleaseWorker("w1")
    assert of(CountRestart, out) and of(StartActors, out)
    assert t.next_to_start() is record and record.worker is None


def test_a_restarted_actor_tells_its_constructor_how_often_it_restarted():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=2)
    t.on_worker_exited(aid, "w1", 100, "crashed", closed=False)
    t.on_worker_assigned(aid, "w2", 101, "n")
    assert t.actors[aid].create_spec.actor.restarts == 1
    t.on_created(aid, OK)
    assert t.actors[aid].state == ALIVE and t.actors[aid].worker == "w2"


def test_restarts_are_counted_until_exhausted_then_the_actor_dies():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=2)
    for n, worker in enumerate(["w2", "w3"], start=1):
        t.on_worker_exited(aid, "w", 1, "crashed", closed=False)
        assert t.actors[aid].restarts == n
        t.on_worker_assigned(aid, worker, 2, "n")
        t.on_created(aid, OK)
    out = t.on_worker_exited(aid, "w3", 77, "crashed with exit code 1", closed=False)
    record = t.actors[aid]
    assert record.state == DEAD and record.restarts == 2
    assert record.death_cause == "its worker process (pid 77) crashed with exit code 1"
    assert not of(CountRestart, out)


def test_max_restarts_minus_one_restarts_forever():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=-1)
    for _ in range(20):
        t.on_worker_exited(aid, "w", 1, "crashed", closed=False)
        assert t.actors[aid].state == RESTARTING
        t.on_worker_assigned(aid, "w", 1, "n")
        t.on_created(aid, OK)
    assert t.actors[aid].restarts == 20


def test_no_restart_while_the_node_is_closing():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=3)
    t.on_worker_exited(aid, "w1", 1, "crashed", closed=True)
    assert t.actors[aid].state == DEAD


def test_running_calls_are_retried_before_later_calls_when_max_task_retries_allows():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=1, max_task_retries=1)
    running = call(aid)
    submit(t, running)
    later = call(aid)
    submit(t, later, ready=False)
    out = t.on_worker_exited(aid, "w1", 1, "crashed", closed=False)
    assert failed(out) == {}
    assert running.attempt == 1
    assert list(t.actors[aid].queues["driver"]) == [running, later]
    t.on_call_args_ready(later)
    t.on_worker_assigned(aid, "w2", 2, "n")
    assert forwarded(t.on_created(aid, OK)) == [running, later]


def test_running_calls_fail_when_max_task_retries_is_zero():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=1)
    running = call(aid, name="work")
    submit(t, running)
    out = t.on_worker_exited(aid, "w1", 1, "crashed", closed=False)
    error = failed(out)[running.task_id]
    assert isinstance(error, exc.ActorDiedError)
    assert "died while running work()" in str(error) and "max_task_retries=0" in str(error)
    assert t.actors[aid].state == RESTARTING


def test_a_call_is_retried_at_most_max_task_retries_times():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=-1, max_task_retries=2)
    s = call(aid)
    submit(t, s)
    for attempt in (1, 2):
        assert failed(t.on_worker_exited(aid, "w", 1, "crashed", closed=False)) == {}
        assert s.attempt == attempt
        t.on_worker_assigned(aid, "w", 1, "n")
        t.on_created(aid, OK)
    assert s.task_id in failed(t.on_worker_exited(aid, "w", 1, "crashed", closed=False))


def test_queued_calls_survive_a_restart():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, max_restarts=1)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    waiting = call(aid)
    submit(t, waiting)  # not alive yet: queued
    assert failed(t.on_worker_exited(aid, "w1", 1, "crashed", closed=False)) == {}
    t.on_worker_assigned(aid, "w2", 2, "n")
    assert forwarded(t.on_created(aid, OK)) == [waiting]


# -- death: intended exit, kill, crash -----------------------------------------------------
def test_death_fails_every_queued_and_running_call_with_actor_died_error():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    running, queued = call(aid), call(aid, owner="w5")
    submit(t, running)
    submit(t, queued, ready=False)
    out = t.on_worker_exited(aid, "w1", 9, "was killed by SIGKILL", closed=False)
    errors = failed(out)
    assert set(errors) == {running.task_id, queued.task_id}
    assert all(isinstance(e, exc.ActorDiedError) for e in errors.values())
    assert "pid 9" in str(errors[running.task_id])
    record = t.actors[aid]
    assert record.queues == {} and record.in_flight == {} and not t.waiting_args
    (end,) = of(EndCreation, out)
    assert end.spec is record.create_spec


def test_intended_exit_is_final_even_with_restarts_left():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=5)
    queued = call(aid)
    submit(t, queued, ready=False)
    out = t.on_exit_requested(aid, "exit_actor() was called")
    assert t.actors[aid].state == DEAD and t.actors[aid].no_restart
    assert queued.task_id in failed(out)
    # the process exit that follows changes nothing
    assert t.on_worker_exited(aid, "w1", 1, "exited with code 0", closed=False) == []
    assert t.actors[aid].restarts == 0


def test_exit_requested_by_an_unknown_worker_is_ignored():
    t: ActorTable[str] = ActorTable(describe)
    assert t.on_exit_requested(None, "x") == []
    assert t.on_exit_requested(b"nope", "x") == []


def test_kill_without_no_restart_restarts_when_allowed():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=1)
    out = t.kill(aid, no_restart=False, closed=False)
    record = t.actors[aid]
    assert out == [KillWorker("w1")]
    assert record.state == RESTARTING and record.dying
    later = call(aid)
    assert submit(t, later) == []  # waits for the restarted actor
    t.on_worker_exited(aid, "w1", 1, "was killed by SIGKILL", closed=False)
    assert record.restarts == 1 and record.death_cause == "" and not record.dying
    t.on_worker_assigned(aid, "w2", 2, "n")
    assert forwarded(t.on_created(aid, OK)) == [later]


def test_kill_with_no_restart_ends_the_actor_when_its_process_is_gone():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=3)
    assert t.kill(aid, no_restart=True, closed=False) == [KillWorker("w1")]
    assert t.actors[aid].state == ALIVE and t.actors[aid].dying
    t.on_worker_exited(aid, "w1", 1, "was killed by SIGKILL", closed=False)
    record = t.actors[aid]
    assert record.state == DEAD
    assert record.death_cause == "it was killed by nbray.kill()"


def test_kill_of_an_actor_without_a_worker_kills_it_at_once():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    out = t.kill(aid, no_restart=False, closed=False)
    assert t.actors[aid].state == DEAD
    assert not of(KillWorker, out)


def test_kill_without_no_restart_while_restarting_keeps_it_restarting():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, max_restarts=2)
    t.on_worker_exited(aid, "w1", 1, "crashed", closed=False)
    assert t.kill(aid, no_restart=False, closed=False) == []
    assert t.actors[aid].state == RESTARTING
    t.kill(aid, no_restart=True, closed=False)
    assert t.actors[aid].state == DEAD


def test_kill_of_a_dead_actor_does_nothing():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    t.on_exit_requested(aid, "done")
    assert t.kill(aid, no_restart=True, closed=False) == []
    assert t.kill(b"unknown", no_restart=True, closed=False) == []


def test_a_killed_actor_whose_constructor_finishes_stays_restarting():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, max_restarts=1)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    t.kill(aid, no_restart=False, closed=False)
    out = t.on_created(aid, OK)
    assert t.actors[aid].state == RESTARTING
    assert forwarded(out) == []


# -- out of scope and detached -------------------------------------------------------------
def test_out_of_scope_with_nothing_queued_ends_the_actor_and_stops_its_worker():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, "w4", name="svc")
    record = t.actors[aid]
    out = t.on_creation_object_freed(record.creation_object)
    assert record.state == DEAD and record.out_of_scope and record.no_restart
    assert record.death_cause == "all handles to it went out of scope"
    assert out[-1] == StopWorker("w4")
    assert t.lookup("svc", "default") is None
    assert record.creation_object not in t.by_creation_object


def test_out_of_scope_actor_runs_its_queued_calls_first():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    a, b = call(aid), call(aid)
    submit(t, a)
    submit(t, b, ready=False)
    out = t.on_creation_object_freed(t.actors[aid].creation_object)
    assert out == [] and t.actors[aid].state == ALIVE
    assert forwarded(t.on_call_args_ready(b)) == [b]
    assert t.on_done(aid, a.task_id, OK) == [CompleteCall(a, OK)]
    out = t.on_done(aid, b.task_id, OK)
    assert out[0] == CompleteCall(b, OK)
    assert t.actors[aid].state == DEAD and of(StopWorker, out)


def test_a_detached_actor_outlives_its_handles():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, lifetime="detached")
    record = t.actors[aid]
    assert record.detached
    assert t.on_creation_object_freed(record.creation_object) == []
    assert record.state == ALIVE and not record.out_of_scope


def test_freeing_an_object_that_is_no_creation_object_does_nothing():
    t: ActorTable[str] = ActorTable(describe)
    started(t)
    assert t.on_creation_object_freed(b"some other object") == []


# -- how many dead actors are kept --------------------------------------------------------
def test_only_the_last_max_dead_unreachable_dead_actors_are_kept():
    t: ActorTable[str] = ActorTable(describe, max_dead=3)
    ids = []
    for i in range(10):
        aid = started(t, f"w{i}")
        t.on_creation_object_freed(t.actors[aid].creation_object)   # out of scope: dead
        ids.append(aid)
    assert list(t.actors) == ids[-3:]
    assert [r["state"] for r in t.rows()] == ["DEAD"] * 3
    assert len(t.retired) == 3


def test_default_bound_of_dead_actors_is_max_dead_actors():
    assert ActorTable(describe).max_dead == MAX_DEAD_ACTORS == 1_000


def test_a_dead_actor_a_handle_still_reaches_is_kept_and_its_calls_fail_with_its_cause():
    t: ActorTable[str] = ActorTable(describe, max_dead=1)
    held = started(t, "w0")
    t.on_worker_exited(held, "w0", 5, "crashed", closed=False)       # dead, handle alive
    for i in range(5):
        aid = started(t, f"w{i + 1}")
        t.on_creation_object_freed(t.actors[aid].creation_object)
    assert held in t.actors and len(t.actors) == 2                  # held + the last one
    (error,) = failed(submit(t, call(held))).values()
    assert isinstance(error, exc.ActorDiedError) and "(pid 5) crashed" in str(error)
    # Its last handle goes: now it is one of the unreachable dead ones.
    assert t.on_creation_object_freed(t.actors[held].creation_object) == []
    assert held in t.actors and len(t.actors) == 1


def test_events_for_a_forgotten_actor_are_ignored():
    t: ActorTable[str] = ActorTable(describe, max_dead=0)
    aid = new_actor(t)
    creation = t.actors[aid].creation_object
    t.on_creation_object_freed(creation)                             # dead before it started
    assert aid not in t.actors and t.by_creation_object == {}
    assert t.on_creation_args_ready(aid) == []
    assert t.on_creation_failed(aid, "an argument was freed") == []
    assert t.on_done(aid, b"some task", OK) == []
    assert t.on_worker_exited(aid, "w1", 5, "crashed", closed=False) == []
    assert t.kill(aid, no_restart=True, closed=False) == []
    (error,) = failed(submit(t, call(aid))).values()
    assert isinstance(error, exc.ActorDiedError)


# -- introspection --------------------------------------------------------------------------
def test_rows_describe_each_actor_as_list_actors_shows_it():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t, "w1", name="svc", namespace="ns")
    submit(t, call(aid))
    submit(t, call(aid), ready=False)
    (row,) = t.rows()
    assert row == {"actor_id": aid.hex(), "class_name": "A", "name": "svc", "namespace": "ns",
                   "state": "ALIVE", "restarts": 0, "node_id": "node-1", "pid": 100,
                   "detached": False, "pending_calls": 2, "death_cause": None}


def test_rows_of_a_dead_actor_show_its_cause_and_no_node():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    t.on_worker_exited(aid, "w1", 5, "crashed", closed=False)
    (row,) = t.rows()
    assert row["state"] == "DEAD" and row["node_id"] is None
    assert row["death_cause"] == "its worker process (pid 5) crashed"


def test_handle_info_names_what_a_handle_needs():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, methods={"f": {"num_returns": 1}}, max_task_retries=3)
    record = t.actors[aid]
    assert record.handle_info() == {"class_name": "A", "methods": {"f": {"num_returns": 1}},
                                    "creation_object": record.creation_object,
                                    "max_task_retries": 3}


def test_label_names_class_name_and_id():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, name="svc")
    assert t.actors[aid].label() == f"A 'svc' (actor {aid.hex()})"
    other: Optional[bytes] = new_actor(t)
    assert other is not None and t.actors[other].label() == f"A (actor {other.hex()})"


def test_done_of_the_constructor_is_told_apart_from_a_call():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    out = t.on_done(aid, t.actors[aid].create_spec.task_id, OK)
    assert of(StoreCreation, out) and t.actors[aid].state == ALIVE
    assert t.on_done(None, b"x", OK) == []


def test_an_actor_that_ended_while_its_constructor_ran_stays_dead():
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t)
    t.on_creation_args_ready(aid)
    t.on_worker_assigned(aid, "w1", 1, "n")
    out = t.on_creation_object_freed(t.actors[aid].creation_object)
    assert t.actors[aid].state == DEAD and StopWorker("w1") in out
    out = t.on_created(aid, OK)
    assert out == [StoreCreation(t.actors[aid].create_spec, OK)]  # the value is dropped
    assert t.actors[aid].state == DEAD
    assert t.on_created(aid, RAISED)[-1] == KillWorker("w1")


def test_every_state_change_is_in_the_transition_table():
    seen = set()
    t: ActorTable[str] = ActorTable(describe)
    aid = new_actor(t, max_restarts=2)
    record = t.actors[aid]

    def step(event: Any) -> None:
        before = record.state
        event()
        if record.state != before:
            seen.add((before, record.state))

    step(lambda: t.on_creation_args_ready(aid))
    step(lambda: t.on_worker_assigned(aid, "w1", 1, "n"))
    step(lambda: t.kill(aid, no_restart=False, closed=False))                  # PENDING -> RESTARTING
    step(lambda: t.on_worker_exited(aid, "w1", 1, "killed", closed=False))
    step(lambda: t.on_worker_assigned(aid, "w2", 2, "n"))
    step(lambda: t.on_created(aid, OK))                                        # RESTARTING -> ALIVE
    step(lambda: t.on_worker_exited(aid, "w2", 2, "crashed", closed=False))    # ALIVE -> RESTARTING
    step(lambda: t.kill(aid, no_restart=True, closed=False))                   # RESTARTING -> DEAD
    assert seen <= set(TRANSITIONS)
    assert (PENDING_CREATION, RESTARTING) in seen and (RESTARTING, DEAD) in seen
    assert {a for a, _ in TRANSITIONS} == {PENDING_CREATION, ALIVE, RESTARTING}  # DEAD is final


def test_an_unlisted_state_change_is_refused_as_a_bug():
    t: ActorTable[str] = ActorTable(describe)
    aid = started(t)
    t.on_exit_requested(aid, "done")
    with pytest.raises(AssertionError, match="cannot go from DEAD to ALIVE"):
        move_state(t.actors[aid], ALIVE)
    assert t.actors[aid].state == DEAD
