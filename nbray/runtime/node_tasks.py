"""The node's task component (`node.tasks`): turns task events into scheduler events and
performs the scheduler's instructions.

The decisions (queue order, placement, resources, retries, cancellation, spawn policy)
are made by the pure `core.scheduler.Scheduler`; this shell does what they need of the
rest of the node: it sends `exec` messages, keeps function blobs, stores results and
errors through the object table, watches arguments become ready, and asks the worker
pool for processes.  Every method runs with the node lock held unless it says otherwise.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

from .. import exceptions as exc
from ..core.object_directory import KIND_ARENA, KIND_INLINE
from ..core.object_table import INLINE, ObjectEntry
from ..core.scheduler import (Assign, CancelActorCall, Fail, FetchArgs, Instruction, Interrupt,
                              Kill, Revoke, Scheduler, StartWorkers, StopWorker, cancelled_error,
                              retries_left)
from ..core.specs import TaskSpec
from ..serialization import serialize
from ..transport.framing import ConnectionClosed
from ..transport.fast_wire import wire_exec
from ..transport.messages import CancelRunning, Exit, Reply, wire
from .worker_process import describe_exit

if TYPE_CHECKING:
    from .node import Node
    from .worker_pool import WorkerHandle


_EXIT = wire(Exit())  # the same tuple every time


class NodeTasks:
    """Tasks of one node: submission, dispatch, completion, retries and cancellation."""

    def __init__(self, node: "Node") -> None:
        self.node = node
        self.functions: Dict[bytes, bytes] = {}   # function id -> pickled function
        config = node.config
        self.core = Scheduler(node.node_id, node.cluster_nodes, node.workers, config.num_cpus,
                              config.max_workers, node.stats, locality=self,
                              pipeline_depth=config.remote_pipeline_depth)
        self.by_id = self.core.by_id      # task id -> spec, for every unfinished task
        self.ready = self.core.ready      # the ready queue (read by introspection)

    # =========================================================================
    # submission
    # =========================================================================
    def register_function(self, function_id: bytes, blob: bytes,
                          captured: Iterable[bytes] = ()) -> None:
        """Driver side (takes the lock)."""
        node = self.node
        with node.lock:
            self.functions.setdefault(function_id, blob)
            node.table.capture(captured)

    def submit(self, spec: TaskSpec) -> None:
        """Driver side (takes the lock)."""
        node = self.node
        with node.lock:
            node.objects.drain_deferred()
            self.submit_locked(spec)

    def register(self, spec: TaskSpec) -> None:
        """Return objects exist (pending) and the arguments stay alive until the task ends."""
        node = self.node
        if node.closed:
            raise exc.RaySystemError("the cluster was shut down")
        table = node.table
        for rid in spec.return_ids:
            table.create(rid, owner=spec.owner, holder=spec.owner, created_by=spec.name,
                         call_site=spec.call_site, node_id=node.node_id)
        freed: List[ObjectEntry] = []
        table.add_submitted(spec.all_refs(), +1, freed)
        self.core.register(spec)
        if spec.generator:
            node.streams.open(spec)

    def rerun(self, spec: TaskSpec) -> None:
        """Run a finished task again (lineage: its outputs were lost with a node).  Its
        return objects exist and its argument holds were kept, so it is only known again and
        queued once its arguments exist."""
        self.core.readmit(spec)
        self.when_args_ready(spec, lambda: self.enqueue(spec))

    def submit_locked(self, spec: TaskSpec) -> None:
        core = self.core
        if core.cancelled_parents and core.cancelled_on_arrival(spec):
            self.register(spec)
            self.fail(spec, cancelled_error(spec.task_id))
            return
        if spec.kind == "actor-call":
            self.node.actors.submit_call(spec)
            return
        self.register(spec)
        error = core.unschedulable(spec)
        if error is not None:
            self.fail(spec, error)
            return
        self.when_args_ready(spec, lambda: self.enqueue(spec))

    def when_args_ready(self, spec: TaskSpec, then: Callable[[], None]) -> int:
        """Call `then()` once every top-level argument of `spec` exists (now, if they do).

        Returns how many were missing; a task whose arguments were freed fails at once.
        """
        try:
            missing = self.node.objects.missing(spec.arg_refs)
        except exc.ObjectLostError as e:
            self.fail(spec, e)
            return -1
        if not missing:
            then()
            return 0
        task_id = spec.task_id
        core = self.core
        core.wait_for_args(task_id, len(missing))

        def on_dep_ready(entry: ObjectEntry) -> None:
            if core.arg_ready(task_id):
                then()

        for entry in missing:
            entry.waiters.append(on_dep_ready)
        return len(missing)

    def enqueue(self, spec: TaskSpec) -> None:
        self.core.enqueue(spec)
        self.dispatch()

    def requeue(self, spec: TaskSpec) -> None:
        """Back at the head of the queue (its arguments arrived on the node it was placed on)."""
        self.core.requeue(spec)
        self.dispatch()

    def on_submit(self, worker: "WorkerHandle", spec: TaskSpec) -> None:
        try:
            self.submit_locked(spec)
        except exc.RaySystemError:
            pass

    def on_register_function(self, worker: "WorkerHandle", fid: bytes, blob: bytes,
                             captured: List[bytes]) -> None:
        self.functions.setdefault(fid, blob)
        self.node.table.capture(captured)

    # =========================================================================
    # resources and placement (the scheduler's, for the node's other components)
    # =========================================================================
    def fits(self, demand: Dict[str, float], node_id: Optional[str] = None) -> bool:
        return self.core.fits(demand, node_id)

    def feasible(self, demand: Dict[str, float]) -> bool:
        return self.core.feasible(demand)

    def acquire(self, worker: "WorkerHandle", demand: Dict[str, float]) -> None:
        self.core.acquire(worker, demand)

    def release_resources(self, worker: "WorkerHandle") -> None:
        self.core.release(worker)

    def lend(self, worker: "WorkerHandle") -> None:
        """The worker's task blocks in a nested get/wait: its CPUs run other tasks, and the
        tasks sent behind it (another node's worker) go back to the queue."""
        core = self.core
        lent = core.lend(worker)
        if worker.pipelined:
            self.perform(core.take_back(worker))
            lent = True
        if lent:
            self.dispatch()

    def reclaim(self, worker: "WorkerHandle") -> None:
        """The nested get/wait returned: the task takes its resources back."""
        self.core.reclaim(worker)

    def idle_worker(self, demand: Optional[Dict[str, float]] = None,
                    arg_refs: Iterable[bytes] = ()) -> Optional["WorkerHandle"]:
        return self.core.idle_worker(demand, arg_refs)  # type: ignore[return-value]

    def totals_text(self) -> str:
        return self.core.totals_text()

    def retries_left(self, spec: TaskSpec) -> bool:
        return retries_left(spec)

    # Locality (for the scheduler): where argument bytes are, across nodes.
    def local_bytes(self, node_id: str, object_ids: Iterable[bytes]) -> float:
        return self.node.remote.local_bytes(node_id, object_ids)

    def args_present(self, node_id: str, spec: TaskSpec) -> bool:
        node = self.node
        entries = node.table.entries
        return all(node.remote.present_on(entries[oid], node_id)
                   for oid in dict.fromkeys(spec.arg_refs))

    # =========================================================================
    # dispatch
    # =========================================================================
    def dispatch(self) -> None:
        """Start waiting actors, then queued tasks, on idle workers."""
        node = self.node
        if node.actors.start_queue:
            node.actors.start_pending()
        if self.core.ready:
            self.perform(self.core.schedule(sum(node.pool.spawn_requests)))

    def perform(self, instructions: Iterable[Instruction]) -> None:
        """Do what the scheduler decided (its workers are this node's WorkerHandles)."""
        node = self.node
        for ins in instructions:
            if isinstance(ins, Assign):
                self.started(ins.worker, ins.spec)  # type: ignore[arg-type]
            elif isinstance(ins, Fail):
                self.fail(ins.spec, ins.error)
            elif isinstance(ins, StartWorkers):
                node.request_workers(ins.n)
            elif isinstance(ins, FetchArgs):
                worker: Any = ins.worker
                if node.remote.deps_present(worker, ins.spec):  # (fetches what is missing)
                    self.assign(worker, ins.spec)
            elif isinstance(ins, StopWorker):
                node.reply(ins.worker, _EXIT)  # type: ignore[arg-type]
            elif isinstance(ins, Interrupt):
                try:
                    # The worker interrupts itself once it has recorded the cancellation,
                    # so the signal can never arrive before the flag.
                    cancel = wire(CancelRunning(ins.task_id))
                    ins.worker.conn.send(cancel)  # type: ignore[attr-defined]
                except (ConnectionClosed, ConnectionError):
                    pass
            elif isinstance(ins, Kill):
                node.pool.kill(ins.worker)  # type: ignore[arg-type]
            elif isinstance(ins, CancelActorCall):
                node.actors.cancel(ins.spec)
            elif isinstance(ins, Revoke):
                self.revoke(ins.worker, ins.specs, ins.interrupt)  # type: ignore[arg-type]

    def revoke(self, worker: "WorkerHandle", specs: Iterable[TaskSpec], interrupt: bool) -> None:
        """Tell the worker to skip tasks sent to it that it has not started."""
        entries = self.node.table.entries
        for spec in specs:
            # The skipped exec may have carried the function: send it again next time.
            worker.functions.discard(spec.function_id)
            if not interrupt:
                # Surely never started (taken back behind a blocked task): it will not read
                # its arguments, so the reads its exec announced end here.  (A cancelled one
                # may have started after all; its reads end with the worker then.)
                self.node.objects.remove_readers(worker.worker_id, [
                    oid for oid in dict.fromkeys(spec.arg_refs)
                    if oid in entries and entries[oid].state != INLINE])
            try:
                worker.conn.send(wire(CancelRunning(spec.task_id, interrupt)))
            except (ConnectionClosed, ConnectionError):
                pass  # gone: its exit re-queues what it held

    def request_spare_worker(self) -> None:
        node = self.node
        if self.core.spare_worker(sum(node.pool.spawn_requests), len(node.actors.actors)):
            node.request_workers(1)

    def replenish_pool(self) -> None:
        node = self.node
        missing = self.core.replenish(sum(node.pool.spawn_requests))
        if missing > 0 and not node.closed:
            node.request_workers(missing)

    def maybe_start_worker(self) -> None:
        n = self.core.more_workers(sum(self.node.pool.spawn_requests))
        if n:
            self.node.request_workers(n)

    def assign(self, worker: "WorkerHandle", spec: TaskSpec) -> None:
        self.core.assign(worker, spec)
        self.started(worker, spec)

    def started(self, worker: "WorkerHandle", spec: TaskSpec) -> None:
        """The scheduler gave `spec` to `worker`: GPU ids, then the exec message."""
        if "GPU" in spec.resources:
            self.assign_gpus(worker, spec)
        self.send_exec(worker, spec)

    def assign_gpus(self, worker: "WorkerHandle", spec: TaskSpec) -> None:
        """Concrete GPU ids for the task or actor `spec` that `worker` is about to run."""
        node = self.node
        total = node.cluster_nodes[worker.node_id].total.get("GPU", 0.0)
        spec.gpu_ids = node.gpu_slots.assign(worker.node_id, total, worker.worker_id,
                                                      spec.resources.get("GPU", 0.0))

    def send_exec(self, worker: "WorkerHandle", spec: TaskSpec, later: bool = False) -> None:
        """Send the task to the worker (`later`: queued on its connection until the next
        send or flush, see ActorManager._forward)."""
        node = self.node
        entries = node.table.entries
        deps = [(oid, node.objects.worker_descriptor(entries[oid], worker))
                for oid in dict.fromkeys(spec.arg_refs)]
        blob = None
        if spec.function_id and spec.function_id not in worker.functions:
            blob = self.functions[spec.function_id]
            worker.functions.add(spec.function_id)
        try:
            if later:
                worker.conn.send_later(wire_exec(spec, blob, deps))
            else:
                worker.conn.send(wire_exec(spec, blob, deps))
        except ConnectionClosed:
            pass  # the I/O thread sees the exit and retries the task

    # =========================================================================
    # messages from workers
    # =========================================================================
    def on_ready(self, worker: "WorkerHandle", pid: int) -> None:
        self.core.worker_ready(worker, time.monotonic())
        self.dispatch()

    def on_done(self, worker: "WorkerHandle", task_id: bytes, results: List[Tuple[Any, ...]],
                retry: bool, timing: Optional[Tuple[float, float]] = None) -> None:
        node = self.node
        if worker.revoked and self.core.skipped(worker, task_id):
            node.objects.free_blocks_of(results, worker.node_id)  # a skipped run's report
            return
        if timing is not None:
            ran = self.by_id.get(task_id)
            if ran is not None:
                node.timeline.record(ran, worker, timing)
        if worker.actor_id is not None:
            node.actors.on_done(worker, task_id, results)
            self.dispatch()
            node.actors.flush_calls(worker)
            return
        core = self.core
        outcome = core.task_done(worker, task_id, retry)
        if outcome is None:
            return
        spec, retried = outcome
        if spec.gpu_ids is not None:
            node.gpu_slots.release(worker.worker_id)
        if retried:
            node.objects.free_blocks_of(results, worker.node_id)
        else:
            node.objects.store_results(spec, results, worker.node_id)
            keep = worker.node_id != node.node_id and (
                any(r[1] == KIND_ARENA for r in results) or node.remote.lineage.remote_items(task_id)) \
                and node.remote.lineage.keep(spec)
            self.finish(spec, keep_args=keep)
        stop = core.after_run(worker, spec, time.monotonic())
        if stop is not None:
            node.reply(worker, _EXIT)
        self.dispatch()

    def worker_exited(self, worker: "WorkerHandle", code: Optional[int]) -> None:
        """The task half of a task worker's exit: retry or fail its task, ask for a
        replacement, dispatch again."""
        if worker.task is not None:
            how = describe_exit(code)
        else:
            how = ""
        self.perform(self.core.worker_exited(worker, how))
        self.dispatch()

    # =========================================================================
    # the end of a task
    # =========================================================================
    def finish(self, spec: TaskSpec, keep_args: bool = False) -> None:
        """The task is over; its arguments are released (unless kept as lineage)."""
        node = self.node
        self.core.forget(spec.task_id)
        if spec.generator:
            node.streams.finish(spec)
            if not keep_args:
                node.remote.lineage.discard_items(spec.task_id)
        if keep_args:
            return
        freed: List[ObjectEntry] = []
        node.table.add_submitted(spec.all_refs(), -1, freed)
        node.objects.release(freed)

    def fail(self, spec: TaskSpec, error: BaseException) -> None:
        self.core.drop_waiting(spec.task_id)
        self.node.objects.store_results(spec, self.error_results(spec, error))
        self.finish(spec)

    def error_results(self, spec: TaskSpec, error: BaseException) -> List[Tuple[Any, ...]]:
        payload = (serialize(error, context="error").meta, ())
        return [(rid, KIND_INLINE, payload, len(payload[0]), [], True, type(error).__name__)
                for rid in spec.return_ids]

    # =========================================================================
    # cancellation
    # =========================================================================
    def on_cancel(self, worker: "WorkerHandle", req: int, task_id: bytes, force: bool,
                  recursive: bool) -> None:
        try:
            self.cancel_checked(task_id, force, recursive)
        except ValueError as e:  # raised in the task that called cancel()
            self.node.reply(worker, wire(Reply(req, False, e)))
            return
        self.node.reply(worker, wire(Reply(req, True, None)))

    def on_cancel_tagged(self, worker: "WorkerHandle", req: int, tag: str, force: bool) -> None:
        """An attached driver's interrupted cell: cancel the tasks carrying its tag.  Only
        the sender's own work ("attached:<its id>#..."): a driver cannot cancel another's."""
        if not (isinstance(tag, str) and tag.startswith(f"attached:{worker.worker_id}#")):
            self.node.reply(worker, wire(Reply(req, False, ValueError(
                f"cancel-tagged: {tag!r} is not a tag of {worker.worker_id}"))))
            return
        self.node.reply(worker, wire(Reply(req, True, self.cancel_tagged_locked(tag, force))))

    def cancel(self, task_id: bytes, force: bool = False, recursive: bool = True) -> None:
        """Driver side (takes the lock)."""
        with self.node.lock:
            self.cancel_checked(task_id, force, recursive)

    def cancel_checked(self, task_id: bytes, force: bool, recursive: bool) -> None:
        self.perform(self.core.cancel(task_id, force, recursive))

    def cancel_tagged(self, tag: Any, force: bool = False) -> int:
        """Cancel every unfinished task carrying `tag` (a notebook cell's work); driver
        side (takes the lock)."""
        with self.node.lock:
            return self.cancel_tagged_locked(tag, force)

    def cancel_tagged_locked(self, tag: Any, force: bool) -> int:
        ids = self.core.tagged(tag)
        out: List[Instruction] = []
        for tid in ids:
            self.core.cancel_one(tid, force, out)
        self.perform(out)
        return len(ids)

    def cancel_one(self, task_id: bytes, force: bool) -> None:
        out: List[Instruction] = []
        self.core.cancel_one(task_id, force, out)
        self.perform(out)


__all__ = ["NodeTasks"]
