"""A driver attached to a running cluster: `nbray.init(address=...)` from another process.

The driver starts a small in-process NodeAgent with no CPUs (its own arena,
so gets of large objects are still zero-copy) and talks to it as one more
"worker" over a socketpair, speaking the worker protocol.  The head knows it
as a driver: it never schedules tasks on it, and forwards to it the output of
the tasks it started.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import exceptions as exc
from ..transport.dispatch import Handlers, ProtocolError, dispatch
from ..transport.framing import ConnectionClosed, MessageConnection
from ..transport.messages import Cancel, CancelTagged, Output, ReadyDriver, Reply, wire
from .client import WorkerClient
from .latch import Reply as Answer
from .worker_process import print_worker_output
from .node_agent import NodeAgent


class AttachedClient(WorkerClient):
    """WorkerClient plus what a driver needs: queries to the head, an output sink, and
    HeadLostError for every pending and later call once the head connection is gone."""

    output_sink = staticmethod(print_worker_output)
    lost: Optional[BaseException] = None

    def head_lost(self, error: BaseException) -> None:
        """Fail every call waiting for an answer, and every later one, with `error`."""
        self.lost = error
        for req in list(self._replies):
            reply = self._replies.pop(req, None)
            if reply is not None:
                reply.set(False, error)

    def send(self, msg: Tuple[Any, ...]) -> None:
        if self.lost is not None:
            raise self.lost
        try:
            super().send(msg)
        except (ConnectionClosed, OSError):
            raise self.lost or exc.HeadLostError(
                "the connection to the head is closed") from None

    def request(self, build: Callable[[int], Tuple[Any, ...]], timeout: Optional[float] = None,
                abandon_ids: Optional[List[bytes]] = None,
                on_late: Optional[Callable[[bool, Any], None]] = None) -> Tuple[bool, Any]:
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        ok, value = super().request(build, timeout, abandon_ids, on_late)
        if not ok and isinstance(value, exc.HeadLostError):
            raise value
        if self.lost is not None and not ok and value is None:
            raise self.lost  # timed out around the loss: the loss is the real answer
        return ok, value

    def _abandon(self, req: int, oids: Optional[List[bytes]],
                 on_late: Optional[Callable[[bool, Any], None]] = None) -> None:
        if self.lost is None:
            super()._abandon(req, oids, on_late)
        else:
            self._replies.pop(req, None)

    def flush(self) -> None:
        if self.lost is None:
            super().flush()

    def tag_provider(self) -> Any:  # type: ignore[override]
        return self.base_tag()

    def base_tag(self) -> str:
        """The tag of this driver's tasks outside notebook cells."""
        return f"attached:{self.holder}"

    def cell_tag(self, cell: str) -> str:
        """The tag the head keeps on the tasks this driver submits from notebook cell `cell`
        (the head routes their output back to us by it)."""
        return f"{self.base_tag()}#{cell}"

    def cancel_tasks(self, task_ids: List[bytes], force: bool, recursive: bool) -> None:
        """cancel() of many tasks in one go: every request is sent before the first reply
        is awaited, so an interrupted get() of 10,000 refs costs one round trip, not
        10,000.  Raises the first error, after all were answered."""
        replies = []
        for task_id in task_ids:
            req = next(self._req)
            replies.append(self._replies.setdefault(req, Answer()))  # before the reply can come
            try:
                self.send(wire(Cancel(req, task_id, force, recursive)))
            except BaseException:
                self._replies.pop(req, None)
                raise
        errors = [r.value for r in replies if not (r.wait(None) and r.ok)]
        if errors:
            raise errors[0]

    def cancel_cell(self, cell: str, force: bool = False) -> int:
        """Cancel every unfinished task submitted from notebook cell `cell`, and the tasks
        they started (they inherit the tag): how many were cancelled."""
        ok, value = self.request(lambda req: wire(CancelTagged(req, self.cell_tag(cell), force)))
        if not ok:
            raise value
        return int(value)


class AttachedDriver:
    def __init__(self, address: str, token: str, object_store_memory: int = 0) -> None:
        from ..transport.tls import TlsConfig

        self.agent = NodeAgent(address, token, num_cpus=0, resources={},
                               object_store_memory=object_store_memory or 2**30,
                               tls=TlsConfig.from_env(), kind="driver")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.worker_id = f"{self.agent.node_id[:8]}-driver"
        self.agent.attach_local(self.worker_id, MessageConnection(theirs))
        self.address = address
        self.conn = MessageConnection(mine)
        self.client = AttachedClient(self.conn, self.agent.arena.view, self.worker_id,
                                     self.agent.node_id, 100 * 1024)
        self.client.spill_backend = lambda: self.agent.spill  # type: ignore[method-assign]
        self._reader = threading.Thread(target=self._read, name="nbray-attached", daemon=True)
        self._reader.start()
        self.client.send(wire(ReadyDriver(os.getpid())))

    def _on_reply(self, conn: MessageConnection, req: int, ok: bool, value: Any) -> None:
        self.client.on_reply(req, ok, value)

    def _on_output(self, conn: MessageConnection, record: Dict[str, Any]) -> None:
        try:
            self.client.output_sink(record)
        except Exception:
            pass

    def node_handlers(self) -> Handlers[MessageConnection]:
        """What an attached driver takes from its node: replies, and its tasks' output."""
        return Handlers({Reply: self._on_reply, Output: self._on_output})

    def _read(self) -> None:
        handlers = self.node_handlers()
        try:
            while True:
                msg = self.conn.recv()
                try:
                    dispatch(handlers, self.conn, msg)
                except ProtocolError as e:  # a bug or mixed versions: say so, read on
                    sys.stderr.write(f"nbray: attached driver: {e}\n")
        except ConnectionClosed:
            pass
        except Exception as e:  # pragma: no cover - a bug; say so rather than hang
            sys.stderr.write(f"nbray: attached driver reader failed: {e}\n")
        # The in-process agent closes our socket when its head connection breaks (the
        # websocket closes at once when the head dies; pings catch a hung one).
        self.client.head_lost(exc.HeadLostError(
            f"lost the connection to the nbray head at {self.address}: it was stopped, was "
            f"killed or is unreachable. Call nbray.shutdown(), then nbray.init() again once "
            f"a head runs"))

    def close(self) -> None:
        self.client.ref_counter.active = False
        self.agent.stop()
        self.conn.close()


def resolve_address(address: str, token: Optional[str]) -> tuple:
    """(ws address, token) from an explicit address or "auto", and the token sources."""
    from .head_server import find_head
    from ..transport.ws import read_token_file

    if address == "auto":
        try:
            found = find_head("auto")
        except ConnectionError as e:
            raise ConnectionError(f"init(address='auto'): {e}") from None
        address = found["address"]
    if not address.startswith(("ws://", "wss://")):
        raise ValueError(f"init(address={address!r}): expected ws://host:port, wss://host:port, "
                         f"'auto' or 'local'")
    token = token or os.environ.get("NBRAY_TOKEN")
    if not token:
        path = os.environ.get("NBRAY_TOKEN_FILE")
        try:
            path = path or find_head(address)["token_file"]
            token = read_token_file(path)
        except (OSError, ConnectionError) as e:
            where = f" ({path} is unreadable)" if path else f" ({e})"
            raise PermissionError(f"no cluster token{where}: pass token=..., set NBRAY_TOKEN "
                                  f"or NBRAY_TOKEN_FILE (the head prints where its token "
                                  f"is)") from None
    return address, token
