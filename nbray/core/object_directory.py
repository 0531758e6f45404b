"""The object directory: every state change of the node's objects, as events in, instructions out.

Pure: no sockets, threads, locks, clocks or memory.  The runtime shell
(`runtime/node_objects.py`) feeds it what happened (a value was stored, a task
returned results, a ref was dropped, a reader let go) and performs what it
answers: free an arena block, delete a spilled copy, release remote copies,
drop lineage, tell the actor manager a creation object is gone, wake waiters.

States of an object (`ObjectEntry.state`, kept by `object_table.py`)::

    PENDING --put / task result--> INLINE        pickled bytes in the table
                                   SHM           an arena block here (offset >= 0),
                                                 or copies on other nodes (offset -1)
                                   SPILLED       only on the spill target
    SHM --spilled()--> SPILLED --restored() / copy_arrived()--> SHM   (node_store, remote_nodes)
    a ready state whose copies were all lost --lost()--> PENDING       (lineage: rebuilt or failed)
    any --last reference gone--> freed (forgotten; memory returned once no reader maps it)

An error object is ready like any other, with `is_error` set.  The two records that
cross the wire about objects are defined here once: `TaskResult` (what a worker sends
for each return value) and `Descriptor` (where a ready value is, for a reader).
"""

from __future__ import annotations

import itertools

from typing import (Any, Callable, Collection, Iterable, List, Literal, NamedTuple, Optional,
                    Sequence, Set, Tuple, Union)

from ..exceptions import ObjectLostError
from .object_table import (BLOCK_STATES, INLINE, PENDING, SHM, SPILLED, ObjectEntry, ObjectTable,
                           footprint)

# Kinds of a TaskResult's payload and of a Descriptor: where the value's bytes are.  Their
# one definition: transport/messages.py re-exports them for the records that carry them.
ValueKind = Literal["i", "s", "f"]
KIND_INLINE: ValueKind = "i"   # (meta, buffers): pickled bytes, small enough to travel in messages
KIND_ARENA: ValueKind = "s"    # result: (offset, block) of an arena block; descriptor: offset
KIND_FILE: ValueKind = "f"     # (url, block) on the spill target (larger than the whole store)

Waiter = Callable[[ObjectEntry], None]


InlineValue = Tuple[bytes, Tuple[bytes, ...]]   # (metadata pickle, out-of-band buffers)
ArenaBlock = Tuple[int, int]                    # (offset, block size) in an arena
SpillFile = Tuple[str, int]                     # (url, block size) on the spill target


class TaskResult(NamedTuple):
    """One return value of a task (or one item a generator task yielded), as its worker
    stored it ("done", "yield"): `payload` is an InlineValue (KIND_INLINE), an ArenaBlock
    (KIND_ARENA) or a SpillFile (KIND_FILE).

    It travels as a plain 7-tuple in this order (`ResultTuple`): a NamedTuple pickles by
    class, which costs microseconds per message; it unpacks the same either way."""

    oid: bytes
    kind: ValueKind
    payload: Any              # InlineValue | ArenaBlock | SpillFile
    size: int                 # bytes of the serialized value (what memory reports show)
    contains: Sequence[bytes]  # refs nested in the value (kept alive while it lives)
    is_error: bool            # the value is an exception, raised by get()
    type_name: str            # for the memory inspector


class Descriptor(NamedTuple):
    """Where a ready value is, so that the process it is sent to can read it: `where` is an
    InlineValue (KIND_INLINE), an arena offset (KIND_ARENA; the receiver was registered as a
    reader and unpins it when done) or a SpillFile (KIND_FILE).

    It travels as a plain 3-tuple (`DescriptorTuple`), for the reason TaskResult does:
    descriptors ride in every "exec" and "get" reply."""

    kind: ValueKind
    where: Any                # InlineValue | int | SpillFile
    is_error: bool


# What travels: a TaskResult or Descriptor fits these, and so does a plain tuple of its fields.
ResultTuple = Tuple[bytes, str, Any, int, Sequence[bytes], bool, str]
DescriptorTuple = Tuple[str, Any, bool]


# -- instructions (performed by the shell, in order) ---------------------------------
class Wake(NamedTuple):
    """Call every waiter with the entry: it is ready."""
    entry: ObjectEntry
    waiters: List[Waiter]


class FreeBlock(NamedTuple):
    """Return an arena block of this node to the allocator."""
    offset: int
    block: int


class FreeRemoteBlock(NamedTuple):
    """Ask node `node_id` to free a block of its arena (a result nobody wants)."""
    node_id: str
    offset: int
    block: int


class DeleteSpilled(NamedTuple):
    """Delete the copy at `url` on the spill target."""
    url: str


class ReleaseCopies(NamedTuple):
    """Free the entry's copies in other nodes' memory (`entry.copies`)."""
    entry: ObjectEntry


class DropLineage(NamedTuple):
    """The object is gone: the task that made it need not be kept for a rebuild."""
    object_id: bytes


class ActorObjectFreed(NamedTuple):
    """An actor's creation object was freed: its last handle is gone."""
    entry: ObjectEntry


Instruction = Union[Wake, FreeBlock, FreeRemoteBlock, DeleteSpilled, ReleaseCopies,
                    DropLineage, ActorObjectFreed]
NOTHING: Tuple[Instruction, ...] = ()


# -- state changes outside creation ---------------------------------------------------
# make_ready() moves PENDING to a ready state.  The other changes (spilling, restoring, a copy
# pulled back, a lost copy) are made by the store and the remote-node shells through these
# functions, so every change is one this table allows.
TRANSITIONS = frozenset({
    (PENDING, INLINE), (PENDING, SHM), (PENDING, SPILLED),   # make_ready
    (SHM, SPILLED),                                          # spilled
    (SPILLED, SHM),                                          # restored / copy_arrived
    (SHM, PENDING), (SPILLED, PENDING), (INLINE, PENDING),   # lost (then rebuilt or failed)
})


def _move(table: ObjectTable, entry: ObjectEntry, sources: Tuple[str, ...], to: str) -> None:
    """Change the entry's state to `to`, if it is in one of `sources` (pairs of TRANSITIONS)."""
    if entry.state not in sources:
        raise ValueError(f"object {entry.object_id.hex()}: no transition from "
                         f"{entry.state!r} to {to!r} here (allowed from {', '.join(sources)})")
    state, before = entry.state, footprint(entry)
    entry.state = to
    table.moved(entry, state, before)


def spilled(table: ObjectTable, entry: ObjectEntry, url: str) -> None:
    """The arena copy was written to `url` and its block given back."""
    _move(table, entry, (SHM,), SPILLED)
    was_local = entry.offset >= 0
    entry.spill_url, entry.offset = url, -1
    table.relocated(entry, was_local)


def restored(table: ObjectTable, entry: ObjectEntry, offset: int) -> None:
    """A spilled object was read back into the arena block at `offset`."""
    _move(table, entry, (SPILLED,), SHM)
    _set_offset(table, entry, offset)


def _set_offset(table: ObjectTable, entry: ObjectEntry, offset: int) -> None:
    was_local = entry.offset >= 0
    entry.offset = offset
    table.relocated(entry, was_local)


def copy_arrived(table: ObjectTable, entry: ObjectEntry, offset: int) -> None:
    """A copy of the object was pulled into this node's arena at `offset` (a spilled
    object has one again; an object held elsewhere has one here too)."""
    if entry.state != SHM:
        _move(table, entry, (SPILLED,), SHM)
    _set_offset(table, entry, offset)


_LOSABLE = (SHM, SPILLED, INLINE)


def lost(table: ObjectTable, entry: ObjectEntry) -> None:
    """Every copy of a ready object is gone: pending again, until its task runs again or
    an error takes its place."""
    if entry.state != PENDING:
        _move(table, entry, _LOSABLE, PENDING)
        table.pending.add(entry.object_id)


class ObjectDirectory:
    """The node's objects: creation, readiness, references, readers and frees."""

    def __init__(self, node_id: str, table: Optional[ObjectTable] = None) -> None:
        self.node_id = node_id
        self.table = table if table is not None else ObjectTable()
        self.entries = self.table.entries
        self.pending = self.table.pending
        # Called with every entry that becomes ready, while a wait() over many objects runs
        # (one listener instead of a waiter on each of its entries).
        self.ready_listeners: List[Waiter] = []

    # -- creation and readiness ----------------------------------------------------
    def create(self, object_id: bytes, owner: str, holder: Optional[str] = None,
               **attrs: Any) -> ObjectEntry:
        """A pending object (or one more holder of an existing one)."""
        return self.table.create(object_id, owner, holder, **attrs)

    def make_ready(self, entry: ObjectEntry, *, inline: Any = None,
                   shm: Optional[Tuple[int, int]] = None, size: int = 0,
                   contains: Iterable[bytes] = (), is_error: bool = False,
                   spilled: Optional[Tuple[str, int]] = None,
                   remote: Optional[Tuple[str, Tuple[int, int]]] = None,
                   now: float = 0.0) -> List[Waiter]:
        """The value exists (exactly one of inline / shm / spilled / remote says where).

        Returns the waiters to wake (each called with the entry), taken off the entry."""
        state = entry.state   # PENDING, or a lost object's state being replaced
        before = entry.block if state in BLOCK_STATES else entry.size
        table = self.table
        gained = False   # an arena block here, counted in table.local_blocks
        if inline is not None:
            entry.state, entry.inline = INLINE, inline
        elif remote is not None:
            entry.state = SHM
            table.add_copy(entry, remote[0], *remote[1])
            entry.block = remote[1][1]
        elif spilled is not None:
            entry.state = SPILLED
            entry.spill_url, entry.block = spilled
        else:
            assert shm is not None, "make_ready needs where the value is"
            entry.state = SHM
            gained = entry.offset < 0   # else placed() counted its block already
            entry.offset, entry.block = shm
        entry.size = size
        entry.is_error = is_error
        entry.created_at = entry.last_access = now
        if self.entries.get(entry.object_id) is entry:
            # table.moved(entry, state, before), inlined: this runs on every put and result
            counts, sizes = table.ready_counts, table.state_bytes
            if state != PENDING:
                counts[state] -= 1
            if before:
                sizes[state] -= before
            state = entry.state
            counts[state] += 1
            sizes[state] += entry.block if state in BLOCK_STATES else size
            if gained:
                table.local_blocks += 1
        table.seal(entry, tuple(contains))
        self.pending.discard(entry.object_id)
        waiters = entry.waiters
        if waiters:
            entry.waiters = []
        if self.ready_listeners:
            return waiters + self.ready_listeners
        return waiters

    def placed(self, entry: ObjectEntry, offset: int, block: int) -> None:
        """An arena block was reserved for the entry (being written, still pending)."""
        state, before, was_local = entry.state, footprint(entry), entry.offset >= 0
        entry.offset, entry.block = offset, block
        self.table.moved(entry, state, before)
        self.table.relocated(entry, was_local)

    def abandon(self, object_id: bytes, offset: int, block: int) -> Sequence[Instruction]:
        """Writing the value into the block reserved for it failed: forget the entry and
        give the block back."""
        entry = self.table.forget(object_id)
        if entry is not None:
            entry.offset = -1
        return (FreeBlock(offset, block),)

    def store_result(self, result: ResultTuple, from_node: str, now: float
                     ) -> Sequence[Instruction]:
        """A task's return value arrived from a worker of node `from_node` ("" = here)."""
        oid, kind, payload, size, contains, is_error, type_name = result
        entry = self.entries.get(oid)
        if entry is None or entry.state != PENDING:
            # Nobody holds a ref any more (or it is stored already): drop the value at once.
            return self.result_blocks(result, from_node)
        entry.type_name = type_name
        if kind == KIND_INLINE:
            waiters = self.make_ready(entry, inline=payload, size=size, contains=contains,
                                      is_error=is_error, now=now)
        elif kind == KIND_ARENA and from_node and from_node != self.node_id:
            waiters = self.make_ready(entry, remote=(from_node, payload), size=size,
                                      contains=contains, is_error=is_error, now=now)
        elif kind == KIND_FILE:
            waiters = self.make_ready(entry, spilled=payload, size=size, contains=contains,
                                      is_error=is_error, now=now)
        else:
            waiters = self.make_ready(entry, shm=payload, size=size, contains=contains,
                                      is_error=is_error, now=now)
        return (Wake(entry, waiters),) if waiters else NOTHING

    def result_blocks(self, result: ResultTuple, from_node: str = "") -> Sequence[Instruction]:
        """What to free of a result that will not be stored (a retried run, a dropped item)."""
        kind, payload = result[1], result[2]
        if kind == KIND_ARENA:
            if from_node and from_node != self.node_id:
                return (FreeRemoteBlock(from_node, payload[0], payload[1]),)
            return (FreeBlock(payload[0], payload[1]),)
        if kind == KIND_FILE:
            return (DeleteSpilled(payload[0]),)
        return NOTHING

    # -- references -----------------------------------------------------------------
    def add_holder(self, object_id: bytes, holder: str) -> bool:
        return self.table.add_holder(object_id, holder)

    def remove_holder(self, object_id: bytes, holder: str, freed: List[ObjectEntry]) -> None:
        self.table.remove_holder(object_id, holder, freed)

    def remove_reader(self, object_id: bytes, reader: str, freed: List[ObjectEntry]) -> None:
        self.table.remove_reader(object_id, reader, freed)

    def update_holders(self, holder: str, adds: Iterable[bytes], removes: Iterable[bytes]
                       ) -> List[ObjectEntry]:
        """A process took and dropped refs; the entries that are now freed."""
        freed: List[ObjectEntry] = []
        table = self.table
        for oid in adds:
            table.add_holder(oid, holder)
        for oid in removes:
            table.remove_holder(oid, holder, freed)
        return freed

    def remove_readers(self, reader: str, object_ids: Iterable[bytes]) -> List[ObjectEntry]:
        """A process stopped reading these arena blocks; the entries now freed."""
        freed: List[ObjectEntry] = []
        for oid in object_ids:
            self.table.remove_reader(oid, reader, freed)
        return freed

    def holder_gone(self, holder: str) -> List[ObjectEntry]:
        """A process died: its holds and reads end; the entries now freed."""
        freed: List[ObjectEntry] = []
        self.table.drop_holder_everywhere(holder, freed)
        return freed

    def free(self, freed: Iterable[ObjectEntry], actor_objects: Collection[bytes],
             lineage: bool) -> List[Instruction]:
        """Entries the table forgot: what to give back for each.

        `actor_objects`: creation objects of live actors; `lineage`: whether any task is
        kept for rebuilding objects (then every freed id may let one go)."""
        out: List[Instruction] = []
        for entry in freed:
            if entry.object_id in actor_objects:
                out.append(ActorObjectFreed(entry))
            if entry.state == SHM and entry.offset >= 0:
                out.append(FreeBlock(entry.offset, entry.block))
                entry.offset = -1
            if entry.spill_url is not None:
                out.append(DeleteSpilled(entry.spill_url))
                entry.spill_url = None
            if entry.copies:
                out.append(ReleaseCopies(entry))
            if lineage:
                out.append(DropLineage(entry.object_id))
            entry.inline = None
        return out

    # -- readers ----------------------------------------------------------------------
    def descriptor(self, entry: ObjectEntry, reader: str, now: float) -> DescriptorTuple:
        """Where a ready value is for `reader` on this node; an arena block gets `reader`
        registered, so its memory is not reused while mapped.  A spilled entry the shell
        could not restore into the arena is read from the spill target."""
        entry.last_access = now
        if entry.state == INLINE:
            return (KIND_INLINE, entry.inline, entry.is_error)
        if entry.state == SPILLED:
            return (KIND_FILE, (entry.spill_url, entry.block), entry.is_error)
        self.table.add_reader(entry, reader)
        return (KIND_ARENA, entry.offset, entry.is_error)

    def copy_descriptor(self, entry: ObjectEntry, node_id: str, reader: str) -> DescriptorTuple:
        """Where a ready value is for `reader` on node `node_id` (a copy must be there)."""
        if entry.state == INLINE:
            return (KIND_INLINE, entry.inline, entry.is_error)
        offset, _block = entry.copies[node_id]
        self.table.add_reader(entry, reader)
        return (KIND_ARENA, offset, entry.is_error)

    # -- questions ----------------------------------------------------------------------
    def pending_of(self, object_ids: Iterable[bytes]) -> List[ObjectEntry]:
        """The entries still pending, once each, in input order.

        Raises ObjectLostError for an id the directory does not know (freed, or never made)."""
        missing: List[ObjectEntry] = []
        seen: Set[bytes] = set()
        entries = self.entries
        for oid in object_ids:
            entry = entries.get(oid)
            if entry is None:
                raise ObjectLostError(
                    oid.hex(), "no reference to it is alive, so it was freed (or it was never "
                    "created in this cluster)")
            if entry.state == PENDING and oid not in seen:
                seen.add(oid)
                missing.append(entry)
        return missing

    def first_error(self, object_ids: Iterable[bytes]) -> Optional[bytes]:
        """The first id (in input order) whose object is ready and an error."""
        entries = self.entries
        for oid in object_ids:
            entry = entries.get(oid)
            if entry is not None and entry.state != PENDING and entry.is_error:
                return oid
        return None

    def is_ready(self, object_id: bytes) -> bool:
        """Ready, or freed (a freed object is not waited for: get() reports it lost)."""
        entry = self.entries.get(object_id)
        return entry is None or entry.state != PENDING

    def split_ready(self, object_ids: List[bytes], num_returns: int,
                    id_set: Optional[Set[bytes]] = None) -> Set[bytes]:
        """Up to `num_returns` of the ids whose value exists (or that were freed), the first
        ones in input order.  Set operations and C iteration only (`id_set`: the ids as a
        set, if the caller has it): a drain loop calls this once per finished object over
        a long list."""
        if id_set is None:
            id_set = set(object_ids)
        not_ready = self.pending.intersection(id_set)  # walks the smaller of the two
        if not not_ready:
            if len(id_set) <= num_returns:
                return id_set
            return set(itertools.islice(object_ids, num_returns))
        return set(itertools.islice(itertools.filterfalse(not_ready.__contains__, object_ids),
                                    num_returns))

    def ready_ids(self, object_ids: Iterable[bytes]) -> Set[bytes]:
        entries = self.entries
        return {oid for oid in object_ids
                if (e := entries.get(oid)) is None or e.state != PENDING}

    # -- waiters ----------------------------------------------------------------------
    @staticmethod
    def add_waiter(entries: Iterable[ObjectEntry], waiter: Waiter) -> None:
        for entry in entries:
            entry.waiters.append(waiter)

    @staticmethod
    def remove_waiter(entries: Iterable[ObjectEntry], waiter: Any) -> None:
        for entry in entries:
            try:
                entry.waiters.remove(waiter)
            except ValueError:
                pass


__all__ = ["ObjectDirectory", "TaskResult", "Descriptor", "ResultTuple", "DescriptorTuple",
           "InlineValue", "ArenaBlock", "SpillFile", "Instruction", "Wake", "FreeBlock",
           "FreeRemoteBlock", "DeleteSpilled", "ReleaseCopies", "DropLineage",
           "ActorObjectFreed", "ValueKind", "KIND_INLINE", "KIND_ARENA", "KIND_FILE", "Waiter",
           "NOTHING", "TRANSITIONS", "spilled", "restored", "copy_arrived", "lost"]
