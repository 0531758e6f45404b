"""The head's network face: the websocket other nodes join through, and its object server.

Binds 127.0.0.1 unless told otherwise and refuses a non-loopback bind without a
token.  The token is random per cluster, stored 0600 in the user's private
nbray directory, and passed only in headers.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Dict, Optional

import tornado.httpserver
import tornado.web

from ..transport.ws import (MAX_MESSAGE_SIZE, PING_INTERVAL, PING_TIMEOUT, AuthenticatedSocket,
                            LoopThread, new_token, write_token_file)
from ..transport.tls import TlsConfig
from .object_transfer import ObjectSocket, PullClient

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cluster_dir() -> str:
    from ..store.spill import default_spill_root

    path = os.path.join(default_spill_root(), "cluster")
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def token_file() -> str:
    return os.path.join(cluster_dir(), "token")


def address_file() -> str:
    return os.path.join(cluster_dir(), "address.json")


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
        remote.token = self.token
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
        remote.object_url = self.object_url
        remote.fetch_client = PullClient(self.net, self.token, lambda: node.arena.view,
                                         self.tls.client_context())
        remote.net = self.net
        info = node.cluster_nodes[node.node_id]
        info.object_url = self.object_url
        self.address = f"{'wss' if self.ssl else 'ws'}://{_connect_host(host)}:{self.port}"
        if write_address:
            write_token_file(token_file(), self.token)
            with open(address_file() + ".tmp", "w") as f:
                json.dump({"address": self.address, "pid": os.getpid(), "node_id": node.node_id}, f)
            os.replace(address_file() + ".tmp", address_file())
        self._wrote_address = write_address

    def dashboard_login_url(self) -> str:
        """A one-time URL that logs a browser into the dashboard."""
        return f"{self.object_url}/login?otp={self.dashboard_auth.new_login_code()}"

    def join_command(self) -> str:
        return f"nbray start --address {self.address} --token-file {token_file()}"

    def close(self) -> None:
        async def stop() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        try:
            self.net.run(stop(), timeout=5)
        except Exception:
            pass
        if self.node.remote.fetch_client is not None:
            self.node.remote.fetch_client.close()
        self.net.stop()
        if self._wrote_address:
            for path in (address_file(),):
                try:
                    with open(path) as f:
                        if json.load(f).get("pid") == os.getpid():
                            os.unlink(path)
                except (OSError, ValueError):
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
    try:
        with open(address_file()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
