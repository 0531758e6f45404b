"""How a process talks to its node: in-process for the driver, over a socket for workers.

Both clients offer the same calls (put, get, wait, submit, cancel, function
registration) so ObjectRef, remote functions and the api module never care
where they run.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import exceptions as exc
from ..core.specs import TaskSpec
from ..ids import ids, object_id_for_return
from ..serialization import Serialized, deserialize, serialize
from ..store.layout import layout_chunks, layout_size, read_object, write_object
# Put and Refs (each put() in a task sends both) are built by fast_wire: same tuples.
from ..transport.fast_wire import wire_put, wire_refs
from ..transport.messages import (KIND_ARENA, KIND_FILE, KIND_INLINE, Alloc, Cancel, CreateActor,
                                  DescriptorTuple, FreeBlock, Get, GetActor, GetCancel, KillActor,
                                  Query, RegisterFunction, Seal, SealSpilled, StreamNext,
                                  StreamRelease, StreamWait, Submit, Unpin, Wait, wire)
from .latch import Reply
from .object_ref import LocalRefCounter, ObjectRef
from .task_args import pack_args


def call_site(skip_prefix: str = __name__.rsplit(".", 2)[0]) -> str:
    """file:line of the first caller frame outside nbray (for the memory inspector)."""
    frame: Optional[FrameType] = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(skip_prefix):
        frame = frame.f_back
    if frame is None:
        return ""
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def type_name_of(value: Any) -> str:
    t = type(value)
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    module = t.__module__.split(".")[0]
    name = t.__qualname__ if module in ("builtins", "numpy") else f"{t.__module__}.{t.__qualname__}"
    if shape is not None and dtype is not None:
        return f"{name}{tuple(shape)} {dtype}"
    return name


# Remote functions remember which client they registered with; a counter (not id())
# so a new cluster after shutdown() never looks like the old one.
_sessions = itertools.count(1)


class BaseClient:
    """What both clients share: decoding values and building task specs."""

    holder: str
    inline_threshold: int
    ref_counter: LocalRefCounter
    arena_view: memoryview
    current_task: Optional[TaskSpec]   # the task this thread runs (None in a driver)

    # -- values -----------------------------------------------------------------
    def decode(self, object_id: bytes, desc: DescriptorTuple) -> Any:
        kind = desc[0]
        if kind == KIND_INLINE:
            meta, buffers = desc[1]
            value = deserialize(meta, buffers)
        elif kind == KIND_FILE:
            url, size = desc[1]
            data = self.spill_backend().read(url, size)
            meta, buffers, _ = read_object(memoryview(data), 0, None)
            value = deserialize(meta, buffers)
            del meta, buffers
        else:
            meta, buffers, pinned = read_object(self.arena_view, desc[1],
                                                lambda: self._unpin(object_id))
            try:
                value = deserialize(meta, buffers)
            finally:
                del meta, buffers
                if not pinned:  # no out-of-band buffer: no view outlives this read
                    self._unpin(object_id)
        if desc[2]:
            if isinstance(value, exc.RayTaskError):
                value = value.as_instanceof_cause()
            raise value
        return value

    def _unpin(self, object_id: bytes) -> None:
        raise NotImplementedError

    def spill_backend(self) -> Any:
        raise NotImplementedError

    def values_of(self, object_ids: Sequence[bytes], descs: Sequence[DescriptorTuple]) -> List[Any]:
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        out = []
        for i, (oid, desc) in enumerate(zip(object_ids, descs)):
            try:
                out.append(self.decode(oid, desc))
            except BaseException:
                self.release_unread(zip(object_ids[i + 1:], descs[i + 1:]))
                raise
        return out

    def release_unread(self, pairs: Iterable[Tuple[bytes, DescriptorTuple]]) -> None:
        """(object id, descriptor) pairs that will never be decoded: the node registered
        this process as a reader of each arena block, so end those reads."""
        for oid, desc in pairs:
            if desc[0] == KIND_ARENA:
                self._unpin(oid)

    def put(self, value: Any) -> ObjectRef:
        if isinstance(value, ObjectRef):
            raise TypeError("put() of an ObjectRef is not allowed: it already refers to an object "
                            "in the store. Wrap it in a list to store a ref inside an object.")
        oid = ids.put_object_id()
        ser = serialize(value, context="the value passed to put()")
        self._store(oid, ser, type_name_of(value), call_site())
        return ObjectRef(oid, _registered=True)

    def _store(self, oid: bytes, ser: Serialized, type_name: str, site: str) -> None:
        raise NotImplementedError

    # -- tasks --------------------------------------------------------------------
    def build_spec(self, *, name: str, function_id: bytes, args: tuple, kwargs: dict,
                   num_returns: int, resources: Dict[str, float], max_retries: int,
                   retry_exceptions: Any, kind: str = "task", actor_id: Optional[bytes] = None,
                   method: str = "", task_id: Optional[bytes] = None,
                   ) -> Tuple[TaskSpec, List[ObjectRef], Optional[ObjectRef]]:
        ser, top = pack_args(args, kwargs, name)
        args_ref = None
        packed: Any = (ser.meta, tuple(ser.buffers))
        if ser.nbytes > self.inline_threshold:
            # Large values passed by value travel through the store, zero-copy for the task.
            args_oid = ids.put_object_id()
            self._store(args_oid, ser, "task arguments", "")
            args_ref = ObjectRef(args_oid, _registered=True)
            top = top + [args_oid]
            packed = None
        elif ser.buffers:
            packed = (ser.meta, tuple(bytes(b) for b in ser.buffers))
        if task_id is None:
            task_id = ids.task_id()
        return_ids = [object_id_for_return(task_id, i) for i in range(num_returns)]
        spec = TaskSpec(task_id=task_id, name=name, function_id=function_id, args=packed,
                        arg_refs=top, nested_refs=list(ser.contained_refs), return_ids=return_ids,
                        resources=resources, max_retries=max_retries,
                        retry_exceptions=retry_exceptions, owner=self.holder, kind=kind,
                        actor_id=actor_id, method=method, call_site=call_site())
        if args_ref is not None:
            spec.args_ref = args_ref._id
        # The tag says whose work this is (a notebook cell, say): nested tasks inherit it,
        # so their output and cancellation follow the cell that started the chain.
        parent = self.current_task
        tag = parent.tag if parent is not None else self.tag_provider()
        if tag is not None:
            spec.tag = tag
        if parent is not None:  # for cancel(recursive=True) of the parent
            spec.parent = parent.task_id
        return spec, [ObjectRef(r, _registered=True) for r in return_ids], args_ref

    @staticmethod
    def tag_provider() -> Any:
        return None


class DriverClient(BaseClient):
    """The driver's view of a node living in the same process."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.holder = "driver"
        self.inline_threshold = node.config.inline_threshold
        self.arena_view = node.arena.view
        self.session = next(_sessions)  # never reused, unlike id() of a dead object
        self.ref_counter = LocalRefCounter(self._first_ref, self._last_ref)
        self.current_task: Optional[TaskSpec] = None

    def spill_backend(self) -> Any:
        return self.node.spill

    def _first_ref(self, oid: bytes) -> None:
        self.node.add_holder(oid)

    def _last_ref(self, oid: bytes) -> None:
        self.node.defer("remove", oid)

    def _unpin(self, object_id: bytes) -> None:
        self.node.defer("unpin", object_id)

    def _store(self, oid: bytes, ser: Serialized, type_name: str, site: str) -> None:
        self.node.put_serialized(oid, ser, holder=self.holder, call_site=site, type_name=type_name)

    def get(self, object_ids: List[bytes], timeout: Optional[float]) -> List[Any]:
        __tracebackhide__ = True
        if len(object_ids) > 1:
            # As in Ray, a failed object raises its error at once: no waiting for the rest.
            start = time.monotonic()
            failed = self.node.wait_all_or_first_error(object_ids, timeout)
            if failed is not None:
                self.values_of([failed], self.node.get_descriptors([failed], None))  # raises
            if timeout is not None:
                timeout = max(0.0, timeout - (time.monotonic() - start))
        descs = self.node.get_descriptors(object_ids, timeout)
        return self.values_of(object_ids, descs)

    def wait(self, object_ids: List[bytes], num_returns: int, timeout: Optional[float],
             fetch_local: bool, id_set: Optional[set] = None) -> set:
        __tracebackhide__ = True
        return self.node.wait_ids(object_ids, num_returns, timeout, id_set)

    def submit(self, spec: TaskSpec) -> None:
        self.node.submit(spec)

    def register_function(self, function_id: bytes, blob: bytes, captured: Iterable[bytes]) -> None:
        self.node.register_function(function_id, blob, captured)

    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        self.node.cancel(task_id, force, recursive)

    def flush(self) -> None:
        with self.node.lock:
            self.node.objects.drain_deferred()

    def create_actor(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        return self.node.create_actor(spec, info)

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        self.node.kill_actor(actor_id, no_restart)

    def get_actor(self, name: str, namespace: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        return self.node.get_actor(name, namespace)

    # -- generator tasks (node_streams.py) -------------------------------------------
    def stream_next(self, task_id: bytes, take: bool, timeout: Optional[float]) -> Tuple[str, Any]:
        __tracebackhide__ = True
        return self.node.streams.next_item(task_id, take, timeout)

    def stream_release(self, task_id: bytes) -> None:
        self.node.defer("stream-release", task_id)  # may run in __del__: no lock here

    def wait_mixed(self, object_ids: List[bytes], task_ids: List[bytes], num_returns: int,
                   timeout: Optional[float]) -> Tuple[set, set]:
        __tracebackhide__ = True
        return self.node.streams.wait_mixed(object_ids, task_ids, num_returns, timeout)


_current_task: "contextvars.ContextVar[Optional[TaskSpec]]" = contextvars.ContextVar(
    "nbray_current_task", default=None)


class WorkerClient(BaseClient):
    """A worker process's view of its node, over the worker's socket."""

    def __init__(self, conn: Any, arena_view: memoryview, worker_id: str, node_id: str,
                 inline_threshold: int) -> None:
        self.conn = conn
        self.holder = worker_id
        self.node_id = node_id
        self.arena_view = arena_view
        self.inline_threshold = inline_threshold
        self.session = next(_sessions)  # never reused, unlike id() of a dead object
        self.ref_counter = LocalRefCounter(self._adds_append, self._removes_append)
        self._adds: List[bytes] = []
        self._removes: List[bytes] = []
        self._unpins: List[bytes] = []
        self._stream_releases: List[bytes] = []
        self._lock = threading.Lock()
        self._req = itertools.count(1)
        self._replies: Dict[int, Reply] = {}
        self._abandoned: Dict[int, List[bytes]] = {}
        self._late: Dict[int, Callable[[bool, Any], None]] = {}
        self.registered_functions: set = set()
        self._spill: Any = None
        # Set by worker_context as this process runs work; the runtime context reads them.
        self.actor_id: Optional[bytes] = None
        self.actor_name: Optional[str] = None
        self.actor_resources: Dict[str, float] = {}
        self.actor_restart_count = 0      # restarts before this instance (0: the first)
        self.actor_handle_info: Optional[Dict[str, Any]] = None
        self.gpu_ids: List[Any] = []
        self.cancelled: set = set()

    # The task running in this thread or asyncio task (actors may run several at once).
    @property
    def current_task(self) -> Optional[TaskSpec]:
        return _current_task.get()

    @current_task.setter
    def current_task(self, spec: Optional[TaskSpec]) -> None:
        _current_task.set(spec)

    def spill_backend(self) -> Any:
        if self._spill is None:
            import json
            import os

            from ..store.spill import backend_for_url
            from .worker_process import worker_secrets

            conf = json.loads(os.environ.get("NBRAY_SPILL_BACKEND", "{}"))
            # The storage options (credentials) came over the worker's socket, not the env.
            self._spill = backend_for_url(conf["url"], worker_secrets.get("spill_options"))
        return self._spill

    def _adds_append(self, oid: bytes) -> None:
        self._adds.append(oid)

    def _removes_append(self, oid: bytes) -> None:
        self._removes.append(oid)

    def _unpin(self, object_id: bytes) -> None:
        self._unpins.append(object_id)

    def has_pending_events(self) -> bool:
        return bool(self._adds or self._removes or self._unpins or self._stream_releases)

    def send(self, msg: Tuple[Any, ...]) -> None:
        """Send `msg` after every ref change recorded before it, in order."""
        with self._lock:
            self._flush_locked()
            self.conn.send(msg)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._adds or self._removes:
            adds, self._adds = self._adds, []
            removes, self._removes = self._removes, []
            self.conn.send(wire_refs(adds, removes))
        if self._unpins:
            unpins, self._unpins = self._unpins, []
            self.conn.send(wire(Unpin(unpins)))
        if self._stream_releases:
            releases, self._stream_releases = self._stream_releases, []
            self.conn.send(wire(StreamRelease(releases)))

    # -- request / reply --------------------------------------------------------
    def request(self, build: Callable[[int], Tuple[Any, ...]], timeout: Optional[float] = None,
                abandon_ids: Optional[List[bytes]] = None,
                on_late: Optional[Callable[[bool, Any], None]] = None) -> Tuple[bool, Any]:
        """Send a request and wait for its reply.  When the caller stops waiting (timeout,
        interrupt), a reply that still comes is handled by `on_late`."""
        __tracebackhide__ = True
        req = next(self._req)
        reply = self._replies[req] = Reply()
        self.send(build(req))
        try:
            done = reply.wait(timeout)
        except BaseException:
            self._abandon(req, abandon_ids, on_late)
            raise
        if not done:
            self._abandon(req, abandon_ids, on_late)
            return False, None
        return reply.ok, reply.value

    def _abandon(self, req: int, oids: Optional[List[bytes]],
                 on_late: Optional[Callable[[bool, Any], None]] = None) -> None:
        if oids is not None:
            self._abandoned[req] = oids
        if on_late is not None:
            self._late[req] = on_late
        self._replies.pop(req, None)
        try:
            self.send(wire(GetCancel(req)))
        except ConnectionError:
            pass

    def on_reply(self, req: int, ok: bool, value: Any) -> None:
        """Called by the worker's reader thread."""
        reply = self._replies.pop(req, None)
        if reply is not None:
            reply.set(ok, value)
            return
        late = self._late.pop(req, None)
        if late is not None:
            late(ok, value)
            return
        oids = self._abandoned.pop(req, None)
        if oids is not None and ok and isinstance(value, list):
            # A get that timed out got its answer late: let go of the arena blocks.
            for oid, desc in zip(oids, value):
                if isinstance(desc, tuple) and desc[0] == KIND_ARENA:
                    self._unpin(oid)

    # -- objects ----------------------------------------------------------------
    def _store(self, oid: bytes, ser: Serialized, type_name: str, site: str) -> None:
        if ser.nbytes <= self.inline_threshold:
            payload = (ser.meta, tuple(bytes(b) for b in ser.buffers))
            self.send(wire_put(oid, payload, ser.nbytes, ser.contained_refs, type_name, site))
            return
        kind, where = self.write_block(oid, ser)
        if kind == KIND_FILE:
            self.send(wire(SealSpilled(oid, where[0], where[1], ser.nbytes, ser.contained_refs,
                                       type_name, site)))
        else:
            self.send(wire(Seal(oid, where[0], where[1], ser.nbytes, ser.contained_refs, type_name,
                                site)))

    def write_block(self, oid: bytes, ser: Serialized) -> Tuple[str, Tuple[Any, int]]:
        """Write a large value: ("s", (offset, block)) in the arena, or ("f", (url, block))
        straight to the spill target when it is larger than the whole store."""
        block = layout_size(len(ser.meta), [b.nbytes for b in ser.buffers])
        ok, offset = self.request(lambda req: wire(Alloc(req, oid, block)))
        if not ok:
            if offset == "too-large":
                from ..store.spill import spill_failure

                backend = self.spill_backend()
                try:
                    url = backend.write(oid.hex(), layout_chunks(ser.meta, ser.buffers))
                except Exception as e:
                    raise spill_failure(e, (
                        f"spilling object {oid.hex()} ({block / 2**20:.1f} MiB, larger than the "
                        f"whole store) to {backend.url} failed: {type(e).__name__}: {e}. Nothing "
                        f"stored was lost.")) from e
                return KIND_FILE, (url, block)
            raise offset
        try:
            write_object(self.arena_view, offset, ser.meta, ser.buffers)
        except BaseException:
            self.send(wire(FreeBlock(offset, block)))
            raise
        return KIND_ARENA, (offset, block)

    def get(self, object_ids: List[bytes], timeout: Optional[float]) -> List[Any]:
        __tracebackhide__ = True
        ok, value = self.request(lambda req: wire(Get(req, object_ids)), timeout, list(object_ids))
        if not ok:
            if value is None:
                raise exc.GetTimeoutError(f"get timed out after {timeout} s")
            raise value
        return self.values_of(object_ids, value)

    def wait(self, object_ids: List[bytes], num_returns: int, timeout: Optional[float],
             fetch_local: bool, id_set: Optional[set] = None) -> set:
        __tracebackhide__ = True
        block = timeout is None or timeout > 0
        ok, ready = self.request(lambda req: wire(Wait(req, object_ids, num_returns, block)),
                                 timeout)
        if not ok:  # timed out: ask once more without blocking for the final answer
            ok, ready = self.request(lambda req: wire(Wait(req, object_ids, num_returns, False)))
        return set(ready)

    def submit(self, spec: TaskSpec) -> None:
        self.send(wire(Submit(spec)))

    def register_function(self, function_id: bytes, blob: bytes, captured: Iterable[bytes]) -> None:
        if function_id not in self.registered_functions:
            self.send(wire(RegisterFunction(function_id, blob, list(captured))))
            self.registered_functions.add(function_id)

    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        ok, value = self.request(lambda req: wire(Cancel(req, task_id, force, recursive)))
        if not ok:
            raise value

    def create_actor(self, spec: TaskSpec, info: Dict[str, Any]) -> Tuple[bytes, Dict[str, Any]]:
        ok, value = self.request(lambda req: wire(CreateActor(req, spec, info)))
        if not ok:
            raise value
        return value

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        self.send(wire(KillActor(actor_id, no_restart)))

    # -- generator tasks (node_streams.py) -------------------------------------------
    def stream_next(self, task_id: bytes, take: bool, timeout: Optional[float]) -> Tuple[str, Any]:
        __tracebackhide__ = True
        block = timeout is None or timeout > 0
        ok, value = self.request(lambda req: wire(StreamNext(req, task_id, take, block)), timeout,
                                 on_late=_give_back_item if take else None)
        if not ok and value is None:  # timed out: ask once more, without waiting
            ok, value = self.request(lambda req: wire(StreamNext(req, task_id, take, False)))
        if not ok:
            raise value
        return value

    def stream_release(self, task_id: bytes) -> None:
        self._stream_releases.append(task_id)  # may run in __del__: sent with the next message

    def wait_mixed(self, object_ids: List[bytes], task_ids: List[bytes], num_returns: int,
                   timeout: Optional[float]) -> Tuple[set, set]:
        __tracebackhide__ = True
        block = timeout is None or timeout > 0
        ok, value = self.request(lambda req: wire(StreamWait(req, object_ids, task_ids,
                                                             num_returns, block)), timeout)
        if not ok:  # timed out: ask once more without blocking for the final answer
            ok, value = self.request(lambda req: wire(StreamWait(req, object_ids, task_ids,
                                                                 num_returns, False)))
        return set(value[0]), set(value[1])

    def get_actor(self, name: str, namespace: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        ok, value = self.request(lambda req: wire(GetActor(req, name, namespace)))
        return value

    def query(self, op: str, args: Dict[str, Any]) -> Any:
        """A read-only question to the head (nodes(), cluster_resources(), timeline()...)."""
        ok, value = self.request(lambda req: wire(Query(req, op, args)))
        if not ok:
            raise value
        return value


def _give_back_item(ok: bool, value: Any) -> None:
    """An item handed over after its caller stopped waiting: hold it, then let it go."""
    if ok and isinstance(value, tuple) and value[0] == "item":
        ObjectRef(value[1], _registered=True)


__all__ = ["DriverClient", "WorkerClient", "BaseClient", "call_site", "type_name_of"]
