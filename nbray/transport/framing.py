"""Length-prefixed pickled messages over a connected stream socket.

Used only between the processes of one node, over socketpairs created by the
node itself (nothing listens, so no unauthenticated peer can send a pickle).
Messages are tuples whose first item is a kebab-case op name.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
from typing import Any, List, Optional

_LEN = struct.Struct("<Q")
_CHUNK = 1 << 16


class ConnectionClosed(ConnectionError):
    """The peer closed the connection or died."""


class MessageConnection:
    """Send and receive whole messages; send is thread-safe, receive is for one reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()  # stays the number it had (check `closed` before using it)
        self._send_lock = threading.Lock()
        self._later: List[bytes] = []  # framed messages queued by send_later(), in order
        self._buf = bytearray()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: Any) -> None:
        """Send `msg` now, after any messages queued by send_later()."""
        data = pickle.dumps(msg, protocol=5)
        header = _LEN.pack(len(data))
        try:
            with self._send_lock:
                if self._later:
                    self._later.append(header + data)
                    self._send_queued()
                elif len(data) < 1 << 16:
                    self.sock.sendall(header + data)
                else:
                    self.sock.sendall(header)
                    self.sock.sendall(data)
        except OSError as exc:
            self.closed = True
            raise ConnectionClosed(str(exc)) from exc

    def send_later(self, msg: Any) -> None:
        """Queue `msg`: it goes with the next send() or flush(), in order, in one write.
        For messages the peer cannot act on before it answers an earlier one."""
        data = pickle.dumps(msg, protocol=5)
        with self._send_lock:
            self._later.append(_LEN.pack(len(data)) + data)

    @property
    def queued(self) -> int:
        return len(self._later)

    def flush(self) -> None:
        """Send what send_later() queued (nothing if nothing is)."""
        if not self._later:
            return
        try:
            with self._send_lock:
                self._send_queued()
        except OSError as exc:
            self.closed = True
            raise ConnectionClosed(str(exc)) from exc

    def _send_queued(self) -> None:
        later, self._later = self._later, []
        self.sock.sendall(b"".join(later))

    def recv(self) -> Any:
        """Block until one whole message arrives."""
        while True:
            msgs = self._take(1)
            if msgs:
                return msgs[0]
            self._fill()

    def recv_available(self) -> List[Any]:
        """Read what the socket has now (it must be readable) and return the whole messages."""
        self._fill()
        return self._take(None)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(max(_CHUNK, self._missing()))
        except OSError as exc:
            self.closed = True
            raise ConnectionClosed(str(exc)) from exc
        if not chunk:
            self.closed = True
            raise ConnectionClosed("peer closed the connection")
        self._buf += chunk

    def _missing(self) -> int:
        if len(self._buf) < _LEN.size:
            return 0
        n: int = _LEN.unpack_from(self._buf)[0]
        return n + _LEN.size - len(self._buf)

    def _take(self, limit: Optional[int]) -> List[Any]:
        out: List[Any] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= _LEN.size and (limit is None or len(out) < limit):
            n = _LEN.unpack_from(buf, pos)[0]
            if len(buf) - pos - _LEN.size < n:
                break
            out.append(pickle.loads(memoryview(buf)[pos + _LEN.size:pos + _LEN.size + n]))
            pos += _LEN.size + n
        if pos:
            del buf[:pos]
        return out

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
