"""The dashboard on the head's Tornado server: /api/<name> JSON and the page at /.

Access needs the cluster token (`Authorization: Bearer`) or a session cookie
obtained once through /login?otp=... (the one-time URL `nbray start --head`
and `nbray dashboard` print; the latter gets a fresh one from POST
/nbray/login-link, which takes the token only, never a cookie).  The Host header must name this server (DNS rebinding) and an Origin
header, when present, must match it.  Only GET is served; nothing runs code.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import secrets
from typing import Any, Dict, List, Optional

import tornado.ioloop
import tornado.web

from ..transport.ws import token_matches
from .routes import STATIC, STATIC_FILES, BadRequest, answer, static_file

COOKIE = "nbray-session"
class DashboardAuth:
    """The head's credentials: the cluster token, one-time login codes, session cookies."""

    def __init__(self, token: str, allowed_hosts: List[str]) -> None:
        self.token = token
        self.allowed_hosts = set(allowed_hosts)
        self.cookie_secret = secrets.token_bytes(32)
        self._otps: set = set()

    def new_login_code(self) -> str:
        code = secrets.token_urlsafe(24)
        self._otps.add(code)
        return code

    def use_login_code(self, code: str) -> bool:
        for known in list(self._otps):
            if hmac.compare_digest(known.encode(), code.encode()):
                self._otps.discard(known)  # one time only
                return True
        return False


class BaseHandler(tornado.web.RequestHandler):
    def initialize(self, auth: DashboardAuth, run_query: Any) -> None:
        self.auth = auth
        self.run_query = run_query

    def prepare(self) -> None:
        host = self.request.headers.get("Host", "")
        if host not in self.auth.allowed_hosts:
            raise tornado.web.HTTPError(403, reason="unexpected Host header")
        origin = self.request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != host:
            raise tornado.web.HTTPError(403, reason="cross-origin request refused")

    def get_current_user(self) -> Optional[str]:
        if token_matches(self.auth.token, self.request.headers.get("Authorization")):
            return "token"
        cookie = self.get_signed_cookie(COOKIE)
        return "session" if cookie == b"ok" else None

    def login_help(self, what: str) -> str:
        """A page saying how to get in: the command that prints a fresh login link here."""
        scheme = "wss" if self.request.protocol == "https" else "ws"
        command = f"nbray dashboard --address {scheme}://{self.request.host}"
        return (f"<!doctype html><title>nbray dashboard</title><p>nbray dashboard: {html.escape(what)}</p>"
                f"<p>To get a fresh one, run <code>{html.escape(command)}</code> on the head's machine "
                f"(elsewhere add <code>--token-file</code> with the cluster token), and open the link "
                f"it prints. <code>nbray start --head</code> printed the first one.</p>")

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cache-Control", "no-store")


class ApiHandler(BaseHandler):
    async def get(self, name: str) -> None:
        if self.current_user is None:
            raise tornado.web.HTTPError(401, reason="log in with the one-time URL, or send the token")
        params = {k: [v.decode() for v in vs] for k, vs in self.request.query_arguments.items()}
        try:
            result = await tornado.ioloop.IOLoop.current().run_in_executor(
                None, answer, name, params, self.run_query)
        except KeyError:
            raise tornado.web.HTTPError(404, reason=f"no endpoint {name!r}") from None
        except BadRequest as e:
            self.set_status(400)
            self.finish({"error": str(e)})
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result, default=str))


class LoginHandler(BaseHandler):
    def get(self) -> None:
        code = self.get_argument("otp", "")
        if not code or not self.auth.use_login_code(code):
            self.set_status(403, reason="this login link is invalid or was used already")
            self.finish(self.login_help("This login link is invalid or was used already: each works once."))
            return
        self.set_signed_cookie(COOKIE, "ok", httponly=True, samesite="Strict", expires_days=1)
        self.redirect("/")


class LoginLinkHandler(BaseHandler):
    """POST with the cluster token: a fresh one-time login path, for `nbray dashboard`."""

    def post(self) -> None:
        # The token itself, not a session cookie: a browser holding a cookie must not be
        # able to mint links (and a cross-site form cannot send an Authorization header).
        if not token_matches(self.auth.token, self.request.headers.get("Authorization")):
            raise tornado.web.HTTPError(401, reason="send the cluster token")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"path": f"/login?otp={self.auth.new_login_code()}"}))


class PageHandler(BaseHandler):
    def get(self) -> None:
        if self.current_user is None:
            self.set_status(401)
            self.finish(self.login_help("Not logged in: open a one-time login link."))
            return
        with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as f:
            self.finish(f.read())


class StaticHandler(BaseHandler):
    def get(self, name: str) -> None:
        if self.current_user is None:
            raise tornado.web.HTTPError(401)
        if name not in STATIC_FILES:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", STATIC_FILES[name] + "; charset=utf-8")
        self.finish(static_file(name))


def routes(auth: DashboardAuth, run_query: Any) -> List[Any]:
    kw: Dict[str, Any] = {"auth": auth, "run_query": run_query}
    return [
        (r"/", PageHandler, kw),
        (r"/login", LoginHandler, kw),
        (r"/nbray/login-link", LoginLinkHandler, kw),
        (r"/static/([a-z./]+)", StaticHandler, kw),
        (r"/api/([a-z]+)", ApiHandler, kw),
    ]


__all__ = ["DashboardAuth", "routes"]
