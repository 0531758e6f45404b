"""The node's side of generator tasks: the items each one has yielded, and who has taken them.

A generator task (num_returns="streaming", Ray's default for generator functions, or
"dynamic") sends every value the moment it yields it (the worker's "yield" op).  Item i
(1, 2, ...) gets the object id task id + i, so lineage can be read off it as for any
return; index 0 is the task's own return object, ready once the task has ended: None,
the error that ended it (a crash, a cancellation), or for "dynamic" the list of items.

Items are objects of the table like any task result, owned by the caller.  Until the
caller takes one (`next(gen)`), the caller's hold on it belongs to the stream; the
caller's ObjectRefGenerator gives back the holds of the items it never took when it goes
away ("stream-release"), and a "dynamic" task's items are held by its return object once
it exists.  So nothing a generator made outlives every ref to it.

A caller that waits for the next item (or for `wait()` on a generator) is woken by the
stream's waiters, called on every new item and when the task ends.  A worker that waits
lends its CPUs meanwhile, as it does in get(), so consuming a generator inside a task
cannot deadlock a full pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from .. import exceptions as exc
from ..core.object_directory import KIND_ARENA, ResultTuple
from ..core.object_table import PENDING, ObjectEntry
from ..core.specs import TaskSpec
from ..ids import object_id_for_return
from ..transport.messages import Reply, wire
from .latch import Latch

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node
    from .worker_pool import WorkerHandle

# What the caller is told about its next item: ("item", object id), ("end", None) once the
# task has ended and every item was taken, or ("pending", None).
Next = Tuple[str, Optional[bytes]]


@dataclass(eq=False)
class Stream:
    task_id: bytes
    owner: str                    # the process that called .remote() and holds the items
    mode: str                     # "streaming" | "dynamic"
    items: int = 0                # items yielded so far: indices 1..items
    taken: int = 0                # items handed to the caller (or given back)
    finished: bool = False        # the task has ended; its return object is ready
    released: bool = False        # the caller's generator is gone: later items are dropped
    waiters: List[Callable[[], None]] = field(default_factory=list)
    room_waiters: List[Callable[[], None]] = field(default_factory=list)   # backpressure

    def item_id(self, index: int) -> bytes:
        return object_id_for_return(self.task_id, index)


class NodeStreams:
    def __init__(self, node: "Node") -> None:
        self.node = node
        self.streams: Dict[bytes, Stream] = {}

    # -- lifecycle (called with the node lock held) ----------------------------------
    def open(self, spec: TaskSpec) -> None:
        if spec.task_id not in self.streams:
            self.streams[spec.task_id] = Stream(spec.task_id, spec.owner, spec.generator)

    def on_yield(self, worker: "WorkerHandle", task_id: bytes, item_no: int,
                 result: ResultTuple) -> None:
        """A worker yielded item `item_no` of task `task_id` (a result tuple, as in "done")."""
        node = self.node
        oid = result[0]
        spec = node.tasks.by_id.get(task_id)
        stream = self.streams.get(task_id)
        entry = node.table.entries.get(oid)
        if oid != object_id_for_return(task_id, item_no) or item_no < 1:
            node.objects.free_blocks_of([result], worker.node_id)
            node.internal_error(f"checking item {item_no} of task {task_id.hex()}: wrong id")
            return
        if entry is not None and entry.state == PENDING and spec is not None:
            # Rebuilt from lineage (its only copy was on a lost node): this run refills it.
            node.objects.store_results(spec, [result], worker.node_id)
            return
        if (spec is None or stream is None or stream.released or stream.finished
                or item_no != stream.items + 1 or entry is not None):
            # Nobody will take it (the generator is gone), or a retried task yielded again
            # an item its first run already sent: drop this copy at once.
            node.objects.free_blocks_of([result], worker.node_id)
            return
        node.table.create(oid, owner=stream.owner, holder=stream.owner, created_by=spec.name,
                          call_site=spec.call_site, node_id=node.node_id)
        node.objects.store_results(spec, [result], worker.node_id)
        stream.items = item_no
        # Lineage (remote_nodes.py): which items the task made, and whether any lives only
        # in another node's memory, so a lost node's items can be rebuilt by a re-run.
        if worker.node_id != node.node_id:
            node.remote.lineage.note_item(task_id, item_no, result[1] == KIND_ARENA)
        self._notify(stream)

    def finish(self, spec: TaskSpec) -> None:
        """The task ended (its return object is stored): no more items will come."""
        stream = self.streams.get(spec.task_id)
        if stream is None:
            return
        stream.finished = True
        if stream.mode == "dynamic":
            # The return object (a DynamicObjectRefGenerator) now keeps its items alive.
            stream.released = True
            self._release_untaken(stream)
        self._notify(stream)
        if stream.released:
            del self.streams[spec.task_id]

    def release(self, task_id: bytes) -> None:
        """The caller's generator went away: give back the items it never took."""
        stream = self.streams.get(task_id)
        if stream is None:
            return
        if not stream.released:
            stream.released = True
            self._release_untaken(stream)
            self._room_made(stream)
        if stream.finished:
            del self.streams[task_id]

    def owner_gone(self, holder: str) -> None:
        """The calling process died; its holds were dropped with it."""
        for task_id, stream in list(self.streams.items()):
            if stream.owner == holder:
                stream.released = True
                stream.taken = stream.items
                if stream.finished:
                    del self.streams[task_id]
                self._notify(stream)
                self._room_made(stream)

    def _release_untaken(self, stream: Stream) -> None:
        freed: List[ObjectEntry] = []
        for index in range(stream.taken + 1, stream.items + 1):
            self.node.table.remove_holder(stream.item_id(index), stream.owner, freed)
        stream.taken = stream.items
        self.node.objects.release(freed)

    def _room_made(self, stream: Stream) -> None:
        if stream.room_waiters:
            waiters, stream.room_waiters = stream.room_waiters, []
            for w in waiters:
                w()

    def _notify(self, stream: Stream) -> None:
        if stream.waiters:
            waiters, stream.waiters = stream.waiters, []
            for w in waiters:
                w()

    # -- the caller's questions ----------------------------------------------------
    def next_of(self, task_id: bytes, take: bool) -> Next:
        """The caller's next item; `take`: hand it over (the caller now holds it)."""
        stream = self.streams.get(task_id)
        if stream is None or stream.released:
            return ("end", None)
        if stream.taken < stream.items:
            index = stream.taken + 1
            if take:
                stream.taken = index
                self._room_made(stream)
            return ("item", stream.item_id(index))
        if stream.finished:
            return ("end", None)
        return ("pending", None)

    def _ready(self, task_id: bytes) -> bool:
        return self.next_of(task_id, take=False)[0] != "pending"

    def _watch(self, task_id: bytes, callback: Callable[[], None]) -> None:
        stream = self.streams.get(task_id)
        if stream is not None:
            stream.waiters.append(callback)

    def _unwatch(self, task_ids: List[bytes], callback: Callable[[], None]) -> None:
        for task_id in task_ids:
            stream = self.streams.get(task_id)
            if stream is not None:
                try:
                    stream.waiters.remove(callback)
                except ValueError:
                    pass

    # -- the driver (in-process) -----------------------------------------------------
    def next_item(self, task_id: bytes, take: bool, timeout: Optional[float]) -> Next:
        """Wait (up to `timeout`) for the next item or the end of the stream."""
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        node = self.node
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with node.lock:
                if node.closed:
                    raise exc.RaySystemError("the cluster was shut down: its generators have ended")
                node.objects.drain_deferred()
                answer = self.next_of(task_id, take)
                if answer[0] != "pending" or timeout == 0:
                    return answer
                latch = Latch(1)
                self._watch(task_id, latch)
            try:
                ok = latch.wait(None if deadline is None else deadline - time.monotonic())
            finally:
                with node.lock:
                    self._unwatch([task_id], latch)
            if not ok:
                with node.lock:
                    return self.next_of(task_id, take)

    def wait_mixed(self, object_ids: List[bytes], task_ids: List[bytes], num_returns: int,
                   timeout: Optional[float]) -> Tuple[Set[bytes], Set[bytes]]:
        """wait() over objects and generators: (ready object ids, ready generator task ids)
        once `num_returns` of them are ready, or when `timeout` has passed."""
        __tracebackhide__ = True
        node = self.node
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with node.lock:
                node.objects.drain_deferred()
                objs, gens, pending = self._readiness(object_ids, task_ids)
                if len(objs) + len(gens) >= num_returns or timeout == 0:
                    return objs, gens
                latch = Latch(1)
                self._watch_all(pending, task_ids, gens, latch)
            try:
                ok = latch.wait(None if deadline is None else deadline - time.monotonic())
            finally:
                with node.lock:
                    self._unwatch_all(pending, task_ids, latch)
            if not ok:
                with node.lock:
                    objs, gens, _ = self._readiness(object_ids, task_ids)
                return objs, gens

    def _readiness(self, object_ids: List[bytes], task_ids: List[bytes]
                   ) -> Tuple[Set[bytes], Set[bytes], List[ObjectEntry]]:
        entries = self.node.table.entries
        objs: Set[bytes] = set()
        pending: List[ObjectEntry] = []
        for oid in object_ids:
            e = entries.get(oid)
            if e is None or e.state != PENDING:
                objs.add(oid)
            else:
                pending.append(e)
        gens = {t for t in task_ids if self._ready(t)}
        return objs, gens, pending

    def _watch_all(self, pending: List[ObjectEntry], task_ids: List[bytes], ready: Set[bytes],
                   callback: Callable[..., None]) -> None:
        for entry in pending:
            entry.waiters.append(callback)
        for task_id in task_ids:
            if task_id not in ready:
                self._watch(task_id, callback)

    def _unwatch_all(self, pending: List[ObjectEntry], task_ids: List[bytes],
                     callback: Callable[..., None]) -> None:
        self.node.objects.remove_waiter(pending, callback)
        self._unwatch(task_ids, callback)

    # -- workers (and attached drivers): requests over their socket -------------------
    def on_next(self, worker: "WorkerHandle", req: int, task_id: bytes, take: bool,
                block: bool) -> None:
        node = self.node
        answer = self.next_of(task_id, take)
        if answer[0] != "pending" or not block:
            node.reply(worker, wire(Reply(req, True, answer)))
            return
        node.requests.block(worker)   # lend its CPUs: the generator may need one to run
        key = (worker.worker_id, req)

        def changed() -> None:
            if key not in node.objects.get_requests:
                return  # given up (get-cancel) or the worker died
            now = self.next_of(task_id, take)
            if now[0] == "pending":
                self._watch(task_id, changed)
                return
            del node.objects.get_requests[key]
            node.requests.unblock(worker)
            node.reply(worker, wire(Reply(req, True, now)))

        node.objects.get_requests[key] = ([], changed)
        self._watch(task_id, changed)

    def on_wait(self, worker: "WorkerHandle", req: int, object_ids: List[bytes],
                task_ids: List[bytes], num_returns: int, block: bool) -> None:
        node = self.node
        objs, gens, pending = self._readiness(object_ids, task_ids)
        if len(objs) + len(gens) >= num_returns or not block:
            node.reply(worker, wire(Reply(req, True, (sorted(objs), sorted(gens)))))
            return
        node.requests.block(worker)
        key = (worker.worker_id, req)
        state: Dict[str, Any] = {"pending": pending, "gens": gens}

        def changed(*_: Any) -> None:
            if key not in node.objects.get_requests:
                return
            self._unwatch_all(state["pending"], task_ids, changed)
            objs, gens, pending = self._readiness(object_ids, task_ids)
            if len(objs) + len(gens) < num_returns:
                state["pending"], state["gens"] = pending, gens
                node.objects.get_requests[key] = (pending, changed)
                self._watch_all(pending, task_ids, gens, changed)
                return
            del node.objects.get_requests[key]
            self._unwatch(task_ids, changed)
            node.requests.unblock(worker)
            node.reply(worker, wire(Reply(req, True, (sorted(objs), sorted(gens)))))

        node.objects.get_requests[key] = (pending, changed)
        self._watch_all(pending, task_ids, gens, changed)

    def on_room(self, worker: "WorkerHandle", req: int, task_id: bytes, need: int) -> None:
        """Backpressure (`_generator_backpressure_num_objects`): the generator task waits until
        its caller has taken `need` items (or has gone away) before it yields more."""
        node = self.node
        key = (worker.worker_id, req)

        def check() -> None:
            if key not in node.objects.get_requests:
                return   # given up (cancelled) or the worker died
            stream = self.streams.get(task_id)
            if stream is not None and not stream.released and stream.taken < need:
                stream.room_waiters.append(check)
                return
            del node.objects.get_requests[key]
            node.reply(worker, wire(Reply(req, True, None)))

        node.objects.get_requests[key] = ([], check)
        check()

    def on_release(self, worker: "WorkerHandle", task_ids: List[bytes]) -> None:
        for task_id in task_ids:
            stream = self.streams.get(task_id)
            if stream is not None and stream.owner == worker.worker_id:
                self.release(task_id)


def lineage_ids(spec: TaskSpec, yielded: int) -> List[bytes]:
    """Every object a task made: its returns, and the `yielded` items of a generator task."""
    return list(spec.return_ids) + [object_id_for_return(spec.task_id, i)
                                    for i in range(1, yielded + 1)]


__all__ = ["NodeStreams", "Stream", "lineage_ids"]
