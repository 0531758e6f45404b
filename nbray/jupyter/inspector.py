"""The live object-store inspector: a widget table of every object and what holds it.

Rows come from nbray.memory() (the same data as `nbray memory` and the
dashboard).  The notebook adds what only it knows: which variables and which
Out[n] entries hold each ref, and which cell a call site is.  A daemon thread
refreshes the view; all work is one memory() call per tick, so the kernel stays
responsive with 100k objects.  How a page looks (the widget's table, its static
HTML snapshot and its text form) is inspector_view.py's.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional, Tuple

from . import inspector_view as view
from .naming import cell_of, namespace_holders


MAX_LIVE = 3  # inspectors refreshing at once; each polls memory() every refresh_s
THREAD_NAME = "nbray-inspector"
PAUSED = "paused — click live to resume"


class _Registry:
    """The inspectors of this kernel that refresh, oldest first, and the last inspector
    each cell made (so re-running the cell replaces it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: List["Inspector"] = []
        self.by_cell: Dict[str, "Inspector"] = {}

    def admit(self, insp: "Inspector") -> List["Inspector"]:
        """Count `insp` as refreshing; return the oldest others it pushes over MAX_LIVE."""
        with self.lock:
            if insp not in self.live:
                self.live.append(insp)
            over = [i for i in self.live if i is not insp][:max(0, len(self.live) - MAX_LIVE)]
        return over

    def leave(self, insp: "Inspector") -> None:
        with self.lock:
            if insp in self.live:
                self.live.remove(insp)

    def replace(self, cell: Optional[str], insp: "Inspector") -> Optional["Inspector"]:
        """Make `insp` the inspector of `cell`; return the one it replaces."""
        if cell is None:
            return None
        with self.lock:
            old = self.by_cell.get(cell)
            self.by_cell[cell] = insp
        return old if old is not insp else None

    def forget(self, insp: "Inspector") -> None:
        with self.lock:
            for cell in [c for c, i in self.by_cell.items() if i is insp]:
                del self.by_cell[cell]


_registry = _Registry()


def live_inspectors() -> List["Inspector"]:
    """The inspectors refreshing now, oldest first."""
    with _registry.lock:
        return list(_registry.live)


class Inspector:
    """Live table of the object store; display it in a notebook cell.

    Its display carries the widget and, next to it, a static HTML and a text form of
    the page shown when it was displayed, for pages where widgets cannot run."""

    COLUMNS = ("object id", "size", "type", "where", "held by", "call site")

    def __init__(self, refresh_s: float = 1.0, page_size: int = 25, shell: Any = None) -> None:
        import ipywidgets as w

        self.refresh_s = refresh_s
        self.page_size = page_size
        self.page = 0
        self.shell = shell if shell is not None else _get_shell()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._this_node: Tuple[Optional[frozenset], Optional[str]] = (None, None)
        self.closed = False
        self.nodes_html = w.HTML()
        # Fixed-size controls in one wrapping row: a narrow notebook (sidebar open) wraps
        # them onto more lines instead of clipping the last ones.
        compact = {"description_width": "initial"}
        self.sort_by = w.Dropdown(options=["size", "created", "last_access", "type", "where",
                                           "call_site", "owner", "object_id"], value="size",
                                  description="sort by", style=compact,
                                  layout=w.Layout(width="170px", flex="0 0 auto"))
        self.descending = w.ToggleButton(value=True, description="descending",
                                         layout=w.Layout(width="100px", flex="0 0 auto"))
        self.filter = w.Text(placeholder="filter: id, type, call site, task",
                             layout=w.Layout(width="auto", flex="1 1 160px", min_width="140px",
                                             max_width="300px"))
        # "" stands for anywhere: ipywidgets shows a None value as no selection.
        self.where = w.Dropdown(options=[("anywhere", ""), ("inline", "inline"),
                                         ("shared memory", "shared_memory"),
                                         ("spilled", "spilled"), ("pending", "pending")],
                                value="", description="where", style=compact,
                                layout=w.Layout(width="170px", flex="0 0 auto"))
        self.prev = w.Button(description="◀", tooltip="previous page",
                             layout=w.Layout(width="32px", flex="0 0 auto"))
        self.next = w.Button(description="▶", tooltip="next page",
                             layout=w.Layout(width="32px", flex="0 0 auto"))
        self.page_label = w.Label(layout=w.Layout(flex="0 1 auto"))
        self.live = w.ToggleButton(value=True, description="live", tooltip="pause the updates",
                                   layout=w.Layout(width="56px", flex="0 0 auto"))
        self.state_label = w.Label(layout=w.Layout(flex="0 1 auto"))
        self.state_label.add_class("nbray-inspector-state")
        self.table = w.HTML(layout=w.Layout(width="100%"))
        self.rows: List[Dict[str, Any]] = []
        self.nodes: List[Dict[str, Any]] = []
        for control in (self.sort_by, self.descending, self.filter, self.where):
            control.observe(self._reset_page, names="value")
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(+1))
        controls = w.HBox([self.sort_by, self.descending, self.filter, self.where, self.prev,
                           self.page_label, self.next, self.live, self.state_label],
                          layout=w.Layout(flex_flow="row wrap", align_items="center",
                                          overflow="visible", width="100%"))
        controls.add_class("nbray-inspector-controls")
        self.widget = w.VBox([self.nodes_html, controls, self.table],
                             layout=w.Layout(width="100%", overflow="visible"))
        self.widget.add_class("nbray-inspector")
        # The front end counts this model's views: 0 again means its output was cleared.
        self.widget._view_count = 0
        self.widget.observe(self._views_changed, names="_view_count")
        self.widget.observe(self._comm_changed, names="comm")
        if self.widget.comm is not None:
            self.widget.comm.on_close(lambda _msg: self.close())
        self.live.observe(self._live_changed, names="value")
        self.refresh()
        cell, self.made_in = _cell_key(self.shell)
        old = _registry.replace(cell, self)
        if old is not None and old.made_in != self.made_in:
            old.close()  # re-running a cell replaces its output, and so its inspector
        self._start()

    # -- controls --------------------------------------------------------------
    def _reset_page(self, change: Any = None) -> None:
        self.page = 0
        self.refresh()

    def _turn(self, delta: int) -> None:
        self.page = max(0, self.page + delta)
        self.refresh()

    # -- the refresh thread ------------------------------------------------------
    @property
    def refreshing(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _start(self) -> None:
        if self.closed or self.refreshing:
            return
        self._stop = threading.Event()
        self.state_label.value = ""
        for older in _registry.admit(self):
            older.pause(PAUSED)
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name=THREAD_NAME,
                                        daemon=True)
        self._thread.start()

    def _halt(self, why: str) -> None:
        """Stop the refresh thread (it exits at its next wake-up, at once when waiting)."""
        self._stop.set()
        _registry.leave(self)
        self.state_label.value = why

    def pause(self, why: str = PAUSED) -> None:
        """Stop refreshing, saying why; clicking live resumes."""
        self._halt(why)
        if self.live.value:
            self.live.value = False  # _live_changed: already halted

    def _live_changed(self, change: Any) -> None:
        if change["new"]:
            self._start()
        elif self.refreshing:
            self._halt(PAUSED)

    def _views_changed(self, change: Any) -> None:
        if change["new"] == 0 and (change["old"] or 0) > 0:  # the output was cleared
            self.pause("paused: no longer shown — click live to resume")

    def _comm_changed(self, change: Any) -> None:
        if change["new"] is None:  # widget.close() from Python
            self.close()

    def _loop(self, stop: threading.Event) -> None:
        from ..backends import current_port

        try:
            while not stop.wait(self.refresh_s):
                if not current_port().is_initialized():
                    self.table.value = "<i>the cluster was shut down</i>"
                    self.state_label.value = "stopped: the cluster was shut down"
                    return
                try:
                    self.refresh()
                except Exception as e:  # keep the widget alive; show the problem
                    self.page_label.value = f"refresh failed: {e}"
        finally:
            if stop is self._stop:  # not a thread halted and already followed by another
                _registry.leave(self)

    def close(self) -> None:
        """Stop refreshing for good and close the widget (its views disappear)."""
        if self.closed:
            return
        self.closed = True
        self._halt("closed")
        _registry.forget(self)
        self.widget.close()

    # -- rendering ---------------------------------------------------------------
    def refresh(self) -> None:
        from ..backends import current_port
        from ..runtime.notebook_port import holder_names

        port = current_port()
        if not port.is_initialized():
            self.table.value = ("<i>Ray is not initialized yet: call ray.init()</i>"
                                if port.name == "ray" else "<i>nbray is not running</i>")
            return
        summary = port.memory(sort_by=self.sort_by.value, descending=self.descending.value,
                               filter=self.filter.value, where=self.where.value or None,
                               offset=self.page * self.page_size, limit=self.page_size)
        if summary.total and self.page * self.page_size >= summary.total:
            self.page = (summary.total - 1) // self.page_size
            return self.refresh()
        # With %load_ext nbray the rows arrive named (NotebookPort.name_holders); a bare
        # nbray.inspect() names them here, from this kernel's namespace.
        named = holder_names() is not None
        held = namespace_holders(self.shell.user_ns) if self.shell is not None and not named else {}
        rows = []
        for o in summary.objects:
            row = dict(o)
            if not named:
                row["held_by"] = held.get(o["object_id"], [])
                row["call_site"] = cell_of(o["call_site"], self.shell)
            rows.append(row)
        self.rows, self.nodes = rows, list(summary.nodes)
        self.nodes_html.value = view.nodes_html(self.nodes, self._this_node_id(), os.getpid())
        pages = max(1, -(-summary.total // self.page_size))
        first = self.page * self.page_size + 1 if summary.total else 0
        self.page_label.value = (f"{first}-{self.page * self.page_size + len(self.rows)} of "
                                 f"{summary.total} objects, page {self.page + 1}/{pages}")
        self.table.value = view.table_html(self.rows)

    def _this_node_id(self) -> Optional[str]:
        """This kernel's own store among the node rows: the head when it started the
        cluster, its driver store when it attached (asked again when the nodes change)."""
        from ..backends import current_port

        ids = frozenset(n["node_id"] for n in self.nodes)
        if self._this_node[0] != ids:
            s = current_port().cluster_summary()
            self._this_node = (ids, s.get("driver_node_id") if s.get("attached_to")
                               else s.get("node_id"))
        return self._this_node[1]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, Any]:
        # The widget view wins where widgets run (JupyterLab, Notebook 7, VS Code); nbconvert
        # without widget state and the docs build (see docs/conf.py) show the HTML snapshot.
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/html": view.snapshot_html(self.nodes, self.rows, self.page_label.value,
                                            self._this_node[1], os.getpid()),
            "text/plain": view.snapshot_text(self.rows, self.page_label.value),
        }


def _get_shell() -> Optional[Any]:
    try:
        from IPython import get_ipython

        return get_ipython()
    except ImportError:  # pragma: no cover
        return None


def _cell_key(shell: Any) -> Tuple[Optional[str], Optional[str]]:
    """(which cell runs now, which run of it): JupyterLab's cell id, else the cell's
    source (a front end that sends no id re-runs a cell with the same source), and the
    execute request's message id."""
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except TypeError:  # older ipykernel
        parent = getattr(kernel, "_parent_header", None)
    if not parent:
        return None, None
    run = (parent.get("header") or {}).get("msg_id")
    cell_id = (parent.get("metadata") or {}).get("cellId")
    if cell_id:
        return f"id:{cell_id}", run
    code = (parent.get("content") or {}).get("code")
    return (f"code:{code}" if code else None), run


def inspect(refresh_s: float = 1.0, page_size: int = 25) -> Inspector:
    """A live inspector of the object store (display it as a cell's result)."""
    return Inspector(refresh_s=refresh_s, page_size=page_size)


__all__ = ["Inspector", "inspect", "live_inspectors", "MAX_LIVE", "namespace_holders", "cell_of"]
