"""One node of the cluster: its shared-memory store, its worker processes and its task queue.

The node runs inside the driver process for a local cluster (`nbray.init()`),
so a task costs one round trip driver -> worker -> driver and no extra hop.
Workers talk to it over socketpairs it creates itself: nothing listens, so no
unauthenticated peer can ever send it a pickle.  One I/O thread reads every
worker's socket; driver calls come in from the user's threads.  All state is
guarded by one re-entrant lock.
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from .. import exceptions as exc
from ..config import Config
from ..core.object_table import INLINE, PENDING, SHM, ObjectEntry, ObjectTable
from ..core.scheduler import WorkerState
from ..core.specs import TaskSpec
from ..serialization import Serialized
from ..store.allocator import Allocator
from ..core.object_table import SPILLED
from ..store.layout import layout_chunks, layout_size, write_object
from ..store.shm import Arena, create_arena_fd
from ..store.spill import make_backend, remove_stale_sessions, spill_failure
from ..transport.framing import ConnectionClosed
from .actor_manager import ActorManager
from .gpu_ids import GpuSlots
from .latch import Latch
from .node_store import NodeStore
from .node_tasks import NodeTasks
from .node_streams import NodeStreams
from .remote_nodes import RemoteNodes
from .timeline import Timeline
from .worker_requests import WorkerObjectRequests
from .worker_process import _describe_exit, print_worker_output, start_worker_process, worker_env

DRIVER = "driver"

# A descriptor says where a ready value is, so any process of the node can read it:
#   ("i", (meta, buffers), is_error)  inline bytes
#   ("s", offset, is_error)           arena block; the receiver is registered as a reader
Descriptor = Tuple[Any, ...]


@dataclass(eq=False)
class WorkerHandle:
    worker_id: str
    proc: Optional[subprocess.Popen]   # None for a worker of another node
    conn: Any                          # MessageConnection, or a relay through its node
    state: WorkerState = "starting"    # see core.scheduler.WorkerState
    task: Optional[TaskSpec] = None
    held: Dict[str, float] = field(default_factory=dict)
    blocked: int = 0                   # nested get/wait calls in progress
    functions: Set[bytes] = field(default_factory=set)
    actor_id: Optional[bytes] = None
    idle_since: float = 0.0
    cancelled: Set[bytes] = field(default_factory=set)
    node_id: str = ""
    remote_pid: int = 0
    calls: Dict[bytes, int] = field(default_factory=dict)  # function id -> runs (max_calls)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else self.remote_pid

    def signal(self, signum: int) -> None:
        """Send a signal to the worker process, wherever it runs."""
        if self.proc is not None:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass
        else:
            try:
                self.conn.node_send(("signal", self.worker_id, int(signum)))
            except ConnectionError:
                pass


@dataclass(eq=False)
class NodeInfo:
    """A node of the cluster as the head sees it (the head's own node included)."""

    node_id: str
    total: Dict[str, float]
    available: Dict[str, float]
    conn: Any = None                   # None for the head's own node
    hostname: str = ""
    object_url: str = ""               # where its objects can be fetched over HTTP
    alive: bool = True
    last_seen: float = field(default_factory=time.monotonic)
    is_head: bool = False
    store_capacity: int = 0
    store_used: int = 0
    pid: int = 0
    is_driver: bool = False            # the in-process node of an attached driver (no CPUs)


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
        self.workers: Dict[str, WorkerHandle] = {}
        self._by_fd: Dict[int, WorkerHandle] = {}
        self._worker_seq = 0
        self.total_resources: Dict[str, float] = {"CPU": float(self.config.num_cpus)}
        self.total_resources.update({k: float(v) for k, v in self.config.resources.items()})
        # A resource the node has none of is not listed (Ray omits CPU after num_cpus=0).
        self.total_resources = {k: v for k, v in self.total_resources.items() if v > 0}
        self.total_resources[f"node:{node_id}"] = 1.0
        self.available: Dict[str, float] = dict(self.total_resources)
        self.cluster_nodes: Dict[str, NodeInfo] = {node_id: NodeInfo(
            node_id, self.total_resources, self.available, hostname=os.uname().nodename,
            is_head=True, store_capacity=cap, pid=os.getpid())}
        self.deferred: Deque[Tuple[str, bytes]] = collections.deque()
        self._get_requests: Dict[Tuple[str, int], Any] = {}
        self.closed = False
        self.stats: "collections.Counter[str]" = collections.Counter()
        self.store = NodeStore(self.arena, self.allocator, self.spill, self.table, self.stats)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._spawn_requests: Deque[int] = collections.deque()
        self._io_thread = threading.Thread(target=self._io_loop, name="nbray-node-io", daemon=True)
        self._worker_env = self._make_worker_env()
        self.tasks = NodeTasks(self)
        self.requests = WorkerObjectRequests(self)
        self.streams = NodeStreams(self)
        self._handlers = {
            "ready": self.tasks.on_ready, "refs": self.requests.on_refs, "done": self.tasks.on_done,
            "put": self.requests.on_put, "alloc": self.requests.on_alloc, "seal": self.requests.on_seal,
            "submit": self.tasks.on_submit, "get": self.requests.on_get, "get-cancel": self.requests.on_get_cancel,
            "wait": self.requests.on_wait, "unpin": self.requests.on_unpin, "log": self._on_log,
            "cancel": self.tasks.on_cancel, "register-function": self.tasks.on_register_function,
            "free-block": self.requests.on_free_block, "create-actor": self._on_create_actor,
            "kill-actor": self._on_kill_actor, "get-actor": self._on_get_actor,
            "seal-spilled": self.requests.on_seal_spilled, "query": self._on_query,
            "yield": self.streams.on_yield, "stream-next": self.streams.on_next,
            "stream-wait": self.streams.on_wait, "stream-release": self.streams.on_release,
            "stream-room": self.streams.on_room,
            "actor-exit": self._on_actor_exit,
        }
        self.actors = ActorManager(self)
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
        self._spawn_requests.append(n)
        self._wake()

    def _spawn_worker(self) -> WorkerHandle:
        self._worker_seq += 1
        worker_id = f"{self.node_id[:8]}-w{self._worker_seq}"
        proc, conn = start_worker_process(self._arena_fd, self.arena.capacity, self.node_id,
                                          worker_id, self._worker_env)
        worker = WorkerHandle(worker_id, proc, conn, idle_since=time.monotonic(),
                              node_id=self.node_id)
        with self.lock:
            self.workers[worker_id] = worker
            self._by_fd[conn.fileno()] = worker
        self._selector.register(conn.fileno(), selectors.EVENT_READ, worker)
        self.stats["workers_started"] += 1
        return worker

    def _live_task_workers(self) -> List[WorkerHandle]:
        return [w for w in self.workers.values() if w.state != "dead" and w.actor_id is None
                and w.node_id == self.node_id]


    # =========================================================================
    # I/O thread
    # =========================================================================
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _io_loop(self) -> None:
        while not self.closed:
            timeout = 0.05 if self.deferred else 1.0
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
                    self._on_worker_exit(worker)
                    continue
                with self.lock:
                    for msg in msgs:
                        try:
                            self._handlers[msg[0]](worker, *msg[1:])
                        except Exception:  # a bug must not take the node down
                            self._internal_error(f"handling {msg[0]!r} from {worker.worker_id}")
            if self.closed:
                return
            while self._spawn_requests and not self.closed:
                n = self._spawn_requests[0]
                try:
                    self._spawn_worker()
                except OSError as e:
                    self._internal_error(f"starting a worker failed: {e}")
                # Counted as requested until started, so dispatch never asks twice.
                if n <= 1:
                    self._spawn_requests.popleft()
                else:
                    self._spawn_requests[0] = n - 1
            with self.lock:
                self._drain_deferred()
                self._reap_idle_workers()
                if len(self.cluster_nodes) > 1:
                    self.remote.check_heartbeats()

    def _internal_error(self, what: str) -> None:
        sys.stderr.write(f"nbray: internal error while {what}:\n{traceback.format_exc()}")

    # =========================================================================
    # references and memory (driver side: deferred from __del__ and finalizers)
    # =========================================================================
    def defer(self, op: str, object_id: bytes) -> None:
        """Called from ObjectRef.__del__ and buffer finalizers, at any time, in any thread."""
        self.deferred.append((op, object_id))

    def _drain_deferred(self) -> None:
        freed: List[ObjectEntry] = []
        deferred = self.deferred
        while deferred:
            op, oid = deferred.popleft()
            if op == "remove":
                self.table.remove_holder(oid, DRIVER, freed)
            elif op == "unpin":
                self.table.remove_reader(oid, DRIVER, freed)
            elif op == "stream-release":  # a generator went away (oid is its task id)
                self._release(freed)
                freed = []
                self.streams.release(oid)
        self._release(freed)

    def add_holder(self, object_id: bytes, holder: str = DRIVER) -> None:
        with self.lock:
            self.table.add_holder(object_id, holder)

    def _release(self, freed: Iterable[ObjectEntry]) -> None:
        for entry in freed:
            if entry.object_id in self.actors.by_creation_object:
                self.actors.on_object_freed(entry)
            if entry.state == SHM and entry.offset >= 0:
                self.allocator.free(entry.offset, entry.block)
                entry.offset = -1
            if entry.spill_url is not None:
                self.store.delete_spilled(entry.spill_url)
                entry.spill_url = None
            if entry.copies:
                self.remote.release_copies(entry)
            if self.remote.lineage:
                self.remote.drop_lineage(entry.object_id)
            entry.inline = None
            self.stats["objects_freed"] += 1

    # =========================================================================
    # objects
    # =========================================================================
    def put_serialized(self, object_id: bytes, ser: Serialized, holder: str = DRIVER,
                       created_by: str = "put", call_site: str = "", type_name: str = "") -> None:
        """Store a value made in this process (the driver's put, or a task arg)."""
        if ser.nbytes <= self.config.inline_threshold:
            payload = (ser.meta, tuple(bytes(b) for b in ser.buffers))
            with self.lock:
                self._drain_deferred()
                entry = self.table.create(object_id, owner=holder, holder=holder,
                                          created_by=created_by, call_site=call_site,
                                          type_name=type_name, node_id=self.node_id)
                self._make_ready(entry, inline=payload, size=ser.nbytes, contains=ser.contained_refs)
            return
        size = layout_size(len(ser.meta), [b.nbytes for b in ser.buffers])
        if size > self.allocator.capacity:
            # Larger than the whole store: it lives on the spill target only.
            url = self.store.spill_write(object_id, layout_chunks(ser.meta, ser.buffers), size)
            with self.lock:
                entry = self.table.create(object_id, owner=holder, holder=holder,
                                          created_by=created_by, call_site=call_site,
                                          type_name=type_name, node_id=self.node_id)
                self._make_ready(entry, spilled=(url, size), size=ser.nbytes,
                                 contains=ser.contained_refs)
            return
        with self.lock:
            self._drain_deferred()
            offset = self.store.allocate(size, object_id)
            entry = self.table.create(object_id, owner=holder, holder=holder, created_by=created_by,
                                      call_site=call_site, type_name=type_name, node_id=self.node_id)
            entry.offset, entry.block = offset, size
        try:
            write_object(self.arena.view, offset, ser.meta, ser.buffers)
        except BaseException:
            with self.lock:
                self.table.entries.pop(object_id, None)
                self.allocator.free(offset, size)
            raise
        with self.lock:
            self._make_ready(entry, shm=(offset, size), size=ser.nbytes, contains=ser.contained_refs)

    def _make_ready(self, entry: ObjectEntry, *, inline: Any = None,
                    shm: Optional[Tuple[int, int]] = None, size: int = 0,
                    contains: Iterable[bytes] = (), is_error: bool = False,
                    spilled: Optional[Tuple[str, int]] = None,
                    remote: Optional[Tuple[str, Tuple[int, int]]] = None) -> None:
        if inline is not None:
            entry.state, entry.inline = INLINE, inline
        elif remote is not None:
            entry.state = SHM
            entry.copies[remote[0]] = remote[1]
            entry.block = remote[1][1]
        elif spilled is not None:
            entry.state = SPILLED
            entry.spill_url, entry.block = spilled
        else:
            entry.state = SHM
            entry.offset, entry.block = shm  # type: ignore[misc]
        entry.size = size
        entry.is_error = is_error
        entry.created_at = entry.last_access = time.time()
        self.table.seal(entry, tuple(contains))
        if entry.waiters:
            waiters, entry.waiters = entry.waiters, []
            for w in waiters:
                w(entry)

    def _descriptor(self, entry: ObjectEntry, reader: str) -> Descriptor:
        entry.last_access = time.time()
        if entry.state == INLINE:
            return ("i", entry.inline, entry.is_error)
        if entry.state == SPILLED and not self.store.restore(entry):
            # Bigger than the store, or everything else is mapped: read from the spill target.
            return ("f", (entry.spill_url, entry.block), entry.is_error)
        self.table.add_reader(entry, reader)
        return ("s", entry.offset, entry.is_error)

    def get_descriptors(self, object_ids: List[bytes], timeout: Optional[float],
                        reader: str = DRIVER) -> List[Descriptor]:
        """Descriptors of the objects, waiting until all exist (driver side)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self.lock:
                self._drain_deferred()
                missing = self._not_here(object_ids, self.node_id)
                if not missing:
                    return [self._descriptor(self.table.entries[oid], reader) for oid in object_ids]
                countdown = Latch(len(missing))
                errors: List[BaseException] = []
                waiters = self._await_here(missing, self.node_id, countdown, errors)
            try:
                ok = countdown.wait(None if deadline is None else deadline - time.monotonic())
            except BaseException:
                self._remove_waiters(waiters)
                raise
            if not ok:
                self._remove_waiters(waiters)
                raise exc.GetTimeoutError(
                    f"get timed out after {timeout} s: {countdown.remaining} of "
                    f"{len(set(object_ids))} objects not ready")
            if errors:
                raise errors[0]  # no copy could be brought here (store full, lost for good)
            # Loop: an object made on another node may still have to be pulled here.

    def wait_all_or_first_error(self, object_ids: List[bytes],
                                timeout: Optional[float]) -> Optional[bytes]:
        """Wait until every object is ready, one of them is an error, or `timeout` passes;
        returns the first error's id in input order, or None.  Ray's get() of a list raises
        as soon as any object failed, without waiting for the others: this is its wait."""
        with self.lock:
            self._drain_deferred()
            pending = self._missing(object_ids)
            failed = self._first_error(object_ids)
            if failed is not None or not pending:
                return failed
            countdown = Latch(len(pending))

            def arrived(entry: ObjectEntry) -> None:
                if entry.is_error and countdown.remaining > 0:
                    countdown.remaining = 1   # a failure ends the wait at once
                countdown.count_down()

            for entry in pending:
                entry.waiters.append(arrived)
        try:
            countdown.wait(timeout)
        finally:
            self._remove_waiter(pending, arrived)
        with self.lock:
            return self._first_error(object_ids)

    def _first_error(self, object_ids: Iterable[bytes]) -> Optional[bytes]:
        entries = self.table.entries
        for oid in object_ids:
            entry = entries.get(oid)
            if entry is not None and entry.state != PENDING and entry.is_error:
                return oid
        return None

    def _not_here(self, object_ids: Iterable[bytes], node_id: str) -> List[ObjectEntry]:
        """Entries still pending, or ready but with no copy on `node_id`."""
        if len(self.cluster_nodes) == 1:
            return self._missing(object_ids)
        out: List[ObjectEntry] = []
        seen: Set[bytes] = set()
        for oid in object_ids:
            entry = self.table.entries.get(oid)
            if entry is None:
                self._missing([oid])  # raises ObjectLostError with the reason
                continue
            if oid not in seen and (entry.state == PENDING or
                                    not self.remote.present_on(entry, node_id)):
                seen.add(oid)
                out.append(entry)
        return out

    def _await_here(self, entries: List[ObjectEntry], node_id: str,
                    callback: Callable[[ObjectEntry], None],
                    errors: Optional[List[BaseException]] = None) -> List[Tuple[ObjectEntry, Any]]:
        """Call `callback(entry)` once each entry is ready (and, with several nodes, once a
        copy reached `node_id`, or failed to: then the error is appended to `errors`).
        Returns the registered waiters, for removal on timeout."""
        registered = []
        if len(self.cluster_nodes) == 1:
            for entry in entries:
                entry.waiters.append(callback)
                registered.append((entry, callback))
            return registered

        def when_ready(entry: ObjectEntry) -> None:
            if self.remote.present_on(entry, node_id) or entry.is_error:
                callback(entry)
            else:
                def fetched(err: Optional[BaseException], e: ObjectEntry = entry) -> None:
                    if err is not None and errors is not None:
                        errors.append(err)
                    callback(e)

                self.remote.fetch(entry, node_id, fetched)

        for entry in entries:
            if entry.state == PENDING:
                entry.waiters.append(when_ready)
                registered.append((entry, when_ready))
            else:
                when_ready(entry)
        return registered

    def _remove_waiters(self, waiters: List[Tuple[ObjectEntry, Any]]) -> None:
        with self.lock:
            for entry, waiter in waiters:
                try:
                    entry.waiters.remove(waiter)
                except ValueError:
                    pass

    def _missing(self, object_ids: Iterable[bytes]) -> List[ObjectEntry]:
        missing, seen = [], set()
        for oid in object_ids:
            entry = self.table.entries.get(oid)
            if entry is None:
                raise exc.ObjectLostError(
                    oid.hex(), "no reference to it is alive, so it was freed (or it was never "
                    "created in this cluster)")
            if entry.state == PENDING and oid not in seen:
                seen.add(oid)
                missing.append(entry)
        return missing

    def _remove_waiter(self, entries: List[ObjectEntry], waiter: Any) -> None:
        with self.lock:
            for entry in entries:
                try:
                    entry.waiters.remove(waiter)
                except ValueError:
                    pass

    def ready_ids(self, object_ids: Iterable[bytes]) -> Set[bytes]:
        with self.lock:
            return {oid for oid in object_ids
                    if (e := self.table.entries.get(oid)) is None or e.state != PENDING}

    def wait_ids(self, object_ids: List[bytes], num_returns: int,
                 timeout: Optional[float]) -> Set[bytes]:
        """Block until `num_returns` of the objects are ready or the timeout passes."""
        with self.lock:
            self._drain_deferred()
            entries = self.table.entries
            ready: Set[bytes] = set()
            # In input order, stopping at num_returns: a drain loop over a long list that
            # is mostly done costs what it returns, not the whole list.
            for oid in object_ids:
                e = entries.get(oid)
                if e is None or e.state != PENDING:
                    ready.add(oid)
                    if len(ready) >= num_returns:
                        return ready
            need = num_returns - len(ready)
            if timeout == 0:
                return ready
            pending = [self.table.entries[oid] for oid in object_ids if oid not in ready]
            countdown = Latch(need)
            for entry in pending:
                entry.waiters.append(countdown)
        try:
            countdown.wait(timeout)
        finally:
            self._remove_waiter(pending, countdown)
        return self.ready_ids(object_ids)

    # =========================================================================
    # tasks (node.tasks: runtime/node_tasks.py, decisions in core/scheduler.py)
    # =========================================================================
    def register_function(self, function_id: bytes, blob: bytes, captured: Iterable[bytes] = ()) -> None:
        self.tasks.register_function(function_id, blob, captured)

    def submit(self, spec: TaskSpec) -> None:
        self.tasks.submit(spec)

    def cancel(self, task_id: bytes, force: bool = False, recursive: bool = True) -> None:
        self.tasks.cancel(task_id, force, recursive)

    def cancel_tagged(self, tag: Any, force: bool = False) -> int:
        return self.tasks.cancel_tagged(tag, force)

    def when_args_ready(self, spec: TaskSpec, then: Callable[[], None]) -> int:
        return self.tasks.when_args_ready(spec, then)

    def assign_gpus(self, worker: WorkerHandle, spec: TaskSpec) -> None:
        self.tasks.assign_gpus(worker, spec)

    @property  # MERGE-ALIAS
    def ready_queue(self) -> Deque[TaskSpec]: return self.tasks.ready  # MERGE-ALIAS
    def _submit_bookkeeping(self, *a: Any, **k: Any) -> Any: return self.tasks.register(*a, **k)  # MERGE-ALIAS
    def _enqueue(self, *a: Any, **k: Any) -> Any: return self.tasks.enqueue(*a, **k)  # MERGE-ALIAS
    def _fits(self, *a: Any, **k: Any) -> Any: return self.tasks.fits(*a, **k)  # MERGE-ALIAS
    def _feasible(self, *a: Any, **k: Any) -> Any: return self.tasks.feasible(*a, **k)  # MERGE-ALIAS
    def _acquire(self, *a: Any, **k: Any) -> Any: return self.tasks.acquire(*a, **k)  # MERGE-ALIAS
    def _release_resources(self, *a: Any, **k: Any) -> Any: return self.tasks.release_resources(*a, **k)  # MERGE-ALIAS
    def _dispatch(self, *a: Any, **k: Any) -> Any: return self.tasks.dispatch(*a, **k)  # MERGE-ALIAS
    def _idle_worker(self, *a: Any, **k: Any) -> Any: return self.tasks.idle_worker(*a, **k)  # MERGE-ALIAS
    def _request_spare_worker(self, *a: Any, **k: Any) -> Any: return self.tasks.request_spare_worker(*a, **k)  # MERGE-ALIAS
    def _replenish_pool(self, *a: Any, **k: Any) -> Any: return self.tasks.replenish_pool(*a, **k)  # MERGE-ALIAS
    def _send_exec(self, *a: Any, **k: Any) -> Any: return self.tasks.send_exec(*a, **k)  # MERGE-ALIAS
    def _finish_task(self, *a: Any, **k: Any) -> Any: return self.tasks.finish(*a, **k)  # MERGE-ALIAS
    def _fail_task(self, *a: Any, **k: Any) -> Any: return self.tasks.fail(*a, **k)  # MERGE-ALIAS
    def _error_results(self, *a: Any, **k: Any) -> Any: return self.tasks.error_results(*a, **k)  # MERGE-ALIAS
    def _totals_text(self, *a: Any, **k: Any) -> Any: return self.tasks.totals_text(*a, **k)  # MERGE-ALIAS

    def _free_blocks_of(self, results: List[Tuple], node_id: str = "") -> None:
        for _oid, kind, payload, _size, _contains, _err, _type in results:
            if kind == "s" and node_id and node_id != self.node_id:
                info = self.cluster_nodes.get(node_id)
                if info is not None and info.alive:
                    try:
                        info.conn.send(("free", *payload))
                    except ConnectionError:
                        pass
            elif kind == "s":
                self.allocator.free(*payload)
            elif kind == "f":
                self.store.delete_spilled(payload[0])

    def _store_results(self, spec: TaskSpec, results: List[Tuple], node_id: str = "") -> None:
        freed: List[ObjectEntry] = []
        for oid, kind, payload, size, contains, is_error, type_name in results:
            entry = self.table.entries.get(oid)
            if entry is None or entry.state != PENDING:
                # Nobody holds a ref any more: drop the value at once.
                self._free_blocks_of([(oid, kind, payload, size, contains, is_error, type_name)],
                                     node_id)
                continue
            if kind == "s" and node_id and node_id != self.node_id:
                entry.type_name = type_name
                entry.copies[node_id] = payload
                self._make_ready(entry, remote=(node_id, payload), size=size, contains=contains,
                                 is_error=is_error)
                continue
            entry.type_name = type_name
            if kind == "i":
                self._make_ready(entry, inline=payload, size=size, contains=contains, is_error=is_error)
            elif kind == "f":
                self._make_ready(entry, spilled=payload, size=size, contains=contains, is_error=is_error)
            else:
                self._make_ready(entry, shm=payload, size=size, contains=contains, is_error=is_error)
        self._release(freed)

    # -- nested get / wait from workers ---------------------------------------
    def _reply(self, worker: WorkerHandle, msg: Tuple) -> None:
        try:
            worker.conn.send(msg)
        except ConnectionClosed:
            pass

    def _worker_descriptor(self, entry: ObjectEntry, worker: WorkerHandle) -> Descriptor:
        if worker.node_id == self.node_id:
            return self._descriptor(entry, worker.worker_id)
        return self.remote.descriptor(entry, worker)

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
                    "worker_id": worker.worker_id, "task_id": task_id, "owner": spec.owner,
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

    def _kill_worker(self, worker: WorkerHandle) -> None:
        worker.signal(signal.SIGKILL)

    # -- worker exit -----------------------------------------------------------
    def _on_worker_exit(self, worker: WorkerHandle, code: Optional[int] = None) -> None:
        if worker.proc is not None:
            try:
                self._selector.unregister(worker.conn.fileno())
            except (KeyError, ValueError, OSError):
                pass
        with self.lock:
            if worker.state == "dead":
                return
            if worker.proc is not None:
                self._by_fd.pop(worker.conn.fileno(), None)
                worker.conn.close()
            worker.state = "dead"
            self.workers.pop(worker.worker_id, None)
            self.gpu_slots.release(worker.worker_id)
            if worker.proc is not None:
                try:
                    code = worker.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    code = worker.proc.wait()
            self.stats["workers_died"] += 1
            for key in [k for k in self._get_requests if k[0] == worker.worker_id]:
                entries, waiter = self._get_requests.pop(key)
                self._remove_waiter(entries, waiter)
            freed: List[ObjectEntry] = []
            self.table.drop_holder_everywhere(worker.worker_id, freed)
            self._release(freed)
            self.streams.owner_gone(worker.worker_id)
            if worker.actor_id is not None:
                self.actors.on_worker_exit(worker, _describe_exit(code))
                self._dispatch()
                return
            if not self.closed:  # its task: retried or failed; a replacement worker
                self.tasks.worker_exited(worker, code)

    def _reap_idle_workers(self) -> None:
        live = [w for w in self._live_task_workers()]
        extra = len(live) - self.config.num_cpus
        if extra <= 0:
            return
        now = time.monotonic()
        for w in live:
            if extra <= 0:
                break
            if w.state == "idle" and now - w.idle_since > self.config.idle_worker_timeout_s:
                w.state = "exiting"
                self._reply(w, ("exit",))
                extra -= 1

    # -- actors -----------------------------------------------------------------------
    def create_actor(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        with self.lock:
            self._drain_deferred()
            return self.actors.create(spec, info)

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        with self.lock:
            self.actors.kill(actor_id, no_restart)

    def get_actor(self, name: str, namespace: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        with self.lock:
            record = self.actors.lookup(name, namespace)
            if record is None:
                return None
            return record.actor_id, self.actors.handle_info(record)

    def _on_create_actor(self, worker: WorkerHandle, req: int, spec: TaskSpec,
                         info: Dict[str, Any]) -> None:
        try:
            result = self.actors.create(spec, info)
        except Exception as e:  # name taken, unschedulable: raised in the caller
            self._reply(worker, ("reply", req, False, e))
            return
        self._reply(worker, ("reply", req, True, result))

    def _on_actor_exit(self, worker: WorkerHandle, task_id: bytes, reason: str) -> None:
        self.actors.on_exit_requested(worker, reason)
        self._dispatch()

    def _on_kill_actor(self, worker: WorkerHandle, actor_id: bytes, no_restart: bool) -> None:
        self.actors.kill(actor_id, no_restart)

    def _on_get_actor(self, worker: WorkerHandle, req: int, name: str, namespace: str) -> None:
        record = self.actors.lookup(name, namespace)
        self._reply(worker, ("reply", req, True,
                             None if record is None else (record.actor_id, self.actors.handle_info(record))))

    # =========================================================================
    # introspection and shutdown
    # =========================================================================
    def _node_rows_locked(self) -> List[Dict[str, Any]]:
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
        self._wake()
        if self._io_thread is not threading.current_thread():
            self._io_thread.join(timeout=5)
        # Only now: the I/O thread may have been starting a worker a moment ago.
        with self.lock:
            workers = [w for w in self.workers.values() if w.proc is not None]
        for w in workers:
            w.conn.close()  # EOF: the worker exits at once
        deadline = time.monotonic() + 2.0
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
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
