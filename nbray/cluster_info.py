"""What the facade can tell about the cluster: nodes, resources, objects (memory()),
reference counts, the timeline, and the runtime context of the caller.

Every answer is a read-only query to the head: in-process when this driver runs the
cluster, over the attached connection, or from inside a task over the worker's socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .runtime import context
from .runtime_context import RuntimeContext

if TYPE_CHECKING:  # pragma: no cover
    from .memory_summary import MemorySummary
    from .runtime.notebook_port import HolderNames


def query(op: str, **args: Any) -> Any:
    """Ask the head a read-only question (one of `nbray.runtime.queries.QUERIES`)."""
    from .runtime import queries

    driver = context.current_driver()
    client = context.current_client()
    if driver is None and client is not None and context.in_worker():
        return client.query(op, args)
    if driver is None:
        raise RuntimeError("nbray is not initialized: call nbray.init() first")
    if driver.node is not None:
        # The live counts, not a copy: queries only look ids up (a copy costs a pass over
        # every live ref, tens of ms at a million), and a lookup is atomic.
        return queries.run(driver.node, op, args, driver.client.ref_counter.counts)
    return driver.client.query(op, args)


def list_actors() -> List[Dict[str, Any]]:
    """One row per actor: id, class, name, state, restarts, node, pid."""
    return query("actors")


def nodes() -> List[Dict[str, Any]]:
    """One dict per node, with Ray's keys (NodeID, Alive, Resources, ...)."""
    return query("nodes")


def cluster_resources() -> Dict[str, float]:
    rows = nodes()
    total: Dict[str, float] = {}
    for row in rows:
        if row["Alive"]:
            for k, v in row["Resources"].items():
                total[k] = total.get(k, 0.0) + v
    return total


def available_resources() -> Dict[str, float]:
    avail: Dict[str, float] = {}
    for row in nodes():
        if row["Alive"]:
            for k, v in row["Available"].items():
                avail[k] = avail.get(k, 0.0) + v
            free = row["Resources"]["object_store_memory"] - row["ObjectStoreUsed"]
            avail["object_store_memory"] = avail.get("object_store_memory", 0.0) + free
    return avail


def memory(*, sort_by: str = "size", descending: bool = True, filter: str = "",
           where: Optional[str] = None, ref_type: Optional[str] = None, offset: int = 0,
           limit: Optional[int] = 100) -> "MemorySummary":
    """Objects in the cluster, one row each, and per-node store and spill statistics.

    Args:
        sort_by: size, created, last_access, object_id, type, where, call_site or owner;
            with %load_ext nbray also held_by (the notebook's names for the holders).
        descending: largest / newest first.
        filter: keep objects whose id, type, call site, creating task or owner contains it
            (with %load_ext nbray also a variable name holding it, attached or not).
        where: keep only "inline", "shared_memory", "spilled" or "pending" objects.
        ref_type: keep only objects with this reference type (e.g. "USED_BY_PENDING_TASK").
        offset, limit: the page to return (limit=None: all).

    In a notebook whose nbray layer is on Ray (`%load_ext nbray` with Ray), the objects
    of the Ray cluster, as Ray's state API reports them (docs: "When you outgrow one
    machine").
    """
    from .memory_summary import MemorySummary
    from .runtime.notebook_port import current_port

    args: Dict[str, Any] = dict(sort_by=sort_by, descending=descending, filter=filter,
                                where=where, ref_type=ref_type, offset=offset, limit=limit)
    port = current_port()
    if port.name == "ray" and context.current_driver() is None:
        return port.memory(**args)  # the notebook layer is on Ray: Ray's objects
    names = _attached_names()
    if names is not None:
        args["ids"] = _name_ids(names, filter, sort_by, descending)
    answer = query("memory", **args)
    if names is not None:
        _name_rows(answer["objects"], names)
    return MemorySummary.from_dict(answer)


# Ids an attached kernel sends with one listing, per kind (filter matches, held_by order):
# the query stays one bounded message however many refs the notebook holds.
MAX_NAMED_IDS = 100_000


def _attached_names() -> Optional["HolderNames"]:
    """The notebook's holder names, when this is a driver attached to a cluster: the head
    lists the objects but cannot see the kernel's variables, so the kernel names the rows
    (a local head reads the same names in-process)."""
    from .runtime.notebook_port import holder_names

    driver = context.current_driver()
    if driver is None or driver.node is not None or driver.attached is None:
        return None
    return holder_names()


def _name_ids(names: "HolderNames", filter: str, sort_by: str, descending: bool
              ) -> Dict[str, List[bytes]]:
    """What the head's object_rows takes for the kernel's names (its `ids`): the objects
    whose names contain the filter text, and for a sort by holder the named objects in the
    order of their names (at most MAX_NAMED_IDS each; past that a sort by holder orders
    the first ones by name and lists the others after them)."""
    from itertools import islice

    from .runtime.introspection import HELD_BY

    out: Dict[str, List[bytes]] = {}
    if filter:
        out["matching"] = list(islice(names.matching(filter.lower()), MAX_NAMED_IDS))
    if sort_by == HELD_BY:
        ordered = sorted(names.named(), key=names.sort_key, reverse=descending)
        del ordered[MAX_NAMED_IDS:]
        # the head orders by position, reversed when descending: send ascending
        out["named"] = ordered[::-1] if descending else ordered
    return out


def _name_rows(rows: List[Dict[str, Any]], names: "HolderNames") -> None:
    """The kernel's names on the head's rows: who holds each object here, and call sites
    in this kernel's cells as "In [n] line k"."""
    from .runtime.notebook_port import label_call_site

    for row in rows:
        held = names.names(bytes.fromhex(row["object_id"]))
        if held:
            row["held_by"] = held
        row["call_site"] = label_call_site(row.get("call_site") or "")


def reference_counts() -> Dict[str, Dict[str, Any]]:
    """Exact counts per live object, keyed by hex id (for tests and debugging).

    local: live ObjectRefs in this driver process; borrowers: other processes holding
    one; submitted: pending tasks using it; contained_in: stored objects containing it;
    captured: pinned by a remote function's closure; mapped: zero-copy views alive.
    """
    return query("reference_counts")


def cluster_summary() -> Dict[str, Any]:
    """Nodes, CPUs, workers, objects and store of the whole cluster (what the status
    display and the sidebar show), plus `attached_to`: the head's address when this
    driver attached to a running cluster, else None, and `driver_node_id`: then the id
    of this driver's own store among the node rows."""
    summary: Dict[str, Any] = query("summary")
    driver = context.current_driver()
    attached = driver if driver is not None and driver.attached is not None else None
    summary["attached_to"] = attached.address if attached is not None else None
    # which of the node rows marked is_driver is this driver's own store
    summary["driver_node_id"] = attached.node_id() if attached is not None else None
    return summary


def get_runtime_context() -> RuntimeContext:
    """The runtime context (ids of the job, node, worker, task and actor) of the caller."""
    return RuntimeContext(context.client_or_init())


def get_gpu_ids() -> List[Any]:
    """The GPUs given to the running task or actor ([] in the driver, or when it asked for none).

    Ids are ints 0..n-1 among the node's `num_gpus`, or, when the worker was started with
    CUDA_VISIBLE_DEVICES set, the entries of that list as strings (as in Ray).  The worker
    also sets CUDA_VISIBLE_DEVICES to them while the task (or the actor) runs.
    """
    client = context.client_or_init()
    return list(getattr(client, "gpu_ids", ()))


def timeline(filename: Optional[str] = None) -> Optional[List[Dict[str, Any]]]:
    """Chrome trace events of the tasks and actor calls that ran: the newest 10,000 runs
    (`NBRAY_TIMELINE_EVENTS` sets how many the cluster keeps; older ones are dropped, so
    the record's memory stays bounded however many tasks run).

    First metadata events (`ph` "M": `process_name` "node <id> <host> (head)" for each
    node, `thread_name` "worker <id> (pid N)" for each worker) so that trace viewers label
    the rows; then one "complete" event (`ph` "X") per run: `ts` and `dur` in
    microseconds, `pid` "node:<node id>", `tid` "worker:<worker id>", `name` the task's
    name, `cat` "task::<name>", `args` with the task id.  Open the file in
    chrome://tracing or Perfetto.  The dashboard's task stream shows the same runs.

    Args:
        filename: write the events to this file as JSON and return None.

    Returns:
        The list of events, when no filename is given.
    """
    context.client_or_init()
    events = query("timeline")
    if filename is None:
        return events
    import json

    with open(filename, "w") as f:
        json.dump(events, f)
    return None


__all__ = ["available_resources", "cluster_resources", "cluster_summary", "get_gpu_ids",
           "get_runtime_context", "list_actors", "memory", "nodes", "query",
           "reference_counts", "timeline"]
