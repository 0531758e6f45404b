"""The head's view of the other nodes: membership, relayed workers, object copies, failures.

A remote node runs a NodeAgent (its own arena and worker processes) connected
to the head over an authenticated websocket.  Its workers speak the same
protocol as local ones; the agent relays their messages, tagged with the
worker id, and handles arena allocation itself.  The head keeps the one
object table: an object may have a block in the head's arena (entry.offset)
and copies on other nodes (entry.copies).  A task runs on a node only once
its arguments are there; missing ones are pulled from a node that has them
over HTTP, streamed straight into the target arena.  Concurrent pulls of one
object to one node are merged.

Whether a node is alive is decided by `core.membership` (heartbeats, closed
connections, re-registration).  When a node is lost, its workers are handled
like crashed workers (tasks retried, actors restarted elsewhere), copies on it
are forgotten, and objects left with no copy are rebuilt from their lineage
(runtime/lineage.py) or reported lost.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

from .. import exceptions as exc
from ..core import object_directory
from ..core.membership import HEARTBEAT_TIMEOUT_S, Lost, Membership
from ..core.object_directory import KIND_ARENA, KIND_INLINE
from ..core.object_table import INLINE, PENDING, SHM, SPILLED, ObjectEntry
from ..core.specs import TaskSpec
from ..transport.dispatch import Handlers, dispatch
from ..transport.messages import (DescriptorTuple, Fetch, Fetched, Free, FromWorker, Heartbeat,
                                  MakeRoom, Ready, ReadyDriver, Register, Registered, Room,
                                  Shutdown, ToWorker, WireMessage, WorkerExit, op_of, wire)
from .cluster import NodeInfo
from .lineage import Lineage
from .worker_pool import WorkerHandle

if TYPE_CHECKING:  # pragma: no cover
    from ..transport.ws import LoopThread
    from .node import Node
    from .object_transfer import PullClient

# Waits before re-trying a failed pull; together longer than HEARTBEAT_TIMEOUT_S, so a hung
# source has been declared lost (and its objects rebuilt) before the last try.
FETCH_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 4.0)

# A relayed worker the head does not know yet must first say who it is.
_READY_DRIVER = op_of(ReadyDriver)
_HELLOS = ((op_of(Ready),), (_READY_DRIVER,))


class RelayConn:
    """How the head talks to a worker of another node: through that node's websocket."""

    def __init__(self, info: "NodeInfo", worker_id: str) -> None:
        self.info = info
        self.worker_id = worker_id

    def send(self, msg: Any) -> None:
        from ..transport.framing import ConnectionClosed

        try:
            self.info.conn.send(wire(ToWorker(self.worker_id, msg)))
        except (ConnectionError, AttributeError) as e:
            raise ConnectionClosed(str(e)) from e

    def node_send(self, msg: Any) -> None:
        self.info.conn.send(msg)

    def close(self) -> None:
        pass


class RemoteNodes:
    """The other nodes of the cluster, seen from the head's `node`: membership, heartbeats,
    relayed workers, and object transfers between nodes.

    Built with the node; `serve()` connects it to the head's network once the head server
    listens (until then no other node can join, so nothing here is used)."""

    def __init__(self, node: "Node", heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S) -> None:
        self.node = node
        self.membership = Membership(heartbeat_timeout_s)
        self.object_url = ""                         # the head's own object server
        self.fetches: Dict[Tuple[bytes, str], List[Callable[[Optional[BaseException]], None]]] = {}
        self.lineage = Lineage(node)                 # how to rebuild what a lost node held
        self.fetch_client: Optional[PullClient] = None   # pulls into the head's arena
        self.net: Optional[LoopThread] = None        # the head server's network loop (timers)
        # (object id, target node) -> (attempt, source node, pull handle if the head pulls)
        self.fetch_state: Dict[Tuple[bytes, str], Tuple[int, str, Any]] = {}
        # agent->head messages; the sender is the node's websocket connection.
        self.handlers: Handlers[Any] = Handlers({
            FromWorker: self._from_worker, Register: self._register, Heartbeat: self._heartbeat,
            WorkerExit: self._worker_exit, Fetched: self._fetched, MakeRoom: self._make_room})

    def serve(self, object_url: str, fetch_client: PullClient, net: LoopThread) -> None:
        """Connect to the head server: its object URL, its client for pulling objects into
        the head's arena, and its network loop (which runs the retry timers)."""
        self.object_url = object_url
        self.fetch_client = fetch_client
        self.net = net
        self.node.cluster_nodes[self.node.node_id].object_url = object_url

    def stop_serving(self) -> None:
        """The head server is closing: no more pulls into the head."""
        if self.fetch_client is not None:
            self.fetch_client.close()

    # =========================================================================
    # membership (called on the network thread)
    # =========================================================================
    def on_connect(self, conn: Any, info: Dict[str, Any]) -> None:
        conn.on_message = self._on_message
        conn.on_close = self._on_close

    def _on_message(self, conn: Any, msg: Tuple[Any, ...]) -> None:
        """A message from a node (its own, or one of its workers' relayed: "w")."""
        with self.node.lock:
            try:
                dispatch(self.handlers, conn, msg)
            except Exception:  # a bug or a bad message must not take the head down
                self.node.internal_error(
                    f"handling {repr(msg)[:60]} from node {conn.info.get('node_id')}")

    def _heartbeat(self, conn: Any, used: int, capacity: int, spilled_bytes: int = 0,
                   spilled_objects: int = 0) -> None:
        info = self._info_of(conn)
        if info is not None:
            self.membership.heard(info.node_id, conn.info.get("incarnation", 0),
                                  time.monotonic())
            info.store_used, info.store_capacity = used, capacity
            info.spilled_bytes, info.spilled_objects = spilled_bytes, spilled_objects

    def _worker_exit(self, conn: Any, worker_id: str, code: Optional[int]) -> None:
        worker = self.node.workers.get(worker_id)
        if worker is not None:
            self.node.on_worker_exit(worker, code)

    def _info_of(self, conn: Any) -> Optional["NodeInfo"]:
        return self.node.cluster_nodes.get(conn.info.get("node_id", ""))

    def _register(self, conn: Any, node_id: str, resources: Dict[str, float], object_url: str,
                  hostname: str, pid: int, capacity: int, kind: str = "node") -> None:
        node = self.node
        incarnation, lost = self.membership.join(node_id, time.monotonic())
        self._handle_lost(lost)  # its previous incarnation, still there: it restarted
        total = {k: float(v) for k, v in resources.items()}
        total[f"node:{node_id}"] = 1.0
        info = NodeInfo(node_id, total, dict(total), conn=conn, hostname=hostname,
                        object_url=object_url, store_capacity=capacity, pid=pid,
                        is_driver=kind == "driver")
        node.cluster_nodes[node_id] = info
        conn.info["node_id"] = node_id
        conn.info["incarnation"] = incarnation
        conn.send(wire(Registered(node.node_id)))
        node.stats["nodes_joined"] += 1
        node.tasks.dispatch()

    def _on_close(self, conn: Any) -> None:
        node_id = conn.info.get("node_id")
        if node_id is None:
            return
        with self.node.lock:
            self._handle_lost(self.membership.closed(node_id, conn.info.get("incarnation", 0)))

    def check_heartbeats(self) -> None:
        """Called periodically by the node's I/O thread, with the lock held."""
        self._handle_lost(self.membership.expired(time.monotonic()))

    def _from_worker(self, conn: Any, worker_id: str, msg: WireMessage) -> None:
        node = self.node
        worker = node.workers.get(worker_id)
        if worker is None:
            info = self._info_of(conn)
            if info is None or msg[:1] not in _HELLOS:
                return
            worker = WorkerHandle(worker_id, None, RelayConn(info, worker_id),
                                  idle_since=time.monotonic(), node_id=info.node_id,
                                  remote_pid=msg[1])
            if msg[0] == _READY_DRIVER:
                worker.state = "driver"  # an attached driver: never given tasks
                node.pool.add(worker)
                return
            node.pool.add(worker)
        node.handle(worker, msg)  # dispatched through node.handlers

    # =========================================================================
    # where objects are
    # =========================================================================
    def present_on(self, entry: ObjectEntry, node_id: str) -> bool:
        if entry.state == INLINE:
            return True
        if node_id == self.node.node_id:
            return entry.offset >= 0 or (entry.state == SPILLED and entry.spill_url is not None)
        return node_id in entry.copies

    def local_bytes(self, node_id: str, object_ids: Iterable[bytes]) -> float:
        total = 0.0
        for oid in object_ids:
            entry = self.node.table.entries.get(oid)
            if entry is not None and entry.state != INLINE and self.present_on(entry, node_id):
                total += entry.block
        return total

    def descriptor(self, entry: ObjectEntry, worker: "WorkerHandle") -> DescriptorTuple:
        """Descriptor for a worker of another node (the object must be there already)."""
        if entry.state == INLINE:
            return (KIND_INLINE, entry.inline, entry.is_error)
        offset, _block = entry.copies[worker.node_id]
        self.node.table.add_reader(entry, worker.worker_id)
        return (KIND_ARENA, offset, entry.is_error)

    def deps_present(self, worker: "WorkerHandle", spec: TaskSpec) -> bool:
        """True if every argument is on the worker's node; else pull them and re-queue the
        task when they have arrived."""
        node = self.node
        missing = [node.table.entries[oid] for oid in dict.fromkeys(spec.arg_refs)
                   if not self.present_on(node.table.entries[oid], worker.node_id)]
        if not missing:
            return True
        left = {"n": len(missing)}

        def arrived(error: Optional[BaseException]) -> None:
            if error is not None and spec.task_id in node.tasks.by_id:
                left["n"] = -1
                node.tasks.fail(spec, error)
                return
            left["n"] -= 1
            if left["n"] == 0 and spec.task_id in node.tasks.by_id:
                node.tasks.requeue(spec)

        for entry in missing:
            self.fetch(entry, worker.node_id, arrived)
        return False

    def fetch(self, entry: ObjectEntry, target: str,
              done: Callable[[Optional[BaseException]], None], attempt: int = 0) -> None:
        """Bring a copy of `entry` to node `target`, then call done(None); done(error) only
        when no copy can be had (store full there, lost for good).  Callers look again
        after done(None): the object may have been freed or rebuilt meanwhile."""
        key = (entry.object_id, target)
        waiting = self.fetches.get(key)
        if waiting is not None:  # a pull of this object to this node is under way: share it
            waiting.append(done)
            return
        node = self.node
        if entry.state == PENDING:  # being rebuilt after a node loss: look again when ready
            entry.waiters.append(lambda e: done(None))
            return
        if entry.is_error or self.present_on(entry, target):
            done(None)
            return
        source = self._pick_source(entry, target)
        if source is None:
            done(exc.ObjectLostError(entry.object_id.hex(), "no node holds a copy"))
            return
        self.fetches[key] = [done]
        src_node, src_offset, src_url = source
        self.fetch_state[key] = (attempt, src_node, None)
        # The source copy must not move or be freed while it is read.
        node.table.add_reader(entry, f"xfer->{target}")
        node.stats["transfers_started"] += 1
        if target == node.node_id:
            try:
                offset = node.store.allocate(entry.block, entry.object_id)
            except exc.NbrayError as e:
                self._finish_fetch(entry, target, None, e)
                return
            assert self.fetch_client is not None  # other nodes exist only once serve() ran
            handle = self.fetch_client.pull(src_url, src_offset, entry.block, offset,
                                            lambda err: self._pulled_to_head(entry, offset, err))
            self.fetch_state[key] = (attempt, src_node, handle)
        else:
            info = node.cluster_nodes[target]
            try:
                info.conn.send(wire(Fetch(entry.object_id, entry.block, src_url, src_offset)))
            except ConnectionError as e:
                self._finish_fetch(entry, target, None, e, retry=True)

    def _pick_source(self, entry: ObjectEntry, target: str) -> Optional[Tuple[str, int, str]]:
        node = self.node
        if entry.state == SPILLED and entry.offset < 0 and entry.spill_url is not None:
            if not node.store.restore(entry):
                return None
        if entry.offset >= 0 and target != node.node_id:
            return (node.node_id, entry.offset, self.object_url)
        for node_id, (offset, _block) in entry.copies.items():
            info = node.cluster_nodes.get(node_id)
            if node_id != target and info is not None and info.alive:
                return (node_id, offset, info.object_url)
        return None

    def _pulled_to_head(self, entry: ObjectEntry, offset: int, error: Optional[BaseException]) -> None:
        node = self.node
        with node.lock:
            if error is not None:
                node.allocator.free(offset, entry.block)  # safe: the pull wrote its last byte
                self._finish_fetch(entry, node.node_id, None, error, retry=True)
                return
            if node.table.entries.get(entry.object_id) is not entry:
                node.allocator.free(offset, entry.block)  # freed meanwhile
                self._finish_fetch(entry, node.node_id, None, None)
                return
            object_directory.copy_arrived(node.table, entry, offset)
            self._finish_fetch(entry, node.node_id, offset, None)

    def _fetched(self, conn: Any, oid: bytes, offset: int, block: int, error: Optional[str],
                 kind: Optional[str] = None) -> None:
        target = conn.info.get("node_id", "")
        entry = self.node.table.entries.get(oid)
        if (oid, target) not in self.fetches or entry is None:
            # Freed meanwhile, or given up on (the source node was lost): drop the copy.
            if error is None:
                conn.send(wire(Free(offset, block)))
            if (oid, target) in self.fetches:  # the object was freed while it travelled
                for cb in self._settle_fetch(oid, target):
                    cb(None)  # callers look again
            return
        if error is None:
            self.node.table.add_copy(entry, target, offset, block)
            self._finish_fetch(entry, target, offset, None)
            return
        failure: BaseException
        if kind == "full":
            failure = exc.ObjectStoreFullError(error)
        else:
            failure = exc.ObjectFetchTimedOutError(oid.hex(), error)
        self._finish_fetch(entry, target, None, failure, retry=kind != "full")

    def _finish_fetch(self, entry: ObjectEntry, target: str, offset: Optional[int],
                      error: Optional[BaseException], retry: bool = False) -> None:
        node = self.node
        key = (entry.object_id, target)
        if key not in self.fetches:
            return  # already settled (a lost source was given up on before its pull ended)
        attempt = self.fetch_state.get(key, (0, "", None))[0]
        callbacks = self._settle_fetch(entry.object_id, target)
        if error is None:
            node.stats["transfers_done"] += 1
            node.stats["transferred_bytes"] += entry.block
        still_wanted = node.table.entries.get(entry.object_id) is entry
        if error is not None and retry and attempt < len(FETCH_RETRY_DELAYS) and still_wanted:
            # The source vanished or hiccuped.  Look again shortly: by then a lost node has
            # been noticed, and the object has another copy, is being rebuilt, or is lost.
            sys.stderr.write(f"nbray: pulling object {entry.object_id.hex()[:16]} to node "
                             f"{target[:12]} failed ({error}); retrying\n")
            node.stats["transfers_retried"] += 1

            def again() -> None:
                with node.lock:
                    current = node.table.entries.get(entry.object_id)
                    target_info = node.cluster_nodes.get(target)
                    if current is None or target_info is None or not target_info.alive:
                        for cb in callbacks:
                            cb(None)  # freed, or the target itself is gone: callers look again
                        return
                    self.fetch(current, target, callbacks[0], attempt + 1)
                    for cb in callbacks[1:]:  # merged into that pull
                        self.fetch(current, target, cb)

            assert self.net is not None  # other nodes exist only once serve() ran
            loop = self.net.loop
            loop.call_soon_threadsafe(lambda: loop.call_later(FETCH_RETRY_DELAYS[attempt], again))
            return
        for cb in callbacks:
            cb(error)

    def _settle_fetch(self, oid: bytes, target: str) -> List[Callable[[Optional[BaseException]], None]]:
        """Forget the pull of `oid` to `target` (unpinning its source); its callbacks."""
        key = (oid, target)
        self.fetch_state.pop(key, None)
        callbacks = self.fetches.pop(key, [])
        freed: List[ObjectEntry] = []
        self.node.table.remove_reader(oid, f"xfer->{target}", freed)
        self.node.objects.release(freed)
        return callbacks

    def _make_room(self, conn: Any, key: int, size: int) -> None:
        """A node's store is full: free about `size` bytes there, least recently used first.
        A copy that exists elsewhere too is dropped at once; one being copied from this node
        is dropped when that copy has landed; one that only this node holds is moved to the
        head first (whose store spills to disk when it must).  Copies the node's workers
        are reading stay.  Answers ("room", key) when done, whatever was achieved."""
        node = self.node
        node_id = conn.info.get("node_id", "")
        mine = node_id[:8]
        reading_from_here = {k[0]: k for k, (_a, source, _h) in self.fetch_state.items()
                             if source == node_id}
        candidates = sorted((e for e in node.table.entries.values() if node_id in e.copies
                             and not any(r.startswith(mine) for r in e.readers)),
                            key=lambda e: e.last_access)
        pending = {"left": 1}  # 1 until every move is started: a move may finish at once

        def when_landed(entry: ObjectEntry) -> Callable[[Optional[BaseException]], None]:
            return lambda err: landed(entry, err)

        def answer() -> None:
            node.stats["node_room_requests"] += 1
            try:
                conn.send(wire(Room(key)))
            except ConnectionError:
                pass

        def landed(entry: ObjectEntry, error: Optional[BaseException]) -> None:
            if node.table.entries.get(entry.object_id) is entry and node_id in entry.copies \
                    and self._held_elsewhere(entry, node_id):
                self._drop_copy(entry, node_id, conn)
            pending["left"] -= 1
            if pending["left"] == 0:
                answer()

        freed = 0
        for entry in candidates:
            if freed >= size:
                break
            in_flight = reading_from_here.get(entry.object_id)
            if in_flight is not None and in_flight in self.fetches:
                pending["left"] += 1
                self.fetches[in_flight].append(when_landed(entry))
            elif self._held_elsewhere(entry, node_id):
                self._drop_copy(entry, node_id, conn)
            else:
                pending["left"] += 1
                node.stats["objects_moved_to_head"] += 1
                self.fetch(entry, node.node_id, when_landed(entry))
            freed += entry.block
        pending["left"] -= 1
        if pending["left"] == 0:
            answer()

    def _held_elsewhere(self, entry: ObjectEntry, node_id: str) -> bool:
        return entry.offset >= 0 or any(n != node_id for n in entry.copies) or (
            entry.state == SPILLED and entry.spill_url is not None)

    def _drop_copy(self, entry: ObjectEntry, node_id: str, conn: Any) -> int:
        offset, block = self.node.table.drop_copy(entry, node_id)
        try:
            conn.send(wire(Free(offset, block)))
        except ConnectionError:
            pass
        self.node.stats["node_copies_dropped"] += 1
        return block

    def release_copies(self, entry: ObjectEntry) -> None:
        """The object was freed: return its blocks on other nodes."""
        for node_id, (offset, block) in entry.copies.items():
            info = self.node.cluster_nodes.get(node_id)
            if info is not None and info.alive and info.conn is not None:
                try:
                    info.conn.send(wire(Free(offset, block)))
                except ConnectionError:
                    pass
        entry.copies.clear()   # freed: out of the table, whose copy counts it left already

    # =========================================================================
    # lost nodes
    # =========================================================================

    def _handle_lost(self, lost: List[Lost]) -> None:
        for node_id, reason in lost:
            info = self.node.cluster_nodes.get(node_id)
            if info is not None and info.alive and not info.is_head:
                self._lost(info, reason)

    def _lost(self, info: NodeInfo, reason: str) -> None:
        """A node was lost: its workers are handled like crashed ones, its copies forgotten,
        and objects that only it held rebuilt from lineage or reported lost."""
        node = self.node
        node_id = info.node_id
        info.alive = False
        info.lost_reason, info.lost_at = reason, time.time()
        node.stats["nodes_lost"] += 1
        sys.stderr.write(f"nbray: node {node_id[:12]} ({info.hostname}) was lost: {reason}\n")
        try:
            if info.conn is not None:
                info.conn.close()
        except Exception:
            pass
        # Pulls to the lost node are dropped (their callers look again and choose another
        # node); pulls from it into the head are cancelled, and retried from elsewhere.
        for key in list(self.fetches):
            oid, target = key
            _attempt, source, handle = self.fetch_state.get(key, (0, "", None))
            if target == node_id:
                for cb in self._settle_fetch(oid, target):
                    cb(None)
            elif source == node_id and handle is not None:
                handle.cancel()
        lost: List[ObjectEntry] = []
        for entry in list(node.table.entries.values()):
            if node_id in entry.copies:
                node.table.drop_copy(entry, node_id)
                entry.readers = {r: n for r, n in entry.readers.items()
                                 if not r.startswith(node_id[:8])}
                if entry.state == SHM and entry.offset < 0 and not entry.copies:
                    lost.append(entry)
        for worker in [w for w in node.workers.values() if w.node_id == node_id]:
            node.on_worker_exit(worker, None)
        for entry in lost:
            self.lineage.rebuild_or_fail(entry, node_id)
        node.tasks.dispatch()

    # =========================================================================
    # shutdown
    # =========================================================================
    def shutdown_nodes(self) -> None:
        for info in self.node.cluster_nodes.values():
            if not info.is_head and info.alive and info.conn is not None:
                try:
                    info.conn.send(wire(Shutdown()))
                except ConnectionError:
                    pass


__all__ = ["RemoteNodes", "RelayConn", "HEARTBEAT_TIMEOUT_S", "PENDING"]
