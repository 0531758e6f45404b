"""A node that joins a cluster: its own arena and worker processes, relayed to the head.

The agent connects to the head's websocket with the cluster token, registers
its resources, and starts one worker per CPU.  Worker messages go to the head
tagged with the worker id, except arena allocation, which the agent answers
itself.  It serves its arena blocks to other nodes over HTTP and pulls blocks
the head asks it to fetch.  When the head goes away the agent stops its
workers and exits; a restarted agent registers again as a new node.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import tornado.httpserver
import tornado.web

from .. import exceptions as exc
from ..ids import new_node_id
from ..store.allocator import Allocator
from ..store.shm import Arena, create_arena_fd
from ..store.spill import FileSpill, default_spill_root
from ..transport.dispatch import Handlers, dispatch
from ..transport.framing import ConnectionClosed, MessageConnection
from ..transport.messages import (Alloc, Fetch, Fetched, Free, FreeBlock, FromWorker, Heartbeat,
                                  MakeRoom, Register, Registered, Reply, Room, Shutdown, Signal,
                                  ToWorker, WireMessage, WorkerExit, op_of, wire)
from ..transport.tls import TlsConfig
from ..transport.ws import PING_INTERVAL, PING_TIMEOUT, LoopThread, connect
from ..core.membership import HEARTBEAT_TIMEOUT_S
from .object_transfer import MAX_REQUEST, ObjectSocket, PullClient
from .worker_pool import WorkerHandle, WorkerPool

HEARTBEAT_S = 1.0

# The worker messages the agent answers itself (from its own arena); it relays the rest.
_ANSWERED_HERE = ((op_of(Alloc),), (op_of(FreeBlock),))


def spill_usage(directory: str) -> Tuple[int, int]:
    """(bytes, objects) in a node's spill directory: the objects larger than its store that
    its workers wrote there (a file each; one still being written ends in ".part").  Read
    from the directory itself, once per heartbeat: such objects are few, and the head
    deletes their files when they are freed, so this is what the disk holds now."""
    total = count = 0
    try:
        with os.scandir(directory) as it:
            for item in it:
                if item.name.startswith(".") or item.name.endswith(".part"):
                    continue
                try:
                    total += item.stat(follow_symlinks=False).st_size
                except FileNotFoundError:   # deleted meanwhile
                    continue
                count += 1
    except FileNotFoundError:   # nothing spilled yet: made at the first spill
        pass
    return total, count


def _send_reply(wconn: MessageConnection, msg: WireMessage) -> None:
    """Answer a worker (its exit, if it is gone, is seen by the reader)."""
    try:
        wconn.send(msg)
    except ConnectionClosed:
        pass


class NodeAgent:
    def __init__(self, address: str, token: str, num_cpus: int, resources: Dict[str, float],
                 object_store_memory: int, host: Optional[str] = None,
                 tls: Optional[TlsConfig] = None, kind: str = "node") -> None:
        from ..config import default_store_bytes
        from .worker_process import worker_env

        tls = tls or TlsConfig()
        if address.startswith("wss://") and not tls.serves_tls:
            raise ValueError(
                f"the head at {address} uses TLS, so this node's object server must too: give it "
                f"a certificate (--certfile/--keyfile, or NBRAY_TLS_CERTFILE/NBRAY_TLS_KEYFILE)")
        client_tls = tls.client_context()
        server_tls = tls.server_context()
        host = host or serving_address(address)
        self.node_id = new_node_id()
        self.token = token
        self.num_cpus = num_cpus
        cap = object_store_memory or default_store_bytes()
        self.arena_fd = create_arena_fd(cap)
        self.arena = Arena(self.arena_fd, cap, owns_fd=False)
        self.allocator = Allocator(cap)
        self.lock = threading.Lock()
        self.closed = False
        self.head_shut_down = False   # the head said goodbye: leave for good
        self.lost_head = False        # the connection broke: worth trying to rejoin
        self.done = threading.Event()
        self.spill = FileSpill(os.path.join(default_spill_root(), f"spill-{os.getpid()}-{self.node_id[:8]}"))
        self.pool = WorkerPool(self.node_id, self.arena_fd, cap,
                               worker_env(100 * 1024, self.spill.url, {}), self.lock,
                               self._watch, collections.Counter())
        self._room_seq = 0   # allocations waiting for the head to make room, by key
        self._room_waiting: Dict[int, Tuple[int, Callable[[Optional[int]], None]]] = {}
        self.net = LoopThread("nbray-agent-net")  # before any worker: it reads their sockets
        self.pull = PullClient(self.net, token, lambda: self.arena.view, client_tls)
        # Object server, bound like the node.
        app = tornado.web.Application([(r"/nbray/objects", ObjectSocket, {
            "token": token, "arena_view": lambda: self.arena.view, "capacity": cap})],
            websocket_max_message_size=MAX_REQUEST, websocket_ping_interval=PING_INTERVAL,
            websocket_ping_timeout=PING_TIMEOUT)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
        sock.listen(64)
        sock.setblocking(False)

        async def serve() -> Any:
            # A client that connects and stalls is dropped instead of held forever.
            server = tornado.httpserver.HTTPServer(app, ssl_options=server_tls,
                                                   idle_connection_timeout=60)
            server.add_sockets([sock])
            return server

        self.server = self.net.run(serve(), timeout=10)
        shown = f"[{host}]" if ":" in host else host
        self.object_url = f"{'https' if server_tls else 'http'}://{shown}:{sock.getsockname()[1]}"
        url = address.rstrip("/") + "/nbray/ws"
        try:
            # A driver pings its head as often as the head expects heartbeats, so a hung
            # head fails the driver's calls within 2 x HEARTBEAT_TIMEOUT_S (a killed one
            # closes the socket and is seen at once).
            ping = {"ping_interval": HEARTBEAT_TIMEOUT_S, "ping_timeout": HEARTBEAT_TIMEOUT_S} \
                if kind == "driver" else {}
            self.conn = self.net.run(connect(url, token, self.net, role="node",
                                             name=socket.gethostname(),
                                             ssl_options=client_tls if url.startswith("wss") else None,
                                             **ping),
                                     timeout=30)
        except BaseException:
            self._close_network()  # nothing may outlive a failed join (an attached driver)
            self.arena.close()
            os.close(self.arena_fd)
            raise
        # head->agent messages (the sender is the head's connection), and the two
        # worker->node messages the agent handles itself instead of relaying them.
        self.head_handlers: Handlers[Any] = Handlers({
            ToWorker: self._to_worker, Signal: self._signal, Free: self._free,
            Fetch: self._on_fetch, Room: self._on_room, Registered: self._on_registered,
            Shutdown: self._head_shutdown})
        self.local_handlers: Handlers[MessageConnection] = Handlers(
            {Alloc: self._on_alloc, FreeBlock: self._on_free_block}, reply=_send_reply)
        self.conn.on_message = self._from_head
        self.conn.on_close = lambda c: self._stop_soon("the head closed the connection",
                                                       lost=True)
        total = {"CPU": float(num_cpus), **{k: float(v) for k, v in resources.items()}}
        self.conn.send(wire(Register(self.node_id, total, self.object_url, socket.gethostname(),
                                     os.getpid(), cap, kind)))
        self.net.call(self._beat)
        for _ in range(num_cpus):
            self._spawn()

    # -- workers ------------------------------------------------------------------
    def attach_local(self, wid: str, conn: MessageConnection) -> None:
        """Relay a process-local client (an attached driver) like a worker."""
        worker = WorkerHandle(wid, None, conn, state="driver", node_id=self.node_id)
        with self.lock:
            self.pool.add(worker)
        self._watch(worker)

    def _spawn(self) -> None:
        if not self.closed:
            self.pool.spawn()

    # Worker sockets are read on the network loop itself, so a worker's message goes on
    # to the head without a hand-off between threads (a task's round trip has several).
    def _watch(self, worker: WorkerHandle) -> None:
        self.net.call(self.net.loop.add_reader, worker.conn.fileno(), self._readable, worker)

    def _readable(self, worker: WorkerHandle) -> None:
        wconn = worker.conn
        try:
            msgs = wconn.recv_available()
        except ConnectionClosed:
            self.net.loop.remove_reader(wconn.fileno())
            # Reaping the process may take a moment: not on the network loop.
            threading.Thread(target=self._worker_exit, args=(worker,), name="nbray-agent-reap",
                             daemon=True).start()
            return
        wid = worker.worker_id
        for msg in msgs:
            self._from_worker(wid, wconn, msg)

    def _beat(self) -> None:
        if self.closed:
            return
        if self.conn.closing():
            self._stop_soon("the head stopped answering pings", lost=True)
            return
        try:
            self.conn.send(wire(Heartbeat(self.allocator.used, self.allocator.capacity,
                                          *spill_usage(self.spill.directory))))
        except ConnectionError:
            self._stop_soon("lost the connection to the head", lost=True)
            return
        self.net.loop.call_later(HEARTBEAT_S, self._beat)

    def _from_worker(self, wid: str, wconn: MessageConnection, msg: WireMessage) -> None:
        if type(msg) is tuple and msg[:1] in _ANSWERED_HERE:
            try:
                dispatch(self.local_handlers, wconn, msg)
            except Exception:  # a bad message must not stop the agent's network loop
                sys.stderr.write(f"nbray node {self.node_id[:12]}: handling {repr(msg)[:60]} "
                                 f"from worker {wid}:\n{traceback.format_exc()}")
            return
        try:
            self.conn.send(wire(FromWorker(wid, msg)))
        except ConnectionError:
            self._stop_soon("lost the connection to the head", lost=True)

    def _on_alloc(self, wconn: MessageConnection, req: int, oid: bytes, size: int) -> None:
        if size > self.allocator.capacity:
            _send_reply(wconn, wire(Reply(req, False, "too-large")))  # the worker spills it
            return

        def allocated(offset: Optional[int]) -> None:
            try:
                if offset is None:
                    wconn.send(wire(Reply(req, False, exc.ObjectStoreFullError(
                        _store_full(size, self.allocator)))))
                else:
                    wconn.send(wire(Reply(req, True, offset)))
            except ConnectionClosed:
                if offset is not None:  # the worker died meanwhile
                    with self.lock:
                        self.allocator.free(offset, size)

        self._allocate(size, allocated)

    def _on_free_block(self, wconn: MessageConnection, offset: int, size: int) -> None:
        with self.lock:
            self.allocator.free(offset, size)

    def _worker_exit(self, worker: WorkerHandle) -> None:
        if worker.state == "dead":
            return
        code = self.pool.forget(worker, None)
        if self.closed:
            return
        try:
            self.conn.send(wire(WorkerExit(worker.worker_id, code)))
        except ConnectionError:
            return
        task_workers = sum(1 for w in list(self.pool.workers.values()) if w.proc is not None)
        if worker.proc is not None and task_workers < self.num_cpus:
            self._spawn()

    # -- head ---------------------------------------------------------------------
    def _from_head(self, conn: Any, msg: WireMessage) -> None:
        # An op this agent does not know raises ProtocolError: WsConnection.deliver logs it.
        dispatch(self.head_handlers, conn, msg)

    def _to_worker(self, conn: Any, worker_id: str, msg: WireMessage) -> None:
        worker = self.pool.workers.get(worker_id)
        if worker is not None:
            try:
                worker.conn.send(msg)
            except ConnectionClosed:
                pass

    def _signal(self, conn: Any, worker_id: str, signum: int) -> None:
        worker = self.pool.workers.get(worker_id)
        if worker is not None and worker.proc is not None:
            worker.signal(signum)

    def _free(self, conn: Any, offset: int, block: int) -> None:
        with self.lock:
            self.allocator.free(offset, block)

    def _on_fetch(self, conn: Any, oid: bytes, block: int, src_url: str, src_offset: int) -> None:
        self._fetch(oid, block, src_url, src_offset)

    def _on_room(self, conn: Any, key: int) -> None:
        self._room_made(key)

    def _on_registered(self, conn: Any, head_node_id: str) -> None:
        pass  # the head's acknowledgement: nothing to do

    def _head_shutdown(self, conn: Any) -> None:
        self.head_shut_down = True
        self._stop_soon("the head shut down")

    def _allocate(self, size: int, then: Callable[[Optional[int]], None]) -> None:
        """then(offset) with a block of `size` bytes, or then(None) when there is no room even
        after the head made some (freeing copies held elsewhere too, moving the rest to the
        head, whose store spills to disk).  `then` may run on the network thread."""
        with self.lock:
            offset = self.allocator.allocate(size)
            if offset is None:
                self._room_seq += 1
                key = self._room_seq
                self._room_waiting[key] = (size, then)
        if offset is not None:
            then(offset)
            return
        try:
            self.conn.send(wire(MakeRoom(key, size)))
        except ConnectionError:
            with self.lock:
                self._room_waiting.pop(key, None)
            then(None)

    def _room_made(self, key: int) -> None:
        with self.lock:
            size, then = self._room_waiting.pop(key, (0, None))
            offset = self.allocator.allocate(size) if then is not None else None
        if then is not None:
            then(offset)

    def _fetch(self, oid: bytes, block: int, src_url: str, src_offset: int) -> None:
        self._allocate(block, lambda offset: self._fetch_into(oid, block, src_url, src_offset,
                                                              offset))

    def _fetch_into(self, oid: bytes, block: int, src_url: str, src_offset: int,
                    offset: Optional[int]) -> None:
        if offset is None:
            full = _store_full(block, self.allocator)
            self.conn.send(wire(Fetched(oid, -1, block, full, "full")))
            return

        def done(error: Optional[BaseException]) -> None:
            msg: WireMessage
            if error is not None:
                with self.lock:
                    self.allocator.free(offset, block)
                msg = wire(Fetched(oid, -1, block, str(error), "transfer"))
            else:
                msg = wire(Fetched(oid, offset, block, None, None))
            try:
                self.conn.send(msg)
            except ConnectionError:
                pass

        self.pull.pull(src_url, src_offset, block, offset, done)

    # -- lifecycle ------------------------------------------------------------------
    def stop(self, reason: str = "", lost: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.lost_head = lost and not self.head_shut_down
        if reason:
            sys.stderr.write(f"nbray node {self.node_id[:12]}: stopping: {reason}\n")
        self.pool.shutdown()  # attached drivers get EOF too
        try:
            self.conn.close()
        except Exception:
            pass
        self._close_network()
        self.spill.cleanup()
        # Its objects are forgotten by the head now; give the memory back (arrays an
        # attached driver still holds keep their pages until they are dropped).
        self.arena.close()
        os.close(self.arena_fd)
        self.done.set()

    def _stop_soon(self, reason: str, lost: bool = False) -> None:
        """stop() from the network thread, which stop() itself has to wait for."""
        threading.Thread(target=self.stop, args=(reason, lost), name="nbray-agent-stop",
                         daemon=True).start()

    def _close_network(self) -> None:
        self.pull.close()

        async def stop_server() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        try:
            self.net.run(stop_server(), timeout=5)
        except Exception:
            pass
        self.net.stop()

    def wait(self) -> None:
        while not self.done.wait(0.5):
            pass


def serving_address(head_address: str) -> str:
    """Where this member serves its objects when not told: 127.0.0.1 for a head on this
    machine, else this machine's address on the route to the head (the head and the other
    nodes must reach it; the cluster token guards it, as it guards the head)."""
    from urllib.parse import urlsplit

    parts = urlsplit(head_address)
    head_host = parts.hostname or "127.0.0.1"
    try:
        infos = socket.getaddrinfo(head_host, parts.port or 80, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise ConnectionError(f"cannot resolve the head's host {head_host!r}: {e}") from None
    family, _, _, _, sockaddr = infos[0]
    if ipaddress.ip_address(sockaddr[0]).is_loopback:
        return "127.0.0.1" if family == socket.AF_INET else "::1"
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect(sockaddr)  # no packet is sent: this only asks the kernel for a route
        return probe.getsockname()[0]
    finally:
        probe.close()


def _store_full(size: int, allocator: Allocator) -> str:
    return (f"object store of this node is full: cannot store {size / 2**20:.1f} MiB; "
            f"{allocator.used / 2**20:.1f} of {allocator.capacity / 2**20:.1f} MiB in use")


# How long a node whose head connection broke keeps trying to rejoin (a head restarted on
# the same address, a network blip) before it exits; NBRAY_REJOIN_TIMEOUT_S overrides it.
# Short on purpose: a node whose head is gone for good must not linger holding memory.
REJOIN_WINDOW_S = 10.0


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m nbray.runtime.node_agent ADDRESS NUM_CPUS RESOURCES_JSON STORE HOST`,
    with the token in NBRAY_TOKEN.

    When the connection to the head breaks (a network partition, the head was killed, or
    the head declared this node lost after missed heartbeats), the node rejoins as a new,
    empty node, trying for NBRAY_REJOIN_TIMEOUT_S seconds (default REJOIN_WINDOW_S); when
    the head shuts down, the window passes, or on SIGTERM, it exits, removing its pid file."""
    from .pidfiles import PidFile

    args = list(sys.argv[1:] if argv is None else argv)
    address, num_cpus, resources, store, host = args
    token = os.environ.pop("NBRAY_TOKEN", "")
    window = float(os.environ.get("NBRAY_REJOIN_TIMEOUT_S", str(REJOIN_WINDOW_S)))
    leaving = threading.Event()
    current: Dict[str, Optional[NodeAgent]] = {"agent": None}

    def leave(reason: str) -> None:
        leaving.set()
        agent = current["agent"]
        if agent is not None:
            agent.stop(reason)

    signal.signal(signal.SIGTERM, lambda *a: leave("SIGTERM"))
    pid_file = None
    if os.environ.get("NBRAY_PID_FILE", "1") != "0":
        pid_file = PidFile(f"node-{os.getpid()}.pid", kind="node", address=address,
                           rejoin_window_s=window)
    try:
        return _join_and_serve(address, token, num_cpus, resources, store, host, window,
                               leaving, current, leave)
    finally:
        if pid_file is not None:
            pid_file.remove()


def _join_and_serve(address: str, token: str, num_cpus: str, resources: str, store: str,
                    host: str, window: float, leaving: threading.Event,
                    current: Dict[str, Optional[NodeAgent]], leave: Callable[[str], None]) -> int:
    import json

    deadline: Optional[float] = None   # None: the first join, which must work at once
    delay = 0.2
    while not leaving.is_set():
        try:
            agent = NodeAgent(address, token, int(num_cpus), json.loads(resources), int(store),
                              host or None, tls=TlsConfig.from_env())
        except ConnectionError as e:
            if deadline is None or time.monotonic() > deadline:
                what = "cannot join" if deadline is None else f"gave up rejoining after {window:g} s:"
                print(f"nbray node: {what} {address}: {e}", file=sys.stderr, flush=True)
                return 1
            leaving.wait(delay)
            delay = min(delay * 2, 2.0)
            continue
        except (ValueError, PermissionError) as e:  # settings or token: retrying cannot help
            print(f"nbray node: cannot join {address}: {e}", file=sys.stderr, flush=True)
            return 1
        current["agent"] = agent
        if leaving.is_set():  # SIGTERM arrived while it was joining
            agent.stop("SIGTERM")
            break
        print(f"nbray node {agent.node_id} {'joined' if deadline is None else 'rejoined'} "
              f"{address} (serving objects at {agent.object_url})", flush=True)
        try:
            agent.wait()
        except KeyboardInterrupt:
            leave("interrupted")
        if not agent.lost_head or window <= 0:
            break
        print(f"nbray node {agent.node_id[:12]}: lost the head; rejoining (for up to "
              f"{window:g} s)", file=sys.stderr, flush=True)
        deadline, delay = time.monotonic() + window, 0.2
    return 0


if __name__ == "__main__":
    sys.exit(main())
