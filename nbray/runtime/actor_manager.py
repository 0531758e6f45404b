"""The node's actor shell: performs what the actor table (`core/actor_table.py`) decides.

It turns actor messages and node happenings (a call submitted, a worker finished a
call or exited, a creation object freed, kill, exit_actor) into table events and
carries out the instructions that come back: forwarding calls to the actor's worker,
failing or completing calls, starting actors on idle workers, killing workers.
Each actor owns one worker process of the node.  Handles keep an actor alive through
an ordinary object (the creation object): when the object table frees it, no handle
is left anywhere and the actor ends after its queued calls.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type

from .. import exceptions as exc
from ..core.actor_table import (
    ActorRecord, ActorTable, CancelForwarded, CompleteCall, CountRestart, EndCreation,
    FailCall, Forward, Instruction, KillWorker, ReleaseWorker, StartActors, StopWorker,
    StoreCreation)
from ..core.object_directory import KIND_INLINE
from ..core.object_table import PENDING, ObjectEntry
from ..core.specs import TaskSpec
from ..transport.framing import ConnectionClosed
from ..transport.messages import CancelRunning, Exit, Reply, wire

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node
    from .worker_pool import WorkerHandle


_EXIT = wire(Exit())  # the same tuple every time


class ActorManager:
    """The node's actors (``node.actors``); every method runs under the node lock
    unless its docstring says it takes it."""

    def __init__(self, node: "Node") -> None:
        self.node = node
        self.table: ActorTable["WorkerHandle"] = ActorTable(_error_text)
        # The table's own containers (same objects), read on hot paths and by
        # introspection without an extra hop.
        self.actors = self.table.actors
        self.by_creation_object = self.table.by_creation_object
        self.start_queue = self.table.start_queue
        self._perform: Dict[Type[Any], Callable[[Any], None]] = {
            Forward: self._forward, FailCall: self._fail, CompleteCall: self._complete,
            StoreCreation: self._store_creation, EndCreation: self._end_creation,
            ReleaseWorker: self._release_worker, KillWorker: self._kill,
            StopWorker: self._stop, CancelForwarded: self._cancel_forwarded,
            StartActors: self._start_actors, CountRestart: self._count_restart,
        }

    def perform(self, instructions: List[Instruction]) -> None:
        """Carry out the table's instructions, in order."""
        for ins in instructions:
            # The two instructions of every call first, without the table lookup.
            if type(ins) is Forward:
                self._forward(ins)
            elif type(ins) is CompleteCall:
                self.node.objects.store_results(ins.spec, ins.results)
                self.node.tasks.finish(ins.spec)
            else:
                self._perform[type(ins)](ins)

    # -- instructions ---------------------------------------------------------------
    def _forward(self, ins: Forward) -> None:
        """Send a call (or the constructor) to the actor's worker.  A call behind one still
        running on a one-at-a-time actor cannot start before that one's Done, so its exec
        message waits and goes with the others in one write when that Done arrives
        (`flush_calls`): a burst of calls costs the driver one send and the worker one
        wake-up, not one per call."""
        worker = ins.worker
        later = worker.calls_out > 0 and worker.proc is not None and self._one_at_a_time(ins.spec)
        worker.calls_out += 1
        self.node.tasks.send_exec(worker, ins.spec, later=later)

    def _one_at_a_time(self, spec: TaskSpec) -> bool:
        """A plain actor (max_concurrency 1, not async): its calls run strictly in turn, so
        holding one back until the previous Done delays nothing and deadlocks nothing."""
        record = self.actors.get(spec.actor_id) if spec.actor_id is not None else None
        if record is None or record.max_concurrency != 1:
            return False
        start = record.create_spec.actor
        return start is None or not start.is_async

    def flush_calls(self, worker: "WorkerHandle") -> None:
        """A Done came back from `worker`: the calls held back behind it go now."""
        if worker.calls_out > 0:
            worker.calls_out -= 1
        if worker.proc is not None and worker.conn.queued:
            try:
                worker.conn.flush()
            except ConnectionClosed:
                pass  # its exit is seen by whoever reads it

    def _fail(self, ins: FailCall) -> None:
        self.node.tasks.fail(ins.spec, ins.error)

    def _complete(self, ins: CompleteCall) -> None:
        self.node.objects.store_results(ins.spec, ins.results)
        self.node.tasks.finish(ins.spec)

    def _store_creation(self, ins: StoreCreation) -> None:
        self.node.objects.store_results(ins.spec, ins.results)

    def _end_creation(self, ins: EndCreation) -> None:
        node, spec = self.node, ins.spec
        if spec.task_id in node.tasks.by_id:
            node.tasks.finish(spec)
        creation = node.table.entries.get(spec.return_ids[0])
        if creation is not None:
            creation.captured = False
            if creation.state == PENDING:
                node.objects.store_results(spec, node.tasks.error_results(spec, ins.error))

    def _release_worker(self, ins: ReleaseWorker) -> None:
        if ins.worker.held:
            self.node.tasks.release_resources(ins.worker)

    def _kill(self, ins: KillWorker) -> None:
        self.node.pool.kill(ins.worker)

    def _stop(self, ins: StopWorker) -> None:
        self.node.reply(ins.worker, _EXIT)

    def _cancel_forwarded(self, ins: CancelForwarded) -> None:
        self.node.reply(ins.worker, wire(CancelRunning(ins.task_id, False)))

    def _start_actors(self, ins: StartActors) -> None:
        self.node.tasks.dispatch()

    def _count_restart(self, ins: CountRestart) -> None:
        self.node.stats["actor_restarts"] += 1

    # -- creation -----------------------------------------------------------------
    def create(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        """Register a new actor (or return the one already under its name).

        Returns (actor id, info of the actor whose handle the caller gets).
        """
        table, node = self.table, self.node
        existing = table.claim_name(info)
        if existing is not None:
            return existing.actor_id, existing.handle_info()
        if not node.tasks.feasible(spec.resources):
            raise exc.ActorUnschedulableError(
                f"actor {info['class_name']} asks for {spec.resources}, but no node has that "
                f"much ({node.tasks.totals_text()})")
        record = table.add(spec, info, time.time())
        node.tasks.register(spec)
        if record.detached:
            node.table.capture([record.creation_object])  # lives until killed
        actor_id = record.actor_id
        if node.when_args_ready(spec, lambda: self.perform(table.on_creation_args_ready(actor_id))) < 0:
            self.perform(table.on_creation_failed(
                actor_id, "an argument of its constructor was freed before it ran"))
        return actor_id, record.handle_info()

    def handle_info(self, record: ActorRecord["WorkerHandle"]) -> Dict[str, Any]:
        return record.handle_info()

    def start_pending(self) -> None:
        """Give waiting actors a worker each (called from the node's dispatch)."""
        node, table = self.node, self.table
        while True:
            record = table.next_to_start()
            if record is None:
                return
            spec = record.create_spec
            demand = spec.resources
            if not node.tasks.fits(demand):
                return
            worker = node.tasks.idle_worker(demand)
            if worker is None:
                node.tasks.request_spare_worker()
                return
            worker.actor_id = record.actor_id
            worker.state = "actor"
            node.tasks.acquire(worker, demand)
            if "GPU" in demand:
                node.assign_gpus(worker, spec)
            self.perform(table.on_worker_assigned(record.actor_id, worker, worker.pid, worker.node_id))
            node.tasks.replenish_pool()

    # -- calls ------------------------------------------------------------------------
    def submit_call(self, spec: TaskSpec) -> None:
        node, table = self.node, self.table
        node.tasks.register(spec)
        failed = table.on_call_submitted(spec)
        if failed:
            self.perform(failed)
            return
        if node.when_args_ready(spec, lambda: self.perform(table.on_call_args_ready(spec))) < 0:
            table.on_call_dropped(spec)  # an argument was already freed: the call failed

    def on_done(self, worker: "WorkerHandle", task_id: bytes, results: List[Tuple[Any, ...]]) -> None:
        """The actor's worker finished `task_id` (its constructor, or a call)."""
        self.perform(self.table.on_done(worker.actor_id, task_id, results))

    def cancel(self, spec: TaskSpec) -> None:
        """Cancel an actor call: one not started yet fails with TaskCancelledError; a running
        one is not interrupted (as in Ray, whose sync actors only set a flag)."""
        self.perform(self.table.cancel(spec))

    # -- lifetime -------------------------------------------------------------------
    def on_object_freed(self, entry: ObjectEntry) -> None:
        self.perform(self.table.on_creation_object_freed(entry.object_id))

    def on_exit_requested(self, worker: "WorkerHandle", reason: str) -> None:
        """The actor called exit_actor() (or ran __ray_terminate__): it is dead for good."""
        self.perform(self.table.on_exit_requested(worker.actor_id, reason))

    def kill(self, actor_id: bytes, no_restart: bool) -> None:
        self.perform(self.table.kill(actor_id, no_restart, self.node.closed))

    def on_worker_exit(self, worker: "WorkerHandle", how: str) -> None:
        """The actor's worker process ended: restart the actor or let it die."""
        if worker.actor_id is None:
            return
        self.perform(self.table.on_worker_exited(worker.actor_id, worker, worker.pid, how,
                                                 self.node.closed))

    # -- lookup -----------------------------------------------------------------------
    def lookup(self, name: str, namespace: str) -> Optional[ActorRecord["WorkerHandle"]]:
        return self.table.lookup(name, namespace)

    def rows(self) -> List[Dict[str, Any]]:
        return self.table.rows()

    # -- the node's actor API and messages (taken from node.py) ------------------------
    def create_actor(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        """Create an actor for the in-process driver (takes the node lock)."""
        node = self.node
        with node.lock:
            node.objects.drain_deferred()
            return self.create(spec, info)

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        """nbray.kill() from the in-process driver (takes the node lock)."""
        with self.node.lock:
            self.kill(actor_id, no_restart)

    def get_actor(self, name: str, namespace: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        """(actor id, handle info) of the live actor under `name`, or None (takes the lock)."""
        with self.node.lock:
            record = self.lookup(name, namespace)
            if record is None:
                return None
            return record.actor_id, record.handle_info()

    def on_create_actor(self, worker: "WorkerHandle", req: int, spec: TaskSpec,
                        info: Dict[str, Any]) -> None:
        """The ``create-actor`` message: a task or actor creates an actor."""
        try:
            result = self.create(spec, info)
        except Exception as e:  # name taken, unschedulable: raised in the caller
            self.node.reply(worker, wire(Reply(req, False, e)))
            return
        self.node.reply(worker, wire(Reply(req, True, result)))

    def on_actor_exit(self, worker: "WorkerHandle", task_id: bytes, reason: str) -> None:
        """The ``actor-exit`` message: the actor on `worker` called exit_actor()."""
        self.on_exit_requested(worker, reason)
        self.node.tasks.dispatch()

    def on_kill_actor(self, worker: "WorkerHandle", actor_id: bytes, no_restart: bool) -> None:
        """The ``kill-actor`` message: nbray.kill() from a task or actor."""
        self.kill(actor_id, no_restart)

    def on_get_actor(self, worker: "WorkerHandle", req: int, name: str, namespace: str) -> None:
        """The ``get-actor`` message: nbray.get_actor() from a task or actor."""
        record = self.lookup(name, namespace)
        found = None if record is None else (record.actor_id, record.handle_info())
        self.node.reply(worker, wire(Reply(req, True, found)))


def _error_text(result: Tuple[Any, ...]) -> str:
    """The message of the error a worker reported for a failed call.  Read from the result
    itself: the object may already be freed when no handle holds the actor any more."""
    _oid, kind, payload = result[:3]
    if kind != KIND_INLINE:
        return "(unknown error)"
    from ..serialization import deserialize

    try:
        err = deserialize(*payload)
    except Exception as e:  # the error itself may not unpickle in the driver
        return f"(error could not be read: {e})"
    return str(err)
