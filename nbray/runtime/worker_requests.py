"""What a node does for its workers' object requests: refs, put, alloc, seal, nested get/wait.

A worker that blocks in get() or wait() inside a task lends its CPUs to other
tasks until the objects arrive (as Ray does), so nested tasks cannot deadlock
a full pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from .. import exceptions as exc
from ..core.object_table import ObjectEntry
from ..transport.fast_wire import wire_reply
from ..transport.messages import Reply, wire

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node
    from .worker_pool import WorkerHandle


class WorkerObjectRequests:
    def __init__(self, node: "Node") -> None:
        self.node = node
        self.objects = node.objects

    def on_refs(self, worker: WorkerHandle, adds: List[bytes], removes: List[bytes]) -> None:
        self.objects.update_holders(worker.worker_id, adds, removes)

    def on_unpin(self, worker: WorkerHandle, oids: List[bytes]) -> None:
        self.objects.remove_readers(worker.worker_id, oids)

    def on_put(self, worker: WorkerHandle, oid: bytes, payload: Any, size: int,
                contains: List[bytes], type_name: str, call_site: str = "") -> None:
        entry = self.objects.table.create(oid, owner=worker.worker_id, holder=worker.worker_id,
                                       created_by="put", type_name=type_name,
                                       node_id=worker.node_id, call_site=call_site)
        self.objects.make_ready(entry, inline=payload, size=size, contains=contains)

    def on_alloc(self, worker: WorkerHandle, req: int, oid: bytes, size: int) -> None:
        if size > self.node.allocator.capacity:
            self.node.reply(worker, wire(Reply(req, False, "too-large")))
            return
        try:
            offset = self.node.store.allocate(size, oid)
        except (exc.ObjectStoreFullError, exc.ObjectSpillError) as e:
            self.node.reply(worker, wire(Reply(req, False, e)))
            return
        self.node.reply(worker, wire(Reply(req, True, offset)))

    def on_free_block(self, worker: WorkerHandle, offset: int, size: int) -> None:
        self.node.allocator.free(offset, size)

    def on_seal(self, worker: WorkerHandle, oid: bytes, offset: int, block: int, size: int,
                 contains: List[bytes], type_name: str, call_site: str = "") -> None:
        entry = self.objects.table.create(oid, owner=worker.worker_id, holder=worker.worker_id,
                                       created_by="put", type_name=type_name,
                                       node_id=worker.node_id, call_site=call_site)
        if worker.node_id != self.node.node_id:
            self.objects.make_ready(entry, remote=(worker.node_id, (offset, block)), size=size,
                             contains=contains)
        else:
            self.objects.make_ready(entry, shm=(offset, block), size=size, contains=contains)

    def on_seal_spilled(self, worker: WorkerHandle, oid: bytes, url: str, block: int, size: int,
                         contains: List[bytes], type_name: str, call_site: str = "") -> None:
        entry = self.objects.table.create(oid, owner=worker.worker_id, holder=worker.worker_id,
                                       created_by="put", type_name=type_name,
                                       node_id=worker.node_id, call_site=call_site)
        self.objects.make_ready(entry, spilled=(url, block), size=size, contains=contains)

    def on_get(self, worker: WorkerHandle, req: int, oids: List[bytes]) -> None:
        self._answer_get(worker, req, oids, False)

    def _answer_get(self, worker: WorkerHandle, req: int, oids: List[bytes], blocked: bool) -> None:
        """Answer get `req` if every object is on the worker's node, else wait for them;
        `blocked`: the worker already lends its CPUs (a re-check once they arrived)."""
        try:
            missing = self.objects.not_here(oids, worker.node_id)
        except exc.ObjectLostError as e:
            if blocked:
                self.unblock(worker)
            self.node.reply(worker, wire(Reply(req, False, e)))
            return
        if not missing:
            if blocked:
                self.unblock(worker)
            try:
                entries = self.objects.table.entries
                descs = [self.objects.worker_descriptor(entries[o], worker) for o in oids]
            except KeyError as e:
                lost = exc.ObjectLostError(e.args[0].hex())
                self.node.reply(worker, wire(Reply(req, False, lost)))
                return
            self.node.reply(worker, wire_reply(req, True, descs))
            return
        if not blocked:
            self.block(worker)
        key = (worker.worker_id, req)
        state = {"left": len(missing)}
        errors: List[BaseException] = []

        def on_ready(entry: ObjectEntry) -> None:
            state["left"] -= 1
            if state["left"] == 0 and self.objects.get_requests.pop(key, None) is not None:
                if errors:  # no copy could be brought to the worker's node
                    self.unblock(worker)
                    self.node.reply(worker, wire(Reply(req, False, errors[0])))
                    return
                self._answer_get(worker, req, oids, True)  # check again: all here now?

        waiters = self.objects.await_here(missing, worker.node_id, on_ready, errors)
        self.objects.get_requests[key] = ([e for e, _ in waiters], on_ready)

    def on_wait(self, worker: WorkerHandle, req: int, oids: List[bytes], num_returns: int,
                 block: bool) -> None:
        is_ready = self.objects.directory.is_ready
        ready = [o for o in oids if is_ready(o)]
        need = num_returns - len(set(ready))
        if need <= 0 or not block:
            self.node.reply(worker, wire_reply(req, True, ready))
            return
        self.block(worker)
        key = (worker.worker_id, req)
        pending = [self.objects.table.entries[o] for o in dict.fromkeys(oids) if o not in set(ready)]
        state = {"left": need}

        def on_ready(entry: ObjectEntry) -> None:
            state["left"] -= 1
            if state["left"] == 0 and self.objects.get_requests.pop(key, None) is not None:
                self.unblock(worker)
                self.objects.remove_waiter(pending, on_ready)
                now = [o for o in oids if is_ready(o)]
                self.node.reply(worker, wire_reply(req, True, now))

        self.objects.get_requests[key] = (pending, on_ready)
        self.objects.directory.add_waiter(pending, on_ready)

    def on_get_cancel(self, worker: WorkerHandle, req: int) -> None:
        item = self.objects.get_requests.pop((worker.worker_id, req), None)
        if item is not None:
            entries, waiter = item
            self.objects.remove_waiter(entries, waiter)
            self.unblock(worker)

    def block(self, worker: WorkerHandle) -> None:
        """A worker waits inside a task: the scheduler lends its CPUs to other tasks."""
        self.node.tasks.lend(worker)

    def unblock(self, worker: WorkerHandle) -> None:
        """The wait is over: the task takes its CPUs back."""
        self.node.tasks.reclaim(worker)
