"""ObjectDirectory: object state changes as events in, instructions out (pure, no process)."""

from __future__ import annotations

from typing import Any, List, Sequence

import pytest

from nbray.core import object_directory as od
from nbray.core.object_directory import (
    KIND_INLINE, NOTHING, KIND_ARENA, KIND_FILE, ActorObjectFreed, DeleteSpilled, DropLineage,
    FreeBlock, FreeRemoteBlock, Instruction, ObjectDirectory, ReleaseCopies, TaskResult, Wake)
from nbray.core.object_table import INLINE, PENDING, SHM, SPILLED, ObjectEntry
from nbray.exceptions import ObjectLostError

A, B, C, D = b"a" * 20, b"b" * 20, b"c" * 20, b"d" * 20
HERE, OTHER = "node-here", "node-other"
PAYLOAD = (b"meta", ())


def _dir() -> ObjectDirectory:
    return ObjectDirectory(HERE)


def _pending(d: ObjectDirectory, oid: bytes, holder: str = "driver") -> ObjectEntry:
    return d.create(oid, owner=holder, holder=holder)


def _inline(d: ObjectDirectory, oid: bytes, holder: str = "driver",
            contains: Sequence[bytes] = ()) -> ObjectEntry:
    e = _pending(d, oid, holder)
    d.make_ready(e, inline=PAYLOAD, size=4, contains=contains, now=1.0)
    return e


def _shm(d: ObjectDirectory, oid: bytes, offset: int = 64, block: int = 128,
         holder: str = "driver") -> ObjectEntry:
    e = _pending(d, oid, holder)
    d.make_ready(e, shm=(offset, block), size=100, now=1.0)
    return e


def _free_all(d: ObjectDirectory, freed: List[ObjectEntry], actor_objects: Sequence[bytes] = (),
              lineage: bool = False) -> List[Instruction]:
    return d.free(freed, set(actor_objects), lineage)


# -- making objects ready ----------------------------------------------------------------
def test_create_makes_a_pending_entry_held_by_its_holder() -> None:
    d = _dir()
    e = _pending(d, A)
    assert e.state == PENDING and e.holders == {"driver": 1}
    assert d.entries[A] is e


def test_create_twice_counts_the_second_holder() -> None:
    d = _dir()
    e = _pending(d, A)
    assert d.create(A, owner="driver", holder="w1") is e
    assert e.holders == {"driver": 1, "w1": 1}


def test_make_ready_inline_stores_the_bytes_and_time() -> None:
    d = _dir()
    e = _pending(d, A)
    assert d.make_ready(e, inline=PAYLOAD, size=4, now=12.5) == []
    assert (e.state, e.inline, e.size, e.is_error) == (INLINE, PAYLOAD, 4, False)
    assert e.created_at == e.last_access == 12.5


def test_make_ready_shm_records_the_block() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, shm=(256, 512), size=400)
    assert (e.state, e.offset, e.block, e.size) == (SHM, 256, 512, 400)


def test_make_ready_spilled_records_the_url() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, spilled=("file:///x", 4096), size=4000)
    assert (e.state, e.spill_url, e.block, e.offset) == (SPILLED, "file:///x", 4096, -1)


def test_make_ready_remote_records_a_copy_on_the_other_node() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, remote=(OTHER, (8, 1024)), size=1000)
    assert e.state == SHM and e.offset == -1
    assert e.copies == {OTHER: (8, 1024)} and e.block == 1024


def test_make_ready_error_sets_the_flag() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, inline=PAYLOAD, size=4, is_error=True)
    assert e.is_error


def test_make_ready_returns_the_waiters_once_and_clears_them() -> None:
    d = _dir()
    e = _pending(d, A)
    seen: List[ObjectEntry] = []
    d.add_waiter([e], seen.append)
    waiters = d.make_ready(e, inline=PAYLOAD, size=4)
    assert waiters == [seen.append] and e.waiters == []
    for w in waiters:
        w(e)
    assert seen == [e]


def test_make_ready_counts_the_refs_contained_in_the_value() -> None:
    d = _dir()
    inner = _inline(d, B)
    _inline(d, A, contains=[B])
    assert inner.contained_in == 1


def test_placed_reserves_a_block_while_the_value_is_written() -> None:
    d = _dir()
    e = _pending(d, A)
    d.placed(e, 32, 64)
    assert (e.state, e.offset, e.block) == (PENDING, 32, 64)


def test_abandon_forgets_the_entry_and_frees_its_block() -> None:
    d = _dir()
    e = _pending(d, A)
    d.placed(e, 32, 64)
    assert list(d.abandon(A, 32, 64)) == [FreeBlock(32, 64)]
    assert A not in d.entries and e.offset == -1


# -- task results ----------------------------------------------------------------------
def _result(oid: bytes, kind: str, payload: Any, is_error: bool = False) -> TaskResult:
    return TaskResult(oid, kind, payload, 10, [], is_error, "int")


def test_task_result_unpacks_like_the_workers_plain_tuple() -> None:
    r = _result(A, KIND_INLINE, PAYLOAD)
    assert tuple(r) == (A, "i", PAYLOAD, 10, [], False, "int")
    oid, kind, *_ = r
    assert (oid, kind) == (A, KIND_INLINE)


def test_store_inline_result_makes_it_ready() -> None:
    d = _dir()
    e = _pending(d, A)
    assert d.store_result(_result(A, KIND_INLINE, PAYLOAD), "", 5.0) == NOTHING
    assert (e.state, e.inline, e.type_name, e.created_at) == (INLINE, PAYLOAD, "int", 5.0)


def test_store_result_accepts_a_plain_tuple() -> None:
    d = _dir()
    e = _pending(d, A)
    d.store_result((A, KIND_ARENA, (0, 64), 50, [], False, "ndarray"), "", 0.0)  # type: ignore[arg-type]
    assert (e.state, e.offset, e.block, e.type_name) == (SHM, 0, 64, "ndarray")


def test_store_local_shm_result_from_this_node_id() -> None:
    d = _dir()
    e = _pending(d, A)
    d.store_result(_result(A, KIND_ARENA, (0, 64)), HERE, 0.0)
    assert e.offset == 0 and not e.copies


def test_store_shm_result_from_another_node_is_a_remote_copy() -> None:
    d = _dir()
    e = _pending(d, A)
    d.store_result(_result(A, KIND_ARENA, (16, 64)), OTHER, 0.0)
    assert e.state == SHM and e.offset == -1 and e.copies == {OTHER: (16, 64)}


def test_store_spilled_result() -> None:
    d = _dir()
    e = _pending(d, A)
    d.store_result(_result(A, KIND_FILE, ("s3://b/k", 4096)), "", 0.0)
    assert (e.state, e.spill_url, e.block) == (SPILLED, "s3://b/k", 4096)


def test_store_error_result_is_ready_and_an_error() -> None:
    d = _dir()
    e = _pending(d, A)
    d.store_result(_result(A, KIND_INLINE, PAYLOAD, is_error=True), "", 0.0)
    assert e.state == INLINE and e.is_error
    assert d.first_error([A]) == A


def test_store_result_wakes_the_waiters() -> None:
    d = _dir()
    e = _pending(d, A)
    d.add_waiter([e], print)
    out = d.store_result(_result(A, KIND_INLINE, PAYLOAD), "", 0.0)
    assert list(out) == [Wake(e, [print])]


def test_store_result_nobody_holds_drops_the_block() -> None:
    d = _dir()
    assert list(d.store_result(_result(A, KIND_ARENA, (0, 64)), "", 0.0)) == [FreeBlock(0, 64)]
    assert A not in d.entries


def test_store_result_already_ready_drops_the_second_copy() -> None:
    d = _dir()
    e = _shm(d, A, 0, 64)
    out = d.store_result(_result(A, KIND_ARENA, (512, 64)), "", 0.0)
    assert list(out) == [FreeBlock(512, 64)] and e.offset == 0


def test_store_result_nobody_holds_from_another_node_frees_there() -> None:
    d = _dir()
    out = d.store_result(_result(A, KIND_ARENA, (16, 64)), OTHER, 0.0)
    assert list(out) == [FreeRemoteBlock(OTHER, 16, 64)]


def test_store_result_nobody_holds_spilled_deletes_the_file() -> None:
    d = _dir()
    out = d.store_result(_result(A, KIND_FILE, ("file:///s", 64)), "", 0.0)
    assert list(out) == [DeleteSpilled("file:///s")]


def test_result_blocks_of_an_inline_result_is_nothing() -> None:
    assert _dir().result_blocks(_result(A, KIND_INLINE, PAYLOAD)) == NOTHING


# -- references and frees ------------------------------------------------------------------
def test_last_holder_gone_frees_an_inline_object_with_nothing_to_give_back() -> None:
    d = _dir()
    e = _inline(d, A)
    freed = d.update_holders("driver", [], [A])
    assert freed == [e] and A not in d.entries
    assert _free_all(d, freed) == [] and e.inline is None


def test_freeing_an_arena_object_frees_its_block_once() -> None:
    d = _dir()
    e = _shm(d, A, 64, 128)
    freed = d.update_holders("driver", [], [A])
    assert _free_all(d, freed) == [FreeBlock(64, 128)]
    assert e.offset == -1
    assert _free_all(d, freed) == []   # a second free gives nothing back twice


def test_freeing_a_spilled_object_deletes_its_copy() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, spilled=("file:///x", 64), size=60)
    freed = d.update_holders("driver", [], [A])
    assert _free_all(d, freed) == [DeleteSpilled("file:///x")]
    assert e.spill_url is None


def test_freeing_an_arena_object_that_was_also_spilled_does_both() -> None:
    d = _dir()
    e = _shm(d, A, 0, 64)
    e.spill_url = "file:///kept"   # restored from the spill target: the copy stays
    out = _free_all(d, d.update_holders("driver", [], [A]))
    assert out == [FreeBlock(0, 64), DeleteSpilled("file:///kept")]


def test_freeing_an_object_with_remote_copies_releases_them() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, remote=(OTHER, (0, 64)), size=60)
    out = _free_all(d, d.update_holders("driver", [], [A]))
    assert out == [ReleaseCopies(e)]   # no local block: offset is -1


def test_freeing_with_lineage_kept_drops_lineage() -> None:
    d = _dir()
    _inline(d, A)
    out = _free_all(d, d.update_holders("driver", [], [A]), lineage=True)
    assert out == [DropLineage(A)]


def test_freeing_an_actor_creation_object_comes_first() -> None:
    d = _dir()
    e = _shm(d, A, 0, 64)
    out = _free_all(d, d.update_holders("driver", [], [A]), actor_objects=[A])
    assert out == [ActorObjectFreed(e), FreeBlock(0, 64)]


def test_holders_are_counted() -> None:
    d = _dir()
    _inline(d, A)
    d.update_holders("driver", [A], [])
    assert d.update_holders("driver", [], [A]) == []
    assert len(d.update_holders("driver", [], [A])) == 1


def test_each_process_holds_separately() -> None:
    d = _dir()
    _inline(d, A)
    d.update_holders("w1", [A], [])
    assert d.update_holders("driver", [], [A]) == []
    assert [e.object_id for e in d.update_holders("w1", [], [A])] == [A]


def test_removing_a_hold_on_an_unknown_object_is_harmless() -> None:
    d = _dir()
    assert d.update_holders("driver", [B], [A]) == []


def test_a_submitted_argument_outlives_its_last_ref_until_the_task_ends() -> None:
    d = _dir()
    _inline(d, A)
    freed: List[ObjectEntry] = []
    d.table.add_submitted([A], +1, freed)
    assert d.update_holders("driver", [], [A]) == []
    d.table.add_submitted([A], -1, freed)
    assert [e.object_id for e in freed] == [A]


def test_a_contained_ref_lives_while_its_container_does() -> None:
    d = _dir()
    _inline(d, B)
    _inline(d, A, contains=[B])
    assert d.update_holders("driver", [], [B]) == []
    freed = d.update_holders("driver", [], [A])
    assert [e.object_id for e in freed] == [A, B]


def test_nested_refs_free_in_a_chain() -> None:
    d = _dir()
    _inline(d, C)
    _inline(d, B, contains=[C])
    _inline(d, A, contains=[B])
    d.update_holders("driver", [], [B, C])
    freed = d.update_holders("driver", [], [A])
    assert {e.object_id for e in freed} == {A, B, C}


def test_a_captured_object_is_pinned() -> None:
    d = _dir()
    _inline(d, A)
    d.table.capture([A])
    assert d.update_holders("driver", [], [A]) == []
    assert A in d.entries


# -- readers (zero-copy pins) and zombies ---------------------------------------------
def test_descriptor_of_an_inline_object_has_the_bytes() -> None:
    d = _dir()
    e = _inline(d, A)
    assert d.descriptor(e, "driver", 9.0) == (KIND_INLINE, PAYLOAD, False)
    assert e.last_access == 9.0 and not e.readers


def test_descriptor_of_an_arena_object_registers_the_reader() -> None:
    d = _dir()
    e = _shm(d, A, 64, 128)
    assert d.descriptor(e, "w1", 0.0) == (KIND_ARENA, 64, False)
    assert e.readers == {"w1": 1}


def test_descriptor_of_a_spilled_object_points_at_the_file_and_pins_nothing() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, spilled=("file:///x", 64), size=60, is_error=True)
    assert d.descriptor(e, "w1", 0.0) == (KIND_FILE, ("file:///x", 64), True)
    assert not e.readers


def test_copy_descriptor_uses_the_copy_on_the_readers_node() -> None:
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, remote=(OTHER, (48, 64)), size=60)
    assert d.copy_descriptor(e, OTHER, "w9") == (KIND_ARENA, 48, False)
    assert e.readers == {"w9": 1}


def test_copy_descriptor_of_an_inline_object() -> None:
    d = _dir()
    e = _inline(d, A)
    assert d.copy_descriptor(e, OTHER, "w9") == (KIND_INLINE, PAYLOAD, False)


def test_freed_while_read_is_a_zombie_until_the_last_reader_lets_go() -> None:
    d = _dir()
    e = _shm(d, A, 0, 64)
    d.descriptor(e, "driver", 0.0)
    d.descriptor(e, "driver", 0.0)
    assert d.update_holders("driver", [], [A]) == []
    assert d.table.zombies == {A: e} and A not in d.entries
    assert d.remove_readers("driver", [A]) == []
    freed = d.remove_readers("driver", [A])
    assert freed == [e] and not d.table.zombies
    assert _free_all(d, freed) == [FreeBlock(0, 64)]


def test_unpin_while_held_frees_nothing() -> None:
    d = _dir()
    e = _shm(d, A)
    d.descriptor(e, "w1", 0.0)
    assert d.remove_readers("w1", [A]) == [] and A in d.entries and not e.readers


def test_a_dead_process_drops_its_holds_and_reads() -> None:
    d = _dir()
    _shm(d, A, 64, 128, holder="w1")
    b = _shm(d, B, 256, 64)
    d.descriptor(b, "w1", 0.0)
    d.update_holders("driver", [], [B])      # B: a zombie read by w1
    freed = d.holder_gone("w1")
    assert {e.object_id for e in freed} == {A, B}
    assert not d.table.zombies
    assert sorted(_free_all(d, freed)) == [FreeBlock(64, 128), FreeBlock(256, 64)]


# -- questions -----------------------------------------------------------------------
def test_pending_of_lists_pending_entries_once_in_order() -> None:
    d = _dir()
    b, c = _pending(d, B), _pending(d, C)
    _inline(d, A)
    assert d.pending_of([C, A, B, C]) == [c, b]


def test_pending_of_a_freed_object_raises_object_lost() -> None:
    d = _dir()
    with pytest.raises(ObjectLostError, match="freed"):
        d.pending_of([A])


def test_first_error_is_in_input_order_and_ignores_pending() -> None:
    d = _dir()
    _pending(d, A)
    for oid in (B, C):
        d.make_ready(_pending(d, oid), inline=PAYLOAD, size=4, is_error=True)
    _inline(d, D)
    assert d.first_error([A, D, C, B]) == C
    assert d.first_error([A, D]) is None


def test_ready_ids_counts_freed_objects_as_ready() -> None:
    d = _dir()
    _pending(d, A)
    _inline(d, B)
    assert d.ready_ids([A, B, C]) == {B, C}
    assert not d.is_ready(A) and d.is_ready(B) and d.is_ready(C)


# -- waiters ---------------------------------------------------------------------------
def test_remove_waiter_takes_it_off_every_entry_and_ignores_absent_ones() -> None:
    d = _dir()
    a, b = _pending(d, A), _pending(d, B)
    d.add_waiter([a], print)
    d.remove_waiter([a, b], print)
    assert a.waiters == [] and b.waiters == []


def test_a_removed_waiter_is_not_woken() -> None:
    d = _dir()
    e = _pending(d, A)
    d.add_waiter([e], print)
    d.add_waiter([e], repr)
    d.remove_waiter([e], print)
    assert d.make_ready(e, inline=PAYLOAD, size=4) == [repr]


def test_a_waiter_on_several_objects_is_returned_by_each() -> None:
    d = _dir()
    a, b = _pending(d, A), _pending(d, B)
    d.add_waiter([a, b], print)
    assert d.store_result(_result(A, KIND_INLINE, PAYLOAD), "", 0.0) == (Wake(a, [print]),)
    assert d.store_result(_result(B, KIND_INLINE, PAYLOAD), "", 0.0) == (Wake(b, [print]),)


def test_a_freed_pending_object_stores_no_late_result() -> None:
    d = _dir()
    _pending(d, A)
    assert [e.object_id for e in d.update_holders("driver", [], [A])] == [A]
    assert list(d.store_result(_result(A, KIND_ARENA, (0, 64)), "", 0.0)) == [FreeBlock(0, 64)]


# -- state changes outside creation (store and remote-node shells) -----------------------
def _in_arena(d: ObjectDirectory, oid: bytes, offset: int = 64, block: int = 4096) -> ObjectEntry:
    e = _pending(d, oid)
    d.make_ready(e, shm=(offset, block), size=block)
    return e


def test_spilling_moves_an_arena_object_to_the_target_and_gives_up_its_offset():
    d = _dir()
    e = _in_arena(d, A)
    od.spilled(d.table, e, "file:///spill/a")
    assert (e.state, e.spill_url, e.offset) == (SPILLED, "file:///spill/a", -1)


def test_restoring_brings_a_spilled_object_back_at_its_new_offset_keeping_the_copy():
    d = _dir()
    e = _in_arena(d, A)
    od.spilled(d.table, e, "file:///spill/a")
    od.restored(d.table, e, 8192)
    assert (e.state, e.offset, e.spill_url) == (SHM, 8192, "file:///spill/a")


def test_a_pulled_copy_of_a_spilled_object_makes_it_an_arena_object_again():
    d = _dir()
    e = _in_arena(d, A)
    od.spilled(d.table, e, "file:///spill/a")
    od.copy_arrived(d.table, e, 128)
    assert (e.state, e.offset) == (SHM, 128)


def test_a_pulled_copy_of_an_object_held_elsewhere_only_records_the_offset():
    d = _dir()
    e = _pending(d, A)
    d.make_ready(e, remote=(OTHER, (0, 4096)), size=4096)
    od.copy_arrived(d.table, e, 256)
    assert (e.state, e.offset, e.copies) == (SHM, 256, {OTHER: (0, 4096)})


@pytest.mark.parametrize("make", ["inline", "shm", "spilled"])
def test_a_lost_object_is_pending_again_until_rebuilt(make):
    d = _dir()
    e = _pending(d, A)
    if make == "inline":
        d.make_ready(e, inline=PAYLOAD, size=4)
    elif make == "shm":
        d.make_ready(e, shm=(0, 4096), size=4096)
    else:
        d.make_ready(e, spilled=("file:///spill/a", 4096), size=4096)
    od.lost(d.table, e)
    assert e.state == PENDING
    od.lost(d.table, e)  # losing a pending object again changes nothing
    assert e.state == PENDING


@pytest.mark.parametrize("change, state", [
    (lambda t, e: od.spilled(t, e, "file:///x"), PENDING),    # nothing to spill yet
    (lambda t, e: od.spilled(t, e, "file:///x"), INLINE),     # inline values never spill
    (lambda t, e: od.restored(t, e, 0), SHM),                 # only a spilled object comes back
    (lambda t, e: od.restored(t, e, 0), PENDING),
])
def test_a_change_the_table_does_not_allow_is_refused_and_leaves_the_entry_alone(change, state):
    d = _dir()
    e = _pending(d, A)
    e.state = state
    with pytest.raises(ValueError, match="no transition from"):
        change(d.table, e)
    assert e.state == state


def test_every_allowed_transition_names_known_states():
    assert {s for pair in od.TRANSITIONS for s in pair} == {PENDING, INLINE, SHM, SPILLED}


def test_the_functions_make_only_changes_the_table_lists():
    """Drive each function from every state; whatever it accepts must be in TRANSITIONS."""
    changes = {"spilled": lambda t, e: od.spilled(t, e, "file:///x"),
               "restored": lambda t, e: od.restored(t, e, 0),
               "copy_arrived": lambda t, e: od.copy_arrived(t, e, 0), "lost": od.lost}
    for name, change in changes.items():
        for state in (PENDING, INLINE, SHM, SPILLED):
            d = _dir()
            e = _pending(d, A)
            e.state = state
            try:
                change(d.table, e)
            except ValueError:
                continue
            assert e.state == state or (state, e.state) in od.TRANSITIONS, (name, state, e.state)
