"""Ray's state, as Ray's public APIs report it, turned into nbray's rows (pure).

The notebook layer's views (the inspector, `%nbray memory`, the JupyterLab sidebar, the
charts page) read rows with exactly the keys nbray's own runtime answers with
(nbray/runtime/introspection.py `object_row`, `all_node_stats`; queries.py `_summary`,
`_node_view`, `_workers`, `_tasks`, `_timeline_window`, `_metrics`).  The functions here
take what `state_reader.RayState` read from Ray (plain dicts and lists: `ray.util.state`
rows as dicts, `ray.nodes()`, `ray.experimental.get_object_locations` answers) and return
those rows, so they run without Ray, a process or a socket.

Objects.  Ray's `list_objects` gives one row per (object, process holding a reference to
it); `aggregate_objects` makes one nbray row per object:
- holders: those processes ("driver" for this kernel, else Ray's worker id for the
  process, from `list_workers`), reference_types: the union of theirs, plus BORROWED when
  a process other than the owner holds it;
- owner: the process whose row carries the status of the task that created the object
  (Ray fills `task_status` only in the owner's reference table; borrowers report NIL),
  else the one whose recorded call site is a creation ("(put object)", "(task call)",
  "(actor call)"); neither: unknown (process "", pid None);
- size: Ray's `object_size` (or the location lookup's), 0 while unknown;
- call_site: the owner's, "file:line" of its first frame outside Ray's own code,
  labelled by the notebook ("In [3] line 2"); "" when Ray records none (it does only
  with RAY_record_ref_creation_sites=1 set before ray.init, else it says "disabled");
- created_by: "put" when the id says so (Ray numbers put objects from 10^8 on), else the
  creating task's name from `list_tasks` ("" when Ray no longer lists that task);
- node_id ("created on"): a put's owner's node, a task return's task's node; a process's
  node is the one `list_workers` gives it, else the one node with its ip (several nodes
  on one host share an ip: then none);
- where: "pending" while the creating task runs (owner's task_status), and for objects
  whose location this kernel looked up (it may only for refs it holds or names):
  "spilled" (Ray's did_spill: Ray 2.60 keeps listing the spilling node among node_ids
  and keeps did_spill after a restore, so a spilled object reads "spilled" whether or
  not a copy is back in memory), "shared_memory" (a node has it, not spilled), "inline"
  (in no store, and a task return under Ray's 100 KiB inline limit); "" when Ray does
  not say.  `locations` are the nodes with a copy in memory (none for a spilled one);
  a node row counts a spilled object on the nodes Ray lists for it.

What Ray does not expose (the rows carry the "unknown" value of each key):
- the type of an object's value (`type` is ""; "actor handle" for actor handles);
- the number of refs each process holds (`holders[].refs` is None): Ray's state API drops
  its per-process counts (local / submitted / contained-in) from the rows;
- so `submitted_tasks` and `contained_in` are 0, and only the reference types say that
  pending tasks or other objects use it; `contains`, `mapped_by` are empty and `captured` False;
- when an object was created or last read (`created_at`, `last_access` are 0.0);
- the spill file of an object (`spill_url` None), whether a spilled object also has a
  copy in memory again, and locations and spill state of objects this kernel holds no
  ref to (`where` "", `locations` []);
- the owner when neither rule above applies (e.g. an owner that no longer holds a ref);
- per-node object counts and bytes (a node row counts the objects this listing could
  place there); per-node store use and spill totals only through Ray's internal memory
  call (`ray_private.store_stats`), and spill/restore throughput and the largest free
  block not at all (None); restored object counts (0);
- objects beyond one listing: Ray's list_objects stops at 10,000 rows (one per object
  and referencing process), so `total` counts the objects in those rows;
- the cluster's task history beyond what Ray's GCS keeps (by default the last 100,000
  task events) and what one listing returns (Ray caps a listing at 10,000 rows): older
  tasks are not in `tasks_done`, the timeline, or created_by names, and `dropped` is 0;
- the seconds tasks were busy (`busy_s` is 0.0 in metrics samples); whether a running
  task waits in ray.get / ray.wait (Ray 2.60's task listing says RUNNING, so a worker's
  `blocked` is False); a task's worker and pid until Ray's task events report them (about
  a second late, like every task state);
- reference counts and errors by object id, and nbray's whole-record Chrome trace (the
  "reference_counts", "first_error", "timeline" queries raise, saying so).
"""

from __future__ import annotations

from collections import defaultdict
from typing import (Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Set,
                    Tuple, cast)

from ..core.object_table import INLINE, PENDING, SHM, SPILLED
from ..runtime.introspection import (ACTOR_HANDLE, BORROWED, CAPTURED_BY_CLOSURE,
                                     CAPTURED_IN_OBJECT, HELD_BY, LOCAL_REFERENCE,
                                     PINNED_IN_MEMORY, USED_BY_PENDING_TASK, WHERE,
                                     check_listing, held_by_page)
from ..runtime.notebook_port import HolderNames
from ..runtime.object_index import SORT_KEYS, page

# Ray keeps objects under this size (its max_direct_call_object_size) in the owner's
# memory, not in a node's store, unless they were ray.put.
INLINE_LIMIT = 100 * 1024
# Ray's ObjectID: 24 bytes of task id, then a 4-byte little-endian index; put objects
# are numbered from here on, a task's returns from 1.
PUT_INDEX_BASE = 100_000_000
TASK_ID_HEX = 48
# The creating task's status while it has not produced the object.
DONE_STATUSES = frozenset({"NIL", "FINISHED", "FAILED", ""})
_CREATION_SITES = ("(put object)", "(task call)", "(actor call)")
_NO_CALL_SITE = frozenset({"", "disabled", "<unknown>"})
REFERENCE_ORDER = [LOCAL_REFERENCE, BORROWED, USED_BY_PENDING_TASK, CAPTURED_IN_OBJECT,
                   CAPTURED_BY_CLOSURE, PINNED_IN_MEMORY, ACTOR_HANDLE]
_RANK = {name: i for i, name in enumerate(REFERENCE_ORDER)}


class Process(NamedTuple):
    """A process holding references: its label ("driver", a worker id), pid, node."""

    label: str
    pid: Optional[int]
    node_id: Optional[str]


class RayObject:
    """One object of a listing, with the attributes nbray's paging sorts by
    (object_index.SORT_KEYS: size, created_at, last_access, object_id, type_name, state,
    call_site, owner) and what its row shows."""

    __slots__ = ("object_id", "size", "created_at", "last_access", "type_name", "state",
                 "call_site", "owner", "owner_process", "node_id", "nodes", "locations",
                 "holders",
                 "reference_types", "created_by", "task_id", "is_error")

    def __init__(self, object_id: bytes) -> None:
        self.object_id = object_id
        self.size = 0
        self.created_at = 0.0
        self.last_access = 0.0
        self.type_name = ""
        self.state = ""                       # nbray's state code (INLINE, SHM...), "" unknown
        self.call_site = ""                   # "file:line", unlabelled
        self.owner = ""                       # the owner's label (what sort_by="owner" sorts)
        self.owner_process = Process("", None, None)
        self.node_id = ""
        self.nodes: List[str] = []            # the nodes Ray lists for it (node_ids)
        self.locations: List[str] = []        # those with a copy in memory
        self.holders: List[Process] = []
        self.reference_types: List[str] = []
        self.created_by = ""
        self.task_id: Optional[str] = None
        self.is_error = False


class Cluster(NamedTuple):
    """What the listing knows about the processes and tasks behind the rows."""

    kernel: Tuple[str, int]                               # (ip, pid) of this kernel
    node_of_ip: Mapping[str, str]                         # unambiguous ip -> node id
    # (ip, pid) -> (Ray's worker id, its node id): list_workers rows, drivers included
    worker_of: Mapping[Tuple[str, int], Tuple[str, Optional[str]]]
    tasks: Mapping[str, Tuple[str, Optional[str]]]        # task id hex -> (name, node id)
    internal: Tuple[str, ...] = ()                        # path prefixes of Ray's own code


def node_ids_by_ip(nodes: Iterable[Mapping[str, Any]]) -> Dict[str, str]:
    """ip -> node id, for the ips exactly one live node has (list_nodes rows)."""
    seen: Dict[str, List[str]] = defaultdict(list)
    for n in nodes:
        if n.get("state", "ALIVE") == "ALIVE" and n.get("node_ip"):
            seen[n["node_ip"]].append(n["node_id"])
    return {ip: ids[0] for ip, ids in seen.items() if len(ids) == 1}


def short_call_site(site: Optional[str], internal: Tuple[str, ...] = ()) -> str:
    """Ray's recorded call site ("(put object) | path:function:line | ...", frames
    innermost first) as nbray's "path:line" of the first frame outside Ray's own code
    (`internal`: path prefixes of Ray's package); "" when Ray recorded none."""
    if not site or site in _NO_CALL_SITE:
        return ""
    frames = []
    for part in site.split("|"):
        rest, _, line = part.strip().rpartition(":")
        path, _, _function = rest.rpartition(":")
        if path and line.isdigit():
            frames.append((path, line))
    # none outside: the user's frame was past the few Ray records (state_reader then asks
    # the submission record instead); never show Ray's or nbray's own file
    outside = [f for f in frames if not f[0].startswith(internal)] if internal else frames
    path, line = (outside or [("", "")])[0]
    return f"{path}:{line}" if path else ""


def is_put(object_id_hex: str) -> bool:
    index = object_id_hex[TASK_ID_HEX:]
    return len(index) == 8 and int.from_bytes(bytes.fromhex(index), "little") >= PUT_INDEX_BASE


def _owner_row(rows: List[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    for r in rows:
        if (r.get("task_status") or "NIL") != "NIL":
            return r
    for r in rows:
        if str(r.get("call_site") or "").startswith(_CREATION_SITES):
            return r
    return None


def aggregate_objects(rows: Iterable[Mapping[str, Any]], cluster: Cluster,
                      locations: Mapping[str, Mapping[str, Any]]) -> List[RayObject]:
    """One RayObject per object of `list_objects(detail=True)` rows (dicts with
    ObjectState's keys), in Ray's order; `locations`: object id hex -> what
    get_object_locations said (node_ids, object_size, did_spill) for the refs looked up."""
    by_id: Dict[str, List[Mapping[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["object_id"], []).append(r)
    kernel_ip, kernel_pid = cluster.kernel
    processes: Dict[Tuple[str, int], Process] = {}

    def process(ip: str, pid: int) -> Process:
        key = (ip, pid)
        p = processes.get(key)
        if p is None:
            worker, node = cluster.worker_of.get(key, ("", None))
            label = ("driver" if key == (kernel_ip, kernel_pid)
                     else worker or f"pid {pid} at {ip}")
            p = processes[key] = Process(label, pid, node or cluster.node_of_ip.get(ip))
        return p

    out = []
    for oid, group in by_id.items():
        o = RayObject(bytes.fromhex(oid))
        owner = _owner_row(group)
        holders: Dict[Process, None] = {}
        types: Set[str] = set()
        for r in group:
            holders[process(r.get("ip") or "", r.get("pid") or 0)] = None
            types.add(r.get("reference_type") or "")
            o.size = max(o.size, r.get("object_size") or 0)
        o.holders = list(holders)
        if owner is not None:
            o.owner_process = process(owner.get("ip") or "", owner.get("pid") or 0)
            o.owner = o.owner_process.label
            o.call_site = short_call_site(owner.get("call_site"), cluster.internal)
            if any(h != o.owner_process for h in o.holders):
                types.add(BORROWED)
        types.discard("")
        o.reference_types = sorted(types, key=lambda t: (_RANK.get(t, len(_RANK)), t))
        status = (owner.get("task_status") or "NIL") if owner is not None else "NIL"
        o.is_error = status == "FAILED"
        put = is_put(oid)
        task = cluster.tasks.get(oid[:TASK_ID_HEX])
        if put:
            o.created_by = "put"
            o.node_id = o.owner_process.node_id or ""
        else:
            o.task_id = oid[:TASK_ID_HEX]
            if task is not None:
                o.created_by, o.node_id = task[0], task[1] or ""
        if ACTOR_HANDLE in types:
            o.type_name = "actor handle"
        loc = locations.get(oid)
        if loc is not None:
            o.size = o.size or int(loc.get("object_size") or 0)
            o.nodes = list(loc.get("node_ids") or ())
        o.state = _where(status, loc, o.size, put, ACTOR_HANDLE in types)
        o.locations = o.nodes if o.state == SHM else []
        out.append(o)
    return out


def _where(status: str, loc: Optional[Mapping[str, Any]], size: int, put: bool,
           actor: bool) -> str:
    if status not in DONE_STATUSES:
        return PENDING
    if loc is None or actor:
        return ""
    if loc.get("did_spill"):
        return SPILLED
    if loc.get("node_ids"):
        return SHM
    if loc.get("object_size") is None:
        return ""
    return INLINE if not put and size < INLINE_LIMIT else ""


def _matching(objects: List[RayObject], text: str, where: Optional[str],
              ref_type: Optional[str], names: Optional[HolderNames],
              label: Callable[[str], str]) -> List[RayObject]:
    """The objects a filter keeps: the text against "<hex id> <type> <call site> <created
    by> <owner> <labelled call site>" and the names the notebook holds them by."""
    if where is not None:
        state = next(s for s, w in WHERE.items() if w == where)
        objects = [o for o in objects if o.state == state]
    if ref_type is not None:
        objects = [o for o in objects if ref_type in o.reference_types]
    if not text:
        return objects
    text = text.lower()
    named = names.matching(text) if names is not None else set()
    labels: Dict[str, str] = {}

    def hit(o: RayObject) -> bool:
        if o.object_id in named:
            return True
        site = labels.get(o.call_site)
        if site is None:
            site = labels[o.call_site] = label(o.call_site)
        line = " ".join((o.object_id.hex(), o.type_name, o.call_site, o.created_by, o.owner,
                         site)).lower()
        return text in line

    return [o for o in objects if hit(o)]


def object_page(objects: List[RayObject], *, sort_by: str = "size", descending: bool = True,
                filter: str = "", where: Optional[str] = None, ref_type: Optional[str] = None,
                offset: int = 0, limit: Optional[int] = 100,
                names: Optional[HolderNames] = None,
                label: Callable[[str], str] = str) -> Tuple[List[Dict[str, Any]], int]:
    """(rows of one page, number of objects that matched), as nbray's object_rows: the
    same filters, sorts (nbray's own paging: object_index.page, introspection's
    held_by_page) and errors.  `label`: a call site as the notebook names it."""
    check_listing(sort_by, where, offset, limit)
    chosen: List[RayObject] = objects
    if filter or where or ref_type:
        chosen = _matching(objects, filter, where, ref_type, names, label)
    picked: List[RayObject]
    if sort_by == HELD_BY:
        picked = cast(List[RayObject], held_by_page(chosen, names, descending, offset, limit))
    else:
        picked = cast(List[RayObject], page(chosen, sort_by, descending, offset, limit))
    return [object_row(o, names, label) for o in picked], len(chosen)


def object_row(o: RayObject, names: Optional[HolderNames] = None,
               label: Callable[[str], str] = str) -> Dict[str, Any]:
    """nbray's object row (introspection.object_row's keys) for one Ray object."""
    owner = o.owner_process
    return {
        "object_id": o.object_id.hex(),
        "size": o.size,
        "type": o.type_name,
        "owner": {"process": owner.label, "pid": owner.pid, "node_id": owner.node_id},
        "node_id": o.node_id,
        "locations": list(o.locations),
        "where": WHERE.get(o.state, o.state),
        "spill_url": None,
        "reference_types": list(o.reference_types),
        "holders": [{"process": h.label, "pid": h.pid, "refs": None} for h in o.holders],
        "submitted_tasks": 0,
        "contained_in": 0,
        "contains": [],
        "captured": False,
        "mapped_by": [],
        "call_site": label(o.call_site) if o.call_site else "",
        "held_by": names.names(o.object_id) if names is not None else [],
        "created_by": o.created_by,
        "task_id": o.task_id,
        "is_error": o.is_error,
        "created_at": o.created_at,
        "last_access": o.last_access,
    }



__all__ = ["Cluster", "DONE_STATUSES", "INLINE_LIMIT", "PUT_INDEX_BASE", "Process",
           "RayObject", "TASK_ID_HEX", "aggregate_objects", "is_put",
           "node_ids_by_ip", "object_page", "object_row", "short_call_site"]
