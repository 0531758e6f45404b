"""Read-only views of a node's state: one row per object, store and spill statistics.

Everything here returns plain JSON-able dicts, so the memory API, the CLI, the
notebook inspector and the dashboard all read the same thing.  Filtering and
sorting run on the table's entries before rows are built, and a sorted page is
selected (core/object_index.py), not cut from a full sort: a page of 100 rows
out of 1M objects costs one pass over the entries, not a sort of them nor 1M
row dicts.  Store statistics read the table's per-state totals, kept as
objects come and go.
"""

from __future__ import annotations

import operator
import os
from itertools import compress, islice, repeat
from operator import attrgetter
from typing import (AbstractSet, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Set, Tuple)

from .notebook_port import HolderNames, holder_names, label_call_site
from .object_index import SORT_KEYS, page
from ..core.object_table import INLINE, PENDING, SHM, SPILLED, ObjectEntry
from ..ids import task_id_of

# Ray's reference type names, plus two nbray adds (closure capture, zero-copy mapping).
LOCAL_REFERENCE = "LOCAL_REFERENCE"
BORROWED = "BORROWED"
USED_BY_PENDING_TASK = "USED_BY_PENDING_TASK"
CAPTURED_IN_OBJECT = "CAPTURED_IN_OBJECT"
CAPTURED_BY_CLOSURE = "CAPTURED_BY_CLOSURE"
PINNED_IN_MEMORY = "PINNED_IN_MEMORY"
ACTOR_HANDLE = "ACTOR_HANDLE"

# Sorts by the notebook's names for holders (object rows' `held_by`), with a notebook.
HELD_BY = "held_by"
WHERE = {INLINE: "inline", SHM: "shared_memory", SPILLED: "spilled", PENDING: "pending"}
_STATE_OF = {name: state for state, name in WHERE.items()}
_HEX = frozenset("0123456789abcdef")
# object_rows' default `names`: ask the notebook (holder_names()) at the call.
NOTEBOOK_NAMES: Any = object()


# Whether an entry (and whether it is an actor's creation object) has each reference type,
# in the order rows list them.
_REFERENCE_TESTS: Dict[str, Callable[[ObjectEntry, bool], Any]] = {
    LOCAL_REFERENCE: lambda e, actor: e.holders.get(e.owner),
    BORROWED: lambda e, actor: any(h != e.owner for h in e.holders),
    USED_BY_PENDING_TASK: lambda e, actor: e.submitted,
    CAPTURED_IN_OBJECT: lambda e, actor: e.contained_in,
    CAPTURED_BY_CLOSURE: lambda e, actor: e.captured and not actor,
    PINNED_IN_MEMORY: lambda e, actor: e.readers,
    ACTOR_HANDLE: lambda e, actor: actor,
}


def reference_types(entry: ObjectEntry, is_actor: bool = False) -> List[str]:
    return [name for name, test in _REFERENCE_TESTS.items() if test(entry, is_actor)]


def _matching(node: Any, entries: Iterable[ObjectEntry], text: str, where: Optional[str],
              ref_type: Optional[str], names: Optional[HolderNames] = None) -> List[ObjectEntry]:
    """The entries a filter keeps, in table order, cheapest test first.

    The text filter matches against "<hex id> <type> <call site> <created by> <owner>"
    (the call site also as the notebook labels it, "In [3] line 2") and against the names
    the notebook holds the object by (`names`: "keep_me", "objs[3]").
    The four text fields repeat across objects, so a text without a space (which cannot
    span two fields) is tested once per distinct combination of them, and against the id
    only when it could be part of a hex id; the passes over the entries run in C."""
    values = list(entries)
    if where is not None:
        values = list(compress(values, map(_STATE_OF[where].__eq__, map(_STATE, values))))
    if ref_type is not None:
        actors = node.actors.by_creation_object
        test = _REFERENCE_TESTS.get(ref_type)
        values = [] if test is None else [e for e in values if test(e, e.object_id in actors)]
    if not text:
        return values
    text = text.lower()
    named = names.matching(text) if names is not None else set()
    if " " in text:   # may span fields: test the whole line
        return [e for e in values if text in _haystack(e) or e.object_id in named]
    hits: Iterator[bool] = map(_Verdicts(text).__getitem__, map(_FIELDS, values))
    if set(text) <= _HEX:
        in_id = map(str.__contains__, map(bytes.hex, map(_OBJECT_ID, values)), repeat(text))
        hits = map(operator.or_, hits, in_id)
    if named:
        hits = map(operator.or_, hits, map(named.__contains__, map(_OBJECT_ID, values)))
    return list(compress(values, hits))


class _Verdicts(Dict[Tuple[str, ...], bool]):
    """Whether the text is in a combination of text fields, computed at its first lookup."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __missing__(self, fields: Tuple[str, ...]) -> bool:
        line = " ".join(fields + (label_call_site(fields[1]),)).lower()
        hit = self[fields] = self.text in line
        return hit


_STATE = attrgetter("state")
_OBJECT_ID = attrgetter("object_id")
_FIELDS = attrgetter("type_name", "call_site", "created_by", "owner")


def _haystack(e: ObjectEntry) -> str:
    return " ".join((e.object_id.hex(), e.type_name, e.call_site, e.created_by,
                     e.owner, label_call_site(e.call_site))).lower()


def check_listing(sort_by: str, where: Optional[str], offset: int,
                  limit: Optional[int]) -> None:
    """A listing's arguments, checked with messages that name the choices (every backend's
    listing checks the same)."""
    if sort_by not in SORT_KEYS and sort_by != HELD_BY:
        raise ValueError(f"sort_by must be one of {', '.join(SORT_KEYS)} or {HELD_BY}, "
                         f"got {sort_by!r}")
    if where is not None and where not in WHERE.values():
        raise ValueError(f"where must be one of {', '.join(WHERE.values())}, got {where!r}")
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("offset and limit must be >= 0")


def object_rows(node: Any, *, sort_by: str = "size", descending: bool = True,
                filter: str = "", where: Optional[str] = None, ref_type: Optional[str] = None,
                offset: int = 0, limit: Optional[int] = 100,
                driver_counts: Optional[Mapping[bytes, int]] = None,
                ids: Optional[Dict[str, List[bytes]]] = None,
                names: Any = NOTEBOOK_NAMES) -> Tuple[List[Dict[str, Any]], int]:
    """(rows of one page, number of objects that matched). Call with node.lock held.

    With a notebook on this process (NotebookPort.name_holders), rows carry `held_by`
    (the variables holding the object) and call sites name cells ("In [3] line 2").
    `names`: the notebook's names (HolderNames, or None for none), read before taking
    the lock, since reading a namespace that holds many refs takes a while; by default
    (NOTEBOOK_NAMES) the namespace is read here, once per call.

    `ids` stands for the names of a notebook elsewhere (an attached kernel, which names
    the rows itself): "matching", the objects whose names contain the filter text (the
    filter keeps them too), and "named", the objects it names in the order of their
    names (what sort_by="held_by" orders by); it takes the place of `names`."""
    check_listing(sort_by, where, offset, limit)
    entries: Any = node.table.entries.values()
    if ids is not None:
        names = SentNames(ids.get("matching", ()), ids.get("named", ()))
    elif names is NOTEBOOK_NAMES:
        names = holder_names()
    if filter or where or ref_type:
        entries = _matching(node, entries, filter, where, ref_type, names)
    if sort_by == HELD_BY:
        chosen = _held_by_page(entries, names, descending, offset, limit)
    else:
        chosen = page(entries, sort_by, descending, offset, limit)
    pids = _holder_pids(node)
    return [object_row(node, e, pids, driver_counts, names) for e in chosen], len(entries)


class SentNames:
    """`HolderNames` of a notebook in another process, as ids it sent with a listing: the
    rows get no names here (that notebook adds them), but filters and sorts by its names
    work the same."""

    def __init__(self, matching: Iterable[bytes], named: Iterable[bytes]) -> None:
        self._matching = set(matching)
        self._order = {oid: i for i, oid in enumerate(named)}

    def names(self, object_id: bytes) -> List[str]:
        return []

    def matching(self, text: str) -> Set[bytes]:
        return self._matching

    def named(self) -> AbstractSet[bytes]:
        return self._order.keys()

    def sort_key(self, object_id: bytes) -> Any:
        return self._order[object_id]


def _held_by_page(entries: Any, names: Optional[HolderNames], descending: bool, offset: int,
                  limit: Optional[int]) -> List[ObjectEntry]:
    """A page in the order of the notebook names holding the objects (A to Z, or Z to A
    when descending), then the objects no name holds, in table order.  Costs a pass over
    the entries in C and a sort of the named ones only."""
    values = list(entries)
    end = len(values) if limit is None else offset + limit
    if names is None:
        return values[offset:end]
    held = names.named()
    in_names = list(map(held.__contains__, map(_OBJECT_ID, values)))
    named = sorted(compress(values, in_names), key=lambda e: names.sort_key(e.object_id),
                   reverse=descending)
    if end <= len(named):
        return named[offset:end]
    rest = compress(values, map(operator.not_, in_names))
    skip = max(0, offset - len(named))
    return named[offset:] + list(islice(rest, skip, skip + end - max(offset, len(named))))


# The Ray backend's listing (nbray/ray_backend/state.py) pages its objects the same way.
held_by_page = _held_by_page


def _holder_pids(node: Any) -> Dict[str, int]:
    pids = {w.worker_id: w.pid for w in node.workers.values()}
    pids["driver"] = os.getpid()
    return pids


def object_row(node: Any, e: ObjectEntry, pids: Dict[str, int],
               driver_counts: Optional[Mapping[bytes, int]] = None,
               names: Optional[HolderNames] = None) -> Dict[str, Any]:
    is_actor = e.object_id in node.actors.by_creation_object
    holders = []
    for h, n in sorted(e.holders.items()):
        count = driver_counts.get(e.object_id, n) if (h == "driver" and driver_counts) else n
        holders.append({"process": h, "pid": pids.get(h), "refs": count})
    return {
        "object_id": e.object_id.hex(),
        "size": e.size,
        "type": e.type_name or ("actor handle" if is_actor else ""),
        "owner": {"process": e.owner, "pid": pids.get(e.owner), "node_id": e.node_id},
        "node_id": e.node_id,
        "locations": ([node.node_id] if e.state == INLINE or e.offset >= 0 else []) + list(e.copies),
        "where": WHERE.get(e.state, e.state),
        "spill_url": e.spill_url,
        "reference_types": reference_types(e, is_actor),
        "holders": holders,
        "submitted_tasks": e.submitted,
        "contained_in": e.contained_in,
        "contains": [c.hex() for c in e.contains],
        "captured": e.captured,
        "mapped_by": [{"process": r, "pid": pids.get(r), "views": n} for r, n in e.readers.items()],
        "call_site": label_call_site(e.call_site),
        "held_by": names.names(e.object_id) if names is not None else [],
        "created_by": e.created_by,
        "task_id": None if e.created_by == "put" else task_id_of(e.object_id).hex(),
        "is_error": e.is_error,
        "created_at": e.created_at,
        "last_access": e.last_access,
    }


def all_node_stats(node: Any) -> List[Dict[str, Any]]:
    """node_stats of the head plus a row per other live node (from its heartbeats).

    O(nodes): object counts come from the table's kept per-node counts, spill figures
    from each node's reports."""
    rows = [node_stats(node)]
    table = node.table
    if len(node.cluster_nodes) > 1:  # the head's own copies, as other rows count theirs
        rows[0]["objects"] = table.local_objects()
        rows[0]["spilled_objects"], rows[0]["spilled_bytes"] = head_spilled(node)
    for nid, info in node.cluster_nodes.items():
        if info.is_head:
            continue
        copies, copy_bytes = table.node_totals(nid)
        rows.append({
            "node_id": nid, "alive": info.alive, "hostname": info.hostname,
            "is_head": False, "is_driver": info.is_driver,  # an attached driver's own store
            "store_capacity": info.store_capacity, "store_used": info.store_used,
            "store_largest_free": None, "objects": copies,
            "objects_pending": 0, "inline_objects": 0, "inline_bytes": 0,
            "shm_objects": copies, "shm_bytes": copy_bytes,
            "spilled_objects": info.spilled_objects, "spilled_bytes": info.spilled_bytes,
            "freed_but_mapped": 0, "spill_url": None, "spilled_objects_total": 0,
            "spilled_bytes_total": 0, "spill_throughput_bytes_per_s": None,
            "restored_objects_total": 0, "restored_bytes_total": 0,
            "restore_throughput_bytes_per_s": None,
            "workers": sum(1 for w in node.workers.values()
                           if w.node_id == nid and w.state != "driver"),
            "actors": sum(1 for a in node.actors.actors.values()
                          if a.state != "DEAD" and a.worker is not None and a.worker.node_id == nid),
        })
    return rows


def head_spilled(node: Any) -> Tuple[int, int]:
    """(objects, bytes) spilled on the head's own spill target.  The head's table knows
    every spilled object of the cluster; those on other nodes' spill targets are in their
    rows (from their reports), so they are taken out of the head's."""
    counts, sizes = node.table.totals()
    objects, nbytes = counts[SPILLED], sizes[SPILLED]
    for info in node.cluster_nodes.values():
        if info.alive and not info.is_head:
            objects -= info.spilled_objects
            nbytes -= info.spilled_bytes
    return max(0, objects), max(0, nbytes)


def node_stats(node: Any) -> Dict[str, Any]:
    """Store usage and spill counters of one node. Call with node.lock held."""
    counts, sizes = node.table.totals()
    st = node.stats
    spill_s = st.get("spill_ns", 0) / 1e9
    restore_s = st.get("restore_ns", 0) / 1e9
    return {
        "node_id": node.node_id, "alive": True, "hostname": os.uname().nodename,
        "is_head": True, "is_driver": False,
        "store_capacity": node.allocator.capacity,
        "store_used": node.allocator.used,
        "store_largest_free": node.allocator.largest_free(),
        "objects": len(node.table.entries),
        "objects_pending": counts[PENDING],
        "inline_objects": counts[INLINE], "inline_bytes": sizes[INLINE],
        "shm_objects": counts[SHM], "shm_bytes": sizes[SHM],
        "spilled_objects": counts[SPILLED], "spilled_bytes": sizes[SPILLED],
        "freed_but_mapped": len(node.table.zombies),
        "spill_url": node.spill.url,
        "spilled_objects_total": st.get("spilled_objects", 0),
        "spilled_bytes_total": st.get("spilled_bytes", 0),
        "spill_throughput_bytes_per_s": st.get("spilled_bytes", 0) / spill_s if spill_s else None,
        "restored_objects_total": st.get("restored_objects", 0),
        "restored_bytes_total": st.get("restored_bytes", 0),
        "restore_throughput_bytes_per_s": st.get("restored_bytes", 0) / restore_s if restore_s else None,
        # its own task workers: node.workers also holds other nodes' workers and drivers
        "workers": sum(1 for w in node.workers.values()
                       if w.node_id == node.node_id and w.state != "driver"),
        "actors": sum(1 for a in node.actors.actors.values() if a.state != "DEAD"),
    }
