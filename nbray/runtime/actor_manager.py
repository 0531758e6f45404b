"""The node's actors: creation, per-actor call queues, names, restarts and death.

Each actor owns one worker process of the node.  Calls wait in one queue per
caller and are forwarded as soon as their arguments exist, so a caller's calls run
in the order it made them, while a call whose argument is still being computed
holds back only later calls of the same caller (as in Ray), never another's.  Handles keep an actor alive through an ordinary
object (the creation object): when the object table frees it, no handle is
left anywhere and the actor ends after its queued calls.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple

from .. import exceptions as exc
from ..core.object_table import PENDING, ObjectEntry
from ..core.specs import TaskSpec

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node, WorkerHandle

# states, as Ray names them
PENDING_CREATION, ALIVE, RESTARTING, DEAD = "PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD"


@dataclass(eq=False)
class ActorRecord:
    actor_id: bytes
    class_name: str
    create_spec: TaskSpec
    name: Optional[str] = None
    namespace: str = "default"
    detached: bool = False
    max_restarts: int = 0
    max_task_retries: int = 0
    max_concurrency: int = 1
    methods: Dict[str, Any] = field(default_factory=dict)
    state: str = PENDING_CREATION
    worker: Optional["WorkerHandle"] = None
    restarts: int = 0
    # caller (the spec's owner) -> its calls not yet forwarded, in submission order;
    # a caller with none has no entry.
    queues: Dict[str, Deque[TaskSpec]] = field(default_factory=dict)
    in_flight: Dict[bytes, TaskSpec] = field(default_factory=dict)
    out_of_scope: bool = False
    no_restart: bool = False
    dying: bool = False                # killed: its process is about to exit
    death_cause: str = ""
    pid: Optional[int] = None
    held: Dict[str, float] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @property
    def creation_object(self) -> bytes:
        return self.create_spec.return_ids[0]

    def queued(self) -> List[TaskSpec]:
        return [spec for q in self.queues.values() for spec in q]

    def unqueue(self, spec: TaskSpec) -> bool:
        q = self.queues.get(spec.owner)
        if q is None or spec not in q:
            return False
        q.remove(spec)
        if not q:
            del self.queues[spec.owner]
        return True

    def label(self) -> str:
        return f"{self.class_name}" + (f" '{self.name}'" if self.name else "") + \
            f" (actor {self.actor_id.hex()})"


class ActorManager:
    def __init__(self, node: "Node") -> None:
        self.node = node
        self.actors: Dict[bytes, ActorRecord] = {}
        self.by_creation_object: Dict[bytes, bytes] = {}
        self.names: Dict[Tuple[str, str], bytes] = {}
        self.start_queue: Deque[ActorRecord] = collections.deque()

    # -- creation -----------------------------------------------------------------
    def create(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        """Register a new actor (or return the one already under its name).

        Returns (actor id, info of the actor whose handle the caller gets).
        Runs under the node lock.
        """
        name, namespace = info.get("name"), info.get("namespace") or "default"
        if name is not None:
            existing_id = self.names.get((namespace, name))
            existing = self.actors.get(existing_id) if existing_id else None
            if existing is not None and existing.state != DEAD:
                if info.get("get_if_exists"):
                    return existing.actor_id, self.handle_info(existing)
                raise ValueError(f"the actor name {name!r} is already taken in namespace "
                                 f"{namespace!r} by {existing.label()}; pick another name, or pass "
                                 f"get_if_exists=True to get a handle to it")
        node = self.node
        if not node._feasible(spec.resources):
            raise exc.ActorUnschedulableError(
                f"actor {info['class_name']} asks for {spec.resources}, but no node has that "
                f"much ({node._totals_text()})")
        record = ActorRecord(
            actor_id=spec.actor_id, class_name=info["class_name"], create_spec=spec, name=name,
            namespace=namespace, detached=info.get("lifetime") == "detached",
            max_restarts=info.get("max_restarts", 0), max_task_retries=info.get("max_task_retries", 0),
            max_concurrency=info.get("max_concurrency", 1), methods=info.get("methods", {}))
        self.actors[record.actor_id] = record
        self.by_creation_object[record.creation_object] = record.actor_id
        if name is not None:
            self.names[(namespace, name)] = record.actor_id
        node._submit_bookkeeping(spec)
        if record.detached:
            node.table.capture([record.creation_object])  # lives until killed

        def args_ready() -> None:  # the constructor runs once its arguments exist
            if record.state != DEAD:
                self.start_queue.append(record)
                node._dispatch()

        if node.when_args_ready(spec, args_ready) < 0:
            self._mark_dead(record, "an argument of its constructor was freed before it ran")
        return record.actor_id, self.handle_info(record)

    def handle_info(self, record: ActorRecord) -> Dict[str, Any]:
        return {"class_name": record.class_name, "methods": record.methods,
                "creation_object": record.creation_object,
                "max_task_retries": record.max_task_retries}

    def start_pending(self) -> None:
        """Give waiting actors a worker each (called from the node's dispatch)."""
        node = self.node
        while self.start_queue:
            record = self.start_queue[0]
            if record.state == DEAD:
                self.start_queue.popleft()
                continue
            demand = record.create_spec.resources
            if not node._fits(demand):
                return
            worker = node._idle_worker(demand)
            if worker is None:
                node._request_spare_worker()
                return
            self.start_queue.popleft()
            self._assign(record, worker)

    def _assign(self, record: ActorRecord, worker: "WorkerHandle") -> None:
        node = self.node
        worker.actor_id = record.actor_id
        worker.state = "actor"
        node._acquire(worker, record.create_spec.resources)
        record.worker, record.pid = worker, worker.pid
        record.create_spec.extra["max_concurrency"] = record.max_concurrency
        # The worker's runtime context reads these (was_current_actor_reconstructed, GPU ids).
        record.create_spec.extra["restarts"] = record.restarts
        record.create_spec.extra["handle_info"] = self.handle_info(record)
        if "GPU" in record.create_spec.resources:
            node.assign_gpus(worker, record.create_spec)
        node._send_exec(worker, record.create_spec)
        node._replenish_pool()

    # -- calls ------------------------------------------------------------------------
    def submit_call(self, spec: TaskSpec) -> None:
        node = self.node
        node._submit_bookkeeping(spec)
        record = self.actors.get(spec.actor_id)  # type: ignore[arg-type]
        if record is None:
            node._fail_task(spec, exc.ActorDiedError(
                f"actor {spec.actor_id.hex()} is unknown to this cluster (it was never "
                f"created here, or the cluster was restarted)", spec.actor_id.hex()))
            return
        if record.state == DEAD:
            node._fail_task(spec, self._died_error(record))
            return
        # In its caller's queue at once, so the caller's calls keep their order; forwarded
        # when their arguments exist.
        spec.extra["deps_left"] = 1
        queue = record.queues.get(spec.owner)
        if queue is None:
            queue = record.queues[spec.owner] = collections.deque()
        queue.append(spec)

        def args_ready() -> None:
            spec.extra["deps_left"] = 0
            self.pump(record, spec.owner)

        if node.when_args_ready(spec, args_ready) < 0:
            record.unqueue(spec)  # an argument was already freed: the call failed

    def pump(self, record: ActorRecord, caller: Optional[str] = None) -> None:
        """Forward each caller's queued calls in order, as far as their arguments exist
        (only `caller`'s when given)."""
        if record.state != ALIVE or record.worker is None or record.dying:
            return
        node = self.node
        callers = [caller] if caller is not None else list(record.queues)
        for who in callers:
            queue = record.queues.get(who)
            if queue is None:
                continue
            while queue and queue[0].extra.get("deps_left", 0) <= 0:
                spec = queue.popleft()
                record.in_flight[spec.task_id] = spec
                node._send_exec(record.worker, spec)
            if not queue:
                del record.queues[who]

    def on_done(self, worker: "WorkerHandle", task_id: bytes, results: List[Tuple]) -> None:
        node = self.node
        record = self.actors.get(worker.actor_id)  # type: ignore[arg-type]
        if record is None:
            return
        if task_id == record.create_spec.task_id:
            is_error = bool(results) and results[0][5]
            node._store_results(record.create_spec, results)
            if is_error:
                cause = _error_text(results[0])
                record.no_restart = True
                self._mark_dead(record, f"its constructor raised:\n{cause}")
                node._kill_worker(worker)
            elif not record.dying:  # (a killed one stays RESTARTING until it is back)
                record.state = ALIVE
                self.pump(record)
            return
        spec = record.in_flight.pop(task_id, None)
        if spec is None:
            return
        node._store_results(spec, results)
        node._finish_task(spec)
        self._maybe_end(record)

    def cancel(self, spec: TaskSpec) -> None:
        """Cancel an actor call: one not started yet fails with TaskCancelledError; a running
        one is not interrupted (as in Ray, whose sync actors only set a flag)."""
        record = self.actors.get(spec.actor_id)  # type: ignore[arg-type]
        if record is None:
            return
        if record.unqueue(spec):
            self.node._fail_task(spec, exc.TaskCancelledError(spec.task_id.hex()))
        elif spec.task_id in record.in_flight and record.worker is not None:
            # Forwarded already: the worker skips it if it has not started it yet.
            self.node._reply(record.worker, ("cancel", spec.task_id, False))

    # -- lifetime -------------------------------------------------------------------
    def on_object_freed(self, entry: ObjectEntry) -> None:
        actor_id = self.by_creation_object.pop(entry.object_id, None)
        if actor_id is None:
            return
        record = self.actors.get(actor_id)
        if record is None or record.detached:
            return
        record.out_of_scope = True
        self._maybe_end(record)

    def _maybe_end(self, record: ActorRecord) -> None:
        if not record.out_of_scope or record.queues or record.in_flight or record.state == DEAD:
            return
        record.no_restart = True
        self._mark_dead(record, "all handles to it went out of scope")
        if record.worker is not None:
            self.node._reply(record.worker, ("exit",))

    def on_exit_requested(self, worker: "WorkerHandle", reason: str) -> None:
        """The actor called exit_actor() (or ran __ray_terminate__): it is dead for good.

        As in Ray, the call that asked, and every call queued after it, fail with
        ActorDiedError; the worker runs __ray_shutdown__ and atexit handlers, then exits.
        """
        record = self.actors.get(worker.actor_id)  # type: ignore[arg-type]
        if record is None or record.state == DEAD:
            return
        record.no_restart = True
        self._mark_dead(record, f"it exited on purpose ({reason})")

    def kill(self, actor_id: bytes, no_restart: bool) -> None:
        record = self.actors.get(actor_id)
        if record is None or record.state == DEAD:
            return
        record.no_restart = record.no_restart or no_restart
        record.death_cause = "it was killed by nbray.kill()"
        if record.worker is None:
            if record.state != RESTARTING or record.no_restart:
                self._mark_dead(record, record.death_cause)
            return
        # Calls made from now on wait (for the restarted actor, or to fail with the dead
        # one) instead of going to the process about to die.
        record.dying = True
        if self._can_restart(record):
            record.state = RESTARTING
        self.node._kill_worker(record.worker)

    def _can_restart(self, record: ActorRecord) -> bool:
        return not record.no_restart and not self.node.closed and (
            record.max_restarts == -1 or record.restarts < record.max_restarts)

    def on_worker_exit(self, worker: "WorkerHandle", how: str) -> None:
        record = self.actors.get(worker.actor_id)  # type: ignore[arg-type]
        if record is None or record.state == DEAD:
            return
        node = self.node
        node._release_resources(worker)
        record.worker = None
        record.dying = False
        cause = record.death_cause or f"its worker process (pid {worker.pid}) {how}"
        if not self._can_restart(record):
            self._mark_dead(record, cause)
            return
        record.restarts += 1
        record.state = RESTARTING
        record.death_cause = ""
        node.stats["actor_restarts"] += 1
        # Calls that were running: re-send if max_task_retries allows, else they fail.
        retry: List[TaskSpec] = []
        for spec in record.in_flight.values():
            if record.max_task_retries == -1 or spec.attempt < record.max_task_retries:
                spec.attempt += 1
                retry.append(spec)
            else:
                node._fail_task(spec, exc.ActorDiedError(
                    f"{record.label()} died while running {spec.name}() ({cause}); the actor "
                    f"restarted, but max_task_retries={record.max_task_retries} does not allow "
                    f"re-running the call", record.actor_id.hex(), record.name or "", cause))
        record.in_flight.clear()
        for spec in reversed(retry):  # before the caller's later calls
            queue = record.queues.get(spec.owner)
            if queue is None:
                queue = record.queues[spec.owner] = collections.deque()
            queue.appendleft(spec)
        self.start_queue.append(record)
        node._dispatch()

    def _mark_dead(self, record: ActorRecord, cause: str) -> None:
        node = self.node
        record.state = DEAD
        record.death_cause = cause
        error = self._died_error(record)
        for spec in list(record.in_flight.values()) + record.queued():
            node._fail_task(spec, error)
        record.in_flight.clear()
        record.queues.clear()
        if record.name is not None and self.names.get((record.namespace, record.name)) == record.actor_id:
            del self.names[(record.namespace, record.name)]
        if record.create_spec.task_id in node.tasks:
            node._finish_task(record.create_spec)
        creation = node.table.entries.get(record.creation_object)
        if creation is not None:
            creation.captured = False
            if creation.state == PENDING:
                node._store_results(record.create_spec, node._error_results(record.create_spec, error))
        if record.worker is not None and record.worker.held:
            node._release_resources(record.worker)

    def _died_error(self, record: ActorRecord) -> exc.ActorDiedError:
        return exc.ActorDiedError(f"The actor {record.label()} died: {record.death_cause}",
                                  record.actor_id.hex(), record.name or "", record.death_cause)

    # -- lookup -----------------------------------------------------------------------
    def lookup(self, name: str, namespace: str) -> Optional[ActorRecord]:
        actor_id = self.names.get((namespace, name))
        record = self.actors.get(actor_id) if actor_id else None
        return record if record is not None and record.state != DEAD else None

    def rows(self) -> List[Dict[str, Any]]:
        return [{"actor_id": r.actor_id.hex(), "class_name": r.class_name, "name": r.name,
                 "namespace": r.namespace, "state": r.state, "restarts": r.restarts,
                 "node_id": r.worker.node_id if r.worker is not None else None, "pid": r.pid,
                 "detached": r.detached, "pending_calls": sum(map(len, r.queues.values())) + len(r.in_flight),
                 "death_cause": r.death_cause or None}
                for r in self.actors.values()]


def _error_text(result: Tuple) -> str:
    """The message of the error a worker reported for a failed call.  Read from the result
    itself: the object may already be freed when no handle holds the actor any more."""
    _oid, kind, payload = result[:3]
    if kind != "i":
        return "(unknown error)"
    from ..serialization import deserialize

    try:
        err = deserialize(*payload)
    except Exception as e:  # the error itself may not unpickle in the driver
        return f"(error could not be read: {e})"
    return str(err)
