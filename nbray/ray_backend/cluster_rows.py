"""Ray's nodes, tasks, workers, actors, timeline and metrics as nbray's rows (pure).

The cluster half of state.py's work: `ray.util.state` rows (as dicts), `ray.nodes()`
host names and Ray's task summary in; the rows of nbray's queries
(nbray/runtime/queries.py `all_node_stats`, `_node_view`, `_summary`, `_tasks`,
`_workers`, `actors`, `_timeline_window`, and metrics_history samples) out.  What Ray
does not expose, and so what these rows leave at their "unknown" value, is listed in
state.py's docstring.
"""

from __future__ import annotations

from collections import defaultdict
from typing import (Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

from ..core.object_table import INLINE, PENDING, SHM, SPILLED
from .state import DONE_STATUSES, RayObject, short_call_site


# -- nodes ------------------------------------------------------------------------------
class NodeInfo(NamedTuple):
    """What metrics_history.node_label reads of a node."""

    node_id: str
    hostname: str
    is_head: bool
    is_driver: bool = False
    pid: Optional[int] = None


def node_infos(nodes: Iterable[Mapping[str, Any]],
               hostnames: Mapping[str, str]) -> List[NodeInfo]:
    """list_nodes rows as NodeInfo; `hostnames`: node id -> NodeManagerHostname
    (from ray.nodes()), Ray's node name where that is missing."""
    return [NodeInfo(n["node_id"], hostnames.get(n["node_id"]) or n.get("node_name") or "",
                     bool(n.get("is_head_node"))) for n in nodes]


def node_stats_rows(nodes: Sequence[Mapping[str, Any]], hostnames: Mapping[str, str],
                    objects: Iterable[RayObject], workers: Iterable[Mapping[str, Any]],
                    actors: Iterable[Mapping[str, Any]],
                    store: Optional[Mapping[str, Mapping[str, int]]] = None,
                    cluster_store_used: Optional[int] = None) -> List[Dict[str, Any]]:
    """all_node_stats rows for Ray's nodes (list_nodes rows, dead ones too).

    Object figures count the listing's objects placed on each node (a node Ray lists for
    it, or with none known, the node it was created on); store use and spill totals come
    from `store` (node id -> ray_private.store_stats figures) when Ray's internal call
    answered, else, with one live node, from the cluster's object_store_memory in use
    (`cluster_store_used`)."""
    counts: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in objects:
        places = o.nodes or ([o.node_id] if o.node_id else [])
        for nid in places:
            c = counts[nid]
            c["objects"] += 1
            if o.state == PENDING:
                c["objects_pending"] += 1
            elif o.state == INLINE:
                c["inline_objects"] += 1
                c["inline_bytes"] += o.size
            elif o.state == SHM:
                c["shm_objects"] += 1
                c["shm_bytes"] += o.size
            elif o.state == SPILLED:
                c["spilled_objects"] += 1
                c["spilled_bytes"] += o.size
    task_workers: Dict[str, int] = defaultdict(int)
    for w in workers:
        if w.get("is_alive", True) and w.get("worker_type") == "WORKER":
            task_workers[w.get("node_id") or ""] += 1
    live_actors: Dict[str, int] = defaultdict(int)
    for a in actors:
        if a.get("state") != "DEAD":
            live_actors[a.get("node_id") or ""] += 1
    alive = [n for n in nodes if n.get("state") == "ALIVE"]
    rows = []
    for info, n in zip(node_infos(nodes, hostnames), nodes):
        nid = info.node_id
        c = counts.get(nid, {})
        figures = (store or {}).get(nid) or {}
        used = figures.get("store_used")
        if used is None and store is None and len(alive) == 1 and n is alive[0]:
            used = cluster_store_used
        rows.append({
            "node_id": nid, "alive": n.get("state") == "ALIVE", "hostname": info.hostname,
            "is_head": info.is_head, "is_driver": False,
            "store_capacity": int(figures.get("store_capacity") or
                                  (n.get("resources_total") or {}).get("object_store_memory", 0)),
            "store_used": int(used or 0), "store_largest_free": None,
            "objects": c.get("objects", 0), "objects_pending": c.get("objects_pending", 0),
            "inline_objects": c.get("inline_objects", 0), "inline_bytes": c.get("inline_bytes", 0),
            "shm_objects": c.get("shm_objects", 0), "shm_bytes": c.get("shm_bytes", 0),
            "spilled_objects": c.get("spilled_objects", 0),
            "spilled_bytes": c.get("spilled_bytes", 0),
            "freed_but_mapped": 0, "spill_url": None,
            "spilled_objects_total": int(figures.get("spilled_objects_total", 0)),
            "spilled_bytes_total": int(figures.get("spilled_bytes_total", 0)),
            "spill_throughput_bytes_per_s": None,
            "restored_objects_total": 0,
            "restored_bytes_total": int(figures.get("restored_bytes_total", 0)),
            "restore_throughput_bytes_per_s": None,
            "workers": task_workers.get(nid, 0), "actors": live_actors.get(nid, 0),
        })
    return rows


def node_view_rows(stats: List[Dict[str, Any]], nodes: Sequence[Mapping[str, Any]],
                   hostnames: Mapping[str, str], objects: Iterable[RayObject],
                   label: Callable[[Any], str]) -> List[Dict[str, Any]]:
    """node_stats rows with what the dashboard labels nodes by (queries._node_view):
    role, label (`label`: metrics_history.node_label), pid None (a Ray node is several
    processes), for a dead node Ray's state message, its end time, and the listing's
    objects created there that are still listed."""
    infos = {i.node_id: (i, n) for i, n in zip(node_infos(nodes, hostnames), nodes)}
    left: Dict[str, int] = defaultdict(int)
    for o in objects:
        left[o.node_id] += 1
    out = []
    for row in stats:
        info, n = infos[row["node_id"]]
        dead = not row["alive"]
        end = n.get("end_time_ms") or 0
        out.append({**row, "role": "head" if info.is_head else "node", "label": label(info),
                    "pid": None,
                    "lost_reason": (n.get("state_message") or "node is dead") if dead else None,
                    "lost_at": end / 1000.0 if dead and end else None,
                    "objects_left": left.get(info.node_id, 0) if dead else None})
    return out


def summary_row(head_id: str, stats: List[Dict[str, Any]], resources: Mapping[str, float],
                available: Mapping[str, float], objects: int,
                address: Optional[str]) -> Dict[str, Any]:
    """queries._summary's keys, added up from the node rows, plus attached_to (the Ray
    cluster's address), driver_node_id (None: a Ray driver has no store of its own) and
    backend "ray".  Resources leave out Ray's per-node marker resources ("node:<ip>")."""
    rows = [r for r in stats if r["alive"]]

    def plain(d: Mapping[str, float]) -> Dict[str, float]:
        return {k: float(v) for k, v in d.items() if not k.startswith("node:")}

    return {"node_id": head_id, "nodes": len(rows), "drivers": 0,
            "resources": plain(resources), "available": plain(available),
            "store_used": sum(r["store_used"] for r in rows),
            "store_capacity": sum(r["store_capacity"] for r in rows),
            "objects": objects, "workers": sum(r["workers"] for r in rows),
            "attached_to": address, "driver_node_id": None, "backend": "ray"}


# -- tasks, workers, actors -------------------------------------------------------------
_KIND = {"NORMAL_TASK": "task", "ACTOR_CREATION_TASK": "actor-create",
         "ACTOR_TASK": "actor-call"}
_RUNNING = frozenset({"RUNNING", "RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT"})
_WAITING_FOR_ARGS = frozenset({"PENDING_ARGS_AVAIL", "PENDING_ARGS_FETCH",
                               "GETTING_AND_PINNING_ARGS"})
_AT_ACTOR = frozenset({"PENDING_ACTOR_TASK_ARGS_FETCH",
                       "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY"})


def task_state(ray_state: str) -> Optional[str]:
    """nbray's task state for Ray's (None: finished, failed or unknown)."""
    if ray_state in _RUNNING:
        return "RUNNING"
    if ray_state in _WAITING_FOR_ARGS:
        return "WAITING_FOR_ARGS"
    if ray_state in _AT_ACTOR:
        return "SUBMITTED_TO_ACTOR"
    if ray_state in DONE_STATUSES:
        return None
    return "QUEUED"   # PENDING_NODE_ASSIGNMENT, PENDING_OBJ_STORE_MEM_AVAIL, SUBMITTED_TO_WORKER


def task_rows(tasks: Iterable[Mapping[str, Any]], limit: int = 1000,
              internal: Tuple[str, ...] = ()) -> List[Dict[str, Any]]:
    """queries._tasks rows: the unfinished tasks and actor calls of list_tasks rows
    (`internal`: path prefixes of Ray's code, which call sites skip)."""
    rows = []
    for t in tasks:
        state = task_state(t.get("state") or "")
        kind = _KIND.get(t.get("type") or "")
        if state is None or kind is None:
            continue
        rows.append({"task_id": t["task_id"], "name": t.get("name") or "", "kind": kind,
                     "state": state, "node_id": t.get("node_id"),
                     "worker_id": t.get("worker_id"), "pid": t.get("worker_pid"),
                     "attempt": int(t.get("attempt_number") or 0),
                     "resources": dict(t.get("required_resources") or {}),
                     "call_site": short_call_site(t.get("call_site"), internal)})
        if len(rows) >= limit:
            break
    return rows


def worker_rows(workers: Iterable[Mapping[str, Any]], tasks: Iterable[Mapping[str, Any]],
                actors: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """queries._workers rows for list_workers rows: state driver / actor (hosts a live
    actor) / busy (runs a task) / idle / dead; blocked: its task waits in ray.get/wait."""
    running: Dict[str, Mapping[str, Any]] = {}
    for t in tasks:
        if t.get("state") in _RUNNING and t.get("worker_id"):
            running[t["worker_id"]] = t
    actor_at = {(a.get("node_id"), a.get("pid")): a["actor_id"] for a in actors
                if a.get("state") == "ALIVE" and a.get("pid")}
    rows = []
    for w in workers:
        task = running.get(w["worker_id"])
        actor = actor_at.get((w.get("node_id"), w.get("pid")))
        if not w.get("is_alive", True):
            state = "dead"
        elif w.get("worker_type") == "DRIVER":
            state = "driver"
        elif actor is not None:
            state = "actor"
        else:
            state = "busy" if task is not None else "idle"
        rows.append({"worker_id": w["worker_id"], "pid": w.get("pid"),
                     "node_id": w.get("node_id"), "state": state,
                     "task": task.get("name") if task is not None else None,
                     "task_id": task["task_id"] if task is not None else None,
                     "actor_id": actor,
                     "blocked": task is not None and task.get("state") != "RUNNING"})
    return rows


def actor_rows(actors: Iterable[Mapping[str, Any]],
               tasks: Iterable[Mapping[str, Any]] = ()) -> List[Dict[str, Any]]:
    """ActorTable.rows() rows for list_actors(detail=True) rows; pending_calls counts the
    unfinished calls among `tasks` (list_tasks rows)."""
    pending: Dict[str, int] = defaultdict(int)
    for t in tasks:
        if t.get("type") == "ACTOR_TASK" and task_state(t.get("state") or "") is not None:
            pending[t.get("actor_id") or ""] += 1
    rows = []
    for a in actors:
        state = a.get("state") or ""
        rows.append({"actor_id": a["actor_id"], "class_name": a.get("class_name") or "",
                     "name": a.get("name") or None, "namespace": a.get("ray_namespace") or "",
                     "state": "PENDING_CREATION" if state == "DEPENDENCIES_UNREADY" else state,
                     "restarts": int(a.get("num_restarts") or 0), "node_id": a.get("node_id"),
                     "pid": a.get("pid") or None, "detached": bool(a.get("is_detached")),
                     "pending_calls": pending.get(a["actor_id"], 0),
                     "death_cause": death_cause(a.get("death_cause"))})
    return rows


def death_cause(cause: Any) -> Optional[str]:
    """Ray's death cause (a dict of one context: {"actor_died_error_context":
    {"error_message": ...}}) as one line, or None."""
    if not cause:
        return None
    if isinstance(cause, Mapping):
        for context in cause.values():
            if isinstance(context, Mapping) and context.get("error_message"):
                return str(context["error_message"]).strip()
    return str(cause)


def timeline_events(tasks: Iterable[Mapping[str, Any]], since: Optional[float] = None,
                    limit: int = 5000) -> List[Dict[str, Any]]:
    """Timeline.window's Chrome trace "X" events for the runs among list_tasks(detail=True)
    rows that ended at or after `since` (epoch s): the newest `limit`, oldest first."""
    runs = []
    for t in tasks:
        start, end = t.get("start_time_ms"), t.get("end_time_ms")
        kind = _KIND.get(t.get("type") or "")
        if not start or not end or kind is None or (since is not None and end / 1e3 < since):
            continue
        runs.append((end, start, t, kind))
    runs.sort(key=lambda r: r[0])
    out = []
    for end, start, t, kind in runs[-limit:] if limit else []:
        name, node, worker = t.get("name") or "", t.get("node_id") or "", t.get("worker_id") or ""
        args: Dict[str, Any] = {"task_id": t["task_id"], "name": name, "kind": kind,
                                "worker_id": worker, "node_id": node,
                                "pid": t.get("worker_pid"),
                                "attempt": int(t.get("attempt_number") or 0)}
        if t.get("actor_id"):
            args["actor_id"] = t["actor_id"]
        out.append({"cat": f"task::{name}", "name": name, "ph": "X", "ts": start * 1e3,
                    "dur": max(0.0, end - start) * 1e3, "pid": f"node:{node[:12]}",
                    "tid": f"worker:{worker}", "cname": "generic_work", "args": args})
    return out


def task_counts(summary: Mapping[str, Any]) -> Tuple[int, int]:
    """(tasks done, tasks running) from summarize_tasks()'s answer
    ({"cluster": {"summary": {name: {"state_counts": {state: n}}}}})."""
    done = running = 0
    groups = ((summary.get("cluster") or {}).get("summary") or {}).values()
    for group in groups:
        for state, n in ((group or {}).get("state_counts") or {}).items():
            if state in ("FINISHED", "FAILED"):
                done += int(n)
            elif state in _RUNNING:
                running += int(n)
    return done, running


def metrics_reading(stats: List[Dict[str, Any]], labels: Mapping[str, str],
                    counts: Tuple[int, int]) -> Tuple[Tuple[Tuple[str, str, int, int, int], ...],
                                                      int, int, float]:
    """A metrics_history Reading: per live node (id, label, store used, capacity, spilled
    bytes), tasks done, running, and busy seconds (0.0: Ray does not say)."""
    nodes = tuple((r["node_id"], labels.get(r["node_id"], r["hostname"]), r["store_used"],
                   r["store_capacity"], r["spilled_bytes"]) for r in stats if r["alive"])
    return nodes, counts[0], counts[1], 0.0

__all__ = ["NodeInfo", "actor_rows", "death_cause", "metrics_reading", "node_infos",
           "node_stats_rows", "node_view_rows", "summary_row", "task_counts", "task_rows",
           "task_state", "timeline_events", "worker_rows"]
