"""Read-only questions about the cluster, answered from the head's node.

The driver that hosts the head calls these directly; a driver attached from
another process sends ("query", op, args) and the head answers with the same
functions, so both get identical, JSON-able answers.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .introspection import all_node_stats, object_rows
from .metrics_history import node_label
from .notebook_port import holder_names


def run(node: Any, op: str, args: Dict[str, Any],
        driver_counts: Optional[Mapping[bytes, int]] = None, holder: str = "driver") -> Any:
    handler = QUERIES.get(op)
    if handler is None:
        raise ValueError(f"unknown query {op!r}; known: {', '.join(sorted(QUERIES))}")
    # The notebook's names for holders are read before the lock: walking a namespace that
    # holds 100k refs takes tens of ms, which tasks would otherwise wait out.  (They
    # are a look at the namespace, so a ref made meanwhile may be listed unnamed.)
    named = ({"names": holder_names()} if handler is _memory and args.get("ids") is None
             else {})
    with node.lock:
        node.objects.drain_deferred()
        return handler(node, driver_counts, holder, **args, **named)


def _memory(node: Any, counts: Optional[Mapping[bytes, int]], holder: str, **kw: Any) -> Dict[str, Any]:
    rows, total = object_rows(node, driver_counts=counts, **kw)
    return {"nodes": all_node_stats(node), "objects": rows, "total": total,
            "offset": kw.get("offset", 0), "limit": kw.get("limit"), "sort_by": kw.get("sort_by", "size")}


def _reference_counts(node: Any, counts: Optional[Mapping[bytes, int]], holder: str) -> Dict[str, Any]:
    out = {}
    for oid, e in node.table.entries.items():
        local = counts.get(oid, 0) if counts is not None else e.holders.get(holder, 0)
        out[oid.hex()] = {"local": local,
                          "borrowers": sorted(h for h in e.holders if h != holder),
                          "submitted": e.submitted, "contained_in": e.contained_in,
                          "captured": e.captured, "mapped": sum(e.readers.values()),
                          "where": e.state, "locations": ([node.node_id] if e.offset >= 0 or e.state == "inline"
                                           else [])
                          + list(e.copies)}
    return out


def _summary(node: Any, counts: Any, holder: str) -> Dict[str, Any]:
    """The cluster in one line, added up from the per-node rows `node_stats` answers (what
    the sidebar lists), so the status display and the sidebar cannot disagree: `nodes`
    counts the live nodes that run tasks (not attached drivers' stores), `workers` the
    task workers on them, `objects` the cluster's objects (each once, wherever its copies
    are), and the store the sum of every live row, drivers' stores included (a driver's
    puts live there)."""
    total: Dict[str, float] = {}
    avail: Dict[str, float] = {}
    for info in node.cluster_nodes.values():
        if info.alive:
            for k, v in info.total.items():
                total[k] = total.get(k, 0.0) + v
            for k, v in info.available.items():
                avail[k] = avail.get(k, 0.0) + max(0.0, v)
    rows = [r for r in all_node_stats(node) if r["alive"]]
    return {"node_id": node.node_id,
            "nodes": sum(1 for r in rows if not r["is_driver"]),
            "drivers": sum(1 for r in rows if r["is_driver"]),
            "resources": total, "available": avail,
            "store_used": sum(r["store_used"] for r in rows),
            "store_capacity": sum(r["store_capacity"] for r in rows),
            "objects": len(node.table.entries),
            "workers": sum(r["workers"] for r in rows)}


def _workers(node: Any, counts: Any, holder: str) -> Any:
    return [{"worker_id": w.worker_id, "pid": w.pid, "node_id": w.node_id, "state": w.state,
             "task": w.task.name if w.task is not None else None,
             "task_id": w.task.task_id.hex() if w.task is not None else None,
             "actor_id": w.actor_id.hex() if w.actor_id else None, "blocked": bool(w.blocked)}
            for w in node.workers.values()]


def _tasks(node: Any, counts: Any, holder: str, limit: int = 1000) -> Any:
    running = {w.task.task_id: w for w in node.workers.values() if w.task is not None}
    queued = {s.task_id for s in node.tasks.ready}
    queued.update(s.task_id for w in node.workers.values() for s in w.pipelined)
    rows = []
    alive_creations = {r.create_spec.task_id for r in node.actors.actors.values()
                       if r.state == "ALIVE"}
    for tid, spec in list(node.tasks.by_id.items())[:limit]:
        if tid in alive_creations:
            continue  # kept only so the actor can be restarted
        w = running.get(tid)
        if w is not None:
            state = "RUNNING"
        elif tid in queued:
            state = "QUEUED"
        elif spec.kind == "actor-call":
            state = "SUBMITTED_TO_ACTOR"
        else:
            state = "WAITING_FOR_ARGS"
        rows.append({"task_id": tid.hex(), "name": spec.name, "kind": spec.kind, "state": state,
                     "node_id": w.node_id if w else None, "worker_id": w.worker_id if w else None,
                     "pid": w.pid if w else None, "attempt": spec.attempt,
                     "resources": spec.resources, "call_site": spec.call_site})
    return rows


def _metrics(node: Any, counts: Any, holder: str, since: Optional[float] = None) -> Dict[str, Any]:
    history = node.metrics
    return {"interval_s": history.interval_s, "now": time.time(), "samples": history.rows(since)}


def _timeline_window(node: Any, counts: Any, holder: str, since: Optional[float] = None,
                     limit: int = 5000) -> Dict[str, Any]:
    return {"events": node.timeline.window(since, limit), "dropped": node.timeline.dropped,
            "now": time.time()}


# node -> (when counted, lost node ids, counts): a pass over every object is recounted at
# most every LEFT_RECOUNT_S, so a dashboard polling a store of millions costs little.
_left_cache: "weakref.WeakKeyDictionary[Any, Tuple[float, frozenset, Dict[str, int]]]" = \
    weakref.WeakKeyDictionary()
LEFT_RECOUNT_S = 10.0


def _objects_left(node: Any, lost: List[Any]) -> Dict[str, int]:
    """Per lost node: live objects whose owner (a worker or driver id, "<node id[:8]>-...")
    was there."""
    ids = frozenset(info.node_id for info in lost)
    now = time.monotonic()
    cached = _left_cache.get(node)
    if cached is not None and cached[1] == ids and now - cached[0] < LEFT_RECOUNT_S:
        return cached[2]
    prefixes = {nid[:8]: nid for nid in ids}
    left: Dict[str, int] = {}
    for e in node.table.entries.values():
        nid = prefixes.get(str(e.owner)[:8])
        if nid is not None:
            left[nid] = left.get(nid, 0) + 1
    _left_cache[node] = (now, ids, left)
    return left


def _node_view(node: Any, counts: Any, holder: str) -> List[Dict[str, Any]]:
    """all_node_stats, each row with what the dashboard labels it by: its role ("head",
    "node" or "driver"), a label, its pid, and for a lost one why and when, and how many
    objects created there are still in the cluster (held by others)."""
    rows = all_node_stats(node)
    lost = [info for info in node.cluster_nodes.values() if not info.alive]
    left = _objects_left(node, lost) if lost else {}
    for row in rows:
        info = node.cluster_nodes.get(row["node_id"])
        if info is None:
            continue
        row.update({"role": "head" if info.is_head else "driver" if info.is_driver else "node",
                    "label": node_label(info), "pid": info.pid or None,
                    "lost_reason": info.lost_reason or None,
                    "lost_at": info.lost_at or None,
                    "objects_left": left.get(info.node_id, 0) if not info.alive else None})
    return rows


def _first_error(node: Any, counts: Any, holder: str, ids: List[str]) -> Optional[str]:
    """The first of these objects (hex ids) that is ready and holds an error, or None: an
    attached driver's progress bar stops at it, as a local get() does."""
    failed = node.objects.first_error([bytes.fromhex(i) for i in ids])
    return failed.hex() if failed is not None else None


def _chrome_trace(node: Any, counts: Any, holder: str) -> Any:
    labels = {nid: node_label(info) for nid, info in node.cluster_nodes.items()}
    return node.timeline.chrome_trace(labels)


QUERIES: Dict[str, Callable[..., Any]] = {
    "node_stats": lambda node, counts, holder: all_node_stats(node),
    "workers": _workers,
    "tasks": _tasks,
    "memory": _memory,
    "reference_counts": _reference_counts,
    "summary": _summary,
    "nodes": lambda node, counts, holder: node.node_rows_locked(),
    "actors": lambda node, counts, holder: node.actors.rows(),
    "timeline": _chrome_trace,
    "timeline_window": _timeline_window,
    "metrics": _metrics,
    "node_view": _node_view,
    "first_error": _first_error,
}
