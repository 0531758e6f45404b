"""ObjectTable: who keeps each object alive, and when it is freed (pure bookkeeping)."""

from __future__ import annotations

from typing import List

from nbray.core.object_table import INLINE, PENDING, SHM, ObjectEntry, ObjectTable

A, B, C = b"a" * 20, b"b" * 20, b"c" * 20


def _ready(table: ObjectTable, oid: bytes, holder: str = "driver", contains=()) -> ObjectEntry:
    entry = table.create(oid, owner=holder, holder=holder)
    entry.state = SHM
    table.seal(entry, tuple(contains))
    return entry


def test_create_registers_a_pending_entry_with_its_holder():
    t = ObjectTable()
    e = t.create(A, owner="driver", holder="driver")
    assert e.state == PENDING
    assert t.entries[A] is e
    assert e.holders == {"driver": 1}
    assert e.is_referenced()


def test_create_twice_returns_the_same_entry_and_counts_the_holder_again():
    t = ObjectTable()
    e1 = t.create(A, owner="driver", holder="driver")
    e2 = t.create(A, owner="driver", holder="w1")
    assert e1 is e2
    assert e1.holders == {"driver": 1, "w1": 1}


def test_last_holder_removed_frees_the_entry():
    t = ObjectTable()
    _ready(t, A)
    t.add_holder(A, "w1")
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A in t.entries and freed == []
    t.remove_holder(A, "w1", freed)
    assert A not in t.entries
    assert [e.object_id for e in freed] == [A]


def test_holder_counts_are_per_holder():
    t = ObjectTable()
    _ready(t, A)
    t.add_holder(A, "driver")
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A in t.entries
    t.remove_holder(A, "driver", freed)
    assert A not in t.entries and len(freed) == 1


def test_add_holder_of_unknown_object_is_refused():
    t = ObjectTable()
    assert t.add_holder(A, "driver") is False
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)  # unknown: ignored
    assert freed == []


def test_submitted_tasks_keep_an_object_alive():
    t = ObjectTable()
    _ready(t, A)
    freed: List[ObjectEntry] = []
    t.add_submitted([A], +1, freed)
    t.remove_holder(A, "driver", freed)
    assert A in t.entries and freed == []
    t.add_submitted([A], -1, freed)
    assert A not in t.entries and len(freed) == 1


def test_nested_ref_lives_as_long_as_the_outer_object():
    t = ObjectTable()
    _ready(t, A)                     # inner
    _ready(t, B, contains=[A])       # outer = put([inner])
    assert t.entries[A].contained_in == 1
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A in t.entries and freed == []
    t.remove_holder(B, "driver", freed)  # outer freed -> inner freed in cascade
    assert A not in t.entries and B not in t.entries
    assert {e.object_id for e in freed} == {A, B}


def test_cascade_goes_through_several_levels():
    t = ObjectTable()
    _ready(t, A)
    _ready(t, B, contains=[A])
    _ready(t, C, contains=[B])
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    t.remove_holder(B, "driver", freed)
    assert freed == []
    t.remove_holder(C, "driver", freed)
    assert {e.object_id for e in freed} == {A, B, C}
    assert t.entries == {}


def test_captured_object_is_pinned():
    t = ObjectTable()
    _ready(t, A)
    t.capture([A])
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A in t.entries and freed == []
    assert t.entries[A].captured


def test_object_read_by_a_process_becomes_a_zombie_until_the_reader_lets_go():
    t = ObjectTable()
    e = _ready(t, A)
    t.add_reader(e, "driver")
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A not in t.entries
    assert freed == [] and t.zombies[A] is e  # memory still mapped: not returned yet
    t.remove_reader(A, "driver", freed)
    assert freed == [e] and A not in t.zombies


def test_reader_removed_while_object_still_referenced_frees_nothing():
    t = ObjectTable()
    e = _ready(t, A)
    t.add_reader(e, "w1")
    t.add_reader(e, "w1")
    freed: List[ObjectEntry] = []
    t.remove_reader(A, "w1", freed)
    assert e.readers == {"w1": 1}
    t.remove_reader(A, "w1", freed)
    assert e.readers == {} and freed == [] and A in t.entries


def test_dead_process_releases_everything_it_held_and_read():
    t = ObjectTable()
    _ready(t, A, holder="w1")
    e_b = _ready(t, B, holder="driver")
    t.add_holder(B, "w1")
    t.add_reader(e_b, "w1")
    e_c = _ready(t, C, holder="w1")
    t.add_reader(e_c, "w1")
    freed: List[ObjectEntry] = []
    t.drop_holder_everywhere("w1", freed)
    assert A not in t.entries and C not in t.entries
    assert B in t.entries and "w1" not in e_b.holders and "w1" not in e_b.readers
    assert {e.object_id for e in freed} == {A, C}
    assert t.zombies == {}


def test_dead_reader_of_a_zombie_releases_it():
    t = ObjectTable()
    e = _ready(t, A)
    t.add_reader(e, "w1")
    freed: List[ObjectEntry] = []
    t.remove_holder(A, "driver", freed)
    assert A in t.zombies
    t.drop_holder_everywhere("w1", freed)
    assert freed == [e] and t.zombies == {}


def test_counts_reports_every_kind_of_reference():
    t = ObjectTable()
    e = _ready(t, A)
    e.state = INLINE
    t.add_holder(A, "w1")
    t.add_submitted([A], +1, [])
    _ready(t, B, contains=[A])
    t.capture([A])
    t.add_reader(e, "w1")
    assert t.counts(A) == {"holders": {"driver": 1, "w1": 1}, "submitted": 1, "contained_in": 1,
                           "captured": True, "readers": {"w1": 1}, "state": INLINE}
    assert t.counts(b"x" * 20) is None
