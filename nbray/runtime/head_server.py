"""The head's network face: the websocket other nodes join through, and its object server.

Binds 127.0.0.1 unless told otherwise and refuses a non-loopback bind without a
token.  The token is random per cluster, stored 0600 in the user's private
nbray directory (see nbray.userdirs), and passed only in headers.  Each head
has its own files there, keyed by its port (`head-<port>.token`,
`head-<port>.json`), so several heads of one user coexist and each printed
join command keeps working.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Dict, List, Optional

import tornado.httpserver
import tornado.web

from ..transport.ws import (MAX_MESSAGE_SIZE, PING_INTERVAL, PING_TIMEOUT, AuthenticatedSocket,
                            LoopThread, new_token, write_token_file)
from ..transport.tls import TlsConfig
from .object_transfer import ObjectSocket, PullClient
from .pidfiles import cluster_dir, process_matches, process_record, write_private_json

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def token_file(address: Optional[str] = None) -> str:
    """The token file of the head at `address` (None: the only head running here)."""
    head = find_head(address)
    return head["token_file"]


def head_token_file(port: int) -> str:
    return os.path.join(cluster_dir(), f"head-{port}.token")


def head_address_file(port: int) -> str:
    return os.path.join(cluster_dir(), f"head-{port}.json")


def same_head(a: str, b: str) -> bool:
    """ws://localhost:P and ws://127.0.0.1:P name the same head."""
    from urllib.parse import urlsplit

    def key(url: str) -> tuple:
        parts = urlsplit(url if "://" in url else "ws://" + url)
        host = (parts.hostname or "").lower()
        if host in ("localhost", "::1"):
            host = "127.0.0.1"
        return host, parts.port

    return key(a) == key(b)


def live_heads() -> List[Dict[str, Any]]:
    """Heads of this user running on this machine, oldest first; stale files are removed."""
    heads = []
    d = cluster_dir()
    for name in sorted(os.listdir(d)):
        if not (name.startswith("head-") and name.endswith(".json")):
            continue
        path = os.path.join(d, name)
        try:
            with open(path) as f:
                info = json.load(f)
            alive = process_matches(info.get("process") or {})
        except (OSError, ValueError, AttributeError):
            continue
        if not alive:
            for stale in (path, path[:-5] + ".token"):
                try:
                    os.unlink(stale)
                except OSError:
                    pass
            continue
        info["token_file"] = path[:-5] + ".token"
        heads.append(info)
    heads.sort(key=lambda h: h.get("process", {}).get("create_time", 0))
    return heads


def find_head(address: Optional[str] = None) -> Dict[str, Any]:
    """The running head at `address`, or the only one (address None or "auto").

    Raises ConnectionError naming the running heads when there is none or several."""
    heads = live_heads()
    if address not in (None, "auto"):
        for h in heads:
            if same_head(h["address"], address):
                return h
        raise ConnectionError(f"no head of yours at {address} runs on this machine, so its token "
                              f"is not here: pass the token (token=..., NBRAY_TOKEN, --token-file)")
    if not heads:
        raise ConnectionError("no running head found on this machine "
                              "(start one with `nbray start --head`)")
    if len(heads) > 1:
        raise ConnectionError(
            f"{len(heads)} heads are running on this machine: "
            f"{', '.join(h['address'] for h in heads)}; say which one with its address "
            f"(e.g. nbray.init(address={heads[-1]['address']!r}) or --address)")
    return heads[0]


class HeadServer:
    def __init__(self, node: Any, host: str = "127.0.0.1", port: int = 0,
                 token: Optional[str] = None, tls: Optional[TlsConfig] = None,
                 write_address: bool = True, max_message_size: int = MAX_MESSAGE_SIZE,
                 idle_timeout: float = 60.0) -> None:
        if token == "":
            raise ValueError("an empty cluster token is not allowed: every connection to the "
                             "head must authenticate")
        self.node = node
        self.host = host
        self.token = token or os.environ.get("NBRAY_TOKEN") or new_token()
        self.net = LoopThread("nbray-head-net")
        self.tls = tls or TlsConfig()
        self.ssl = self.tls.server_context()
        remote = node.remote
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._sock = sock
        from ..dashboard.server import DashboardAuth, routes
        from . import queries

        hosts = [f"{h}:{self.port}" for h in (host, _connect_host(host), "127.0.0.1", "localhost")]
        self.dashboard_auth = DashboardAuth(self.token, hosts)
        app = tornado.web.Application(routes(self.dashboard_auth,
                                             lambda op, args: queries.run(node, op, args)) + [
            (r"/nbray/ws", AuthenticatedSocket,
             {"token": self.token, "loop": self.net, "accept": remote.on_connect}),
            (r"/nbray/objects", ObjectSocket,
             {"token": self.token, "arena_view": lambda: node.arena.view,
              "capacity": node.arena.capacity}),
        ], websocket_max_message_size=max_message_size, websocket_ping_interval=PING_INTERVAL,
            websocket_ping_timeout=PING_TIMEOUT, cookie_secret=self.dashboard_auth.cookie_secret,
            xsrf_cookies=False, log_function=_log_request)

        async def start() -> Any:
            # A client that connects and stalls is dropped instead of held forever.
            server = tornado.httpserver.HTTPServer(app, ssl_options=self.ssl,
                                                   max_body_size=max_message_size,
                                                   idle_connection_timeout=idle_timeout,
                                                   body_timeout=idle_timeout)
            server.add_sockets([sock])
            return server

        self.server = self.net.run(start(), timeout=10)
        scheme = "https" if self.ssl else "http"
        self.object_url = f"{scheme}://{_connect_host(host)}:{self.port}"
        remote.serve(self.object_url, PullClient(self.net, self.token, lambda: node.arena.view,
                                                 self.tls.client_context()), self.net)
        self.address = f"{'wss' if self.ssl else 'ws'}://{_connect_host(host)}:{self.port}"
        self._wrote_address = write_address
        if write_address:
            write_token_file(head_token_file(self.port), self.token)
            write_private_json(head_address_file(self.port), {
                "address": self.address, "pid": os.getpid(), "node_id": node.node_id,
                "port": self.port, "process": process_record()})

    def dashboard_login_url(self) -> str:
        """A one-time URL that logs a browser into the dashboard."""
        return f"{self.object_url}/login?otp={self.dashboard_auth.new_login_code()}"

    @property
    def token_path(self) -> str:
        return head_token_file(self.port)

    def join_command(self) -> str:
        return f"nbray start --address {self.address} --token-file {self.token_path}"

    def close(self) -> None:
        async def stop() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        try:
            self.net.run(stop(), timeout=5)
        except Exception:
            pass
        self.node.remote.stop_serving()
        self.net.stop()
        if self._wrote_address:
            self.remove_files()

    def remove_files(self) -> None:
        """Remove this head's address and token files (only if they are still its own)."""
        path = head_address_file(self.port)
        try:
            with open(path) as f:
                mine = json.load(f).get("pid") == os.getpid()
        except (OSError, ValueError):
            return
        if mine:
            for p in (path, head_token_file(self.port)):
                try:
                    os.unlink(p)
                except OSError:
                    pass


def _log_request(handler: Any) -> None:
    """Access log without query strings: login codes must not land in logs."""
    import logging

    status = handler.get_status()
    if status >= 400:
        logging.getLogger("nbray.head").warning(
            "%d %s %s (%s)", status, handler.request.method, handler.request.path,
            handler.request.remote_ip)


def _connect_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def read_address() -> Optional[Dict[str, Any]]:
    """The only head running here (None when there is none; ConnectionError for several)."""
    try:
        return find_head()
    except ConnectionError:
        if live_heads():
            raise
        return None
