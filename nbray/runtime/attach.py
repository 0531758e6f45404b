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
from typing import Any, Optional

from ..transport.framing import ConnectionClosed, MessageConnection
from .client import WorkerClient
from .worker_process import print_worker_output
from .node_agent import NodeAgent


class AttachedClient(WorkerClient):
    """WorkerClient plus what a driver needs: queries to the head and an output sink."""

    output_sink = staticmethod(print_worker_output)

    def tag_provider(self) -> Any:  # type: ignore[override]
        return f"attached:{self.holder}"


class AttachedDriver:
    def __init__(self, address: str, token: str, object_store_memory: int = 0) -> None:
        from ..transport.tls import TlsConfig

        self.agent = NodeAgent(address, token, num_cpus=0, resources={},
                               object_store_memory=object_store_memory or 2**30,
                               tls=TlsConfig.from_env(), kind="driver")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.worker_id = f"{self.agent.node_id[:8]}-driver"
        self.agent.attach_local(self.worker_id, MessageConnection(theirs))
        self.conn = MessageConnection(mine)
        self.client = AttachedClient(self.conn, self.agent.arena.view, self.worker_id,
                                     self.agent.node_id, 100 * 1024)
        self.client.spill_backend = lambda: self.agent.spill  # type: ignore[method-assign]
        self._reader = threading.Thread(target=self._read, name="nbray-attached", daemon=True)
        self._reader.start()
        self.client.send(("ready-driver", os.getpid()))

    def _read(self) -> None:
        try:
            while True:
                msg = self.conn.recv()
                if msg[0] == "reply":
                    self.client.on_reply(*msg[1:])
                elif msg[0] == "log":
                    try:
                        self.client.output_sink(msg[1])
                    except Exception:
                        pass
        except ConnectionClosed:
            pass
        except Exception as e:  # pragma: no cover - a bug; say so rather than hang
            sys.stderr.write(f"nbray: attached driver reader failed: {e}\n")

    def close(self) -> None:
        self.client.ref_counter.active = False
        self.agent.stop()
        self.conn.close()


def resolve_address(address: str, token: Optional[str]) -> tuple:
    """(ws address, token) from an explicit address or "auto", and the token sources."""
    from .head_server import read_address, token_file
    from ..transport.ws import read_token_file

    if address == "auto":
        found = read_address()
        if not found:
            raise ConnectionError("init(address='auto'): no running head found on this machine "
                                  "(start one with `nbray start --head`)")
        address = found["address"]
    if not address.startswith(("ws://", "wss://")):
        raise ValueError(f"init(address={address!r}): expected ws://host:port, wss://host:port, "
                         f"'auto' or 'local'")
    token = token or os.environ.get("NBRAY_TOKEN")
    if not token:
        path = os.environ.get("NBRAY_TOKEN_FILE") or token_file()
        try:
            token = read_token_file(path)
        except OSError:
            raise PermissionError(f"no cluster token: pass token=..., set NBRAY_TOKEN, or put "
                                  f"it in {path} (the head prints it)") from None
    return address, token
