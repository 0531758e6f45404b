"""Which backend the notebook layer talks to: nbray's own runtime or a real Ray cluster.

`LocalBackend` is the `NotebookPort` of nbray's runtime: the runtime's half
(nbray/runtime/notebook_port.py `LocalPort`: output routing, cancel) plus the reads the
notebook shows, through the facade (memory(), the cluster's summary, nodes, %%remote).
`nbray.ray_backend.port.RayPort` is the same for Ray.  `select_port()` picks one when the
extension loads: NBRAY_BACKEND ("nbray" or "ray") when set, else Ray when this process
imported real Ray and runs no nbray cluster, else nbray.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .runtime import context, notebook_port
from .runtime.notebook_port import CELL_TASK, LocalPort, NotebookPort

BACKENDS = ("nbray", "ray")
_cell_function: Optional[Any] = None  # the %%remote cell as nbray's remote function


class LocalBackend(LocalPort):
    """`NotebookPort` for nbray's own runtime, reads included."""

    # the cluster starts before the notebook's hooks go in (routing needs the driver)
    start_after_hooks = False

    def is_initialized(self) -> bool:
        return context.current_driver() is not None

    def memory(self, **kwargs: Any) -> Any:
        from .cluster_info import memory

        return memory(**kwargs)

    def cluster_summary(self) -> Dict[str, Any]:
        from .cluster_info import cluster_summary

        return cluster_summary()

    def nodes(self) -> List[Dict[str, Any]]:
        from .cluster_info import nodes

        return nodes()

    def ref_types(self) -> tuple:
        from .runtime.object_ref import ObjectRef

        return (ObjectRef,)

    def remote_cell(self, options: Dict[str, Any]) -> Any:
        from . import api

        options = dict(options)
        node = options.pop("node", None)
        if node:  # a tiny share of the node's own resource pins the cell there
            options["resources"] = dict(options.get("resources") or {}, **{f"node:{node}": 0.001})
        global _cell_function
        if _cell_function is None:  # made once, as the export of a function is not free
            _cell_function = api.remote(CELL_TASK)
        return _cell_function.options(**options)

    def get(self, refs: List[Any], timeout: Optional[float]) -> List[Any]:
        __tracebackhide__ = True
        from . import api

        return api.get(refs, timeout=timeout)

    def cluster_id(self) -> Optional[str]:
        driver = context.current_driver()
        return driver.node_id() if driver is not None else None

    def start(self) -> None:
        from . import api

        api.init()  # NBRAY_ADDRESS, when set, attaches instead of starting one here

    def shutdown(self) -> None:
        from . import api

        api.shutdown()


def current_port() -> NotebookPort:
    """The backend the notebook layer talks to (nbray's runtime until one is selected)."""
    port = notebook_port.current_port()
    if isinstance(port, LocalPort) and not isinstance(port, LocalBackend):  # reads added
        port = LocalBackend()
        notebook_port.set_port(port)
    return port


def requested_backend() -> str:
    """NBRAY_BACKEND ("nbray" or "ray"), or "" when unset (automatic)."""
    import os

    choice = os.environ.get("NBRAY_BACKEND", "").lower()
    if choice not in BACKENDS + ("",):
        raise ValueError(f"NBRAY_BACKEND must be one of {', '.join(BACKENDS)} (or unset), "
                         f"got {choice!r}")
    return choice


def select_port(wanted: Optional[str] = None) -> NotebookPort:
    """Make the port of the backend the notebook should use current, and return it.

    `wanted` ("nbray", "ray"; default: `requested_backend()`, else automatic): automatic
    means Ray when this process imported real Ray and runs no nbray cluster, else nbray.
    Starting the cluster is the caller's (`port.start()`): the extension does it for nbray,
    and for Ray only when NBRAY_BACKEND=ray asked it to."""
    port = notebook_port.current_port()
    choice = wanted.lower() if wanted is not None else requested_backend()
    if choice not in BACKENDS + ("",):
        raise ValueError(f"a backend must be one of {', '.join(BACKENDS)}, got {choice!r}")
    if choice == "" and port.name == "ray":
        return port  # stays on Ray once there (an extension reload included)
    if choice == "ray" or (choice == "" and ray_imported() and context.current_driver() is None):
        from .ray_backend.port import RayPort

        if not isinstance(port, RayPort):
            port.release()
            port = RayPort()
    elif not isinstance(port, LocalBackend):
        port.release()
        port = LocalBackend()
    notebook_port.set_port(port)
    return port


def _real_ray() -> Any:
    """The real Ray module if this process imported it (not nbray under Ray's name)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not hasattr(ray, "is_initialized"):
        return None
    if "nbray" in (getattr(ray, "__file__", "") or "") or getattr(ray, "__name__", "") != "ray":
        return None
    return ray


def ray_imported() -> bool:
    """Whether real Ray is imported in this process (the notebook then means Ray)."""
    return _real_ray() is not None


def ray_initialized() -> bool:
    """Whether real Ray is imported and initialized in this process."""
    ray = _real_ray()
    try:
        return ray is not None and bool(ray.is_initialized())
    except Exception:
        return False


__all__ = ["BACKENDS", "LocalBackend", "current_port", "ray_imported", "ray_initialized",
           "requested_backend", "select_port"]
