"""The node's objects as I/O (`node.objects`): puts, gets, waits and frees against real memory.

Every decision about an object's state is the pure `core.object_directory`'s; this
shell feeds it events (under the node's lock), performs the instructions it returns
(free an arena block, delete a spilled copy, release remote copies, drop lineage, wake
waiters) and does the waiting that needs threads: the driver's blocking get and wait.
Refs dropped in `ObjectRef.__del__` or buffer finalizers are deferred (`defer`) and
applied on the next call that holds the lock, since a finalizer may run anywhere.
"""

from __future__ import annotations

import collections
import time
from typing import (TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence,
                    Set, Tuple)

from .. import exceptions as exc
from ..core.object_directory import (ActorObjectFreed, DeleteSpilled, DescriptorTuple, DropLineage,
                                     FreeBlock, FreeRemoteBlock, Instruction, ObjectDirectory,
                                     ReleaseCopies, ResultTuple, Wake)
from ..core.object_table import PENDING, SPILLED, ObjectEntry
from ..core.specs import TaskSpec
from ..serialization import Serialized
from ..store.layout import layout_chunks, layout_size, write_object
from ..transport.messages import Free, wire

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node
    from .worker_pool import WorkerHandle

DRIVER = "driver"

# (entries waited on, the waiter) of a worker's blocking request, by (worker id, request id)
GetRequest = Tuple[List[ObjectEntry], Any]


class NodeObjects:
    def __init__(self, node: "Node") -> None:
        self.node = node
        self.directory = ObjectDirectory(node.node_id, node.table)
        self.table = node.table
        # (op, id) from finalizers: "remove" a driver ref, "unpin" a driver read, or
        # "stream-release" a generator (id = its task id).
        self.deferred: Deque[Tuple[str, bytes]] = collections.deque()
        # Workers' get/wait/next requests that block, so a dying worker's can be dropped.
        self.get_requests: Dict[Tuple[str, int], GetRequest] = {}

    # -- performing the directory's instructions ------------------------------------
    def perform(self, instructions: Iterable[Instruction]) -> None:
        node = self.node
        for ins in instructions:
            if isinstance(ins, Wake):
                entry = ins.entry
                for waiter in ins.waiters:
                    waiter(entry)
            elif isinstance(ins, FreeBlock):
                node.allocator.free(ins.offset, ins.block)
            elif isinstance(ins, DeleteSpilled):
                node.store.delete_spilled(ins.url)
            elif isinstance(ins, FreeRemoteBlock):
                info = node.cluster_nodes.get(ins.node_id)
                if info is not None and info.alive:
                    try:
                        info.conn.send(wire(Free(ins.offset, ins.block)))
                    except ConnectionError:
                        pass
            elif isinstance(ins, ReleaseCopies):
                node.remote.release_copies(ins.entry)
            elif isinstance(ins, DropLineage):
                node.remote.lineage.drop(ins.object_id)
            elif isinstance(ins, ActorObjectFreed):
                node.actors.on_object_freed(ins.entry)

    def release(self, freed: Sequence[ObjectEntry]) -> None:
        """Give back what the entries the table just forgot were using."""
        if not freed:
            return
        node = self.node
        instructions = self.directory.free(freed, node.actors.by_creation_object,
                                           bool(node.remote.lineage))
        if instructions:
            self.perform(instructions)
        node.stats["objects_freed"] += len(freed)

    # -- references (driver side: deferred from __del__ and finalizers) ---------------
    def defer(self, op: str, object_id: bytes) -> None:
        """Called from ObjectRef.__del__ and buffer finalizers, at any time, in any thread."""
        self.deferred.append((op, object_id))

    def drain_deferred(self) -> None:
        deferred = self.deferred
        if not deferred:
            return
        freed: List[ObjectEntry] = []
        table = self.table
        while deferred:
            op, oid = deferred.popleft()
            if op == "remove":
                table.remove_holder(oid, DRIVER, freed)
            elif op == "unpin":
                table.remove_reader(oid, DRIVER, freed)
            elif op == "stream-release":  # a generator went away (oid is its task id)
                self.release(freed)
                freed = []
                self.node.streams.release(oid)
        self.release(freed)

    def add_holder(self, object_id: bytes, holder: str = DRIVER) -> None:
        with self.node.lock:
            self.table.add_holder(object_id, holder)

    def update_holders(self, holder: str, adds: Iterable[bytes], removes: Iterable[bytes]) -> None:
        self.release(self.directory.update_holders(holder, adds, removes))

    def remove_readers(self, reader: str, object_ids: Iterable[bytes]) -> None:
        self.release(self.directory.remove_readers(reader, object_ids))

    def holder_gone(self, holder: str) -> None:
        """A process died: its blocking requests, holds and reads end."""
        for key in [k for k in self.get_requests if k[0] == holder]:
            entries, waiter = self.get_requests.pop(key)
            self.remove_waiter(entries, waiter)
        self.release(self.directory.holder_gone(holder))

    # -- storing values ----------------------------------------------------------------
    def put_serialized(self, object_id: bytes, ser: Serialized, holder: str = DRIVER,
                       created_by: str = "put", call_site: str = "", type_name: str = "") -> None:
        """Store a value made in this process (the driver's put, or a task arg)."""
        node = self.node
        if ser.nbytes <= node.config.inline_threshold:
            payload = (ser.meta, tuple(bytes(b) for b in ser.buffers))
            with node.lock:
                if self.deferred:
                    self.drain_deferred()
                entry = self.table.create(object_id, owner=holder, holder=holder,
                                          created_by=created_by, call_site=call_site,
                                          type_name=type_name, node_id=node.node_id)
                waiters = self.directory.make_ready(entry, inline=payload, size=ser.nbytes,
                                                    contains=ser.contained_refs, now=time.time())
                for waiter in waiters:
                    waiter(entry)
            return
        size = layout_size(len(ser.meta), [b.nbytes for b in ser.buffers])
        if size > node.allocator.capacity:
            # Larger than the whole store: it lives on the spill target only.
            url = node.store.spill_write(object_id, layout_chunks(ser.meta, ser.buffers), size)
            with node.lock:
                entry = self.table.create(object_id, owner=holder, holder=holder,
                                          created_by=created_by, call_site=call_site,
                                          type_name=type_name, node_id=node.node_id)
                self.make_ready(entry, spilled=(url, size), size=ser.nbytes,
                                contains=ser.contained_refs)
            return
        with node.lock:
            self.drain_deferred()
            offset = node.store.allocate(size, object_id)
            entry = self.table.create(object_id, owner=holder, holder=holder, created_by=created_by,
                                      call_site=call_site, type_name=type_name,
                                      node_id=node.node_id)
            self.directory.placed(entry, offset, size)
        try:
            write_object(node.arena.view, offset, ser.meta, ser.buffers)
        except BaseException:
            with node.lock:
                self.perform(self.directory.abandon(object_id, offset, size))
            raise
        with node.lock:
            self.make_ready(entry, shm=(offset, size), size=ser.nbytes, contains=ser.contained_refs)

    def make_ready(self, entry: ObjectEntry, *, inline: Any = None,
                   shm: Optional[Tuple[int, int]] = None, size: int = 0,
                   contains: Iterable[bytes] = (), is_error: bool = False,
                   spilled: Optional[Tuple[str, int]] = None,
                   remote: Optional[Tuple[str, Tuple[int, int]]] = None) -> None:
        """The entry's value exists (see ObjectDirectory.make_ready); wake its waiters."""
        waiters = self.directory.make_ready(entry, inline=inline, shm=shm, size=size,
                                            contains=contains, is_error=is_error,
                                            spilled=spilled, remote=remote, now=time.time())
        for waiter in waiters:
            waiter(entry)

    def store_results(self, spec: Optional[TaskSpec], results: Iterable[ResultTuple],
                      node_id: str = "") -> None:
        """A task's return values arrived from a worker of node `node_id` ("" = here)."""
        directory = self.directory
        now = time.time()
        for result in results:
            instructions = directory.store_result(result, node_id, now)
            if instructions:
                self.perform(instructions)

    def free_blocks_of(self, results: Iterable[ResultTuple], node_id: str = "") -> None:
        """Drop results that will not be stored (a retried run, an item nobody takes)."""
        for result in results:
            self.perform(self.directory.result_blocks(result, node_id))

    # -- reading -----------------------------------------------------------------------
    def descriptor(self, entry: ObjectEntry, reader: str) -> DescriptorTuple:
        if entry.state == SPILLED:
            # Back into the arena if it fits; else it is read from the spill target.
            self.node.store.restore(entry)
        return self.directory.descriptor(entry, reader, time.time())

    def worker_descriptor(self, entry: ObjectEntry, worker: "WorkerHandle") -> DescriptorTuple:
        if worker.node_id == self.node.node_id:
            return self.descriptor(entry, worker.worker_id)
        return self.directory.copy_descriptor(entry, worker.node_id, worker.worker_id)

    def get_descriptors(self, object_ids: List[bytes], timeout: Optional[float],
                        reader: str = DRIVER) -> List[DescriptorTuple]:
        """Descriptors of the objects, waiting until all exist (driver side)."""
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        node = self.node
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with node.lock:
                if self.deferred:
                    self.drain_deferred()
                missing = self.not_here(object_ids, node.node_id)
                if not missing:
                    entries = self.table.entries
                    return [self.descriptor(entries[oid], reader) for oid in object_ids]
                countdown = node.waits.latch(len(missing))
                errors: List[BaseException] = []
                waiters = self.await_here(missing, node.node_id, countdown, errors)
            try:
                ok = node.waits.wait(countdown, None if deadline is None
                                     else deadline - time.monotonic(), object_ids)
            except BaseException:
                self.remove_waiters(waiters)
                raise
            if not ok:
                self.remove_waiters(waiters)
                raise exc.GetTimeoutError(
                    f"get timed out after {timeout} s: {countdown.remaining} of "
                    f"{len(set(object_ids))} objects not ready")
            if errors:
                raise errors[0]  # no copy could be brought here (store full, lost for good)
            # Loop: an object made on another node may still have to be pulled here.

    # -- waiting -----------------------------------------------------------------------
    def wait_all_or_first_error(self, object_ids: List[bytes],
                                timeout: Optional[float]) -> Optional[bytes]:
        """Wait until every object is ready, one of them is an error, or `timeout` passes;
        returns the first error's id in input order, or None.  Ray's get() of a list raises
        as soon as any object failed, without waiting for the others: this is its wait."""
        __tracebackhide__ = True
        directory = self.directory
        with self.node.lock:
            self.drain_deferred()
            pending = directory.pending_of(object_ids)
            failed = directory.first_error(object_ids)
            if failed is not None or not pending:
                return failed
            countdown = self.node.waits.latch(len(pending))

            def arrived(entry: ObjectEntry) -> None:
                if entry.is_error and countdown.remaining > 0:
                    countdown.remaining = 1   # a failure ends the wait at once
                countdown.count_down()

            directory.add_waiter(pending, arrived)
        try:
            self.node.waits.wait(countdown, timeout, object_ids)
        finally:
            self.remove_waiter(pending, arrived)
        with self.node.lock:
            return directory.first_error(object_ids)

    def first_error(self, object_ids: Iterable[bytes]) -> Optional[bytes]:
        return self.directory.first_error(object_ids)

    def missing(self, object_ids: Iterable[bytes]) -> List[ObjectEntry]:
        """Entries still pending; raises ObjectLostError for one that was freed."""
        return self.directory.pending_of(object_ids)

    def not_here(self, object_ids: Iterable[bytes], node_id: str) -> List[ObjectEntry]:
        """Entries still pending, or ready but with no copy on `node_id`."""
        node = self.node
        if len(node.cluster_nodes) == 1:
            return self.directory.pending_of(object_ids)
        out: List[ObjectEntry] = []
        seen: Set[bytes] = set()
        for oid in object_ids:
            entry = self.table.entries.get(oid)
            if entry is None:
                self.directory.pending_of([oid])  # raises ObjectLostError with the reason
                continue
            if oid not in seen and (entry.state == PENDING or
                                    not node.remote.present_on(entry, node_id)):
                seen.add(oid)
                out.append(entry)
        return out

    def await_here(self, entries: List[ObjectEntry], node_id: str,
                   callback: Callable[[ObjectEntry], None],
                   errors: Optional[List[BaseException]] = None) -> List[Tuple[ObjectEntry, Any]]:
        """Call `callback(entry)` once each entry is ready (and, with several nodes, once a
        copy reached `node_id`, or failed to: then the error is appended to `errors`).
        Returns the registered waiters, for removal on timeout."""
        node = self.node
        registered: List[Tuple[ObjectEntry, Any]] = []
        if len(node.cluster_nodes) == 1:
            for entry in entries:
                entry.waiters.append(callback)
                registered.append((entry, callback))
            return registered

        def when_ready(entry: ObjectEntry) -> None:
            if node.remote.present_on(entry, node_id) or entry.is_error:
                callback(entry)
            else:
                def fetched(err: Optional[BaseException], e: ObjectEntry = entry) -> None:
                    if err is not None and errors is not None:
                        errors.append(err)
                    callback(e)

                node.remote.fetch(entry, node_id, fetched)

        for entry in entries:
            if entry.state == PENDING:
                entry.waiters.append(when_ready)
                registered.append((entry, when_ready))
            else:
                when_ready(entry)
        return registered

    def remove_waiters(self, waiters: List[Tuple[ObjectEntry, Any]]) -> None:
        with self.node.lock:
            for entry, waiter in waiters:
                self.directory.remove_waiter((entry,), waiter)

    def remove_waiter(self, entries: List[ObjectEntry], waiter: Any) -> None:
        with self.node.lock:
            self.directory.remove_waiter(entries, waiter)

    def ready_ids(self, object_ids: Iterable[bytes]) -> Set[bytes]:
        with self.node.lock:
            return self.directory.ready_ids(object_ids)

    def wait_ids(self, object_ids: List[bytes], num_returns: int,
                 timeout: Optional[float], id_set: Optional[Set[bytes]] = None) -> Set[bytes]:
        """Block until `num_returns` of the objects are ready or the timeout passes; returns
        the ready ones (at most `num_returns` if that many were ready at once).  `id_set`:
        the ids as a set, when the caller has built it already.

        A drain loop calls this once per finished object over a long list, so nothing here
        walks the list in Python: the split is set arithmetic on the directory's pending
        ids, and the wait is one listener on the directory, not a waiter on each entry."""
        __tracebackhide__ = True
        directory = self.directory
        with self.node.lock:
            self.drain_deferred()
            if id_set is None:
                id_set = set(object_ids)
            ready = directory.split_ready(object_ids, num_returns, id_set)
            if len(ready) >= num_returns or timeout == 0:
                return ready
            wanted = id_set
            countdown = self.node.waits.latch(num_returns - len(ready))

            def arrived(entry: ObjectEntry) -> None:
                oid = entry.object_id
                if oid in wanted and oid not in ready:
                    ready.add(oid)
                    countdown.count_down()

            directory.ready_listeners.append(arrived)
        try:
            self.node.waits.wait(countdown, timeout, object_ids)
        finally:
            with self.node.lock:
                directory.ready_listeners.remove(arrived)
        return ready


__all__ = ["NodeObjects", "DRIVER"]
