"""`RayPort`: the notebook layer's door into a real Ray cluster.

The same `NotebookPort` methods as nbray's own runtime (nbray/runtime/notebook_port.py),
answered by Ray: objects, nodes and the summary from Ray's state API (`state_reader`),
task output routed to the submitting cell (`output_routing`), progress and cancel on
interrupt around `ray.get` / `ray.wait` (`blocking`), `%%remote` cells as Ray tasks.  A
state socket in this kernel answers the JupyterLab sidebar and the charts page with the
same JSON as nbray's, so they show a Ray cluster unchanged.

The user keeps writing `import ray` code; the port never calls `ray.init()` unless told
to (`start()`, which the extension calls for NBRAY_BACKEND=ray when Ray is not up yet).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional

from ..runtime.notebook_port import (CELL_TASK, BasePort, OutputSink, TagProvider,
                                     holder_names, label_call_site)
from .blocking import BlockingHooks

RAY_MISSING = ("the notebook layer on Ray needs Ray in this environment: "
               "pip install \"nbray[ray]\"")
NO_STATE_API = ("nbray reads Ray's objects, nodes and tasks through Ray's state API, which "
                "Ray's dashboard process serves, and this Ray cluster has none (started with "
                "include_dashboard=False, or without ray[default] installed): start Ray with "
                "its dashboard to see them here")
CLIENT_MODE = ("nbray's notebook layer needs this kernel to be a Ray driver on the cluster "
               "(ray.init(address=\"auto\") or the head's GCS address, e.g. Jupyter on the "
               "head node or in its pod); Ray Client connections (ray://) are not supported")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    return ray


class RayPort(BasePort):
    """`NotebookPort` for Ray (see the module docstring)."""

    name = "ray"
    start_after_hooks = True

    def __init__(self) -> None:
        from .state_reader import RayState

        ray = _ray()
        if not ray.is_initialized():
            # Ray records where each ref was made only when asked before ray.init(); the
            # views then name the cell ("In [3] line 2") as they do on nbray.  A user's own
            # setting wins.
            os.environ.setdefault("RAY_record_ref_creation_sites", "1")
        self.state = RayState(os.getpid(), holder_names, label_call_site)
        self.blocking = BlockingHooks()
        self.blocking.install()
        self.routing: Optional[Any] = None
        self._state_server: Optional[Any] = None
        self._cell_function: Optional[Any] = None

    # -- hooks -----------------------------------------------------------------------
    def route_output(self, sink: OutputSink, cell_tag: TagProvider) -> None:
        from .output_routing import RayOutputRouting

        if self.routing is not None:
            self.routing.stop()
        self.routing = RayOutputRouting(sink, cell_tag)
        self.routing.start()
        self.state.submitted_call_site = self.routing.call_site_of
        self.blocking.install()  # again after a release (%reload_ext): idempotent
        self._serve_state()

    def cancel_objects(self, object_ids: Iterable[bytes]) -> None:
        self.blocking.cancel(object_ids)

    def cancel_cell(self, tag: str) -> None:
        # Ray cancels by ObjectRef, and the port keeps no refs of its own (that would keep
        # the objects alive): the tasks the interrupted call waited for were cancelled by
        # cancel_objects, with the tasks they started (recursive).
        return None

    def cell_ended(self, tag: Optional[str]) -> None:
        if self.routing is not None and tag is not None:
            self.routing.wait_quiet(tag)

    def release(self) -> None:
        if self.routing is not None:
            self.routing.stop()
            self.routing = None
        self.blocking.uninstall()
        if self._state_server is not None:
            self._state_server.close()
            self._state_server = None

    def _serve_state(self) -> None:
        """The kernel's state socket (what the sidebar and `nbray memory` read), answered
        from Ray; a local cluster's kernel has the same one."""
        if self._state_server is not None or os.environ.get("NBRAY_STATE_SERVER", "1") == "0":
            return
        from ..runtime.state_server import StateServer

        def answered(handler: Any) -> Any:
            def answer(**kw: Any) -> Any:
                with _state_api():
                    return handler(**kw)
            return answer

        handlers = {op: answered(h) for op, h in self.state.handlers().items()}
        handlers["summary"] = lambda **kw: self.cluster_summary()
        try:
            self._state_server = StateServer(handlers)
        except OSError:  # a read-only temp dir: the notebook's own views still work
            self._state_server = None

    # -- what the notebook shows -------------------------------------------------------
    def is_initialized(self) -> bool:
        return bool(_ray().is_initialized())

    def _need_ray(self) -> None:
        if not self.is_initialized():
            raise RuntimeError("Ray is not initialized in this kernel yet: call ray.init() "
                               "(the notebook layer follows it)")
        if _client_mode():
            raise RuntimeError(CLIENT_MODE)

    def memory(self, **kwargs: Any) -> Any:
        from ..memory_summary import MemorySummary

        self._need_ray()
        with _state_api():
            return MemorySummary.from_dict(self.state.memory(**kwargs))

    def cluster_summary(self) -> Dict[str, Any]:
        self._need_ray()
        with _state_api():
            summary = dict(self.state.summary())
        summary["backend"] = "ray"
        summary["output_routing"] = self.routing.mode if self.routing is not None else ""
        return summary

    def nodes(self) -> List[Dict[str, Any]]:
        self._need_ray()
        return self.state.nodes()

    def ref_types(self) -> tuple:
        from .. import api

        return (api.ObjectRef, _ray().ObjectRef)

    def remote_cell(self, options: Dict[str, Any]) -> Any:
        ray = _ray()
        options = dict(options)
        node = options.pop("node", None)
        if node:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        if self._cell_function is None:  # made once: Ray exports a function per remote()
            self._cell_function = ray.remote(CELL_TASK)
        return self._cell_function.options(**options)

    def get(self, refs: List[Any], timeout: Optional[float]) -> List[Any]:
        __tracebackhide__ = True
        return _ray().get(refs, timeout=timeout)  # the wrapped get: progress, interrupt

    def cluster_id(self) -> Optional[str]:
        ray = _ray()
        if not ray.is_initialized():
            return None
        return "ray:" + ray.get_runtime_context().get_job_id()

    def start(self) -> None:
        _ray().init()  # RAY_ADDRESS, when set, picks the cluster (Ray's own rule)

    def shutdown(self) -> None:
        _ray().shutdown()


@contextlib.contextmanager
def _state_api() -> Iterator[None]:
    """Ray's "cannot reach the API server" as one line that says what to do."""
    try:
        yield
    except Exception as e:
        if type(e).__name__ == "ServerUnavailable":
            raise RuntimeError(NO_STATE_API) from None
        raise


def _client_mode() -> bool:
    """Whether this kernel talks to Ray through Ray Client (ray://), not as a driver."""
    try:
        from ray.util.client import ray as client

        return bool(client.is_connected())
    except Exception:
        return False


__all__ = ["CLIENT_MODE", "NO_STATE_API", "RAY_MISSING", "RayPort"]
