"""The live object-store inspector: a widget table of every object and what holds it.

Rows come from nbray.memory() (the same data as `nbray memory` and the
dashboard).  The notebook adds what only it knows: which variables and which
Out[n] entries hold each ref, and which cell a call site is.  A daemon thread
refreshes the view; all work is one memory() call per tick, so the kernel stays
responsive with 100k objects.  How a page looks (the widget's table, its static
HTML snapshot and its text form) is inspector_view.py's.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from . import inspector_view as view
from .naming import cell_of, namespace_holders


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
        self.table = w.HTML(layout=w.Layout(width="100%"))
        self.rows: List[Dict[str, Any]] = []
        self.nodes: List[Dict[str, Any]] = []
        for control in (self.sort_by, self.descending, self.filter, self.where):
            control.observe(self._reset_page, names="value")
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(+1))
        controls = w.HBox([self.sort_by, self.descending, self.filter, self.where, self.prev,
                           self.page_label, self.next, self.live],
                          layout=w.Layout(flex_flow="row wrap", align_items="center",
                                          overflow="visible", width="100%"))
        controls.add_class("nbray-inspector-controls")
        self.widget = w.VBox([self.nodes_html, controls, self.table],
                             layout=w.Layout(width="100%", overflow="visible"))
        self.widget.add_class("nbray-inspector")
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="nbray-inspector", daemon=True)
        self._thread.start()

    # -- controls --------------------------------------------------------------
    def _reset_page(self, change: Any = None) -> None:
        self.page = 0
        self.refresh()

    def _turn(self, delta: int) -> None:
        self.page = max(0, self.page + delta)
        self.refresh()

    def _loop(self) -> None:
        from .. import api

        while not self._stop.wait(self.refresh_s):
            if not api.is_initialized():
                self.table.value = "<i>the cluster was shut down</i>"
                return
            if self.live.value:
                try:
                    self.refresh()
                except Exception as e:  # keep the widget alive; show the problem
                    self.page_label.value = f"refresh failed: {e}"

    def close(self) -> None:
        self._stop.set()
        self.widget.close()

    # -- rendering ---------------------------------------------------------------
    def refresh(self) -> None:
        from .. import api
        from ..runtime.notebook_port import holder_names

        if not api.is_initialized():
            self.table.value = "<i>nbray is not running</i>"
            return
        summary = api.memory(sort_by=self.sort_by.value, descending=self.descending.value,
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
        self.nodes_html.value = view.nodes_html(self.nodes)
        pages = max(1, -(-summary.total // self.page_size))
        first = self.page * self.page_size + 1 if summary.total else 0
        self.page_label.value = (f"{first}-{self.page * self.page_size + len(self.rows)} of "
                                 f"{summary.total} objects, page {self.page + 1}/{pages}")
        self.table.value = view.table_html(self.rows)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, Any]:
        # The widget view wins where widgets run (JupyterLab, Notebook 7, VS Code); nbconvert
        # without widget state and the docs build (see docs/conf.py) show the HTML snapshot.
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/html": view.snapshot_html(self.nodes, self.rows, self.page_label.value),
            "text/plain": view.snapshot_text(self.rows, self.page_label.value),
        }


def _get_shell() -> Optional[Any]:
    try:
        from IPython import get_ipython

        return get_ipython()
    except ImportError:  # pragma: no cover
        return None


def inspect(refresh_s: float = 1.0, page_size: int = 25) -> Inspector:
    """A live inspector of the object store (display it as a cell's result)."""
    return Inspector(refresh_s=refresh_s, page_size=page_size)


__all__ = ["Inspector", "inspect", "namespace_holders", "cell_of"]
