"""Tornado websockets between nodes and the head, authenticated before any pickle is read.

The cluster token travels only in the `Authorization: Bearer` header of the
upgrade request, is compared in constant time, and is never logged or put in
a URL.  A peer that fails the check gets 401 and never reaches the message
handler, so nothing unauthenticated is ever unpickled.  Browsers are refused
(any Origin header, same-origin included), frames are capped at
MAX_MESSAGE_SIZE, and pings detect dead peers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import pickle
import secrets
import ssl
import threading
from typing import Any, Callable, Coroutine, Dict, List, Optional, TypeVar, Union, cast

import tornado.httpclient
import tornado.web
import tornado.websocket

log = logging.getLogger("nbray.transport")
_T = TypeVar("_T")
# The Tornado end of a connection: the server's handler or the client's connection.
_Socket = Union["AuthenticatedSocket", tornado.websocket.WebSocketClientConnection]

MAX_MESSAGE_SIZE = 256 * 2**20
# A loaded machine can take seconds to answer a ping; a killed node is noticed at
# once anyway (its socket closes), so the pings only catch hung or unreachable peers.
PING_INTERVAL = 10.0
PING_TIMEOUT = 10.0  # tornado caps it at the ping interval
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, header: Optional[str]) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


def refused_browser(handler: tornado.web.RequestHandler) -> bool:
    """Answer 403 and return True when a browser made the request.

    Checked before Tornado's own origin check, which lets a same-origin page in (an
    `Origin` naming this host, or `Sec-Fetch-Site: same-origin`) without asking
    check_origin: no browser page may open a cluster socket, same-origin or not."""
    headers = handler.request.headers
    browser = [h for h in ("Origin", "Sec-Websocket-Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode")
               if h in headers]
    if not browser:
        return False
    log.warning("nbray: refused a browser request from %s (%s header)",
                handler.request.remote_ip, browser[0])
    handler.set_status(403)
    handler.finish("nbray: browsers may not open cluster sockets")
    return True


class LoopThread:
    """An asyncio loop in a daemon thread: the home of every socket of this process."""

    def __init__(self, name: str = "nbray-net") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def run(self, coro: Coroutine[Any, Any, _T], timeout: Optional[float] = None) -> _T:
        """Run a coroutine on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        try:
            self.loop.close()
        except RuntimeError:
            pass


class WsConnection:
    """One authenticated websocket, either side: thread-safe send of pickled messages."""

    def __init__(self, loop: LoopThread, peer: str) -> None:
        self.loop = loop
        self.peer = peer
        self.closed = False
        self._ws: Optional[_Socket] = None
        self.on_message: Callable[["WsConnection", Any], None] = lambda c, m: None
        self.on_close: Callable[["WsConnection"], None] = lambda c: None
        self.info: Dict[str, Any] = {}
        # Every message goes through this queue, written on the loop in the order sent:
        # a send from the loop thread itself must not overtake one another thread queued a
        # moment before (a worker of this node runs tasks in the order they arrive, and the
        # head's picture of which one runs depends on it).
        self._outbox: List[bytes] = []
        self._drain_scheduled = False
        self._out_lock = threading.Lock()

    def attach(self, ws: _Socket) -> None:
        """Bind the Tornado socket (server handler or client connection) this wraps."""
        self._ws = ws

    def send(self, msg: Any) -> None:
        if self.closed:
            raise ConnectionError(f"connection to {self.peer} is closed")
        data = pickle.dumps(msg, protocol=5)
        if len(data) > MAX_MESSAGE_SIZE:
            raise ValueError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_SIZE} byte limit")
        on_loop = threading.current_thread() is self.loop.thread
        with self._out_lock:
            self._outbox.append(data)
            if self._drain_scheduled:
                return  # written, after what is ahead of it, by the drain already scheduled
            if not on_loop:
                self._drain_scheduled = True
        if on_loop:
            self._drain()  # already on the loop: no wake-up round trip
        else:
            self.loop.call(self._drain)

    def _drain(self) -> None:
        """Write every queued message, in order (on the loop thread)."""
        with self._out_lock:
            batch, self._outbox = self._outbox, []
            self._drain_scheduled = False
        for data in batch:
            self._write(data)

    def _write(self, data: bytes) -> None:
        ws = self._ws
        if ws is None or self.closed:
            return
        try:
            ws.write_message(data, binary=True)
        except tornado.websocket.WebSocketClosedError:
            self.mark_closed()

    def closing(self) -> bool:
        """True once this side started closing (a ping timed out, say): Tornado then waits
        up to 5 s for the peer's goodbye before it reports the close, and a peer that
        stopped answering pings will not say goodbye."""
        protocol = getattr(self._ws, "protocol", None) or getattr(self._ws, "ws_connection", None)
        return bool(getattr(protocol, "server_terminated", False))

    def deliver(self, data: Union[str, bytes]) -> None:
        if isinstance(data, str):
            log.warning("nbray: text frame from %s refused (binary frames only); closing", self.peer)
            self.close()
            return
        try:
            msg = pickle.loads(data)
        except Exception as e:  # garbage frame from an authenticated peer: drop the peer
            log.warning("nbray: unreadable frame from %s (%s); closing", self.peer, type(e).__name__)
            self.close()
            return
        try:
            self.on_message(self, msg)
        except Exception:
            log.exception("nbray: error handling a message from %s", self.peer)

    def mark_closed(self) -> None:
        """The socket is gone: flag it and run `on_close` (once)."""
        if not self.closed:
            self.closed = True
            try:
                self.on_close(self)
            except Exception:
                log.exception("nbray: error in close handler for %s", self.peer)

    def close(self) -> None:
        ws = self._ws
        if ws is not None:
            self.loop.call(ws.close)
        self.mark_closed()


class _SizeLimitLogging(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol, plus a log line when it drops a peer for an oversized frame
    (it checks the length in the frame header, before reading the payload)."""

    max_message_size = MAX_MESSAGE_SIZE
    peer: Optional[str] = None   # the handler's remote address, for the log line

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        if code == 1009 and not self.server_terminated:
            log.warning("nbray: a frame from %s exceeds the %d byte limit; closing that "
                        "connection", self.peer, self.max_message_size)
        super().close(code, reason)


class AuthenticatedSocket(tornado.websocket.WebSocketHandler):
    """Server side of a peer connection; `accept` decides what to do with a new peer."""

    def initialize(self, token: str, loop: LoopThread,
                   accept: Callable[[WsConnection, Dict[str, Any]], None]) -> None:
        self.token = token
        self.netloop = loop
        self.accept = accept
        self.conn: Optional[WsConnection] = None

    def get_websocket_protocol(self) -> Optional[tornado.websocket.WebSocketProtocol]:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, tornado.websocket.WebSocketProtocol13):
            protocol.__class__ = _SizeLimitLogging  # same object, one method added
            limited = cast(_SizeLimitLogging, protocol)
            limited.max_message_size = self.max_message_size  # the application's setting
            limited.peer = self.request.remote_ip
        return protocol

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if refused_browser(self):
            return
        if not token_matches(self.token, self.request.headers.get("Authorization")):
            log.warning("nbray: refused a connection from %s: missing or wrong cluster token",
                        self.request.remote_ip)
            self.set_status(401)
            self.finish("nbray: missing or wrong cluster token")
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        # nbray peers send no Origin; a browser page must never open this socket, not even
        # one served by this very host (Tornado's default would let a same-origin page in).
        return False

    def get_compression_options(self) -> None:
        return None

    def open(self, *args: Any) -> None:
        peer = f"{self.request.remote_ip}"
        self.conn = WsConnection(self.netloop, peer)
        self.conn.attach(self)
        self.set_nodelay(True)
        info = {"role": self.request.headers.get("X-Nbray-Role", "node"),
                "name": self.request.headers.get("X-Nbray-Name", "")}
        self.accept(self.conn, info)

    def on_message(self, message: Union[str, bytes]) -> None:
        if self.conn is not None:
            self.conn.deliver(message)

    def on_close(self) -> None:
        if self.conn is not None:
            self.conn.mark_closed()


async def connect(url: str, token: str, loop: LoopThread, role: str = "node", name: str = "",
                  connect_timeout: float = 10.0,
                  ssl_options: Optional[ssl.SSLContext] = None,
                  ping_interval: float = PING_INTERVAL,
                  ping_timeout: float = PING_TIMEOUT) -> WsConnection:
    """Open an authenticated websocket to `url` (ws:// or wss://). Runs on `loop`."""
    headers = {"Authorization": f"Bearer {token}", "X-Nbray-Role": role, "X-Nbray-Name": name}
    request = tornado.httpclient.HTTPRequest(url, headers=headers, connect_timeout=connect_timeout,
                                             request_timeout=connect_timeout,
                                             ssl_options=ssl_options)
    conn = WsConnection(loop, url)

    def on_message(data: Union[str, bytes, None]) -> None:
        if data is None:
            conn.mark_closed()
        else:
            conn.deliver(data)

    try:
        ws = await tornado.websocket.websocket_connect(
            request, on_message_callback=on_message, max_message_size=MAX_MESSAGE_SIZE,
            ping_interval=ping_interval, ping_timeout=ping_timeout)
    except tornado.httpclient.HTTPClientError as e:
        if e.code == 401:
            raise PermissionError(f"the cluster at {url} refused the token "
                                  f"(check NBRAY_TOKEN or --token)") from None
        raise ConnectionError(f"cannot connect to {url}: {e}") from None
    except ssl.SSLError as e:
        from .tls import describe_tls_error

        raise ConnectionError(describe_tls_error(url, e)) from None
    except OSError as e:
        raise ConnectionError(f"cannot connect to {url}: {e}") from None
    conn.attach(ws)
    return conn


def read_token_file(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def write_token_file(path: str, token: str) -> None:
    """Write the token 0600 to a new file renamed over `path` (never through a symlink)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
