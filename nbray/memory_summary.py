"""nbray.memory(): where every object lives, how big it is, and what keeps it alive."""

from __future__ import annotations

import html
import json
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
        lines: List[str] = []
        for node in self.nodes:
            nid = node["node_id"]
            lines.append(f"== node {nid[:12]}  store {_size(node['store_used'])} / "
                         f"{_size(node['store_capacity'])} used, {node['objects']} objects, "
                         f"spilled {_size(node['spilled_bytes'])} in {node['spilled_objects']} "
                         f"objects ==")
            rows = [o for o in self.objects if nid in o["locations"] or
                    (not o["locations"] and o["node_id"] == nid)]
            if not rows:
                lines.append("   (no objects on this page)")
                continue
            lines.append(f"   {'object id':<40} {'size':>10}  {'where':<13} {'refs':<22} "
                         f"{'type':<26} call site")
            for o in rows:
                refs = ",".join(_REF_SHORT.get(t, t) for t in o["reference_types"]) or "-"
                where = o["where"] + ("*" if o.get("spill_url") and o["where"] != "spilled" else "")
                site = o["call_site"] or o["created_by"]
                line = (f"   {o['object_id']:<40} {_size(o['size']):>10}  {where:<13} "
                        f"{refs:<22} {o['type'][:26]:<26} {site}")
                lines.append(line[:width])
        shown = len(self.objects)
        tot_cap = sum(n["store_capacity"] for n in self.nodes)
        tot_used = sum(n["store_used"] for n in self.nodes)
        spilled = sum(n["spilled_bytes"] for n in self.nodes)
        lines.append("")
        lines.append(f"Showing {self.offset + 1 if shown else 0}-{self.offset + shown} of "
                     f"{self.total} objects (sorted by {self.sort_by}). Store: {_size(tot_used)} of "
                     f"{_size(tot_cap)} used; spilled: {_size(spilled)}; spill "
                     f"{_rate(self.nodes[0]['spill_throughput_bytes_per_s']) if self.nodes else '-'}, "
                     f"restore "
                     f"{_rate(self.nodes[0]['restore_throughput_bytes_per_s']) if self.nodes else '-'}.")
        lines.append("refs: local=held by its owner, borrowed=held by another process, "
                     "task-arg=argument of a pending task, nested=inside another object, "
                     "closure=captured by a remote function, mapped=arrays from get() still use it;"
                     " * = also has a spilled copy")
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
