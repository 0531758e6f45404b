"""nbray.memory(): where every object lives, how big it is, and what keeps it alive."""

from __future__ import annotations

import html
import json
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


def _size(n: Optional[float]) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _rate(n: Optional[float]) -> str:
    return "-" if not n else f"{n / 1e9:.2f} GB/s"


_REF_SHORT = {"LOCAL_REFERENCE": "local", "BORROWED": "borrowed", "USED_BY_PENDING_TASK": "task-arg",
              "CAPTURED_IN_OBJECT": "nested", "CAPTURED_BY_CLOSURE": "closure",
              "PINNED_IN_MEMORY": "mapped", "ACTOR_HANDLE": "actor", "OUT_CELL": "Out[]"}


_WHERE_SHORT = {"shared_memory": "shm"}
# From this width on, the text table shows ids in full.
_FULL_IDS = 140
# Hex digits a shortened id keeps at least.
_MIN_ID = 8


def short_ids(ids: List[str], minimum: int = _MIN_ID) -> List[str]:
    """Each id as its shortest prefix (at least `minimum` long) no other id of `ids`
    shares, with "…" when cut: ids a reader can tell apart on one page."""
    ordered = sorted(set(ids))
    need: Dict[str, int] = {}
    for a, b in zip(ordered, ordered[1:]):
        common = 0
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
        need[a] = max(need.get(a, 0), common + 1)
        need[b] = max(need.get(b, 0), common + 1)
    out = []
    for i in ids:
        n = max(minimum, need.get(i, 0))
        out.append(i if n >= len(i) else i[:n] + "…")
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def _row(cells: tuple, widths: tuple, last: int) -> str:
    """One table line: cells cut to their column, sizes right-aligned; the last cell (a
    call site) keeps its end, where the file name and line are."""
    parts = []
    for i, (cell, w) in enumerate(zip(cells, widths + (last,))):
        text = str(cell)
        if i == len(widths) and len(text) > w:
            text = "…" + text[len(text) - w + 1:]
        text = _cut(text, w)
        parts.append(text.rjust(w) if i == 1 else text.ljust(w))
    return ("   " + " ".join(parts)).rstrip()


@dataclass
class MemorySummary:
    """One page of object rows plus per-node store statistics (what `nbray memory` prints)."""

    nodes: List[Dict[str, Any]]
    objects: List[Dict[str, Any]]
    total: int
    offset: int = 0
    limit: Optional[int] = None
    sort_by: str = "size"
    taken_at: float = field(default_factory=time.time)

    def to_dict(self) -> Dict[str, Any]:
        return {"nodes": self.nodes, "objects": self.objects, "total": self.total,
                "offset": self.offset, "limit": self.limit, "sort_by": self.sort_by,
                "taken_at": self.taken_at}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "MemorySummary":
        return cls(d["nodes"], d["objects"], d["total"], d.get("offset", 0), d.get("limit"),
                   d.get("sort_by", "size"), d.get("taken_at", time.time()))

    def table(self, width: int = 200) -> str:
        """The page as text, one line per object and no line of it wider than `width`:
        ids in full from 140 columns, else as the shortest prefix unique on the page (at
        least 8 hex digits); long cells end in "…"."""
        lines: List[str] = []
        ids = [o["object_id"] for o in self.objects]
        shown_id = ({i: i for i in ids} if width >= _FULL_IDS
                    else {i: s for i, s in zip(ids, short_ids(ids))})
        id_w = max([len("object id")] + [len(v) for v in shown_id.values()])
        # id, size, where, held by / refs, type: fixed; the call site takes the rest.
        widths = (id_w, 10, 8, 18, 21)
        site_w = max(10, width - 3 - sum(widths) - len(widths) - 1)
        groups = []
        for node in self.nodes:
            nid = node["node_id"]
            groups.append((_cut(f"== node {nid[:12]}  store {_size(node['store_used'])} / "
                                f"{_size(node['store_capacity'])} used, {node['objects']} "
                                f"objects, spilled {_size(node['spilled_bytes'])} in "
                                f"{node['spilled_objects']} objects ==", width),
                           [o for o in self.objects if nid in o["locations"] or
                            (not o["locations"] and o["node_id"] == nid)]))
        placed = {id(o) for _, rows in groups for o in rows}
        if len(placed) < len(self.objects):   # on Ray, objects whose node Ray does not say
            groups.append(("== on no known node ==",
                           [o for o in self.objects if id(o) not in placed]))
        for title, rows in groups:
            lines.append(title)
            if not rows:
                lines.append("   (no objects on this page)")
                continue
            lines.append(_row(("object id", "size", "where", "held by / refs", "type",
                               "call site"), widths, site_w))
            for o in rows:
                held = ", ".join(o.get("held_by") or ()) or "refs: " + (
                    ",".join(_REF_SHORT.get(t, t) for t in o["reference_types"]) or "-")
                where = _WHERE_SHORT.get(o["where"], o["where"]) + (
                    "*" if o.get("spill_url") and o["where"] != "spilled" else "")
                lines.append(_row((shown_id[o["object_id"]], _size(o["size"]), where, held,
                                   o["type"], o["call_site"] or o["created_by"]),
                                  widths, site_w))
        shown = len(self.objects)
        tot_cap = sum(n["store_capacity"] for n in self.nodes)
        tot_used = sum(n["store_used"] for n in self.nodes)
        spilled = sum(n["spilled_bytes"] for n in self.nodes)
        lines.append("")
        lines += textwrap.wrap(
            f"Showing {self.offset + 1 if shown else 0}-{self.offset + shown} of "
            f"{self.total} objects (sorted by {self.sort_by}). Store: {_size(tot_used)} of "
            f"{_size(tot_cap)} used; spilled: {_size(spilled)}; spill "
            f"{_rate(self.nodes[0]['spill_throughput_bytes_per_s']) if self.nodes else '-'}, "
            f"restore "
            f"{_rate(self.nodes[0]['restore_throughput_bytes_per_s']) if self.nodes else '-'}.",
            max(width, 40))
        lines += textwrap.wrap(
            "refs: local=held by its owner, borrowed=held by another process, "
            "task-arg=argument of a pending task, nested=inside another object, "
            "closure=captured by a remote function, mapped=arrays from get() still use it;"
            " shm=shared memory; * = also has a spilled copy", max(width, 40))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in
                       ("object id", "size", "where", "references", "type", "owner", "call site"))
        body = []
        for o in self.objects:
            refs = ", ".join(_REF_SHORT.get(t, t) for t in o["reference_types"])
            body.append(
                "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in (
                    o["object_id"][:16], _size(o["size"]),
                    o["where"] + (f" ({o['spill_url']})" if o.get("spill_url") else ""),
                    refs, o["type"], f"{o['owner']['process']} (pid {o['owner']['pid']})",
                    o["call_site"] or o["created_by"])) + "</tr>")
        nodes = "".join(
            f"<div>node <code>{html.escape(n['node_id'][:12])}</code>: {_size(n['store_used'])} of "
            f"{_size(n['store_capacity'])}, spilled {_size(n['spilled_bytes'])}</div>"
            for n in self.nodes)
        return (f"<div class='nbray-memory'>{nodes}<table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table><div>{len(self.objects)} of "
                f"{self.total} objects</div></div>")
