"""RayState: reads a Ray cluster's state through Ray's public APIs and answers nbray's queries.

The shell around state.py / cluster_rows.py (pure): it calls `ray.util.state`
(list_objects, list_nodes, list_workers, list_tasks, list_actors, summarize_tasks, each
with a timeout and a limit, raise_on_missing_output=False), `ray.nodes()`,
`ray.cluster_resources()` / `available_resources()`, and
`ray.experimental.get_object_locations` (size, node copies, did_spill: Ray's per-object
spill state) for the refs this kernel may look up: the objects Ray lists as held by this
driver process and those the notebook names, never others (making a ref to an object
one does not hold would disturb Ray's reference counting).  Per-node store figures come
from `ray_private.store_stats()` when that module and Ray's internal call are there.

Every state API call names this kernel's cluster (its GCS address): without it Ray's
state client looks for a cluster on the machine, and fails, or picks another one, when
several run there.

Costs: a listing reads Ray's objects afresh (list_objects: ~0.4 s for 8,000 objects on
a 2-core machine, almost all of it Ray's; turning 10,000 rows into objects and a page
takes some 40 ms); node_stats, summary, node_view and metrics
reuse a listing under OBJECTS_REUSE_S old, so a sidebar polling them together reads once.
Task names (an object's created_by) come from one list_tasks, re-read at most every
TASK_NAMES_S and only when an object names a task not yet seen.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..runtime.metrics_history import MetricsHistory, node_label
from ..runtime.introspection import check_listing
from ..runtime.notebook_port import HolderNames
from . import cluster_rows as rows
from .state import (TASK_ID_HEX, Cluster, RayObject, aggregate_objects, is_put,
                    node_ids_by_ip, object_page)

TIMEOUT_S = 10            # every state API call (Ray's default is 30 s)
LIST_LIMIT = 10_000       # rows per listing: Ray's own cap (RAY_MAX_LIMIT_FROM_API_SERVER)
LOCATIONS_TIMEOUT_MS = 5_000
OBJECTS_REUSE_S = 1.0
NODES_REUSE_S = 5.0
TASK_NAMES_S = 5.0

OBJECT_FIELDS = ("object_id", "object_size", "task_status", "attempt_number",
                 "reference_type", "call_site", "type", "pid", "ip")
NODE_FIELDS = ("node_id", "node_ip", "is_head_node", "state", "state_message", "node_name",
               "resources_total", "start_time_ms", "end_time_ms")
WORKER_FIELDS = ("worker_id", "is_alive", "worker_type", "node_id", "ip", "pid")
TASK_FIELDS = ("task_id", "attempt_number", "name", "state", "actor_id", "type", "node_id",
               "worker_id", "worker_pid", "required_resources", "start_time_ms",
               "end_time_ms", "call_site")
ACTOR_FIELDS = ("actor_id", "class_name", "state", "name", "node_id", "pid", "ray_namespace",
                "death_cause", "is_detached", "num_restarts")
# list_tasks filters for the tasks not yet done (filters are ANDed).
UNFINISHED = [("state", "!=", "FINISHED"), ("state", "!=", "FAILED")]

# Queries of nbray's runtime that Ray has no public answer for.
UNANSWERED = {
    "reference_counts": "Ray does not expose per-process reference counts by object",
    "first_error": "Ray's state API does not say which objects hold errors by id",
    "timeline": "use ray.timeline() for Ray's Chrome trace; nbray's view is timeline_window",
}


def _dicts(items: Iterable[Any], fields: Tuple[str, ...]) -> List[Dict[str, Any]]:
    """ray.util.state rows (dataclasses) as plain dicts of `fields`."""
    return [{k: getattr(item, k, None) for k in fields} for item in items]


def _ray() -> Any:
    import ray

    if not ray.is_initialized():
        raise RuntimeError("Ray is not initialized in this kernel: call ray.init() first")
    return ray


def _internal(ray: Any) -> Tuple[str, ...]:
    """Where Ray's and nbray's own code are: recorded call sites skip their frames (ray.put's
    wrappers, and nbray's wrappers of `.remote()` and `ray.get`)."""
    nbray_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (os.path.dirname(ray.__file__) + os.sep, nbray_dir + os.sep)


def _bounds(ray: Any, limit: int = LIST_LIMIT) -> Dict[str, Any]:
    """The arguments every state API call gets: this kernel's cluster, a timeout, a
    limit, and partial answers rather than errors."""
    return {"address": str(ray.get_runtime_context().gcs_address), "timeout": TIMEOUT_S,
            "limit": max(1, min(limit, LIST_LIMIT)), "raise_on_missing_output": False}


class RayState:
    """nbray's state queries (memory, summary, node rows, workers, tasks, actors, timeline,
    metrics) answered from the Ray cluster this kernel's `ray.init()` joined.

    `kernel_pid`: this kernel's pid (the driver process whose refs it may look up);
    `names()`: the notebook's names for holders (or None); `label_call_site`: a call site
    "file:line" as the notebook names it ("In [3] line 2")."""

    def __init__(self, kernel_pid: int, names: Callable[[], Optional[HolderNames]],
                 label_call_site: Callable[[str], str]) -> None:
        self.kernel_pid = kernel_pid
        self.names = names
        self.label_call_site = label_call_site
        self.history = MetricsHistory()
        # task id -> where the notebook submitted it (the port plugs the output routing's in)
        self.submitted_call_site: Callable[[str], Optional[str]] = lambda task_id: None
        self._objects: Tuple[float, List[RayObject]] = (float("-inf"), [])
        self._nodes: Tuple[float, List[Dict[str, Any]], Dict[str, str]] = (float("-inf"), [], {})
        self._task_names: Dict[str, Tuple[str, Optional[str]]] = {}
        self._task_names_at = float("-inf")

    # -- reads ----------------------------------------------------------------------
    def read_nodes(self) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
        """(list_nodes rows, node id -> host name), re-read after NODES_REUSE_S."""
        at, nodes, hosts = self._nodes
        if time.monotonic() - at < NODES_REUSE_S:
            return nodes, hosts
        ray = _ray()
        from ray.util import state as ray_state

        nodes = _dicts(ray_state.list_nodes(**_bounds(ray)), NODE_FIELDS)
        hosts = {n["NodeID"]: n.get("NodeManagerHostname") or "" for n in ray.nodes()}
        self._nodes = (time.monotonic(), nodes, hosts)
        return nodes, hosts

    def read_workers(self) -> List[Dict[str, Any]]:
        from ray.util import state as ray_state

        return _dicts(ray_state.list_workers(filters=[("is_alive", "=", True)],
                                             **_bounds(_ray())), WORKER_FIELDS)

    def read_actors(self, detail: bool = False) -> List[Dict[str, Any]]:
        from ray.util import state as ray_state

        return _dicts(ray_state.list_actors(detail=detail, **_bounds(_ray())), ACTOR_FIELDS)

    def read_tasks(self, filters: Optional[List[Any]] = None, detail: bool = False,
                   limit: int = LIST_LIMIT) -> List[Dict[str, Any]]:
        from ray.util import state as ray_state

        return _dicts(ray_state.list_tasks(filters=filters, detail=detail,
                                           **_bounds(_ray(), limit)), TASK_FIELDS)

    def read_objects(self, names: Optional[HolderNames],
                     workers: Optional[List[Dict[str, Any]]] = None) -> List[RayObject]:
        """The cluster's objects, one per object, with locations for the refs this kernel
        holds or names (`workers`: list_workers rows, when read already)."""
        ray = _ray()
        from ray.util import state as ray_state

        listed = _dicts(ray_state.list_objects(detail=True, **_bounds(ray)), OBJECT_FIELDS)
        nodes, _ = self.read_nodes()
        workers = self.read_workers() if workers is None else workers
        node_of_ip = node_ids_by_ip(nodes)
        own_node = ray.get_runtime_context().get_node_id()
        ip = next((n["node_ip"] for n in nodes if n["node_id"] == own_node), None)
        if ip is None:
            ip = next((w["ip"] for w in workers if w["worker_type"] == "DRIVER"
                       and w["pid"] == self.kernel_pid), "")
        kernel = (ip, self.kernel_pid)
        processes = {(w["ip"], w["pid"]): (w["worker_id"], w["node_id"]) for w in workers}
        cluster = Cluster(kernel, node_of_ip, processes, self._names_of_tasks(listed),
                          _internal(ray))
        # This driver's refs, and the notebook's names for objects Ray lists (a name holds
        # a ref in this kernel, so such a lookup never makes a ref to a foreign object).
        held = {r["object_id"] for r in listed if (r["ip"], r["pid"]) == kernel}
        if names is not None:
            listed_ids = {r["object_id"] for r in listed}
            held.update(h for h in map(bytes.hex, names.named()) if h in listed_ids)
        objects = aggregate_objects(listed, cluster, self._locations(ray, held))
        for o in objects:  # task results whose call site Ray's few frames missed
            if not o.call_site:
                oid = o.object_id.hex()
                if not is_put(oid):
                    o.call_site = self.submitted_call_site(oid[:TASK_ID_HEX]) or ""
        self._objects = (time.monotonic(), objects)
        return objects

    def _names_of_tasks(self, listed: List[Dict[str, Any]]
                        ) -> Dict[str, Tuple[str, Optional[str]]]:
        """task id -> (name, node id) for the tasks that made the listed objects."""
        wanted = {r["object_id"][:TASK_ID_HEX] for r in listed if not is_put(r["object_id"])}
        missing = wanted - self._task_names.keys()
        if missing and time.monotonic() - self._task_names_at >= TASK_NAMES_S:
            fresh = {t["task_id"]: (t["name"] or "", t["node_id"]) for t in self.read_tasks()}
            # keep what the listing still needs, drop the rest: the cache stays bounded
            fresh.update((k, v) for k, v in self._task_names.items() if k in wanted)
            self._task_names = fresh
            self._task_names_at = time.monotonic()
        return self._task_names

    def _locations(self, ray: Any, ids: Iterable[str]) -> Dict[str, Dict[str, Any]]:
        """get_object_locations for objects this kernel holds refs to (hex ids)."""
        refs = [ray.ObjectRef(bytes.fromhex(i)) for i in ids]
        if not refs:
            return {}
        try:
            from ray.experimental import get_object_locations

            found = get_object_locations(refs, timeout_ms=LOCATIONS_TIMEOUT_MS)
        except Exception:  # a timeout or a node gone: the rows say "" (unknown) instead
            return {}
        return {ref.hex(): dict(loc) for ref, loc in found.items()}

    def recent_objects(self, workers: Optional[List[Dict[str, Any]]] = None
                       ) -> List[RayObject]:
        """The last listing if it is under OBJECTS_REUSE_S old, else a new one."""
        at, objects = self._objects
        if time.monotonic() - at < OBJECTS_REUSE_S:
            return objects
        return self.read_objects(self.names(), workers)

    def store_stats(self) -> Optional[Dict[str, Dict[str, int]]]:
        """Per-node store figures from ray_private.store_stats() (Ray's internal memory
        call), or None when that module or call is not there."""
        try:
            private = importlib.import_module(f"{__package__}.ray_private")
            read = getattr(private, "store_stats", None)
            return read() if read is not None else None
        except Exception:
            return None

    # -- answers --------------------------------------------------------------------
    def memory(self, *, sort_by: str = "size", descending: bool = True, filter: str = "",
               where: Optional[str] = None, ref_type: Optional[str] = None, offset: int = 0,
               limit: Optional[int] = 100) -> Dict[str, Any]:
        """One page of objects and the node rows: MemorySummary.to_dict()'s shape."""
        check_listing(sort_by, where, offset, limit)
        names = self.names()
        workers = self.read_workers()
        objects = self.read_objects(names, workers)
        page, total = object_page(objects, sort_by=sort_by, descending=descending,
                                  filter=filter, where=where, ref_type=ref_type, offset=offset,
                                  limit=limit, names=names, label=self.label_call_site)
        return {"nodes": self._node_stats(objects, workers), "objects": page, "total": total,
                "offset": offset, "limit": limit, "sort_by": sort_by, "taken_at": time.time()}

    def _node_stats(self, objects: List[RayObject],
                    workers: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        ray = _ray()
        nodes, hosts = self.read_nodes()
        store = self.store_stats()
        used = None
        if store is None:
            total = ray.cluster_resources().get("object_store_memory")
            free = ray.available_resources().get("object_store_memory", total)
            used = int(total - free) if total is not None and free is not None else None
        return rows.node_stats_rows(nodes, hosts, objects, workers, self.read_actors(), store,
                                    used)

    def node_stats(self) -> List[Dict[str, Any]]:
        workers = self.read_workers()
        return self._node_stats(self.recent_objects(workers), workers)

    def node_view(self) -> List[Dict[str, Any]]:
        nodes, hosts = self.read_nodes()
        workers = self.read_workers()
        objects = self.recent_objects(workers)
        return rows.node_view_rows(self._node_stats(objects, workers), nodes, hosts, objects,
                                   node_label)

    def summary(self) -> Dict[str, Any]:
        ray = _ray()
        workers = self.read_workers()
        objects = self.recent_objects(workers)
        nodes, _ = self.read_nodes()
        head = next((n["node_id"] for n in nodes if n["is_head_node"]), "")
        return rows.summary_row(head, self._node_stats(objects, workers), ray.cluster_resources(),
                                ray.available_resources(), len(objects),
                                ray.get_runtime_context().gcs_address)

    def workers(self) -> List[Dict[str, Any]]:
        return rows.worker_rows(self.read_workers(), self.read_tasks(UNFINISHED),
                                self.read_actors())

    def actors(self) -> List[Dict[str, Any]]:
        return rows.actor_rows(self.read_actors(detail=True), self.read_tasks(UNFINISHED))

    def tasks(self, limit: int = 1000) -> List[Dict[str, Any]]:
        return rows.task_rows(self.read_tasks(UNFINISHED, detail=True, limit=limit), limit,
                              _internal(_ray()))

    def timeline_window(self, since: Optional[float] = None,
                        limit: int = 5000) -> Dict[str, Any]:
        events = rows.timeline_events(self.read_tasks(detail=True), since, limit)
        return {"events": events, "dropped": 0, "now": time.time()}

    def metrics(self, since: Optional[float] = None) -> Dict[str, Any]:
        """The samples after `since`; a sample is taken now when one is due (Ray keeps no
        history nbray can read, so the ring fills while something asks)."""
        self.history.offer(time.time(), self._sample)
        return {"interval_s": self.history.interval_s, "now": time.time(),
                "samples": self.history.rows(since)}

    def _sample(self) -> Any:
        from ray.util import state as ray_state

        nodes, hosts = self.read_nodes()
        labels = {i.node_id: node_label(i) for i in rows.node_infos(nodes, hosts)}
        try:
            bounds = _bounds(_ray())
            del bounds["limit"]
            counts = rows.task_counts(ray_state.summarize_tasks(**bounds))
        except Exception:  # the dashboard's task summary failed: no task figures now
            counts = (0, 0)
        return rows.metrics_reading(self.node_stats(), labels, counts)

    def nodes(self) -> List[Dict[str, Any]]:
        """Ray's own ray.nodes() rows (what `%nbray nodes` prints on Ray)."""
        return list(_ray().nodes())

    def handlers(self) -> Dict[str, Callable[..., Any]]:
        """op -> handler(**args) for the kernel's state socket (StateServer)."""
        out: Dict[str, Callable[..., Any]] = {
            "summary": self.summary, "memory": self.memory, "node_stats": self.node_stats,
            "node_view": self.node_view, "workers": self.workers, "tasks": self.tasks,
            "actors": self.actors, "metrics": self.metrics,
            "timeline_window": self.timeline_window, "nodes": self.nodes}
        for op, why in UNANSWERED.items():
            out[op] = _unanswered(op, why)
        return out


def _unanswered(op: str, why: str) -> Callable[..., Any]:
    def handler(**args: Any) -> Any:
        raise RuntimeError(f"{op} is not available on Ray: {why}")

    return handler


__all__ = ["LIST_LIMIT", "RayState", "TIMEOUT_S", "UNANSWERED"]
