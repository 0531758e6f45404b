"""The live object-store inspector: a widget table of every object and what holds it.

Rows come from nbray.memory() (the same data as `nbray memory` and the
dashboard).  The notebook adds what only it knows: which variables and which
Out[n] entries hold each ref, and which cell a call site is.  A daemon thread
refreshes the view; all work is one memory() call per tick, so the kernel stays
responsive with 100k objects.
"""

from __future__ import annotations

import html
import threading
from typing import Any, Dict, List, Optional

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _size(n: float) -> str:
    for unit in _SIZE_UNITS:
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def namespace_holders(user_ns: Dict[str, Any], limit: int = 10000) -> Dict[str, List[str]]:
    """hex id -> names that hold a ref: variables, Out[n], and one level inside containers."""
    from ..api import ObjectRef

    held: Dict[str, List[str]] = {}

    def note(value: Any, label: str) -> None:
        if isinstance(value, ObjectRef):
            held.setdefault(value.hex(), []).append(label)
        elif isinstance(value, (list, tuple)) and len(value) <= limit:
            for i, v in enumerate(value):
                if isinstance(v, ObjectRef):
                    held.setdefault(v.hex(), []).append(f"{label}[{i}]")
        elif isinstance(value, dict) and len(value) <= limit:
            for k, v in value.items():
                if isinstance(v, ObjectRef):
                    held.setdefault(v.hex(), []).append(f"{label}[{k!r}]")

    for name, value in list(user_ns.items()):
        if name.startswith("_") or name in ("In", "Out"):
            continue
        note(value, name)
    out = user_ns.get("Out")
    if isinstance(out, dict):
        for n, value in list(out.items()):
            note(value, f"Out[{n}]")
    return held


def cell_of(call_site: str, shell: Any) -> str:
    """'file:line' of a notebook cell as 'In [n] line L'."""
    if not call_site or shell is None:
        return call_site
    filename, _, line = call_site.rpartition(":")
    mapping = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    number = mapping.get(filename)
    if number is None:
        return call_site
    return f"In [{number}] line {line}"


class Inspector:
    """Live table of the object store; display it in a notebook cell."""

    COLUMNS = ("object id", "size", "type", "owner", "locations", "where", "references",
               "call site")

    def __init__(self, refresh_s: float = 1.0, page_size: int = 25, shell: Any = None) -> None:
        import ipywidgets as w

        self.refresh_s = refresh_s
        self.page_size = page_size
        self.page = 0
        self.shell = shell if shell is not None else _get_shell()
        self._stop = threading.Event()
        self.nodes_html = w.HTML()
        self.sort_by = w.Dropdown(options=["size", "created", "last_access", "type", "where",
                                           "call_site", "owner", "object_id"], value="size",
                                  description="sort by", layout=w.Layout(width="200px"))
        self.descending = w.ToggleButton(value=True, description="descending",
                                         layout=w.Layout(width="110px"))
        self.filter = w.Text(placeholder="filter: id, type, call site, task",
                             layout=w.Layout(width="260px"))
        # "" stands for anywhere: ipywidgets shows a None value as no selection.
        self.where = w.Dropdown(options=[("anywhere", ""), ("inline", "inline"),
                                         ("shared memory", "shared_memory"),
                                         ("spilled", "spilled"), ("pending", "pending")],
                                value="", description="where", layout=w.Layout(width="200px"))
        self.prev = w.Button(description="◀", layout=w.Layout(width="40px"))
        self.next = w.Button(description="▶", layout=w.Layout(width="40px"))
        self.page_label = w.Label()
        self.live = w.ToggleButton(value=True, description="live", layout=w.Layout(width="70px"))
        self.table = w.HTML()
        self.rows: List[Dict[str, Any]] = []
        for control in (self.sort_by, self.descending, self.filter, self.where):
            control.observe(self._reset_page, names="value")
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(+1))
        self.widget = w.VBox([
            self.nodes_html,
            w.HBox([self.sort_by, self.descending, self.filter, self.where]),
            w.HBox([self.prev, self.page_label, self.next, self.live]),
            self.table,
        ])
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

        if not api.is_initialized():
            self.table.value = "<i>nbray is not running</i>"
            return
        summary = api.memory(sort_by=self.sort_by.value, descending=self.descending.value,
                               filter=self.filter.value, where=self.where.value or None,
                               offset=self.page * self.page_size, limit=self.page_size)
        if summary.total and self.page * self.page_size >= summary.total:
            self.page = (summary.total - 1) // self.page_size
            return self.refresh()
        held = namespace_holders(self.shell.user_ns) if self.shell is not None else {}
        self.rows = []
        for o in summary.objects:
            row = dict(o)
            row["held_by"] = held.get(o["object_id"], [])
            row["call_site"] = cell_of(o["call_site"], self.shell)
            self.rows.append(row)
        self.nodes_html.value = self._nodes_html(summary.nodes)
        pages = max(1, -(-summary.total // self.page_size))
        first = self.page * self.page_size + 1 if summary.total else 0
        self.page_label.value = (f"{first}-{self.page * self.page_size + len(self.rows)} of "
                                 f"{summary.total} objects, page {self.page + 1}/{pages}")
        self.table.value = self._table_html(self.rows)

    @staticmethod
    def _nodes_html(nodes: List[Dict[str, Any]]) -> str:
        parts = []
        for n in nodes:
            cap = n["store_capacity"] or 1
            pct = 100.0 * n["store_used"] / cap
            parts.append(
                f"<div class='nbray-node' data-node-id='{html.escape(n['node_id'])}'>"
                f"<b>node {html.escape(n['node_id'][:12])}</b> store {_size(n['store_used'])} of "
                f"{_size(n['store_capacity'])} ({pct:.1f}%), {n['objects']} objects, spilled "
                f"{_size(n['spilled_bytes'])} in {n['spilled_objects']} objects"
                f"<div style='width:320px;height:8px;background:#e5e7eb;border-radius:4px'>"
                f"<div style='width:{pct:.1f}%;height:8px;background:#2563eb;border-radius:4px'>"
                f"</div></div></div>")
        return "".join(parts)

    @classmethod
    def _table_html(cls, rows: List[Dict[str, Any]]) -> str:
        head = "".join(f"<th style='text-align:left;padding:2px 6px'>{c}</th>" for c in cls.COLUMNS)
        body = []
        for r in rows:
            refs = list(r["reference_types"]) + [f"held by {h}" for h in r["held_by"]]
            where = r["where"] + (f" → {r['spill_url']}" if r.get("spill_url") else "")
            owner = f"{r['owner']['process']} (pid {r['owner']['pid']})"
            cells = (r["object_id"], _size(r["size"]), r["type"], owner,
                     ", ".join(x[:12] for x in r["locations"]) or "-", where,
                     ", ".join(refs) or "-", r["call_site"] or r["created_by"])
            tds = "".join(f"<td style='text-align:left;padding:2px 6px'>{html.escape(str(c))}</td>"
                          for c in cells)
            body.append(f"<tr class='nbray-object' data-object-id='{r['object_id']}'>{tds}</tr>")
        return (f"<table class='nbray-objects' style='font-family:monospace;font-size:12px'>"
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


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
