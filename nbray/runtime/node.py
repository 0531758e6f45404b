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
import select
import sys
import threading
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..config import Config
from ..core.object_table import ObjectTable
from ..core.specs import TaskSpec
from ..store.allocator import Allocator
from ..store.shm import Arena, create_arena_fd
from ..store.spill import make_backend, remove_stale_sessions, spill_failure
from ..transport.dispatch import Handlers, dispatch
from ..transport.framing import ConnectionClosed
from ..transport.messages import (Alloc, Cancel, CancelTagged, CreateActor, Done, ExitActor,
                                  FreeBlock, Get, GetActor, GetCancel, KillActor, Log, Output, Put, Query, Ready,
                                  Refs, RegisterFunction, Reply, Seal, SealSpilled, StreamNext,
                                  StreamRelease, StreamRoom, StreamWait, Submit, Unpin, Wait,
                                  WireMessage, Yield, wire)
from .actor_manager import ActorManager
from .direct_poll import DirectPoll
from .gpu_ids import GpuSlots
from .node_objects import NodeObjects
from .node_store import NodeStore
from .node_tasks import NodeTasks
from .node_streams import NodeStreams
from .remote_nodes import RemoteNodes
from .metrics_history import MetricsHistory
from .timeline import Timeline
from .worker_requests import WorkerObjectRequests
from .cluster import NodeInfo
from .worker_pool import WorkerHandle, WorkerPool
from .worker_process import describe_exit, print_worker_output, worker_env


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
        # A raw epoll, not `selectors`: a driver thread takes a worker's socket out of it
        # and puts it back on every blocking get (direct_poll.py), which must cost no more
        # than the two epoll_ctl calls.  `_watched` maps each fd to its worker.
        self._epoll = select.epoll()
        self._watched: Dict[int, WorkerHandle] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._io_thread = threading.Thread(target=self._io_loop, name="nbray-node-io", daemon=True)
        self.pool = WorkerPool(node_id, self._arena_fd, cap, self._make_worker_env(), self.lock,
                               self._watch, self.stats)
        # Every worker the node talks to (its own, relayed ones of other nodes, attached
        # drivers): the pool's table, read by scheduling, actors and introspection.
        self.workers: Dict[str, WorkerHandle] = self.pool.workers
        self.tasks = NodeTasks(self)
        self.requests = WorkerObjectRequests(self)
        self.streams = NodeStreams(self)
        self.actors = ActorManager(self)
        # The worker->node table: public, as RemoteNodes dispatches relayed messages
        # through it.  ReadyDriver is not in it: RemoteNodes takes that one itself.
        self.handlers: Handlers[WorkerHandle] = Handlers({
            Ready: self.tasks.on_ready, Refs: self.requests.on_refs, Done: self.tasks.on_done,
            Put: self.requests.on_put, Alloc: self.requests.on_alloc, Seal: self.requests.on_seal,
            Submit: self.tasks.on_submit, Get: self.requests.on_get,
            GetCancel: self.requests.on_get_cancel, Wait: self.requests.on_wait,
            Unpin: self.requests.on_unpin, Log: self._on_log, Cancel: self.tasks.on_cancel,
            CancelTagged: self.tasks.on_cancel_tagged,
            RegisterFunction: self.tasks.on_register_function,
            FreeBlock: self.requests.on_free_block, CreateActor: self.actors.on_create_actor,
            KillActor: self.actors.on_kill_actor, GetActor: self.actors.on_get_actor,
            SealSpilled: self.requests.on_seal_spilled, Query: self._on_query,
            Yield: self.streams.on_yield, StreamNext: self.streams.on_next,
            StreamWait: self.streams.on_wait, StreamRelease: self.streams.on_release,
            StreamRoom: self.streams.on_room, ExitActor: self.actors.on_actor_exit,
        }, reply=self.reply)
        self.remote = RemoteNodes(self)
        self.waits = DirectPoll(self)
        self.gpu_slots = GpuSlots()
        self.timeline = Timeline(self.config.timeline_events)
        self.metrics = MetricsHistory()  # sampled below, in the I/O loop (the dashboard's charts)
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
        fd = worker.conn.fileno()
        self._watched[fd] = worker
        self._epoll.register(fd, select.EPOLLIN)

    def _unwatch(self, worker: WorkerHandle) -> None:
        if worker.proc is None:  # a relayed worker's messages come through its node
            return
        fd = worker.conn.fd
        if self._watched.get(fd) is worker:
            del self._watched[fd]
            try:
                self._epoll.unregister(fd)
            except (ValueError, OSError):  # closed already (epoll forgot it then)
                pass

    # A driver thread that borrows a worker's socket while it waits (direct_poll.py) pauses
    # it here rather than unregistering it: EPOLL_CTL_MOD costs half of a DEL plus an ADD.
    # A paused socket still reports a hang-up, which the I/O thread skips (the borrower
    # holds the worker's reader lock and handles the exit).
    def stop_watching(self, worker: WorkerHandle) -> bool:
        """Stop the I/O thread reading a worker process's socket; False if not watched."""
        fd = worker.conn.fd
        if self._watched.get(fd) is not worker:
            return False
        try:
            self._epoll.modify(fd, 0)
        except (ValueError, OSError):  # closed meanwhile
            return False
        return True

    def watch_again(self, worker: WorkerHandle) -> None:
        fd = worker.conn.fd
        if self._watched.get(fd) is not worker:
            return  # it exited meanwhile, and was unwatched
        try:
            self._epoll.modify(fd, select.EPOLLIN)
        except (ValueError, OSError):  # the node shut down
            pass

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
                events = self._epoll.poll(timeout)
            except OSError:
                if self.closed:
                    return
                raise
            watched = self._watched
            for fd, _ in events:
                worker = watched.get(fd)
                if worker is None:
                    if fd != self._wake_r:
                        continue  # unwatched a moment ago
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                    continue
                reader = worker.reader
                if not reader.acquire(False):
                    continue  # a waiting driver thread has borrowed it (direct_poll.py)
                try:
                    msgs = worker.conn.recv_available()
                    self.handle_batch(worker, msgs, self.handlers)
                except ConnectionClosed:
                    self.on_worker_exit(worker)
                finally:
                    reader.release()
            if self.closed:
                return
            if self.pool.spawn_requests:
                self.pool.start_requested(lambda: self.closed, self.internal_error)
            with self.lock:
                self.objects.drain_deferred()
                self.pool.reap_idle(self.config.num_cpus, self.config.idle_worker_timeout_s)
                if len(self.cluster_nodes) > 1:
                    self.remote.check_heartbeats()
                self.metrics.maybe_sample(self)

    def handle_batch(self, worker: WorkerHandle, msgs: List[Any], handlers: Handlers[WorkerHandle]) -> None:
        """Handle the messages read from one worker's socket, in order, under the lock."""
        with self.lock:
            for msg in msgs:
                try:
                    # (measured: inlining dispatch's fast path here saves nothing)
                    dispatch(handlers, worker, msg)
                except Exception:  # a bug or a bad message must not take the node down
                    self.internal_error(f"handling {repr(msg)[:60]} from {worker.worker_id}")

    def handle(self, worker: WorkerHandle, msg: Tuple[Any, ...]) -> None:
        """Handle one message from `worker` (one relayed from another node); lock held."""
        try:
            dispatch(self.handlers, worker, msg)
        except Exception:  # a bug or a bad message must not take the node down
            self.internal_error(f"handling {repr(msg)[:60]} from {worker.worker_id}")

    def internal_error(self, what: str) -> None:
        """Report a bug met while handling `what` (inside an except block) and go on."""
        sys.stderr.write(f"nbray: internal error while {what}:\n{traceback.format_exc()}")

    def reply(self, worker: WorkerHandle, msg: WireMessage) -> None:
        """Send `msg` to `worker`; one that is gone has its exit handled by the I/O thread."""
        try:
            worker.conn.send(msg)
        except ConnectionClosed:
            pass

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

    # -- nested get / wait from workers ---------------------------------------

    def _on_query(self, worker: WorkerHandle, req: int, op: str, args: Dict[str, Any]) -> None:
        from . import queries

        try:
            result = queries.run(self, op, args, None, holder=worker.worker_id)
        except Exception as e:
            self.reply(worker, wire(Reply(req, False, e)))
            return
        self.reply(worker, wire(Reply(req, True, result)))

    def _on_log(self, worker: WorkerHandle, stream: str, text: str, task_name: str,
                task_id: Optional[bytes]) -> None:
        if not self.config.log_to_driver:
            return
        spec = self.tasks.by_id.get(task_id) if task_id is not None else None
        tag = spec.tag if spec else None
        if isinstance(tag, str) and tag.startswith("attached:"):
            # Output of work started by an attached driver goes back to that driver.
            target = self.workers.get(tag[len("attached:"):].split("#", 1)[0])
            if target is not None:
                self.reply(target, wire(Output({
                    "stream": stream, "text": text, "task_name": task_name, "pid": worker.pid,
                    "worker_id": worker.worker_id, "task_id": task_id,
                    "owner": spec.owner if spec else None,
                    "tag": tag, "node_id": worker.node_id})))
                return
        try:
            self.output_sink({"stream": stream, "text": text, "task_name": task_name,
                              "pid": worker.pid, "worker_id": worker.worker_id,
                              "task_id": task_id, "owner": spec.owner if spec else None,
                              "tag": spec.tag if spec else None,
                              "node_id": self.node_id})
        except Exception:
            self.internal_error("writing worker output")

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
                self.actors.on_worker_exit(worker, describe_exit(code))
                self.tasks.dispatch()
                return
            if not self.closed:  # its task: retried or failed; a replacement worker
                self.tasks.worker_exited(worker, code)

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
        self._epoll.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.waits.close()
        self.arena.close()
        try:
            os.close(self._arena_fd)
        except OSError:
            pass
        self.spill.cleanup()
