"""Moving object bytes between nodes over authenticated Tornado websockets.

Every node (the head included) serves `/nbray/objects`.  A node that needs a
block opens a websocket there with the cluster token, asks for one range as a
small JSON text frame (no pickle on this path at all), and receives the bytes
as binary frames of CHUNK bytes, each copied straight into its place in the
local arena, so no whole object is ever built in Python memory.  The server
awaits each frame's flush before reading the next, so a slow reader bounds
the memory the server uses.  Websocket pings catch a peer that hangs
mid-transfer; a peer that dies closes the socket; either way the pull ends
with an error and the head decides what to do (another copy, lineage).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from typing import Any, Callable, Optional

import tornado.httpclient
import tornado.websocket

from ..transport.ws import PING_INTERVAL, PING_TIMEOUT, token_matches

log = logging.getLogger("nbray.transfer")
CHUNK = 4 * 2**20
MAX_REQUEST = 4096  # the request is a small JSON object; anything bigger is refused


class ObjectSocket(tornado.websocket.WebSocketHandler):
    """Serves ranges of this node's arena to authenticated peers."""

    def initialize(self, token: str, arena_view: Callable[[], memoryview], capacity: int) -> None:
        self.token = token
        self.arena_view = arena_view
        self.capacity = capacity
        self.busy = False

    async def get(self, *args: Any, **kwargs: Any) -> None:
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
        return None  # array bytes rarely compress, and compression would cost a copy

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
        view = self.arena_view()
        pos, end = offset, offset + size
        try:
            while pos < end:
                n = min(CHUNK, end - pos)
                # bytes(): the frame must not change under the writer if the block is reused.
                await self.write_message(bytes(view[pos:pos + n]), binary=True)
                pos += n
        except tornado.websocket.WebSocketClosedError:
            log.info("nbray: %s closed an object transfer after %d of %d bytes",
                     self.request.remote_ip, pos - offset, size)

    def _refuse(self, reason: str) -> None:
        log.warning("nbray: bad object request from %s: %s", self.request.remote_ip, reason)
        try:
            self.write_message(json.dumps({"error": reason}))
        except tornado.websocket.WebSocketClosedError:
            pass
        self.close(1008, "bad request")


def ws_url(object_url: str) -> str:
    """http(s)://host:port of a node -> ws(s)://host:port/nbray/objects."""
    scheme, rest = object_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/nbray/objects"


class Pull:
    """One transfer in flight.  cancel() guarantees no byte is written after it returns,
    so the caller may free the target block right away."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.lock = threading.Lock()
        self.cancelled = False
        self.ws: Any = None

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
        ws = self.ws
        if ws is not None:  # wakes a read that waits on a hung peer
            self.net.call(ws.close)


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
        """Copy `size` bytes at `src_offset` of the node serving `url` to `dst_offset` here;
        calls done(None) or done(error) exactly once, on the network thread."""
        handle = Pull(self.net)
        self.net.call(lambda: self.net.loop.create_task(
            self._run(handle, url, src_offset, size, dst_offset, done)))
        return handle

    async def _run(self, handle: Pull, url: str, src_offset: int, size: int, dst_offset: int,
                   done: Callable[[Optional[BaseException]], None]) -> None:
        from ..transport.tls import describe_tls_error

        view = self.arena_view()
        pos = dst_offset
        end = dst_offset + size
        error: Optional[BaseException] = None
        self.pulls.add(handle)
        target = ws_url(url)
        try:
            request = tornado.httpclient.HTTPRequest(
                target, headers={"Authorization": f"Bearer {self.token}"}, connect_timeout=10,
                request_timeout=10, ssl_options=self.ssl_context if target.startswith("wss") else None)
            try:
                ws = await tornado.websocket.websocket_connect(
                    request, max_message_size=2 * CHUNK, ping_interval=PING_INTERVAL,
                    ping_timeout=PING_TIMEOUT)
            except tornado.httpclient.HTTPClientError as e:
                raise ConnectionError(f"the node at {url} refused the object request: "
                                      f"{'wrong cluster token' if e.code == 401 else e}") from None
            except OSError as e:
                if isinstance(e, ssl.SSLError):
                    raise ConnectionError(describe_tls_error(target, e)) from None
                raise ConnectionError(f"cannot reach the node at {url}: {e}") from None
            handle.ws = ws
            if size == 0:
                return
            await ws.write_message(json.dumps({"offset": src_offset, "size": size}))
            while pos < end:
                if handle.cancelled:
                    raise ConnectionError(f"the transfer from {url} was cancelled")
                chunk = await ws.read_message()
                if chunk is None:
                    raise ConnectionError(f"the node at {url} went away after {pos - dst_offset} "
                                          f"of {size} bytes")
                if isinstance(chunk, str):
                    raise ConnectionError(f"the node at {url} refused: "
                                          f"{json.loads(chunk).get('error', chunk)}")
                n = len(chunk)
                if pos + n > end:
                    raise ConnectionError(f"the node at {url} sent more bytes than the object has")
                with handle.lock:
                    if handle.cancelled:
                        raise ConnectionError(f"the transfer from {url} was cancelled")
                    view[pos:pos + n] = chunk
                pos += n
        except Exception as e:  # a node that vanished mid-transfer, a refused token, ...
            error = e
        finally:
            self.pulls.discard(handle)
            if handle.ws is not None:
                handle.ws.close()
        done(error)

    def close(self) -> None:
        """Cancel every transfer in flight (at shutdown)."""
        for handle in list(self.pulls):
            handle.cancel()


__all__ = ["ObjectSocket", "PullClient", "Pull", "ws_url", "CHUNK"]
