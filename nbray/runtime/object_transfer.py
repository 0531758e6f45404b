"""Moving object bytes between nodes: an HTTP endpoint that streams arena blocks, and a
client that streams them straight into another node's arena.

The server sends a block in 4 MiB chunks read from the mapping; the client's
streaming callback copies each chunk into its place in the target block, so
no whole object is ever built in Python memory.  Both ends check the cluster
token (Authorization header, constant time) and bind where the node binds.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import tornado.httpclient
import tornado.web

from ..transport.ws import LoopThread, token_matches

log = logging.getLogger("nbray.transfer")
CHUNK = 4 * 2**20


class ObjectHandler(tornado.web.RequestHandler):
    """GET /nbray/object?offset=N&size=M: the bytes of one arena block."""

    def initialize(self, token: str, arena_view: Callable[[], memoryview], capacity: int) -> None:
        self.token = token
        self.arena_view = arena_view
        self.capacity = capacity

    def check_xsrf_cookie(self) -> None:  # GET only; token in a header, not a cookie
        pass

    async def get(self) -> None:
        if not token_matches(self.token, self.request.headers.get("Authorization")):
            log.warning("nbray: refused an object request from %s: missing or wrong token",
                        self.request.remote_ip)
            self.set_status(401)
            self.finish("missing or wrong cluster token")
            return
        try:
            offset = int(self.get_argument("offset"))
            size = int(self.get_argument("size"))
        except (ValueError, tornado.web.MissingArgumentError):
            self.set_status(400)
            self.finish("offset and size must be integers")
            return
        if offset < 0 or size < 0 or offset + size > self.capacity:
            self.set_status(416)
            self.finish("range outside the store")
            return
        view = self.arena_view()
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        pos = offset
        end = offset + size
        while pos < end:
            n = min(CHUNK, end - pos)
            self.write(bytes(view[pos:pos + n]))
            pos += n
            await self.flush()
        self.finish()


class PullClient:
    """Pulls blocks from other nodes into this node's arena, on the network loop."""

    def __init__(self, net: LoopThread, token: str, arena_view: Callable[[], memoryview]) -> None:
        self.net = net
        self.token = token
        self.arena_view = arena_view
        self._client: Optional[tornado.httpclient.AsyncHTTPClient] = None

    def _http(self) -> tornado.httpclient.AsyncHTTPClient:
        if self._client is None:
            self._client = tornado.httpclient.AsyncHTTPClient(
                force_instance=True, max_body_size=1 << 42, max_buffer_size=64 * 2**20)
        return self._client

    def pull(self, url: str, src_offset: int, size: int, dst_offset: int,
             done: Callable[[Optional[BaseException]], None]) -> None:
        """Copy `size` bytes at `src_offset` of the node at `url` to `dst_offset` here;
        calls done(None) or done(error) on the network thread."""
        self.net.call(self._start, url, src_offset, size, dst_offset, done)

    def _start(self, url: str, src_offset: int, size: int, dst_offset: int,
               done: Callable[[Optional[BaseException]], None]) -> None:
        view = self.arena_view()
        pos = [dst_offset]
        end = dst_offset + size

        def on_chunk(chunk: bytes) -> None:
            n = len(chunk)
            if pos[0] + n > end:
                raise ValueError("the peer sent more bytes than the object has")
            view[pos[0]:pos[0] + n] = chunk
            pos[0] += n

        request = tornado.httpclient.HTTPRequest(
            f"{url}/nbray/object?offset={src_offset}&size={size}",
            headers={"Authorization": f"Bearer {self.token}"}, streaming_callback=on_chunk,
            request_timeout=3600, connect_timeout=10)

        async def run() -> None:
            try:
                await self._http().fetch(request)
                if pos[0] != end:
                    raise ConnectionError(f"transfer from {url} ended after {pos[0] - dst_offset} "
                                          f"of {size} bytes")
            except Exception as e:  # a node that vanished mid-transfer, a refused token
                done(e)
                return
            done(None)

        self.net.loop.create_task(run())

    def close(self) -> None:
        if self._client is not None:
            self.net.call(self._client.close)


__all__ = ["ObjectHandler", "PullClient", "Any"]
