"""The node's task scheduling decisions, with no I/O: a sans-IO state machine.

`Scheduler` owns the ready queue, argument-dependency counts, the task table and its
parent -> children tree, resources (fits / feasible / acquire / release / lending),
worker states for placement, retries, cancellation, max_calls and the spawn policy.
It takes events (a method call each: task registered, argument ready, worker ready,
task done, worker exited, cancel requested, ...) and returns instructions (`Assign`,
`Fail`, `StartWorkers`, `StopWorker`, `Interrupt`, `Kill`, ...) that the runtime shell
(`runtime/node_tasks.py`) performs.  It never touches a socket, thread, process, lock
or clock: the time is passed in as a number.

States (what moves a task or worker from one to the next):

    task    registered --(arguments missing: pending_deps)--> waiting
            waiting --(arg_ready of the last one)--> queued (`ready`)
            queued --(schedule: fits, idle worker)--> running (`worker.task`)
            queued --(schedule: arguments on another node)--> fetching --(requeue)--> queued
            running --(task_done, retry allowed / worker_exited, retries left)--> queued (first)
            running --(task_done)--> finished;  any --(Fail)--> failed;  then `forget`
            queued --(schedule: no idle worker fits; a busy worker of another node runs a
                     task of the same demand)--> pipelined (`worker.pipelined`)
            pipelined --(task_done of the task ahead)--> running (on that worker)
            pipelined --(its worker blocks: take_back)--> queued (first; the worker skips it)
            pipelined --(cancel)--> failed (the worker skips it);  --(worker_exited)--> queued
    worker  starting --(worker_ready)--> idle --(assign)--> busy --(after_run)--> idle
            busy --(after_run, max_calls reached)--> exiting;  idle --(reaped)--> exiting
            idle --(an actor placed on it)--> actor;  any --(worker_exited)--> dead
            ("driver": an attached driver's process, never given work)

The worker and node records are the runtime's own objects, read and written through
the `WorkerLike` / `NodeLike` protocols: the shell and the core share one record per
worker, so nothing has to be kept in sync and the hot path does no copying.

Tasks may be pipelined to workers of other nodes: `core.pipelining` says how.
"""

from __future__ import annotations

import collections
from typing import (Any, Deque, Dict, Iterable, List, Literal, Mapping, MutableMapping,
                    NamedTuple, Optional, Protocol, Set, Tuple, Union)

from .. import exceptions as exc
from . import pipelining
from .specs import TaskSpec

DRIVER = "driver"
_EPS = 1e-9  # resource amounts are floats: 0.1 * 3 must fit in 0.3

# "actor": the worker hosts an actor; "driver": an attached driver's process (never
# given tasks).  Only "idle" workers are given tasks.
WorkerState = Literal["starting", "idle", "busy", "exiting", "dead", "actor", "driver"]


class WorkerLike(Protocol):
    """What the scheduler reads and writes of a worker (the runtime's WorkerHandle)."""

    worker_id: str
    node_id: str
    state: WorkerState
    task: Optional[TaskSpec]
    held: Dict[str, float]         # resources it holds now
    blocked: int                   # nested get/wait calls in progress
    lent: Dict[str, float]         # what its blocked task lent to other tasks meanwhile
    actor_id: Optional[bytes]
    idle_since: float
    cancelled: Set[bytes]          # task ids cancelled while it ran them
    calls: Dict[bytes, int]        # function id -> runs (max_calls)
    pipelined: Deque[TaskSpec]     # sent to it behind `task`, not started (another node's)
    revoked: Dict[bytes, int]      # task id -> skipped runs it will still report (ignored)

    @property
    def pid(self) -> int: ...


class NodeLike(Protocol):
    """What the scheduler reads of a node (the runtime's NodeInfo)."""

    alive: bool
    total: Dict[str, float]
    available: Dict[str, float]


class Locality(Protocol):
    """Where argument bytes are, for placement across nodes (pure queries)."""

    def local_bytes(self, node_id: str, object_ids: Iterable[bytes]) -> float: ...

    def args_present(self, node_id: str, spec: TaskSpec) -> bool: ...


# -- instructions -------------------------------------------------------------------
class Assign(NamedTuple):
    """Send `spec` to `worker` (resources are acquired and the worker is busy already)."""
    worker: WorkerLike
    spec: TaskSpec


class FetchArgs(NamedTuple):
    """`spec` was placed on `worker`'s node, which lacks some arguments: bring them there,
    then queue the task again (first)."""
    worker: WorkerLike
    spec: TaskSpec


class Fail(NamedTuple):
    """The task ends with `error` as every return value."""
    spec: TaskSpec
    error: BaseException


class StartWorkers(NamedTuple):
    n: int


class StopWorker(NamedTuple):
    """Tell the worker to exit when it is free (max_calls reached)."""
    worker: WorkerLike


class Interrupt(NamedTuple):
    """Ask the worker to interrupt the task it runs (a cancel without force)."""
    worker: WorkerLike
    task_id: bytes


class Kill(NamedTuple):
    """Kill the worker's process (a cancel with force)."""
    worker: WorkerLike


class CancelActorCall(NamedTuple):
    spec: TaskSpec


class Revoke(NamedTuple):
    """Tell `worker` to skip `specs`, sent to it and not started (pipelined); `interrupt`:
    interrupt one that started after all (a cancel), else let it run (a take-back, which
    happens only while the task ahead of them runs, so none can have started)."""
    worker: WorkerLike
    specs: Tuple[TaskSpec, ...]
    interrupt: bool


Instruction = Union[Assign, FetchArgs, Fail, StartWorkers, StopWorker, Interrupt, Kill,
                    CancelActorCall, Revoke]

_NOTHING: Tuple[Instruction, ...] = ()


def retries_left(spec: TaskSpec) -> bool:
    return spec.max_retries == -1 or spec.attempt < spec.max_retries


def cancelled_error(task_id: bytes) -> exc.TaskCancelledError:
    return exc.TaskCancelledError(task_id.hex())


class Scheduler:
    """Task scheduling state of one node (the head's node sees every node's workers)."""

    def __init__(self, node_id: str, nodes: Mapping[str, NodeLike],
                 workers: Mapping[str, WorkerLike], num_cpus: int, max_workers: int,
                 stats: Optional[MutableMapping[str, int]] = None,
                 locality: Optional[Locality] = None, pipeline_depth: int = 1) -> None:
        self.node_id = node_id
        self.nodes = nodes
        self.workers = workers
        self.num_cpus = num_cpus
        self.max_workers = max_workers
        self.stats: MutableMapping[str, int] = stats if stats is not None else collections.Counter()
        self.locality = locality
        # Tasks in flight per worker of another node, the running one included (1: off).
        self.pipeline_depth = pipeline_depth
        self.by_id: Dict[bytes, TaskSpec] = {}          # every unfinished task
        self.ready: Deque[TaskSpec] = collections.deque()
        self.pending_deps: Dict[bytes, int] = {}        # task id -> arguments still missing
        # task id -> ids of the tasks and actor calls it submitted (for recursive cancel);
        # dropped when the task ends, pruned of finished children as it grows.
        self.children: Dict[bytes, List[bytes]] = {}
        # Tasks cancelled with recursive=True that are still running: what they submit
        # from now on is cancelled on arrival.
        self.cancelled_parents: Set[bytes] = set()

    # =========================================================================
    # submission
    # =========================================================================
    def readmit(self, spec: TaskSpec) -> None:
        """A finished task is known again, to run once more (lineage rebuilds what a lost
        node held); the task that submitted it is long over, so it has no parent link."""
        self.by_id[spec.task_id] = spec

    def register(self, spec: TaskSpec) -> None:
        """A task (or actor call / creation) exists until `forget`."""
        tasks = self.by_id
        tasks[spec.task_id] = spec
        parent = spec.parent
        if parent is not None and parent in tasks:  # (a parent that ended has no entry)
            siblings = self.children.get(parent)
            if siblings is None:
                self.children[parent] = [spec.task_id]
            else:
                siblings.append(spec.task_id)
                if len(siblings) >= 64 and len(siblings) & (len(siblings) - 1) == 0:
                    siblings[:] = [t for t in siblings if t in tasks]

    def cancelled_on_arrival(self, spec: TaskSpec) -> bool:
        """Submitted by a task that was cancelled recursively while it ran."""
        return bool(self.cancelled_parents) and spec.kind != "actor-create" and \
            spec.parent in self.cancelled_parents

    def unschedulable(self, spec: TaskSpec) -> Optional[exc.TaskUnschedulableError]:
        if self.feasible(spec.resources):
            return None
        return exc.TaskUnschedulableError(
            f"task {spec.name} asks for {spec.resources}, but no node has that much "
            f"({self.totals_text()}): it can never run. Lower num_cpus/resources or add "
            f"a node that has them.")

    def wait_for_args(self, task_id: bytes, missing: int) -> None:
        self.pending_deps[task_id] = missing

    def arg_ready(self, task_id: bytes) -> bool:
        """One argument of the task exists now; True when it was the last one."""
        left = self.pending_deps.get(task_id)
        if left is None:  # cancelled or failed meanwhile
            return False
        if left <= 1:
            del self.pending_deps[task_id]
            return True
        self.pending_deps[task_id] = left - 1
        return False

    def enqueue(self, spec: TaskSpec) -> None:
        # Tasks submitted from inside tasks run first (depth first): their callers
        # are blocked waiting for them, so finishing them frees workers soonest.
        if spec.owner == DRIVER:
            self.ready.append(spec)
        else:
            self.ready.appendleft(spec)

    def requeue(self, spec: TaskSpec) -> None:
        """Back at the head of the queue (a retry, or its arguments arrived on its node)."""
        self.ready.appendleft(spec)

    def drop_waiting(self, task_id: bytes) -> None:
        self.pending_deps.pop(task_id, None)

    def forget(self, task_id: bytes) -> None:
        """The task is over."""
        self.by_id.pop(task_id, None)
        if self.cancelled_parents:
            self.cancelled_parents.discard(task_id)
        if self.children:
            self.children.pop(task_id, None)

    # =========================================================================
    # resources
    # =========================================================================
    def fits(self, demand: Dict[str, float], node_id: Optional[str] = None) -> bool:
        """Whether `demand` fits now on the node (None: on any live node)."""
        # Plain loops, not any()/all() over generators: this runs several times per task.
        if node_id is None:
            for nid, info in self.nodes.items():
                if info.alive and self.fits(demand, nid):
                    return True
            return False
        avail = self.nodes[node_id].available
        for k, v in demand.items():
            if avail.get(k, 0) < v - _EPS:
                return False
        return True

    def feasible(self, demand: Dict[str, float]) -> bool:
        """Whether some live node could ever run `demand`."""
        return any(info.alive and all(info.total.get(k, 0) >= v - _EPS for k, v in demand.items())
                   for info in self.nodes.values())

    def acquire(self, worker: WorkerLike, demand: Dict[str, float]) -> None:
        info = self.nodes.get(worker.node_id)
        avail = info.available if info is not None else {}
        for k, v in demand.items():
            avail[k] = avail.get(k, 0) - v
        worker.held = dict(demand)

    def release(self, worker: WorkerLike) -> None:
        info = self.nodes.get(worker.node_id)
        avail = info.available if info is not None else {}
        for k, v in worker.held.items():
            avail[k] = avail.get(k, 0) + v
        worker.held = {}

    def lend(self, worker: WorkerLike) -> bool:
        """The worker's task blocks in a nested get/wait: its resources go to other tasks
        meanwhile.  True when something was lent (then schedule again)."""
        worker.blocked += 1
        if worker.blocked != 1 or worker.task is None:
            return False
        held = worker.held
        self.release(worker)
        worker.lent = held
        return True

    def reclaim(self, worker: WorkerLike) -> None:
        """The nested get/wait returned: the task takes its resources back (which may
        oversubscribe the node briefly, as Ray does)."""
        worker.blocked = max(0, worker.blocked - 1)
        if worker.blocked == 0 and worker.task is not None:
            lent, worker.lent = worker.lent, {}
            if lent:
                self.acquire(worker, lent)

    def totals_text(self) -> str:
        return "; ".join(f"node {nid[:8]}: " + (", ".join(
            f"{k}={v:g}" for k, v in info.total.items() if not k.startswith("node:"))
            or "no CPUs or other resources")
            for nid, info in self.nodes.items() if info.alive)

    # =========================================================================
    # placement
    # =========================================================================
    def idle_worker(self, demand: Optional[Dict[str, float]] = None,
                    arg_refs: Iterable[bytes] = ()) -> Optional[WorkerLike]:
        """An idle task worker on a node where `demand` fits, preferring the node that
        already holds most of the arguments' bytes."""
        if len(self.nodes) == 1:
            for w in self.workers.values():
                if w.state == "idle" and w.actor_id is None:
                    return w
            return None
        best, best_score = None, -1.0
        locality = self.locality
        for w in self.workers.values():
            if w.state != "idle" or w.actor_id is not None:
                continue
            if demand and not self.fits(demand, w.node_id):
                continue
            score = locality.local_bytes(w.node_id, arg_refs) if locality is not None else 0.0
            if w.node_id == self.node_id:
                score += 0.5
            if score > best_score:
                best, best_score = w, score
        return best

    def schedule(self, requested: int = 0) -> List[Instruction]:
        """Place queued tasks on idle workers while they fit.  `requested`: workers asked
        for and not started yet (for the spawn policy)."""
        out: List[Instruction] = []
        queue = self.ready
        while queue:
            spec = queue[0]
            if not self.fits(spec.resources):
                if self.pipeline_depth > 1 and len(self.nodes) > 1 and self.pipeline(spec, out):
                    continue
                break
            worker = self.idle_worker(spec.resources, spec.arg_refs)
            if worker is None:
                if self.pipeline_depth > 1 and len(self.nodes) > 1 and self.pipeline(spec, out):
                    continue
                n = self.more_workers(requested)
                if n:
                    out.append(StartWorkers(n))
                break
            queue.popleft()
            locality = self.locality
            if len(self.nodes) > 1 and locality is not None and spec.arg_refs and \
                    not locality.args_present(worker.node_id, spec):
                out.append(FetchArgs(worker, spec))  # re-queued when they are there
                continue
            self.assign(worker, spec)
            out.append(Assign(worker, spec))
        return out

    def assign(self, worker: WorkerLike, spec: TaskSpec) -> None:
        self.acquire(worker, spec.resources)
        worker.state, worker.task = "busy", spec

    # =========================================================================
    # pipelining (workers of other nodes; see core.pipelining)
    # =========================================================================
    def pipeline(self, spec: TaskSpec, out: List[Instruction]) -> bool:
        """Send the queue's first task, `spec`, behind the running task of a busy worker of
        another node (the one with the fewest in flight); False if none may take it."""
        worker = pipelining.target(self.workers.values(), self.nodes, self.node_id,
                                   self.pipeline_depth, spec, self.locality)
        if worker is None:
            return False
        self.ready.popleft()
        worker.pipelined.append(spec)
        self.stats["tasks_pipelined"] += 1
        out.append(Assign(worker, spec))
        return True

    def start_next(self, worker: WorkerLike) -> None:
        """The worker finished its task: the next one sent to it has started (it takes the
        resources the finished one gave back: the same demand)."""
        spec = worker.pipelined.popleft()
        self.acquire(worker, spec.resources)
        worker.task = spec

    def take_back(self, worker: WorkerLike) -> List[Instruction]:
        """The worker's running task blocks: what was sent behind it goes back to the front
        of the queue, in order (the blocked task may wait for one of them)."""
        specs = pipelining.take_back(worker)
        for spec in reversed(specs):
            self.ready.appendleft(spec)
        self.stats["pipelined_taken_back"] += len(specs)
        return [Revoke(worker, specs, False)] if specs else []

    def skipped(self, worker: WorkerLike, task_id: bytes) -> bool:
        """Whether the worker's report of `task_id` is that of a run it was told to skip
        (then ignored)."""
        return pipelining.skipped(worker, task_id)

    # =========================================================================
    # workers
    # =========================================================================
    def worker_ready(self, worker: WorkerLike, now: float) -> None:
        worker.state, worker.idle_since = "idle", now

    def task_done(self, worker: WorkerLike, task_id: bytes,
                  retry: bool) -> Optional[Tuple[TaskSpec, bool]]:
        """The worker finished `task_id` (`retry`: it raised an exception that its
        retry_exceptions names).  Returns (spec, re-queued?), or None for a stale report.
        Then the runtime stores (or drops) the results and calls `after_run`."""
        spec = worker.task
        if spec is None or spec.task_id != task_id:
            return None
        worker.task = None
        if worker.lent:
            worker.lent = {}  # lent while it was blocked: that ended with the task
        self.release(worker)
        if task_id in worker.cancelled:
            worker.cancelled.discard(task_id)
            retry = False
        if worker.pipelined:
            self.start_next(worker)
        if retry and retries_left(spec):
            spec.attempt += 1
            self.stats["task_retries"] += 1
            self.ready.appendleft(spec)
            return spec, True
        return spec, False

    def after_run(self, worker: WorkerLike, spec: TaskSpec, now: float) -> Optional[StopWorker]:
        """The worker is free again; StopWorker when it ran the function max_calls times
        (Ray's max_calls: it leaves and the node starts a new one in its place)."""
        stop = None
        limit = spec.max_calls
        if limit:
            runs = worker.calls[spec.function_id] = worker.calls.get(spec.function_id, 0) + 1
            if runs >= limit and worker.state == "busy":
                worker.state = "exiting"
                stop = StopWorker(worker)
        if worker.state == "busy" and worker.task is None:  # (else a pipelined one started)
            worker.state, worker.idle_since = "idle", now
        return stop

    def worker_exited(self, worker: WorkerLike, how: str) -> List[Instruction]:
        """A task worker's process ended (`how`: the exit, in words).  Its task is
        re-queued if it has retries left, else it fails; a replacement worker is asked
        for while the node has fewer workers than CPUs."""
        worker.state = "dead"
        out: List[Instruction] = []
        if worker.pipelined:  # sent behind its task, never started: queued again, no retry used
            for queued in reversed(worker.pipelined):
                self.ready.appendleft(queued)
            worker.pipelined.clear()
        worker.revoked.clear()
        spec = worker.task
        if spec is not None:
            self.release(worker)
            worker.lent = {}
            if spec.task_id in worker.cancelled:
                out.append(Fail(spec, cancelled_error(spec.task_id)))
            elif retries_left(spec):
                spec.attempt += 1
                self.stats["task_retries"] += 1
                self.ready.appendleft(spec)
            else:
                out.append(Fail(spec, exc.WorkerCrashedError(
                    f"the worker running {spec.name}() (pid {worker.pid}) {how}; the task "
                    f"was tried {spec.attempt + 1} time(s) (max_retries={spec.max_retries}).")))
        if worker.node_id == self.node_id and len(self.live_task_workers()) < self.num_cpus:
            out.append(StartWorkers(1))
        return out

    # =========================================================================
    # spawn policy
    # =========================================================================
    def live_task_workers(self) -> List[WorkerLike]:
        return [w for w in self.workers.values() if w.state != "dead" and w.actor_id is None
                and w.node_id == self.node_id]

    def more_workers(self, requested: int) -> int:
        """Workers to start because a queued task found none idle: enough processes for
        every CPU plus one per worker that is blocked in get (at most 2 starting)."""
        live = self.live_task_workers()
        starting = sum(1 for w in live if w.state == "starting") + requested
        blocked = sum(1 for w in live if w.blocked)
        if starting < 2 and len(live) < min(self.max_workers, self.num_cpus + blocked + 1):
            return 1
        return 0

    def spare_worker(self, requested: int, actors: int) -> int:
        """Workers to start because an actor found none idle (one at a time)."""
        if requested or any(w.state == "starting" for w in self.live_task_workers()):
            return 0
        return 1 if len(self.workers) < self.max_workers + actors else 0

    def replenish(self, requested: int) -> int:
        """Workers to start so the pool has one per CPU again (an actor took one)."""
        return max(0, self.num_cpus - len(self.live_task_workers()) - requested)

    # =========================================================================
    # cancellation
    # =========================================================================
    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> List[Instruction]:
        """Cancel a task (and, with `recursive`, everything it submitted, transitively).
        Raises ValueError for force=True on an actor task."""
        spec = self.by_id.get(task_id)
        if spec is None:
            return []  # finished already: nothing to do (its children neither), as in Ray
        if force and spec.kind != "task":
            raise ValueError("force=True is not supported for actor tasks (it would kill the "
                             "actor's process): cancel without force, or use kill() on the actor")
        out: List[Instruction] = []
        if not recursive:
            self.cancel_one(task_id, force, out)
            return out
        # The task first (its worker records the cancellation before any child's error can
        # reach it), then everything it submitted, transitively, as Ray's recursive=True.
        pending, seen = [task_id], {task_id}
        while pending:
            tid = pending.pop()
            subs = tuple(self.children.get(tid, ()))
            child = self.by_id.get(tid)
            if child is not None and child.kind != "actor-create":
                # force applies to the task named, not to child actor calls (as in Ray).
                running = self.cancel_one(tid, force and child.kind == "task", out)
                if running:
                    # Still running until the interrupt lands: what it submits meanwhile
                    # is cancelled too.
                    self.cancelled_parents.add(tid)
            for sub in subs:
                if sub not in seen:
                    seen.add(sub)
                    pending.append(sub)
        return out

    def cancel_one(self, task_id: bytes, force: bool, out: List[Instruction]) -> bool:
        """Append what cancels one task to `out`; True if it is a task still running."""
        spec = self.by_id.get(task_id)
        if spec is None:
            return False  # finished already: nothing to do, as in Ray
        if spec.kind == "actor-call":
            out.append(CancelActorCall(spec))
            return False
        if spec.kind != "task":
            return False
        running = next((w for w in self.workers.values()
                        if w.task is not None and w.task.task_id == task_id), None)
        holder = None if running is not None else next(
            (w for w in self.workers.values() if any(s is spec for s in w.pipelined)), None)
        if holder is not None:
            # Pipelined, not started: it fails now and its worker skips it (or, should it
            # have started it by the time the message lands, interrupts it; force or not:
            # the worker runs another task that must not be killed with it).
            pipelining.revoke(holder, spec)
            out.append(Revoke(holder, (spec,), True))
            out.append(Fail(spec, cancelled_error(task_id)))
            return False
        if running is None:
            try:
                self.ready.remove(spec)
            except ValueError:
                pass
            # Decided now: an argument arriving before the failure is stored must not
            # queue it again.
            self.pending_deps.pop(task_id, None)
            out.append(Fail(spec, cancelled_error(task_id)))
            return False
        running.cancelled.add(task_id)
        out.append(Kill(running) if force else Interrupt(running, task_id))
        return True

    def tagged(self, tag: Any) -> List[bytes]:
        """Unfinished tasks (not actor calls) carrying `tag` (a notebook cell's work)."""
        return [tid for tid, spec in self.by_id.items()
                if spec.tag == tag and spec.kind == "task"]


__all__ = ["Scheduler", "WorkerState", "WorkerLike", "NodeLike", "Locality", "Instruction",
           "Assign", "FetchArgs", "Fail", "StartWorkers", "StopWorker", "Interrupt", "Kill",
           "CancelActorCall", "Revoke", "retries_left", "cancelled_error", "DRIVER"]
