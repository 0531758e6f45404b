"""Moving object bytes between nodes over authenticated websockets, arena to arena.

Every node (the head included) serves `/nbray/objects`, a Tornado websocket
handler that checks the cluster token before the upgrade.  A node that needs
a block connects with the token, asks for one range as a small JSON text
frame (no pickle on this path at all) and receives the bytes as binary frames
of CHUNK bytes.

Both ends skip the copies a generic websocket library makes, because at a
few GB/s every copy of a gigabyte shows (PERFORMANCE.md: fresh buffers cost
page faults, and loopback TCP is itself copy bound):

* the server writes each frame header and then a memoryview of the arena
  block straight to the socket stream (no bytes() copy, no frame assembly);
* the client speaks the small part of RFC 6455 it needs (handshake, masked
  request, ping/pong, close) over a Tornado IOStream and reads every payload
  with `read_into` directly into its place in the local arena.

So a transfer costs one copy on each side, like a raw socket.  The server
awaits each frame's flush before the next, so a slow reader bounds its
memory; a read that makes no progress for STALL_TIMEOUT ends the pull, as
does a peer that dies.  Either way the pull ends with an error and the head
decides what to do (another copy, lineage).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import ssl
import struct
import threading
from typing import Any, Callable, Optional, Tuple
from urllib.parse import urlsplit

import tornado.iostream
import tornado.tcpclient
import tornado.websocket

from ..transport.ws import refused_browser, token_matches

log = logging.getLogger("nbray.transfer")
CHUNK = 4 * 2**20
MAX_REQUEST = 4096        # the request is a small JSON object; anything bigger is refused
STALL_TIMEOUT = 30.0      # seconds without a byte from the serving node: it is hung
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


def _frame_header(opcode: int, length: int, mask: bytes = b"") -> bytes:
    """RFC 6455 header of one final frame (masked when `mask` is given: client frames)."""
    bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, bit | length)
    elif length <= 0xFFFF:
        head = struct.pack("!BBH", 0x80 | opcode, bit | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, bit | 127, length)
    return head + mask


class ObjectSocket(tornado.websocket.WebSocketHandler):
    """Serves ranges of this node's arena to authenticated peers."""

    def initialize(self, token: str, arena_view: Callable[[], memoryview], capacity: int) -> None:
        self.token = token
        self.arena_view = arena_view
        self.capacity = capacity
        self.busy = False

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if refused_browser(self):  # before Tornado's check, which lets same-origin pages in
            return
        if not token_matches(self.token, self.request.headers.get("Authorization")):
            log.warning("nbray: refused an object request from %s: missing or wrong cluster token",
                        self.request.remote_ip)
            self.set_status(401)
            self.finish("missing or wrong cluster token")
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        return False  # nodes send no Origin header; browsers are never served object bytes

    def get_compression_options(self) -> None:
        return None  # array bytes rarely compress; and the raw frames below assume no extension

    def open(self, *args: Any) -> None:
        self.set_nodelay(True)

    async def on_message(self, message: Any) -> None:
        if self.busy or isinstance(message, bytes) or len(message) > MAX_REQUEST:
            self._refuse("expected one JSON request {\"offset\": N, \"size\": M}")
            return
        try:
            request = json.loads(message)
            offset, size = int(request["offset"]), int(request["size"])
        except (ValueError, KeyError, TypeError):
            self._refuse("the request must be JSON {\"offset\": N, \"size\": M} with integers")
            return
        if offset < 0 or size < 0 or offset + size > self.capacity:
            self._refuse(f"range {offset}+{size} is outside this node's store")
            return
        self.busy = True
        # Sent from a task of its own: while on_message runs, tornado reads no further
        # frames, and the client's pongs must keep arriving during a long transfer.
        asyncio.ensure_future(self._send_range(offset, size))

    async def _send_range(self, offset: int, size: int) -> None:
        view = self.arena_view()
        stream = self.ws_connection.stream if self.ws_connection is not None else None
        pos, end = offset, offset + size
        try:
            while pos < end and stream is not None:
                n = min(CHUNK, end - pos)
                # Header and payload are queued back to back in one callback, so tornado's
                # own frames (pings) can only come between whole frames.  The block stays
                # pinned on the head until the puller reports the transfer done.
                stream.write(_frame_header(0x2, n))
                await stream.write(view[pos:pos + n])
                pos += n
        except tornado.iostream.StreamClosedError:
            log.info("nbray: %s closed an object transfer after %d of %d bytes",
                     self.request.remote_ip, pos - offset, size)

    def _refuse(self, reason: str) -> None:
        log.warning("nbray: bad object request from %s: %s", self.request.remote_ip, reason)
        try:
            self.write_message(json.dumps({"error": reason}))
        except tornado.websocket.WebSocketClosedError:
            pass
        self.close(1008, "bad request")


class Pull:
    """One transfer in flight.  cancel() guarantees no byte is written into the arena after
    it returns, so the caller may free the target block right away."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.lock = threading.Lock()
        self.cancelled = False
        self.stream: Optional[tornado.iostream.IOStream] = None

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            stream = self.stream
        if stream is not None:  # ends a read that waits on a hung peer
            self.net.call(stream.close)


class PullClient:
    """Pulls blocks from other nodes into this node's arena, on the network loop."""

    def __init__(self, net: Any, token: str, arena_view: Callable[[], memoryview],
                 ssl_context: Any = None) -> None:
        self.net = net
        self.token = token
        self.arena_view = arena_view
        self.ssl_context = ssl_context
        self.pulls: "set[Pull]" = set()

    def pull(self, url: str, src_offset: int, size: int, dst_offset: int,
             done: Callable[[Optional[BaseException]], None]) -> Pull:
        """Copy `size` bytes at `src_offset` of the node serving `url` (its http(s)://
        address) to `dst_offset` here; calls done(None) or done(error) exactly once, on
        the network thread."""
        handle = Pull(self.net)
        self.net.call(lambda: self.net.loop.create_task(
            self._run(handle, url, src_offset, size, dst_offset, done)))
        return handle

    async def _run(self, handle: Pull, url: str, src_offset: int, size: int, dst_offset: int,
                   done: Callable[[Optional[BaseException]], None]) -> None:
        error: Optional[BaseException] = None
        self.pulls.add(handle)
        try:
            stream = await self._open(url, handle)
            request = json.dumps({"offset": src_offset, "size": size}).encode()
            await self._send(stream, 0x1, request)
            await self._receive(stream, handle, url, dst_offset, size)
        except Exception as e:  # a node that vanished mid-transfer, a refused token, ...
            error = e
        finally:
            self.pulls.discard(handle)
            with handle.lock:
                handle.cancelled = True  # no more writes, whatever happens to the stream
                stream_left = handle.stream
            if stream_left is not None and not stream_left.closed():
                stream_left.close()
        done(error)

    async def _open(self, url: str, handle: Pull) -> tornado.iostream.IOStream:
        """TCP (and TLS) connection plus the websocket handshake, token in the header."""
        from ..transport.tls import describe_tls_error

        parts = urlsplit(url)
        secure = parts.scheme == "https"
        host, port = parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80)
        try:
            # With TLS, tornado verifies the certificate against `host` as well.
            stream = await asyncio.wait_for(tornado.tcpclient.TCPClient().connect(
                host, port, ssl_options=self.ssl_context if secure else None), 10)
        except ssl.SSLError as e:
            raise ConnectionError(describe_tls_error(url, e)) from None
        except (OSError, asyncio.TimeoutError, tornado.iostream.StreamClosedError) as e:
            reason = e.real_error if isinstance(e, tornado.iostream.StreamClosedError) else e
            if isinstance(reason, ssl.SSLError):
                raise ConnectionError(describe_tls_error(url, reason)) from None
            raise ConnectionError(f"cannot reach the node at {url}: {reason or 'timed out'}") from None
        with handle.lock:
            cancelled = handle.cancelled
            handle.stream = stream
        if cancelled:
            stream.close()
            raise ConnectionError(f"the transfer from {url} was cancelled")
        stream.set_nodelay(True)
        key = base64.b64encode(os.urandom(16))
        stream.write(b"GET /nbray/objects HTTP/1.1\r\n"
                     b"Host: " + parts.netloc.encode() + b"\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n"
                     b"Authorization: Bearer " + self.token.encode() + b"\r\n\r\n")
        try:
            head = await asyncio.wait_for(stream.read_until(b"\r\n\r\n", max_bytes=65536), 10)
        except (tornado.iostream.StreamClosedError, asyncio.TimeoutError,
                tornado.iostream.UnsatisfiableReadError) as e:
            raise ConnectionError(f"the node at {url} did not answer the object request "
                                  f"({type(e).__name__})") from None
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            code = status[1] if len(status) > 1 else "?"
            raise ConnectionError(f"the node at {url} refused the object request: " + (
                "wrong cluster token" if code == "401" else f"HTTP {code}"))
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        expected = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ConnectionError(f"the node at {url} answered with a bad websocket handshake")
        return stream

    @staticmethod
    async def _send(stream: tornado.iostream.IOStream, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)  # client frames are masked (RFC 6455, section 5.3)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await stream.write(_frame_header(opcode, len(payload), mask) + masked)

    async def _receive(self, stream: tornado.iostream.IOStream, handle: Pull, url: str,
                       dst_offset: int, size: int) -> None:
        view = self.arena_view()
        pos, end = dst_offset, dst_offset + size
        while pos < end:
            opcode, length = await self._frame_start(stream, url)
            if opcode in (0x0, 0x2):  # binary data (or its continuation)
                if pos + length > end:
                    raise ConnectionError(f"the node at {url} sent more bytes than the object has")
                while length:
                    n = min(length, CHUNK)
                    with handle.lock:
                        if handle.cancelled:
                            raise ConnectionError(f"the transfer from {url} was cancelled")
                        target = view[pos:pos + n]
                    try:
                        # Tornado reads into any writable buffer; its annotation says bytearray
                        await asyncio.wait_for(stream.read_into(target),  # type: ignore[arg-type]
                                               STALL_TIMEOUT)
                    except asyncio.TimeoutError:
                        raise ConnectionError(f"the node at {url} sent nothing for "
                                              f"{STALL_TIMEOUT:.0f} s") from None
                    except tornado.iostream.StreamClosedError:
                        raise ConnectionError(f"the node at {url} went away after "
                                              f"{pos - dst_offset} of {size} bytes") from None
                    pos += n
                    length -= n
                continue
            payload = await self._read_exact(stream, length, url)
            if opcode == 0x9:                       # ping: answer, or the server drops us
                await self._send(stream, 0xA, payload)
            elif opcode == 0x1:                     # the server refused the request
                try:
                    reason = json.loads(payload).get("error", "")
                except ValueError:
                    reason = payload.decode(errors="replace")
                raise ConnectionError(f"the node at {url} refused: {reason}")
            elif opcode == 0x8:
                raise ConnectionError(f"the node at {url} closed the transfer after "
                                      f"{pos - dst_offset} of {size} bytes")
        # All there: say goodbye politely (close frame, status 1000).
        try:
            await self._send(stream, 0x8, struct.pack("!H", 1000))
        except tornado.iostream.StreamClosedError:
            pass

    async def _frame_start(self, stream: tornado.iostream.IOStream, url: str) -> Tuple[int, int]:
        b0, b1 = await self._read_exact(stream, 2, url)
        if b1 & 0x80:
            raise ConnectionError(f"the node at {url} sent a masked frame (not allowed)")
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._read_exact(stream, 2, url))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read_exact(stream, 8, url))
        return b0 & 0x0F, length

    @staticmethod
    async def _read_exact(stream: tornado.iostream.IOStream, n: int, url: str) -> bytes:
        if n > MAX_REQUEST:
            raise ConnectionError(f"the node at {url} sent an oversized control frame")
        try:
            return await asyncio.wait_for(stream.read_bytes(n), STALL_TIMEOUT) if n else b""
        except asyncio.TimeoutError:
            raise ConnectionError(f"the node at {url} sent nothing for {STALL_TIMEOUT:.0f} s") from None
        except tornado.iostream.StreamClosedError:
            raise ConnectionError(f"the node at {url} went away mid-transfer") from None

    def close(self) -> None:
        """Cancel every transfer in flight (at shutdown)."""
        for handle in list(self.pulls):
            handle.cancel()


__all__ = ["ObjectSocket", "PullClient", "Pull", "CHUNK"]
