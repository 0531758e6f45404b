"""One node of the cluster: its shared-memory store, its worker processes and its task queue.

The node runs inside the driver process for a local cluster (`nbray.init()`),
so a task costs one round trip driver -> worker -> driver and no extra hop.
Workers talk to it over socketpairs it creates itself: nothing listens, so no
unauthenticated peer can ever send it a pickle.  One I/O thread reads every
worker's socket; driver calls come in from the user's threads.  All state is
guarded by one re-entrant lock.

The node itself is the composition and the I/O loop: it reads messages and hands each to
the component that owns it.  Its worker processes are `self.pool` (worker_pool.py, shared
with the NodeAgent of a joined node); the other nodes of the cluster, their heartbeats and
the transfers between them are `self.remote` (remote_nodes.py).
"""

from __future__ import annotations

import collections
import os
import selectors
import sys
import threading
import time
import traceback
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from .. import exceptions as exc
from ..config import Config
from ..core.object_table import ObjectEntry, ObjectTable
from ..core.specs import TaskSpec
from ..serialization import serialize
from ..store.allocator import Allocator
from ..store.shm import Arena, create_arena_fd
from ..store.spill import make_backend, remove_stale_sessions, spill_failure
from ..transport.framing import ConnectionClosed
from .actor_manager import ActorManager
from .gpu_ids import GpuSlots
from .node_objects import NodeObjects
from .node_store import NodeStore
from .node_streams import NodeStreams
from .remote_nodes import RemoteNodes
from .timeline import Timeline
from .worker_requests import WorkerObjectRequests
from .cluster import DRIVER, Descriptor, NodeInfo
from .worker_pool import WorkerHandle, WorkerPool
from .worker_process import _describe_exit, print_worker_output, worker_env

class Node:
    def __init__(self, config: Config, node_id: str,
                 output_sink: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
        self.config = config.resolved()
        self.node_id = node_id
        self.output_sink = output_sink or print_worker_output
        cap = self.config.object_store_memory
        self.session = f"{os.getpid()}-{node_id[:8]}"
        self.spill = make_backend(self.config.spill_url, self.config.spill_options, self.session)
        if self.config.spill_url is not None:
            try:
                self.spill.check()
            except Exception as e:
                raise spill_failure(e, (
                    f"the spill target {self.config.spill_url!r} cannot be written: "
                    f"{type(e).__name__}: {e}")) from e
        remove_stale_sessions()
        self._arena_fd = create_arena_fd(cap)
        self.arena = Arena(self._arena_fd, cap, owns_fd=False)
        self.allocator = Allocator(cap)
        self.table = ObjectTable()
        self.lock = threading.RLock()
        self.functions: Dict[bytes, bytes] = {}
        self.ready_queue: Deque[TaskSpec] = collections.deque()
        self.tasks: Dict[bytes, TaskSpec] = {}
        self._pending_deps: Dict[bytes, int] = {}
        # Tasks cancelled with recursive=True that are still running: what they submit
        # from now on is cancelled on arrival.
        self._cancelled_parents: Set[bytes] = set()
        # task id -> ids of the tasks and actor calls it submitted (for recursive cancel);
        # dropped when the task ends, pruned of finished children as it grows.
        self._children: Dict[bytes, List[bytes]] = {}
        self.total_resources: Dict[str, float] = {"CPU": float(self.config.num_cpus)}
        self.total_resources.update({k: float(v) for k, v in self.config.resources.items()})
        # A resource the node has none of is not listed (Ray omits CPU after num_cpus=0).
        self.total_resources = {k: v for k, v in self.total_resources.items() if v > 0}
        self.total_resources[f"node:{node_id}"] = 1.0
        self.available: Dict[str, float] = dict(self.total_resources)
        self.cluster_nodes: Dict[str, NodeInfo] = {node_id: NodeInfo(
            node_id, self.total_resources, self.available, hostname=os.uname().nodename,
            is_head=True, store_capacity=cap, pid=os.getpid())}
        self.closed = False
        self.stats: "collections.Counter[str]" = collections.Counter()
        self.store = NodeStore(self.arena, self.allocator, self.spill, self.table, self.stats)
        self.objects = NodeObjects(self)
        # The driver's object calls (client.py, api.py) are node.objects' own methods, bound
        # here so the put/get paths pay no forwarding call.
        self.defer = self.objects.defer
        self.add_holder = self.objects.add_holder
        self.put_serialized = self.objects.put_serialized
        self.get_descriptors = self.objects.get_descriptors
        self.wait_all_or_first_error = self.objects.wait_all_or_first_error
        self.ready_ids = self.objects.ready_ids
        self.wait_ids = self.objects.wait_ids
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._io_thread = threading.Thread(target=self._io_loop, name="nbray-node-io", daemon=True)
        self.pool = WorkerPool(node_id, self._arena_fd, cap, self._make_worker_env(), self.lock,
                               self._watch, self.stats)
        # Every worker the node talks to (its own, relayed ones of other nodes, attached
        # drivers): the pool's table, read by scheduling, actors and introspection.
        self.workers: Dict[str, WorkerHandle] = self.pool.workers
        self._spawn_requests = self.pool.spawn_requests  # MERGE-ALIAS
        self.requests = WorkerObjectRequests(self)
        self.streams = NodeStreams(self)
        self.actors = ActorManager(self)
        self._handlers: Dict[str, Callable[..., None]] = {
            "ready": self._on_ready, "refs": self.requests.on_refs, "done": self._on_done,
            "put": self.requests.on_put, "alloc": self.requests.on_alloc, "seal": self.requests.on_seal,
            "submit": self._on_submit, "get": self.requests.on_get, "get-cancel": self.requests.on_get_cancel,
            "wait": self.requests.on_wait, "unpin": self.requests.on_unpin, "log": self._on_log,
            "cancel": self._on_cancel, "register-function": self._on_register_function,
            "free-block": self.requests.on_free_block, "create-actor": self.actors.on_create_actor,
            "kill-actor": self.actors.on_kill_actor, "get-actor": self.actors.on_get_actor,
            "seal-spilled": self.requests.on_seal_spilled, "query": self._on_query,
            "yield": self.streams.on_yield, "stream-next": self.streams.on_next,
            "stream-wait": self.streams.on_wait, "stream-release": self.streams.on_release,
            "stream-room": self.streams.on_room,
            "actor-exit": self.actors.on_actor_exit,
        }
        self.remote = RemoteNodes(self)
        self.gpu_slots = GpuSlots()
        self.timeline = Timeline()
        self._io_thread.start()
        self.request_workers(self.config.num_cpus)

    # =========================================================================
    # worker processes
    # =========================================================================
    def _make_worker_env(self) -> Dict[str, str]:
        return worker_env(self.config.inline_threshold, self.spill.url, self.config.spill_options,
                          self.config.namespace, self.config.job_id)

    def request_workers(self, n: int) -> None:
        """Ask the I/O thread to start `n` workers (spawning there keeps PDEATHSIG tied
        to a thread that lives as long as the node)."""
        self.pool.request(n)
        self.wake()

    def _watch(self, worker: WorkerHandle) -> None:
        self._selector.register(worker.conn.fileno(), selectors.EVENT_READ, worker)

    def _unwatch(self, worker: WorkerHandle) -> None:
        if worker.proc is not None:  # a relayed worker's messages come through its node
            try:
                self._selector.unregister(worker.conn.fileno())
            except (KeyError, ValueError, OSError):
                pass

    def _live_task_workers(self) -> List[WorkerHandle]: return self.pool.live_task_workers()  # MERGE-ALIAS

    # =========================================================================
    # I/O thread
    # =========================================================================
    def wake(self) -> None:
        """Wake the I/O thread (work was queued for it)."""
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _io_loop(self) -> None:
        while not self.closed:
            timeout = 0.05 if self.objects.deferred else 1.0
            try:
                events = self._selector.select(timeout)
            except OSError:
                if self.closed:
                    return
                raise
            for key, _ in events:
                worker = key.data
                if worker is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                    continue
                try:
                    msgs = worker.conn.recv_available()
                except ConnectionClosed:
                    self.on_worker_exit(worker)
                    continue
                handlers = self._handlers
                with self.lock:
                    for msg in msgs:
                        try:
                            handlers[msg[0]](worker, *msg[1:])
                        except Exception:  # a bug must not take the node down
                            self.internal_error(f"handling {msg[0]!r} from {worker.worker_id}")
            if self.closed:
                return
            if self.pool.spawn_requests:
                self.pool.start_requested(lambda: self.closed, self.internal_error)
            with self.lock:
                self._drain_deferred()
                self.pool.reap_idle(self.config.num_cpus, self.config.idle_worker_timeout_s)
                if len(self.cluster_nodes) > 1:
                    self.remote.check_heartbeats()

    def handle(self, worker: WorkerHandle, msg: Tuple[Any, ...]) -> None:
        """Handle one message from `worker` (one relayed from another node); lock held."""
        try:
            self._handlers[msg[0]](worker, *msg[1:])
        except Exception:  # a bug must not take the node down
            self.internal_error(f"handling {msg[0]!r} from {worker.worker_id}")

    def internal_error(self, what: str) -> None:
        """Report a bug met while handling `what` (inside an except block) and go on."""
        sys.stderr.write(f"nbray: internal error while {what}:\n{traceback.format_exc()}")

    def _internal_error(self, what: str) -> None: self.internal_error(what)  # MERGE-ALIAS
    def _wake(self) -> None: self.wake()  # MERGE-ALIAS

    def reply(self, worker: WorkerHandle, msg: Tuple[Any, ...]) -> None:
        """Send `msg` to `worker`; one that is gone has its exit handled by the I/O thread."""
        try:
            worker.conn.send(msg)
        except ConnectionClosed:
            pass

    def _reply(self, worker: WorkerHandle, msg: Tuple[Any, ...]) -> None: self.reply(worker, msg)  # MERGE-ALIAS

    # =========================================================================
    # objects: node_objects.py (node.objects); the driver's entry points are bound in __init__
    # =========================================================================
    @property
    def deferred(self) -> Any: return self.objects.deferred  # MERGE-ALIAS
    @property
    def _get_requests(self) -> Any: return self.objects.get_requests  # MERGE-ALIAS
    def _drain_deferred(self, *a: Any, **k: Any) -> Any: return self.objects.drain_deferred(*a, **k)  # MERGE-ALIAS
    def _release(self, *a: Any, **k: Any) -> Any: return self.objects.release(*a, **k)  # MERGE-ALIAS
    def _make_ready(self, *a: Any, **k: Any) -> Any: return self.objects.make_ready(*a, **k)  # MERGE-ALIAS
    def _descriptor(self, *a: Any, **k: Any) -> Any: return self.objects.descriptor(*a, **k)  # MERGE-ALIAS
    def _worker_descriptor(self, *a: Any, **k: Any) -> Any: return self.objects.worker_descriptor(*a, **k)  # MERGE-ALIAS
    def _first_error(self, *a: Any, **k: Any) -> Any: return self.objects.first_error(*a, **k)  # MERGE-ALIAS
    def _not_here(self, *a: Any, **k: Any) -> Any: return self.objects.not_here(*a, **k)  # MERGE-ALIAS
    def _await_here(self, *a: Any, **k: Any) -> Any: return self.objects.await_here(*a, **k)  # MERGE-ALIAS
    def _remove_waiters(self, *a: Any, **k: Any) -> Any: return self.objects.remove_waiters(*a, **k)  # MERGE-ALIAS
    def _remove_waiter(self, *a: Any, **k: Any) -> Any: return self.objects.remove_waiter(*a, **k)  # MERGE-ALIAS
    def _missing(self, *a: Any, **k: Any) -> Any: return self.objects.missing(*a, **k)  # MERGE-ALIAS
    def _free_blocks_of(self, *a: Any, **k: Any) -> Any: return self.objects.free_blocks_of(*a, **k)  # MERGE-ALIAS
    def _store_results(self, *a: Any, **k: Any) -> Any: return self.objects.store_results(*a, **k)  # MERGE-ALIAS

    # =========================================================================
    # tasks
    # =========================================================================
    def register_function(self, function_id: bytes, blob: bytes, captured: Iterable[bytes] = ()) -> None:
        with self.lock:
            self.functions.setdefault(function_id, blob)
            self.table.capture(captured)

    def submit(self, spec: TaskSpec) -> None:
        with self.lock:
            self._drain_deferred()
            self._submit(spec)

    def _submit_bookkeeping(self, spec: TaskSpec) -> None:
        """Return objects exist (pending) and the arguments stay alive until the task ends."""
        if self.closed:
            raise exc.RaySystemError("the cluster was shut down")
        for rid in spec.return_ids:
            self.table.create(rid, owner=spec.owner, holder=spec.owner, created_by=spec.name,
                              call_site=spec.call_site, node_id=self.node_id)
        freed: List[ObjectEntry] = []
        self.table.add_submitted(spec.all_refs(), +1, freed)
        self.tasks[spec.task_id] = spec
        parent = spec.extra.get("parent")
        if parent is not None and parent in self.tasks:  # (a parent that ended has no entry)
            siblings = self._children.get(parent)
            if siblings is None:
                self._children[parent] = [spec.task_id]
            else:
                siblings.append(spec.task_id)
                if len(siblings) >= 64 and len(siblings) & (len(siblings) - 1) == 0:
                    siblings[:] = [t for t in siblings if t in self.tasks]
        if spec.generator:
            self.streams.open(spec)

    def _submit(self, spec: TaskSpec) -> None:
        if self._cancelled_parents and spec.extra.get("parent") in self._cancelled_parents \
                and spec.kind != "actor-create":
            self._submit_bookkeeping(spec)
            self._fail_task(spec, exc.TaskCancelledError(spec.task_id.hex()))
            return
        if spec.kind == "actor-call":
            self.actors.submit_call(spec)
            return
        self._submit_bookkeeping(spec)
        if not self._feasible(spec.resources):
            self._fail_task(spec, exc.TaskUnschedulableError(
                f"task {spec.name} asks for {spec.resources}, but no node has that much "
                f"({self._totals_text()}): it can never run. Lower num_cpus/resources or add "
                f"a node that has them."))
            return
        self.when_args_ready(spec, lambda: self._enqueue(spec))

    def when_args_ready(self, spec: TaskSpec, then: Callable[[], None]) -> int:
        """Call `then()` once every top-level argument of `spec` exists (now, if they do).

        Returns how many were missing; a task whose arguments were freed fails at once.
        """
        try:
            missing = self._missing(spec.arg_refs)
        except exc.ObjectLostError as e:
            self._fail_task(spec, e)
            return -1
        if not missing:
            then()
            return 0
        self._pending_deps[spec.task_id] = len(missing)

        def on_dep_ready(entry: ObjectEntry) -> None:
            left = self._pending_deps.get(spec.task_id)
            if left is None:  # cancelled or failed meanwhile
                return
            if left <= 1:
                del self._pending_deps[spec.task_id]
                then()
            else:
                self._pending_deps[spec.task_id] = left - 1

        for entry in missing:
            entry.waiters.append(on_dep_ready)
        return len(missing)

    def _enqueue(self, spec: TaskSpec) -> None:
        # Tasks submitted from inside tasks run first (depth first): their callers
        # are blocked waiting for them, so finishing them frees workers soonest.
        if spec.owner == DRIVER:
            self.ready_queue.append(spec)
        else:
            self.ready_queue.appendleft(spec)
        self._dispatch()

    def _fits(self, demand: Dict[str, float], node_id: Optional[str] = None) -> bool:
        """Whether `demand` fits now on the node (None: on any live node)."""
        if node_id is None:
            return any(info.alive and self._fits(demand, nid)
                       for nid, info in self.cluster_nodes.items())
        avail = self.cluster_nodes[node_id].available
        return all(avail.get(k, 0) >= v - 1e-9 for k, v in demand.items())

    def _feasible(self, demand: Dict[str, float]) -> bool:
        """Whether some live node could ever run `demand`."""
        return any(info.alive and all(info.total.get(k, 0) >= v - 1e-9 for k, v in demand.items())
                   for info in self.cluster_nodes.values())

    def _node_available(self, node_id: str) -> Dict[str, float]:
        info = self.cluster_nodes.get(node_id)
        return info.available if info is not None else {}

    def _acquire(self, worker: WorkerHandle, demand: Dict[str, float]) -> None:
        avail = self._node_available(worker.node_id)
        for k, v in demand.items():
            avail[k] = avail.get(k, 0) - v
        worker.held = dict(demand)

    def _release_resources(self, worker: WorkerHandle) -> None:
        avail = self._node_available(worker.node_id)
        for k, v in worker.held.items():
            avail[k] = avail.get(k, 0) + v
        worker.held = {}

    def _dispatch(self) -> None:
        if self.actors.start_queue:
            self.actors.start_pending()
        queue = self.ready_queue
        while queue:
            spec = queue[0]
            if not self._fits(spec.resources):
                return
            worker = self._idle_worker(spec.resources, spec.arg_refs)
            if worker is None:
                self._maybe_start_worker()
                return
            queue.popleft()
            if len(self.cluster_nodes) > 1 and not self.remote.deps_present(worker, spec):
                continue  # fetching its arguments to that node first; re-queued when there
            self._assign(worker, spec)

    def _idle_worker(self, demand: Optional[Dict[str, float]] = None,
                     arg_refs: Iterable[bytes] = ()) -> Optional[WorkerHandle]:
        """An idle task worker on a node where `demand` fits, preferring the node that
        already holds most of the arguments' bytes."""
        if len(self.cluster_nodes) == 1:
            for w in self.workers.values():
                if w.state == "idle" and w.actor_id is None:
                    return w
            return None
        best, best_score = None, -1.0
        for w in self.workers.values():
            if w.state != "idle" or w.actor_id is not None:
                continue
            if demand and not self._fits(demand, w.node_id):
                continue
            score = self.remote.local_bytes(w.node_id, arg_refs) + (0.5 if w.node_id == self.node_id else 0)
            if score > best_score:
                best, best_score = w, score
        return best

    def _request_spare_worker(self) -> None:
        live = self._live_task_workers()
        if not any(w.state == "starting" for w in live) and not self._spawn_requests \
                and len(self.workers) < self.config.max_workers + len(self.actors.actors):
            self.request_workers(1)

    def _replenish_pool(self) -> None:
        live = self._live_task_workers()
        missing = self.config.num_cpus - len(live) - sum(self._spawn_requests)
        if missing > 0 and not self.closed:
            self.request_workers(missing)

    def _maybe_start_worker(self) -> None:
        live = self._live_task_workers()
        starting = sum(1 for w in live if w.state == "starting") + sum(self._spawn_requests)
        blocked = sum(1 for w in live if w.blocked)
        # Enough processes for every CPU plus one per worker that is blocked in get.
        if starting < 2 and len(live) < min(self.config.max_workers,
                                             self.config.num_cpus + blocked + 1):
            self.request_workers(1)

    def _assign(self, worker: WorkerHandle, spec: TaskSpec) -> None:
        self._acquire(worker, spec.resources)
        if "GPU" in spec.resources:
            self.assign_gpus(worker, spec)
        worker.state, worker.task = "busy", spec
        self._send_exec(worker, spec)

    def _send_exec(self, worker: WorkerHandle, spec: TaskSpec) -> None:
        deps = []
        for oid in dict.fromkeys(spec.arg_refs):
            deps.append((oid, self._worker_descriptor(self.table.entries[oid], worker)))
        blob = None
        if spec.function_id and spec.function_id not in worker.functions:
            blob = self.functions[spec.function_id]
            worker.functions.add(spec.function_id)
        try:
            worker.conn.send(("exec", spec, blob, deps))
        except ConnectionClosed:
            pass  # the I/O thread sees the exit and retries the task

    # -- messages from workers -----------------------------------------------
    def _on_ready(self, worker: WorkerHandle, pid: int) -> None:
        worker.state, worker.idle_since = "idle", time.monotonic()
        self._dispatch()

    def _on_register_function(self, worker: WorkerHandle, fid: bytes, blob: bytes,
                              captured: List[bytes]) -> None:
        self.functions.setdefault(fid, blob)
        self.table.capture(captured)

    def _on_submit(self, worker: WorkerHandle, spec: TaskSpec) -> None:
        try:
            self._submit(spec)
        except exc.RaySystemError:
            pass

    def assign_gpus(self, worker: WorkerHandle, spec: TaskSpec) -> None:
        """Concrete GPU ids for the task or actor `spec` that `worker` is about to run."""
        total = self.cluster_nodes[worker.node_id].total.get("GPU", 0.0)
        spec.extra["gpu_ids"] = self.gpu_slots.assign(worker.node_id, total, worker.worker_id,
                                                      spec.resources.get("GPU", 0.0))

    def _on_done(self, worker: WorkerHandle, task_id: bytes, results: List[Tuple], retry: bool,
                 timing: Optional[Tuple[float, float]] = None) -> None:
        if timing is not None:
            ran = self.tasks.get(task_id)
            if ran is not None:
                self.timeline.record(ran, worker, timing)
        if worker.actor_id is not None:
            self.actors.on_done(worker, task_id, results)
            self._dispatch()
            return
        spec = worker.task
        if spec is None or spec.task_id != task_id:
            return
        worker.task = None
        self._release_resources(worker)
        if "gpu_ids" in spec.extra:
            self.gpu_slots.release(worker.worker_id)
        if task_id in worker.cancelled:
            worker.cancelled.discard(task_id)
            retry = False
        if retry and self._retries_left(spec):
            self._free_blocks_of(results, worker.node_id)
            spec.attempt += 1
            self.stats["task_retries"] += 1
            self.ready_queue.appendleft(spec)
        else:
            self._store_results(spec, results, worker.node_id)
            keep = worker.node_id != self.node_id and (
                any(r[1] == "s" for r in results) or spec.extra.get("remote_items", False)) \
                and self.remote.lineage.keep(spec)
            self._finish_task(spec, keep_args=keep)
        limit = spec.extra.get("max_calls")
        if limit:
            runs = worker.calls[spec.function_id] = worker.calls.get(spec.function_id, 0) + 1
            if runs >= limit and worker.state == "busy":
                # Ray's max_calls: this worker ran the function often enough; it leaves and
                # the node starts a new one in its place (_on_worker_exit).
                worker.state = "exiting"
                self._reply(worker, ("exit",))
        if worker.state == "busy":
            worker.state, worker.idle_since = "idle", time.monotonic()
        self._dispatch()

    def _retries_left(self, spec: TaskSpec) -> bool:
        return spec.max_retries == -1 or spec.attempt < spec.max_retries

    def _finish_task(self, spec: TaskSpec, keep_args: bool = False) -> None:
        """The task is over; its arguments are released (unless kept as lineage)."""
        self.tasks.pop(spec.task_id, None)
        if self._cancelled_parents:
            self._cancelled_parents.discard(spec.task_id)
        if self._children:
            self._children.pop(spec.task_id, None)
        if spec.generator:
            self.streams.finish(spec)
        if keep_args:
            return
        freed: List[ObjectEntry] = []
        self.table.add_submitted(spec.all_refs(), -1, freed)
        self._release(freed)

    def _fail_task(self, spec: TaskSpec, error: BaseException) -> None:
        self._pending_deps.pop(spec.task_id, None)
        self._store_results(spec, self._error_results(spec, error))
        self._finish_task(spec)

    def _error_results(self, spec: TaskSpec, error: BaseException) -> List[Tuple]:
        payload = (serialize(error, context="error").meta, ())
        return [(rid, "i", payload, len(payload[0]), [], True, type(error).__name__)
                for rid in spec.return_ids]

    # -- nested get / wait from workers ---------------------------------------

    def _on_query(self, worker: WorkerHandle, req: int, op: str, args: Dict[str, Any]) -> None:
        from . import queries

        try:
            result = queries.run(self, op, args, None, holder=worker.worker_id)
        except Exception as e:
            self._reply(worker, ("reply", req, False, e))
            return
        self._reply(worker, ("reply", req, True, result))

    def _on_log(self, worker: WorkerHandle, stream: str, text: str, task_name: str,
                task_id: Optional[bytes]) -> None:
        if not self.config.log_to_driver:
            return
        spec = self.tasks.get(task_id) if task_id is not None else None
        tag = spec.extra.get("tag") if spec else None
        if isinstance(tag, str) and tag.startswith("attached:"):
            # Output of work started by an attached driver goes back to that driver.
            target = self.workers.get(tag[len("attached:"):].split("#", 1)[0])
            if target is not None:
                self._reply(target, ("log", {
                    "stream": stream, "text": text, "task_name": task_name, "pid": worker.pid,
                    "worker_id": worker.worker_id, "task_id": task_id,
                    "owner": spec.owner if spec else None,
                    "tag": tag, "node_id": worker.node_id}))
                return
        try:
            self.output_sink({"stream": stream, "text": text, "task_name": task_name,
                              "pid": worker.pid, "worker_id": worker.worker_id,
                              "task_id": task_id, "owner": spec.owner if spec else None,
                              "tag": spec.extra.get("tag") if spec else None,
                              "node_id": self.node_id})
        except Exception:
            self._internal_error("writing worker output")

    def _on_cancel(self, worker: WorkerHandle, req: int, task_id: bytes, force: bool,
                   recursive: bool) -> None:
        try:
            self._cancel_checked(task_id, force, recursive)
        except ValueError as e:  # raised in the task that called cancel()
            self._reply(worker, ("reply", req, False, e))
            return
        self._reply(worker, ("reply", req, True, None))

    # -- cancellation ---------------------------------------------------------
    def cancel(self, task_id: bytes, force: bool = False, recursive: bool = True) -> None:
        with self.lock:
            self._cancel_checked(task_id, force, recursive)

    def _cancel_checked(self, task_id: bytes, force: bool, recursive: bool) -> None:
        spec = self.tasks.get(task_id)
        if spec is None:
            return  # finished already: nothing to do (its children neither), as in Ray
        if force and spec.kind != "task":
            raise ValueError("force=True is not supported for actor tasks (it would kill the "
                             "actor's process): cancel without force, or use kill() on the actor")
        if not recursive:
            self._cancel(task_id, force)
            return
        # The task first (its worker records the cancellation before any child's error can
        # reach it), then everything it submitted, transitively, as Ray's recursive=True.
        pending, seen = [task_id], {task_id}
        while pending:
            tid = pending.pop()
            subs = tuple(self._children.get(tid, ()))  # before cancelling ends tid's entry
            child = self.tasks.get(tid)
            if child is not None and child.kind != "actor-create":
                # force applies to the task named, not to child actor calls (as in Ray).
                self._cancel(tid, force and child.kind == "task")
                if child.kind == "task" and tid in self.tasks:
                    # Still running until the interrupt lands: what it submits meanwhile
                    # is cancelled too.
                    self._cancelled_parents.add(tid)
            for sub in subs:
                if sub not in seen:
                    seen.add(sub)
                    pending.append(sub)

    def cancel_tagged(self, tag: Any, force: bool = False) -> int:
        """Cancel every unfinished task carrying `tag` (a notebook cell's work)."""
        with self.lock:
            ids = [tid for tid, spec in self.tasks.items()
                   if spec.extra.get("tag") == tag and spec.kind == "task"]
            for tid in ids:
                self._cancel(tid, force)
            return len(ids)

    def _cancel(self, task_id: bytes, force: bool) -> None:
        spec = self.tasks.get(task_id)
        if spec is None:
            return  # finished already: nothing to do, as in Ray
        if spec.kind == "actor-call":
            self.actors.cancel(spec)
            return
        if spec.kind != "task":
            return
        error = exc.TaskCancelledError(task_id.hex())
        running = next((w for w in self.workers.values()
                        if w.task is not None and w.task.task_id == task_id), None)
        if running is None:
            try:
                self.ready_queue.remove(spec)
            except ValueError:
                pass
            self._fail_task(spec, error)
            return
        running.cancelled.add(task_id)
        if force:
            self._kill_worker(running)
        else:
            try:
                # The worker interrupts itself once it has recorded the cancellation,
                # so the signal can never arrive before the flag.
                running.conn.send(("cancel", task_id))
            except (ConnectionClosed, ConnectionError):
                pass

    def _kill_worker(self, worker: WorkerHandle) -> None: self.pool.kill(worker)  # MERGE-ALIAS

    def _totals_text(self) -> str:
        return "; ".join(f"node {nid[:8]}: " + (", ".join(
            f"{k}={v:g}" for k, v in info.total.items() if not k.startswith("node:"))
            or "no CPUs or other resources")
            for nid, info in self.cluster_nodes.items() if info.alive)

    # -- worker exit -----------------------------------------------------------
    def on_worker_exit(self, worker: WorkerHandle, code: Optional[int] = None) -> None:
        """A worker is gone (its socket closed, or its node reported it or was lost): the
        pool reaps it, then its objects, streams, actor and task are dealt with."""
        self._unwatch(worker)
        with self.lock:
            if worker.state == "dead":
                return
            code = self.pool.forget(worker, code)
            self.gpu_slots.release(worker.worker_id)
            self.stats["workers_died"] += 1
            self.objects.holder_gone(worker.worker_id)
            self.streams.owner_gone(worker.worker_id)
            if worker.actor_id is not None:
                self.actors.on_worker_exit(worker, _describe_exit(code))
                self._dispatch()
                return
            spec = worker.task
            if spec is not None and not self.closed:
                self._release_resources(worker)
                spec.extra.pop("lent", None)
                if spec.task_id in worker.cancelled:
                    self._fail_task(spec, exc.TaskCancelledError(spec.task_id.hex()))
                elif self._retries_left(spec):
                    spec.attempt += 1
                    self.stats["task_retries"] += 1
                    self.ready_queue.appendleft(spec)
                else:
                    how = _describe_exit(code)
                    self._fail_task(spec, exc.WorkerCrashedError(
                        f"the worker running {spec.name}() (pid {worker.pid}) {how}; the task "
                        f"was tried {spec.attempt + 1} time(s) (max_retries={spec.max_retries})."))
            if not self.closed:
                if worker.node_id == self.node_id and \
                        len(self._live_task_workers()) < self.config.num_cpus:
                    self.request_workers(1)
                self._dispatch()

    # -- actors (runtime/actor_manager.py) ---------------------------------------------
    # Thin public delegates that stay: client.py calls these on the in-process node.
    def create_actor(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        return self.actors.create_actor(spec, info)

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        self.actors.kill_actor(actor_id, no_restart)

    def get_actor(self, name: str, namespace: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        return self.actors.get_actor(name, namespace)

    # =========================================================================
    # introspection and shutdown
    # =========================================================================
    def _node_rows_locked(self) -> List[Dict[str, Any]]: return self.node_rows_locked()  # MERGE-ALIAS

    def node_rows_locked(self) -> List[Dict[str, Any]]:
        """One row per node ever seen (Ray's nodes() keys); call with the lock held."""
        rows = []
        for nid, info in self.cluster_nodes.items():
            cap = self.allocator.capacity if info.is_head else info.store_capacity
            used = self.allocator.used if info.is_head else info.store_used
            rows.append({
                "NodeID": nid, "Alive": info.alive, "alive": info.alive,
                "NodeManagerAddress": info.object_url or "127.0.0.1",
                "NodeManagerHostname": info.hostname, "IsHead": info.is_head,
                "Resources": {**info.total, "object_store_memory": float(cap)},
                "Available": {k: max(0.0, v) for k, v in info.available.items()},
                "IsDriver": info.is_driver,
                "ObjectStoreUsed": used, "Workers": sum(
                    1 for w in self.workers.values() if w.node_id == nid),
                "pid": info.pid,
            })
        return rows

    def store_stats(self) -> Dict[str, int]:
        with self.lock:
            return {"capacity": self.allocator.capacity, "used": self.allocator.used,
                    "objects": len(self.table.entries), "zombies": len(self.table.zombies)}

    def worker_pids(self) -> List[int]:
        with self.lock:
            return [w.pid for w in self.workers.values()]

    def shutdown(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.remote.shutdown_nodes()
        self.wake()
        if self._io_thread is not threading.current_thread():
            self._io_thread.join(timeout=5)
        # Only now: the I/O thread may have been starting a worker a moment ago.
        self.pool.shutdown()
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.arena.close()
        try:
            os.close(self._arena_fd)
        except OSError:
            pass
        self.spill.cleanup()
