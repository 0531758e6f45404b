"""A read-only JSON endpoint on a Unix socket, so `nbray memory` can inspect a running driver.

The socket lives in a 0700 directory of the current user: the file system is
the authentication, and only JSON is read (never a pickle), and nothing on
it can run code.  One file per driver process, `<pid>.sock`; a file whose
process is gone (SIGKILL) is removed by the next nbray that looks.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import threading
from typing import Any, Callable, Dict, List

from ..store.spill import pid_alive

MAX_REQUEST = 64 * 1024


def sessions_dir() -> str:
    """The private directory of state sockets (owner and mode checked on every call)."""
    from ..userdirs import private_subdir

    return private_subdir("sessions")


def live_sessions() -> List[str]:
    """Socket paths of running drivers, newest first; stale files are removed."""
    from ..userdirs import UnsafeStateDirError

    try:
        d = sessions_dir()
        names = os.listdir(d)
    except UnsafeStateDirError:
        raise  # say so: "no cluster found" would hide an attack
    except OSError:
        return []
    out = []
    for name in names:
        if not name.endswith(".sock"):
            continue
        path = os.path.join(d, name)
        try:
            pid = int(name[:-5])
        except ValueError:
            continue
        if not pid_alive(pid):
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        out.append(path)
    out.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
    return out


def query(path: str, op: str, timeout: float = 10.0, **args: Any) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            chunks.append(data)
    reply = json.loads(b"".join(chunks))
    if not reply.get("ok"):
        raise RuntimeError(reply.get("error", "request failed"))
    return reply["result"]


class StateServer:
    def __init__(self, handlers: Dict[str, Callable[..., Any]]) -> None:
        self.handlers = handlers
        self.path = os.path.join(sessions_dir(), f"{os.getpid()}.sock")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(8)
        self._r, self._w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="nbray-state", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        sel.register(self._r, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select():
                    if key.fileobj == self._r:
                        return
                    conn, _ = self.sock.accept()
                    with conn:
                        self._handle(conn)
        finally:
            sel.close()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        data = b""
        try:
            while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            req = json.loads(data)
            handler = self.handlers.get(req.get("op"))
            if handler is None:
                reply: Dict[str, Any] = {"ok": False, "error": f"unknown op {req.get('op')!r}; "
                                         f"known: {', '.join(sorted(self.handlers))}"}
            else:
                reply = {"ok": True, "result": handler(**(req.get("args") or {}))}
        except Exception as e:  # bad request: answer it, keep serving
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        try:
            conn.sendall(json.dumps(reply, default=str).encode())
        except OSError:
            pass

    def close(self) -> None:
        try:
            os.write(self._w, b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


__all__ = ["StateServer", "query", "live_sessions", "sessions_dir"]
