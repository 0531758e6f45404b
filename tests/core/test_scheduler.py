"""Scheduler: queue order, resources, placement, lending, retries, cancellation and the
spawn policy, decided without any process, socket or clock (pure state machine)."""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, List, Optional, Set

import pytest

from nbray import exceptions as exc
from nbray.core.scheduler import (Assign, CancelActorCall, Fail, FetchArgs, Instruction,
                                  Interrupt, Kill, Scheduler, StartWorkers, StopWorker,
                                  WorkerState, retries_left)
from nbray.core.specs import TaskSpec

HEAD = "head0000node"
OTHER = "other000node"
_ids = itertools.count(1)


@dataclass(eq=False)
class FakeWorker:
    worker_id: str
    node_id: str = HEAD
    state: WorkerState = "idle"
    task: Optional[TaskSpec] = None
    held: Dict[str, float] = field(default_factory=dict)
    lent: Dict[str, float] = field(default_factory=dict)
    blocked: int = 0
    actor_id: Optional[bytes] = None
    idle_since: float = 0.0
    cancelled: Set[bytes] = field(default_factory=set)
    calls: Dict[bytes, int] = field(default_factory=dict)
    pipelined: Deque[TaskSpec] = field(default_factory=collections.deque)
    revoked: Dict[bytes, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return 4242


@dataclass(eq=False)
class FakeNode:
    total: Dict[str, float]
    available: Dict[str, float] = field(default_factory=dict)
    alive: bool = True

    def __post_init__(self) -> None:
        if not self.available:
            self.available = dict(self.total)


class FakeLocality:
    """Bytes of each object per node; `present` lists (node, object) pairs."""

    def __init__(self) -> None:
        self.bytes: Dict[str, Dict[bytes, float]] = {}

    def local_bytes(self, node_id: str, object_ids: Iterable[bytes]) -> float:
        have = self.bytes.get(node_id, {})
        return sum(have.get(oid, 0.0) for oid in object_ids)

    def args_present(self, node_id: str, spec: TaskSpec) -> bool:
        have = self.bytes.get(node_id, {})
        return all(oid in have for oid in spec.arg_refs)


def task(name: str = "f", owner: str = "driver", cpus: float = 1.0, kind: str = "task",
         parent: Optional[bytes] = None, max_retries: int = 3, args: List[bytes] = (),
         **resources: float) -> TaskSpec:
    tid = next(_ids).to_bytes(4, "big") * 5
    demand = {"CPU": cpus} if cpus else {}
    demand.update(resources)
    spec = TaskSpec(task_id=tid, name=name, function_id=b"fn-" + name.encode(), args=b"",
                    arg_refs=list(args), nested_refs=[], return_ids=[tid + b"r"],
                    resources=demand, max_retries=max_retries, owner=owner, kind=kind)
    if parent is not None:
        spec.parent = parent
    return spec


def sched(cpus: float = 2, workers: int = 2, max_workers: int = 8, nodes: Any = None,
          locality: Any = None, **resources: float) -> Scheduler:
    total = {"CPU": float(cpus), **resources} if cpus else dict(resources)
    all_nodes = nodes if nodes is not None else {HEAD: FakeNode(total)}
    pool = {f"w{i}": FakeWorker(f"w{i}") for i in range(workers)}
    return Scheduler(HEAD, all_nodes, pool, int(cpus), max_workers, locality=locality)


def submit(s: Scheduler, spec: TaskSpec) -> List[Instruction]:
    s.register(spec)
    s.enqueue(spec)
    return s.schedule()


def assigned(instrs: List[Instruction]) -> List[str]:
    return [i.spec.name for i in instrs if isinstance(i, Assign)]


def worker(s: Scheduler, wid: str) -> FakeWorker:
    return s.workers[wid]  # type: ignore[return-value]


# -- queue order ------------------------------------------------------------------------
def test_driver_tasks_run_in_submission_order():
    s = sched(cpus=1, workers=1)
    a, b, c = task("a"), task("b"), task("c")
    assert assigned(submit(s, a)) == ["a"]
    s.register(b), s.enqueue(b), s.register(c), s.enqueue(c)
    assert [t.name for t in s.ready] == ["b", "c"]


def test_nested_tasks_go_to_the_front_of_the_queue():
    s = sched(cpus=1, workers=0)
    for spec in (task("d1"), task("d2"), task("n1", owner="w0")):
        s.register(spec)
        s.enqueue(spec)
    assert [t.name for t in s.ready] == ["n1", "d1", "d2"]


def test_requeue_puts_a_task_first():
    s = sched(workers=0)
    a, b = task("a"), task("b")
    for spec in (a, b):
        s.register(spec), s.enqueue(spec)
    s.ready.remove(b)
    s.requeue(b)
    assert [t.name for t in s.ready] == ["b", "a"]


def test_assign_marks_the_worker_busy_and_takes_resources():
    s = sched(cpus=2, workers=1)
    spec = task("a")
    out = submit(s, spec)
    w = worker(s, "w0")
    assert out == [Assign(w, spec)]
    assert w.state == "busy" and w.task is spec and w.held == {"CPU": 1.0}
    assert s.nodes[HEAD].available["CPU"] == 1.0
    assert not s.ready


def test_a_task_waits_in_the_queue_while_no_worker_is_idle():
    s = sched(cpus=4, workers=1)
    submit(s, task("a"))
    out = submit(s, task("b"))
    assert assigned(out) == []
    assert [t.name for t in s.ready] == ["b"]
    assert StartWorkers(1) in out  # the pool grows toward one worker per CPU


def test_the_head_of_the_queue_blocks_later_tasks_that_would_fit():
    s = sched(cpus=2, workers=2)
    submit(s, task("a"))
    big = task("big", cpus=2)
    out = submit(s, big)
    assert out == []
    small = task("small")
    assert submit(s, small) == []  # FIFO: it waits behind the big one
    assert [t.name for t in s.ready] == ["big", "small"]


# -- dependencies -----------------------------------------------------------------------
def test_arg_ready_counts_down_to_the_last_argument():
    s = sched()
    spec = task("a")
    s.register(spec)
    s.wait_for_args(spec.task_id, 3)
    assert s.arg_ready(spec.task_id) is False
    assert s.arg_ready(spec.task_id) is False
    assert s.arg_ready(spec.task_id) is True
    assert spec.task_id not in s.pending_deps


def test_arg_ready_after_the_task_was_dropped_does_nothing():
    s = sched()
    spec = task("a")
    s.register(spec)
    s.wait_for_args(spec.task_id, 1)
    s.drop_waiting(spec.task_id)
    assert s.arg_ready(spec.task_id) is False


# -- resources --------------------------------------------------------------------------
def test_fits_on_any_live_node_or_on_a_named_one():
    nodes = {HEAD: FakeNode({"CPU": 1.0}), OTHER: FakeNode({"CPU": 4.0})}
    s = sched(nodes=nodes)
    assert s.fits({"CPU": 3.0})
    assert not s.fits({"CPU": 3.0}, HEAD)
    nodes[OTHER].alive = False
    assert not s.fits({"CPU": 3.0})


def test_fits_tolerates_float_rounding():
    s = sched(cpus=0.3)
    assert s.fits({"CPU": 0.1 + 0.1 + 0.1})


def test_feasible_looks_at_totals_not_what_is_free():
    s = sched(cpus=2)
    s.nodes[HEAD].available["CPU"] = 0.0
    assert s.feasible({"CPU": 2.0})
    assert not s.feasible({"CPU": 3.0})


def test_custom_resources_limit_placement():
    s = sched(cpus=4, workers=3, accel=1.0)
    a, b = task("a", accel=1.0), task("b", accel=1.0)
    assert assigned(submit(s, a)) == ["a"]
    assert assigned(submit(s, b)) == []
    assert s.nodes[HEAD].available["accel"] == 0.0
    s.task_done(worker(s, "w0"), a.task_id, False)
    assert s.nodes[HEAD].available["accel"] == 1.0
    assert assigned(s.schedule()) == ["b"]


def test_an_infeasible_task_is_unschedulable_with_the_totals_in_the_message():
    s = sched(cpus=2)
    err = s.unschedulable(task("huge", cpus=8))
    assert isinstance(err, exc.TaskUnschedulableError)
    assert "CPU=2" in str(err) and "huge" in str(err)
    assert s.unschedulable(task("ok", cpus=2)) is None


def test_an_unknown_custom_resource_is_infeasible():
    s = sched(cpus=2)
    assert s.unschedulable(task("t", tpu=1.0)) is not None


def test_totals_text_lists_live_nodes_and_skips_node_resources():
    nodes = {HEAD: FakeNode({"CPU": 2.0, f"node:{HEAD}": 1.0}), OTHER: FakeNode({}, alive=False)}
    s = sched(nodes=nodes)
    assert s.totals_text() == f"node {HEAD[:8]}: CPU=2"
    nodes[OTHER].alive = True
    assert "no CPUs or other resources" in s.totals_text()


def test_acquire_and_release_are_symmetric():
    s = sched(cpus=2, GPU=1.0)
    w = worker(s, "w0")
    s.acquire(w, {"CPU": 1.0, "GPU": 0.5})
    assert s.nodes[HEAD].available == {"CPU": 1.0, "GPU": 0.5}
    s.release(w)
    assert s.nodes[HEAD].available == {"CPU": 2.0, "GPU": 1.0}
    assert w.held == {}


def test_zero_cpu_tasks_run_beyond_the_cpu_count():
    s = sched(cpus=1, workers=2)
    submit(s, task("a"))
    assert assigned(submit(s, task("free", cpus=0))) == ["free"]


# -- lending while blocked in a nested get ------------------------------------------------
def test_a_blocked_task_lends_its_cpus_and_takes_them_back():
    s = sched(cpus=1, workers=2)
    parent = task("parent")
    submit(s, parent)
    w = worker(s, "w0")
    child = task("child", owner="w0")
    assert assigned(submit(s, child)) == []  # no CPU free
    assert s.lend(w) is True
    assert s.nodes[HEAD].available["CPU"] == 1.0 and w.lent == {"CPU": 1.0}
    assert assigned(s.schedule()) == ["child"]
    s.reclaim(w)
    assert w.held == {"CPU": 1.0} and w.lent == {}
    assert s.nodes[HEAD].available["CPU"] == -1.0  # oversubscribed briefly, as in Ray


def test_nested_blocking_lends_only_once():
    s = sched(cpus=1, workers=1)
    submit(s, task("p"))
    w = worker(s, "w0")
    assert s.lend(w) is True
    assert s.lend(w) is False
    s.reclaim(w)
    assert w.held == {}  # still blocked once: nothing taken back yet
    s.reclaim(w)
    assert w.held == {"CPU": 1.0} and w.blocked == 0


def test_lending_without_a_task_does_nothing():
    s = sched()
    w = worker(s, "w0")
    assert s.lend(w) is False
    s.reclaim(w)
    assert w.blocked == 0 and s.nodes[HEAD].available["CPU"] == 2.0


# -- placement across nodes ---------------------------------------------------------------
def _two_nodes(locality: Any = None) -> Scheduler:
    nodes = {HEAD: FakeNode({"CPU": 2.0}), OTHER: FakeNode({"CPU": 2.0})}
    s = Scheduler(HEAD, nodes, {"h": FakeWorker("h", HEAD), "o": FakeWorker("o", OTHER)}, 2, 8,
                  locality=locality)
    return s


def test_placement_prefers_the_node_holding_the_argument_bytes():
    loc = FakeLocality()
    loc.bytes[OTHER] = {b"x" * 20: 1e6}
    s = _two_nodes(loc)
    spec = task("a", args=[b"x" * 20])
    out = submit(s, spec)
    assert out == [Assign(worker(s, "o"), spec)]


def test_placement_prefers_the_local_node_when_no_bytes_are_anywhere():
    s = _two_nodes(FakeLocality())
    spec = task("a")
    assert submit(s, spec) == [Assign(worker(s, "h"), spec)]


def test_placement_skips_nodes_where_the_demand_does_not_fit():
    s = _two_nodes(FakeLocality())
    s.nodes[HEAD].available["CPU"] = 0.0
    spec = task("a")
    assert submit(s, spec) == [Assign(worker(s, "o"), spec)]


def test_a_task_whose_arguments_are_elsewhere_is_sent_for_them_first():
    loc = FakeLocality()
    loc.bytes[HEAD] = {b"y" * 20: 10.0}
    s = _two_nodes(loc)
    s.nodes[HEAD].available["CPU"] = 0.0
    spec = task("a", args=[b"y" * 20])
    out = submit(s, spec)
    assert out == [FetchArgs(worker(s, "o"), spec)]
    assert worker(s, "o").state == "idle" and not s.ready  # resources not taken yet


def test_actor_workers_and_busy_workers_are_never_picked():
    s = sched(workers=3)
    worker(s, "w0").state = "busy"
    worker(s, "w1").actor_id = b"actor"
    worker(s, "w1").state = "actor"
    assert s.idle_worker() is worker(s, "w2")


# -- completion, retries and max_calls ------------------------------------------------------
def test_task_done_frees_the_worker_and_its_resources():
    s = sched(cpus=1, workers=1)
    spec = task("a")
    submit(s, spec)
    w = worker(s, "w0")
    assert s.task_done(w, spec.task_id, False) == (spec, False)
    assert w.task is None and s.nodes[HEAD].available["CPU"] == 1.0
    assert s.after_run(w, spec, now=12.5) is None
    assert w.state == "idle" and w.idle_since == 12.5


def test_a_stale_done_report_is_ignored():
    s = sched(cpus=1, workers=1)
    spec = task("a")
    submit(s, spec)
    assert s.task_done(worker(s, "w0"), b"other-task-id-000000", False) is None
    assert worker(s, "w0").task is spec


def test_application_error_retried_when_the_worker_says_so():
    s = sched(cpus=1, workers=1)
    spec = task("a", max_retries=2)
    submit(s, spec)
    w = worker(s, "w0")
    assert s.task_done(w, spec.task_id, True) == (spec, True)
    assert spec.attempt == 1 and s.stats["task_retries"] == 1
    assert list(s.ready) == [spec]


def test_application_error_not_retried_once_retries_are_used():
    s = sched(cpus=1, workers=1)
    spec = task("a", max_retries=1)
    spec.attempt = 1
    submit(s, spec)
    assert s.task_done(worker(s, "w0"), spec.task_id, True) == (spec, False)
    assert not s.ready


def test_retries_left_with_infinite_retries():
    spec = task("a", max_retries=-1)
    spec.attempt = 1000
    assert retries_left(spec)
    assert not retries_left(task("b", max_retries=0))


def test_a_cancelled_task_is_not_retried_on_error():
    s = sched(cpus=1, workers=1)
    spec = task("a")
    submit(s, spec)
    w = worker(s, "w0")
    w.cancelled.add(spec.task_id)
    assert s.task_done(w, spec.task_id, True) == (spec, False)
    assert spec.task_id not in w.cancelled


def test_max_calls_stops_the_worker_after_that_many_runs():
    s = sched(cpus=1, workers=1)
    w = worker(s, "w0")
    for run in (1, 2):
        spec = task("f")
        spec.max_calls = 2
        submit(s, spec)
        s.task_done(w, spec.task_id, False)
        stop = s.after_run(w, spec, now=0.0)
        if run == 1:
            assert stop is None and w.state == "idle"
    assert stop == StopWorker(w) and w.state == "exiting"
    assert s.idle_worker() is None


def test_worker_crash_retries_the_task_first_in_the_queue():
    s = sched(cpus=1, workers=1)
    first, waiting = task("first"), task("waiting")
    submit(s, first)
    submit(s, waiting)
    w = worker(s, "w0")
    out = s.worker_exited(w, "was killed by signal 9")
    assert [t.name for t in s.ready] == ["first", "waiting"]
    assert first.attempt == 1 and s.nodes[HEAD].available["CPU"] == 1.0
    assert w.state == "dead" and not [i for i in out if isinstance(i, Fail)]


def test_worker_crash_without_retries_fails_the_task():
    s = sched(cpus=1, workers=1)
    spec = task("f", max_retries=0)
    submit(s, spec)
    out = s.worker_exited(worker(s, "w0"), "exited with code 3")
    fails = [i for i in out if isinstance(i, Fail)]
    assert len(fails) == 1 and fails[0].spec is spec
    assert isinstance(fails[0].error, exc.WorkerCrashedError)
    assert "exited with code 3" in str(fails[0].error) and "pid 4242" in str(fails[0].error)


def test_crash_of_a_cancelled_task_fails_it_as_cancelled():
    s = sched(cpus=1, workers=1)
    spec = task("f")
    submit(s, spec)
    w = worker(s, "w0")
    w.cancelled.add(spec.task_id)
    out = s.worker_exited(w, "was killed by signal 9")
    fails = [i for i in out if isinstance(i, Fail)]
    assert isinstance(fails[0].error, exc.TaskCancelledError) and not s.ready


def test_crash_drops_resources_that_were_lent():
    s = sched(cpus=1, workers=1)
    spec = task("f")
    submit(s, spec)
    w = worker(s, "w0")
    s.lend(w)
    s.worker_exited(w, "died")
    assert w.lent == {} and s.nodes[HEAD].available["CPU"] == 1.0


def test_a_dead_worker_is_replaced_while_below_one_per_cpu():
    s = sched(cpus=2, workers=2)
    w = worker(s, "w0")
    del s.workers["w0"]  # type: ignore[attr-defined]
    assert StartWorkers(1) in s.worker_exited(w, "died")


def test_a_dead_worker_of_another_node_is_not_replaced_here():
    s = _two_nodes()
    w = worker(s, "o")
    del s.workers["o"]  # type: ignore[attr-defined]
    assert StartWorkers(1) not in s.worker_exited(w, "died")


# -- the task tree and cancellation -------------------------------------------------------------
def test_children_are_recorded_under_a_live_parent_only():
    s = sched()
    parent = task("p")
    s.register(parent)
    child = task("c", parent=parent.task_id)
    orphan = task("o", parent=b"gone" * 5)
    s.register(child), s.register(orphan)
    assert s.children == {parent.task_id: [child.task_id]}


def test_children_lists_are_pruned_of_finished_tasks_as_they_grow():
    s = sched()
    parent = task("p")
    s.register(parent)
    kids = [task(f"c{i}", parent=parent.task_id) for i in range(64)]
    for k in kids[:63]:
        s.register(k)
        s.forget(k.task_id)
    s.register(kids[63])
    assert s.children[parent.task_id] == [kids[63].task_id]


def test_forget_ends_the_task_entry_and_its_children_list():
    s = sched()
    parent = task("p")
    s.register(parent)
    s.register(task("c", parent=parent.task_id))
    s.cancelled_parents.add(parent.task_id)
    s.forget(parent.task_id)
    assert parent.task_id not in s.by_id and parent.task_id not in s.children
    assert not s.cancelled_parents


def test_cancel_a_queued_task_fails_it_and_removes_it_from_the_queue():
    s = sched(cpus=1, workers=0)
    spec = task("a")
    s.register(spec), s.enqueue(spec)
    out = s.cancel(spec.task_id, force=False, recursive=True)
    assert len(out) == 1 and isinstance(out[0], Fail)
    assert isinstance(out[0].error, exc.TaskCancelledError) and not s.ready


def test_cancel_a_task_waiting_for_arguments_stops_it_from_being_queued():
    s = sched(workers=0)
    spec = task("a")
    s.register(spec)
    s.wait_for_args(spec.task_id, 1)
    assert isinstance(s.cancel(spec.task_id, False, True)[0], Fail)
    assert s.arg_ready(spec.task_id) is False


def test_cancel_a_running_task_interrupts_its_worker():
    s = sched(cpus=1, workers=1)
    spec = task("a")
    submit(s, spec)
    w = worker(s, "w0")
    assert s.cancel(spec.task_id, force=False, recursive=False) == [Interrupt(w, spec.task_id)]
    assert spec.task_id in w.cancelled


def test_force_cancel_kills_the_worker():
    s = sched(cpus=1, workers=1)
    spec = task("a")
    submit(s, spec)
    assert s.cancel(spec.task_id, force=True, recursive=False) == [Kill(worker(s, "w0"))]


def test_cancel_of_a_finished_task_does_nothing():
    s = sched()
    assert s.cancel(b"n" * 20, force=True, recursive=True) == []


def test_force_cancel_of_an_actor_call_is_refused():
    s = sched()
    call = task("m", kind="actor-call", cpus=0)
    s.register(call)
    with pytest.raises(ValueError, match="force=True is not supported"):
        s.cancel(call.task_id, force=True, recursive=True)


def test_cancel_of_an_actor_call_goes_to_the_actor_table():
    s = sched()
    call = task("m", kind="actor-call", cpus=0)
    s.register(call)
    assert s.cancel(call.task_id, False, False) == [CancelActorCall(call)]


def test_recursive_cancel_reaches_grandchildren_but_not_actor_creations():
    s = sched(cpus=1, workers=1)
    parent = task("p")
    submit(s, parent)
    child = task("c", owner="w0", parent=parent.task_id)
    s.register(child), s.enqueue(child)
    grandchild = task("g", owner="w0", parent=child.task_id)
    s.register(grandchild)
    s.wait_for_args(grandchild.task_id, 1)
    actor = task("A", kind="actor-create", parent=parent.task_id)
    s.register(actor)
    out = s.cancel(parent.task_id, force=False, recursive=True)
    assert out[0] == Interrupt(worker(s, "w0"), parent.task_id)
    failed = {i.spec.name for i in out if isinstance(i, Fail)}
    assert failed == {"c", "g"}
    assert parent.task_id in s.cancelled_parents  # still running: later children cancelled


def test_force_kills_child_tasks_too_but_only_cancels_child_actor_calls():
    s = sched(cpus=2, workers=2)
    parent = task("p")
    submit(s, parent)
    child = task("c", owner="w0", parent=parent.task_id)
    submit(s, child)
    out = s.cancel(parent.task_id, force=True, recursive=True)
    assert out == [Kill(worker(s, "w0")), Kill(worker(s, "w1"))]
    call = task("m", kind="actor-call", cpus=0, parent=parent.task_id)
    s.register(call)
    assert CancelActorCall(call) in s.cancel(parent.task_id, force=True, recursive=True)


def test_non_recursive_cancel_leaves_children_alone():
    s = sched(cpus=1, workers=1)
    parent = task("p")
    submit(s, parent)
    child = task("c", owner="w0", parent=parent.task_id)
    s.register(child), s.enqueue(child)
    out = s.cancel(parent.task_id, force=False, recursive=False)
    assert out == [Interrupt(worker(s, "w0"), parent.task_id)]
    assert list(s.ready) == [child] and not s.cancelled_parents


def test_what_a_cancelled_parent_submits_later_is_cancelled_on_arrival():
    s = sched(cpus=1, workers=1)
    parent = task("p")
    submit(s, parent)
    s.cancel(parent.task_id, False, True)
    late = task("late", owner="w0", parent=parent.task_id)
    assert s.cancelled_on_arrival(late)
    assert not s.cancelled_on_arrival(task("A", kind="actor-create", parent=parent.task_id))
    s.forget(parent.task_id)
    assert not s.cancelled_on_arrival(late)


def test_tagged_lists_a_cells_tasks_but_not_actor_calls():
    s = sched()
    a, b, call = task("a"), task("b"), task("m", kind="actor-call")
    for spec in (a, b, call):
        spec.tag = "cell-1"
        s.register(spec)
    b.tag = "cell-2"
    assert s.tagged("cell-1") == [a.task_id]


# -- spawn policy ----------------------------------------------------------------------------
def test_more_workers_at_most_two_starting_at_once():
    s = sched(cpus=8, workers=0)
    assert s.more_workers(requested=0) == 1
    assert s.more_workers(requested=1) == 1
    assert s.more_workers(requested=2) == 0


def test_more_workers_one_extra_per_blocked_worker_up_to_max_workers():
    s = sched(cpus=2, workers=3, max_workers=4)
    for w in s.workers.values():
        w.state = "busy"  # type: ignore[misc]
    assert s.more_workers(0) == 0  # 3 = cpus + 1
    worker(s, "w0").blocked = 1
    assert s.more_workers(0) == 1
    s.max_workers = 3
    assert s.more_workers(0) == 0


def test_spare_worker_for_an_actor_waits_for_one_starting():
    s = sched(cpus=1, workers=1, max_workers=1)
    worker(s, "w0").state = "busy"
    assert s.spare_worker(requested=0, actors=1) == 1
    assert s.spare_worker(requested=1, actors=1) == 0
    worker(s, "w0").state = "starting"
    assert s.spare_worker(requested=0, actors=1) == 0


def test_spare_worker_respects_max_workers_plus_actors():
    s = sched(cpus=1, workers=2, max_workers=1)
    for w in s.workers.values():
        w.state = "busy"  # type: ignore[misc]
    assert s.spare_worker(0, actors=0) == 0
    assert s.spare_worker(0, actors=2) == 1


def test_replenish_fills_the_pool_to_one_worker_per_cpu():
    s = sched(cpus=4, workers=2)
    worker(s, "w1").actor_id = b"actor"  # an actor took it: no longer a task worker
    assert s.replenish(requested=0) == 3
    assert s.replenish(requested=2) == 1
    assert s.replenish(requested=5) == 0


def test_dead_and_remote_workers_do_not_count_as_live():
    s = sched(cpus=2, workers=2)
    worker(s, "w0").state = "dead"
    worker(s, "w1").node_id = OTHER
    assert s.live_task_workers() == []


def test_a_readmitted_task_is_known_again_and_runs_without_a_parent_link():
    s = sched(cpus=1, workers=1)
    parent = task("p")
    s.register(parent)
    child = task("c", parent=parent.task_id)
    s.readmit(child)     # lineage: a finished task runs once more
    assert s.by_id[child.task_id] is child
    assert child.task_id not in s.children.get(parent.task_id, [])
    s.enqueue(child)
    assert assigned(s.schedule()) == ["c"]
