"""Jupyter server extension: the dashboard API under /nbray/api/ and the charts page under
/nbray/charts/, behind Jupyter's own auth.

The cluster lives in a kernel process, so these handlers ask the kernel's
private state socket (one per driver, `<pid>.sock`, JSON only) and answer with
the same JSON as the head's dashboard (nbray.dashboard.routes).  Every handler
is @tornado.web.authenticated; Jupyter checks Origin, Host and XSRF.  The charts page
(nbray/dashboard/static/charts.html, the same files the head serves) is opened as
`{base_url}nbray/charts/?api={base_url}nbray/api/&kernel_id=K`: a same-origin page whose
GET requests carry Jupyter's login cookie (XSRF applies to unsafe methods only).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import tornado.ioloop
import tornado.web
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join

from ..dashboard.routes import STATIC_FILES, BadRequest, answer, static_file

# What /nbray/charts/ serves: the charts page and its own files (not the head's dashboard).
CHARTS_FILES = {name: kind for name, kind in STATIC_FILES.items() if not name.startswith("dashboard")}
from ..runtime.state_server import live_sessions, query


def _kernel_pid(serverapp: Any, kernel_id: str) -> Optional[int]:
    try:
        km = serverapp.kernel_manager.get_kernel(kernel_id)
    except (KeyError, tornado.web.HTTPError):  # Jupyter's kernel manager: HTTPError 404
        return None
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None) or getattr(km, "kernel", None)
    return getattr(process, "pid", None)


def _session_for(serverapp: Any, kernel_id: Optional[str]) -> Optional[str]:
    sessions = live_sessions()
    if kernel_id:
        pid = _kernel_pid(serverapp, kernel_id)
        wanted = f"{pid}.sock"
        return next((s for s in sessions if os.path.basename(s) == wanted), None)
    return sessions[0] if sessions else None


class SessionsHandler(APIHandler):
    """GET /nbray/api/sessions: kernels of this server that run an nbray cluster."""

    @tornado.web.authenticated
    def get(self) -> None:
        serverapp = self.settings["nbray_serverapp"]
        running = {os.path.basename(s): s for s in live_sessions()}
        out: List[Dict[str, Any]] = []
        for kernel_id in serverapp.kernel_manager.list_kernel_ids():
            pid = _kernel_pid(serverapp, kernel_id)
            if pid is not None and f"{pid}.sock" in running:
                out.append({"kernel_id": kernel_id, "pid": pid})
        self.finish(json.dumps(out))


class QueryHandler(APIHandler):
    """GET /nbray/api/<name>?kernel_id=...: the dashboard API of that kernel's cluster."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        serverapp = self.settings["nbray_serverapp"]
        params = {k: [v.decode() for v in vs] for k, vs in self.request.query_arguments.items()}
        kernel_ids = params.pop("kernel_id", None)
        kernel_id = kernel_ids[-1] if kernel_ids else None
        if kernel_id and _kernel_pid(serverapp, kernel_id) is None:
            self.set_status(404)
            self.finish(json.dumps({"error": f"no kernel {kernel_id!r} runs on this server"}))
            return
        path = _session_for(serverapp, kernel_id)
        if path is None:
            self.set_status(404)
            self.finish(json.dumps({"error": "no nbray cluster in this kernel: run %load_ext nbray"}))
            return

        def run(op: str, args: Dict[str, Any]) -> Any:
            return query(path, op, **args)

        try:
            result = await tornado.ioloop.IOLoop.current().run_in_executor(None, answer, name, params, run)
        except KeyError:
            raise tornado.web.HTTPError(404, reason=f"no endpoint {name!r}") from None
        except BadRequest as e:
            self.set_status(400)
            self.finish(json.dumps({"error": str(e)}))
            return
        except (OSError, RuntimeError) as e:
            self.set_status(503)
            self.finish(json.dumps({"error": f"the kernel's cluster did not answer: {e}"}))
            return
        self.finish(json.dumps(result, default=str))


class ChartsHandler(JupyterHandler):
    """GET /nbray/charts/[file]: the charts page (no file: charts.html) and its scripts."""

    @tornado.web.authenticated
    def get(self, name: str = "") -> None:
        name = name or "charts.html"
        if name not in CHARTS_FILES:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", CHARTS_FILES[name] + "; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(static_file(name))


def load(serverapp: Any) -> None:
    web_app = serverapp.web_app
    web_app.settings["nbray_serverapp"] = serverapp
    base = url_path_join(web_app.settings["base_url"], "nbray", "api")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "sessions"), SessionsHandler),
        (url_path_join(base, "([a-z]+)"), QueryHandler),
    ])
    charts = url_path_join(web_app.settings["base_url"], "nbray", "charts")
    web_app.add_handlers(".*$", [
        (charts + "/", ChartsHandler),
        (charts + "/([a-z./]+)", ChartsHandler),
    ])
    serverapp.log.info("nbray: dashboard API at %s, charts at %s/", base, charts)


__all__ = ["load"]
