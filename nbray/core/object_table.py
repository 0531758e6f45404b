"""The node's table of objects: state, where the bytes live, and who keeps each alive.

Pure bookkeeping, no I/O.  An object stays alive while any of these holds:
  holders    processes that have a live ObjectRef to it (the driver, workers)
  submitted  pending tasks that take it as an argument (top level or nested)
  contained  stored objects whose value contains a ref to it (nested refs)
  captured   a remote function closes over it (pinned while the job lives)
When none does, the table forgets it and reports it freed; the caller returns
its memory once no reader still maps it (`readers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

# where the bytes are
INLINE, SHM, PENDING, SPILLED = "inline", "shm", "pending", "spilled"


@dataclass(eq=False)
class ObjectEntry:
    object_id: bytes
    state: str = PENDING              # PENDING until the value exists
    inline: Optional[bytes] = None    # pickled value (small objects)
    offset: int = -1                  # arena block (SHM)
    size: int = 0                     # bytes of the serialized value
    block: int = 0                    # bytes reserved in the arena
    is_error: bool = False            # the value is an exception to raise on get
    spill_url: Optional[str] = None   # copy on the spill target (kept while the object lives)
    copies: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # node id -> (offset, block)
    owner: str = "driver"
    node_id: str = ""
    holders: Dict[str, int] = field(default_factory=dict)
    submitted: int = 0
    contained_in: int = 0
    contains: Tuple[bytes, ...] = ()
    captured: bool = False
    readers: Dict[str, int] = field(default_factory=dict)
    waiters: List[Callable[["ObjectEntry"], None]] = field(default_factory=list)
    created_by: str = ""              # task name or "put"
    call_site: str = ""
    type_name: str = ""
    created_at: float = 0.0
    last_access: float = 0.0

    def is_referenced(self) -> bool:
        return bool(self.holders or self.submitted or self.contained_in or self.captured)


@dataclass
class FreedBlock:
    object_id: bytes
    offset: int
    block: int


def footprint(entry: ObjectEntry) -> int:
    """The bytes an entry counts for in store statistics: its arena block where it has one
    (here or on the spill target), else the size of its value."""
    return entry.block if entry.state in BLOCK_STATES else entry.size


BLOCK_STATES = frozenset((SHM, SPILLED))   # states whose footprint is the block


class ObjectTable:
    def __init__(self) -> None:
        self.entries: Dict[bytes, ObjectEntry] = {}
        # Ids of the entries whose value does not exist yet: wait() splits a long list into
        # ready and not ready with set operations in C instead of a Python loop per id.
        self.pending: Set[bytes] = set()
        # Freed objects whose arena block is still mapped by a reader.
        self.zombies: Dict[bytes, ObjectEntry] = {}
        # Objects and their bytes (`footprint`) per state, kept up to date as entries come,
        # change (`moved`) and go, so that store statistics (`totals`) need no pass over a
        # million entries.  Pending objects are not counted: `pending` holds their ids
        # already; the bytes of all four states are kept.  Inlined where it runs on every put and free.
        self.ready_counts: Dict[str, int] = {INLINE: 0, SHM: 0, SPILLED: 0}
        self.state_bytes: Dict[str, int] = {INLINE: 0, SHM: 0, PENDING: 0, SPILLED: 0}
        # Where copies are, kept the same way, so that per-node statistics need no pass
        # over the entries either: entries with an arena block on this node (offset >= 0),
        # and per other node, its copies (`entry.copies`) and their blocks' bytes.  Only
        # entries in the table count: one leaving takes its block and copies with it.
        self.local_blocks = 0
        self.copy_counts: Dict[str, int] = {}
        self.copy_bytes: Dict[str, int] = {}

    # -- per-state totals ----------------------------------------------------------
    def totals(self) -> Tuple[Dict[str, int], Dict[str, int]]:
        """(objects, bytes) per state, from the kept totals."""
        counts = dict(self.ready_counts)
        counts[PENDING] = len(self.pending)
        return counts, dict(self.state_bytes)

    def moved(self, entry: ObjectEntry, state: str, bytes_before: int) -> None:
        """The entry changed from `state`, where it counted `bytes_before` bytes: move it
        in the totals (if it is in the table; a freed entry counts nowhere)."""
        if self.entries.get(entry.object_id) is entry:
            now = entry.state
            counts, sizes = self.ready_counts, self.state_bytes
            if state != PENDING:
                counts[state] -= 1
            if now != PENDING:
                counts[now] += 1
            sizes[state] -= bytes_before
            sizes[now] += entry.block if now in BLOCK_STATES else entry.size

    def _left(self, entry: ObjectEntry) -> None:
        """An entry left the table: take it out of the totals."""
        state = entry.state
        if state != PENDING:
            self.ready_counts[state] -= 1
        self.state_bytes[state] -= entry.block if state in BLOCK_STATES else entry.size
        if entry.offset >= 0:
            self.local_blocks -= 1
        if entry.copies:
            self._copies_left(entry)

    # -- where copies are ------------------------------------------------------------
    def relocated(self, entry: ObjectEntry, was_local: bool) -> None:
        """The entry's arena block here came or went (`was_local`: it had one before)."""
        if (entry.offset >= 0) != was_local and self.entries.get(entry.object_id) is entry:
            self.local_blocks += -1 if was_local else 1

    def add_copy(self, entry: ObjectEntry, node_id: str, offset: int, block: int) -> None:
        """Node `node_id` holds a copy of the entry in the block (offset, block) of its arena."""
        if node_id in entry.copies:
            self.drop_copy(entry, node_id)
        entry.copies[node_id] = (offset, block)
        if self.entries.get(entry.object_id) is entry:
            self.copy_counts[node_id] = self.copy_counts.get(node_id, 0) + 1
            self.copy_bytes[node_id] = self.copy_bytes.get(node_id, 0) + block

    def drop_copy(self, entry: ObjectEntry, node_id: str) -> Tuple[int, int]:
        """Node `node_id` no longer holds its copy: (offset, block) it had."""
        offset, block = entry.copies.pop(node_id)
        if self.entries.get(entry.object_id) is entry:
            self._uncount_copy(node_id, block)
        return offset, block

    def _uncount_copy(self, node_id: str, block: int) -> None:
        n = self.copy_counts[node_id] - 1
        if n:
            self.copy_counts[node_id] = n
            self.copy_bytes[node_id] -= block
        else:   # a node without copies leaves no key behind (nodes come and go)
            del self.copy_counts[node_id], self.copy_bytes[node_id]

    def _copies_left(self, entry: ObjectEntry) -> None:
        for node_id, (_offset, block) in entry.copies.items():
            self._uncount_copy(node_id, block)

    def node_totals(self, node_id: str) -> Tuple[int, int]:
        """(copies, bytes of their blocks) node `node_id` holds, from the kept counts."""
        return self.copy_counts.get(node_id, 0), self.copy_bytes.get(node_id, 0)

    def local_objects(self) -> int:
        """Objects with a copy on this node: inline, or in a block of its arena."""
        return self.ready_counts[INLINE] + self.local_blocks

    def recount_copies(self) -> Tuple[int, Dict[str, int], Dict[str, int]]:
        """(local blocks, copies per node, bytes per node) from a full pass: what the kept
        counts must equal."""
        local, counts, sizes = 0, {}, {}   # type: int, Dict[str, int], Dict[str, int]
        for e in self.entries.values():
            local += e.offset >= 0
            for node_id, (_offset, block) in e.copies.items():
                counts[node_id] = counts.get(node_id, 0) + 1
                sizes[node_id] = sizes.get(node_id, 0) + block
        return local, counts, sizes

    def recount(self) -> Tuple[Dict[str, int], Dict[str, int]]:
        """(counts, bytes) per state from a full pass: what the kept totals must equal."""
        counts = {INLINE: 0, SHM: 0, PENDING: 0, SPILLED: 0}
        sizes = {INLINE: 0, SHM: 0, PENDING: 0, SPILLED: 0}
        for e in self.entries.values():
            counts[e.state] += 1
            sizes[e.state] += footprint(e)
        return counts, sizes

    def forget(self, object_id: bytes) -> Optional[ObjectEntry]:
        """Drop an entry without freeing anything (its value was never stored)."""
        entry = self.entries.pop(object_id, None)
        self.pending.discard(object_id)
        if entry is not None:
            self._left(entry)
        return entry

    # -- creation ----------------------------------------------------------------
    def create(self, object_id: bytes, owner: str, holder: Optional[str] = None,
               **attrs: Any) -> ObjectEntry:
        entry = self.entries.get(object_id)
        if entry is None:
            entry = ObjectEntry(object_id, owner=owner, **attrs)
            self.entries[object_id] = entry
            if entry.state == PENDING:
                self.pending.add(object_id)
            if entry.state != PENDING or entry.size:   # a new pending entry changes no total
                self.moved(entry, PENDING, 0)
        if holder is not None:
            entry.holders[holder] = entry.holders.get(holder, 0) + 1
        return entry

    def seal(self, entry: ObjectEntry, contains: Tuple[bytes, ...] = ()) -> None:
        """The value exists; count the refs inside it as alive."""
        entry.contains = tuple(contains)
        for inner in entry.contains:
            e = self.entries.get(inner)
            if e is not None:
                e.contained_in += 1

    # -- references --------------------------------------------------------------
    def add_holder(self, object_id: bytes, holder: str) -> bool:
        entry = self.entries.get(object_id)
        if entry is None:
            return False
        entry.holders[holder] = entry.holders.get(holder, 0) + 1
        return True

    def remove_holder(self, object_id: bytes, holder: str, freed: List[ObjectEntry]) -> None:
        entry = self.entries.get(object_id)
        if entry is None:
            return
        n = entry.holders.get(holder, 0) - 1
        if n > 0:
            entry.holders[holder] = n
        else:
            entry.holders.pop(holder, None)
        self._maybe_free(entry, freed)

    def drop_holder_everywhere(self, holder: str, freed: List[ObjectEntry]) -> None:
        """A process died: everything it held or was reading is released."""
        for entry in list(self.entries.values()):
            if holder in entry.readers:
                del entry.readers[holder]
            if holder in entry.holders:
                del entry.holders[holder]
                self._maybe_free(entry, freed)
        for oid, entry in list(self.zombies.items()):
            if entry.readers.pop(holder, None) is not None and not entry.readers:
                freed.append(self.zombies.pop(oid))

    def add_submitted(self, object_ids: Iterable[bytes], delta: int, freed: List[ObjectEntry]) -> None:
        for oid in object_ids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.submitted += delta
                if delta < 0:
                    self._maybe_free(entry, freed)

    def capture(self, object_ids: Iterable[bytes]) -> None:
        for oid in object_ids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.captured = True

    def _maybe_free(self, entry: ObjectEntry, freed: List[ObjectEntry]) -> None:
        stack = [entry]
        while stack:
            e = stack.pop()
            if e.is_referenced() or self.entries.get(e.object_id) is not e:
                continue
            del self.entries[e.object_id]
            self.pending.discard(e.object_id)
            state = e.state   # self._left(e), inlined: this runs on every free
            if state != PENDING:
                self.ready_counts[state] -= 1
            self.state_bytes[state] -= e.block if state in BLOCK_STATES else e.size
            if e.offset >= 0:
                self.local_blocks -= 1
            if e.copies:
                self._copies_left(e)
            for inner in e.contains:
                ie = self.entries.get(inner)
                if ie is not None:
                    ie.contained_in -= 1
                    stack.append(ie)
            if e.readers:
                self.zombies[e.object_id] = e   # memory returned when the last reader lets go
            else:
                freed.append(e)

    # -- readers of arena memory ---------------------------------------------------
    def add_reader(self, entry: ObjectEntry, reader: str) -> None:
        entry.readers[reader] = entry.readers.get(reader, 0) + 1

    def remove_reader(self, object_id: bytes, reader: str, freed: List[ObjectEntry]) -> None:
        entry = self.entries.get(object_id) or self.zombies.get(object_id)
        if entry is None:
            return
        n = entry.readers.get(reader, 0) - 1
        if n > 0:
            entry.readers[reader] = n
            return
        entry.readers.pop(reader, None)
        if not entry.readers and self.zombies.get(object_id) is entry:
            del self.zombies[object_id]
            freed.append(entry)

    def counts(self, object_id: bytes) -> Optional[Dict[str, object]]:
        entry = self.entries.get(object_id)
        if entry is None:
            return None
        return {"holders": dict(entry.holders), "submitted": entry.submitted,
                "contained_in": entry.contained_in, "captured": entry.captured,
                "readers": dict(entry.readers), "state": entry.state}


__all__ = ["ObjectTable", "ObjectEntry", "FreedBlock", "footprint", "BLOCK_STATES", "INLINE", "SHM",
           "PENDING", "SPILLED"]
