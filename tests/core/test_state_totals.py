"""The table's per-state totals (objects and bytes) stay equal to a full recount through
every way an object comes, changes state and goes."""

from __future__ import annotations

import random

from nbray.core import object_directory as od
from nbray.core.object_directory import KIND_ARENA, KIND_FILE, KIND_INLINE, ObjectDirectory
from nbray.core.object_table import INLINE, PENDING, SHM, SPILLED, ObjectEntry

HERE, OTHER = "n" * 28, "o" * 28


def _oid(i: int) -> bytes:
    return i.to_bytes(28, "big")


def _check(d: ObjectDirectory) -> None:
    assert d.table.totals() == d.table.recount()
    # The set of pending ids (wait()'s split) follows the same changes.
    assert d.table.pending == {oid for oid, e in d.table.entries.items() if e.state == PENDING}


def test_totals_follow_creation_readiness_and_frees() -> None:
    d = ObjectDirectory(HERE)
    a = d.create(_oid(1), owner="driver", holder="driver")
    _check(d)
    assert d.table.totals()[0][PENDING] == 1
    d.make_ready(a, inline=(b"xyz", ()), size=3)
    b = d.create(_oid(2), owner="driver", holder="driver")
    d.placed(b, 0, 4096)
    _check(d)
    d.make_ready(b, shm=(0, 4096), size=4000)
    c = d.create(_oid(3), owner="driver", holder="driver")
    d.make_ready(c, spilled=("file:///s/c", 8192), size=8000)
    e = d.create(_oid(4), owner="driver", holder="driver")
    d.make_ready(e, remote=(OTHER, (0, 512)), size=500)
    _check(d)
    assert d.table.totals()[0] == {INLINE: 1, SHM: 2, SPILLED: 1, PENDING: 0}
    assert d.table.totals()[1] == {INLINE: 3, SHM: 4096 + 512, SPILLED: 8192, PENDING: 0}
    d.update_holders("driver", [], [_oid(1), _oid(2)])
    _check(d)
    assert d.table.totals()[0] == {INLINE: 0, SHM: 1, SPILLED: 1, PENDING: 0}


def test_totals_follow_spilling_restoring_copies_and_losses() -> None:
    d = ObjectDirectory(HERE)
    a = d.create(_oid(1), owner="driver", holder="driver")
    d.make_ready(a, shm=(0, 4096), size=4000)
    od.spilled(d.table, a, "file:///s/a")
    _check(d)
    assert d.table.totals()[1][SPILLED] == 4096
    od.restored(d.table, a, 64)
    _check(d)
    od.spilled(d.table, a, "file:///s/a")
    od.copy_arrived(d.table, a, 128)
    _check(d)
    od.lost(d.table, a)
    _check(d)
    assert d.table.totals()[0][PENDING] == 1 and d.table.totals()[1][PENDING] == 4000


def test_an_abandoned_write_and_a_reader_kept_block_leave_the_totals() -> None:
    d = ObjectDirectory(HERE)
    a = d.create(_oid(1), owner="driver", holder="driver")
    d.placed(a, 0, 4096)
    d.abandon(_oid(1), 0, 4096)
    _check(d)
    assert d.table.totals()[0][PENDING] == 0
    b = d.create(_oid(2), owner="driver", holder="driver")
    d.make_ready(b, shm=(0, 4096), size=4000)
    d.descriptor(b, "w1", 1.0)                      # a reader maps it
    d.update_holders("driver", [], [_oid(2)])       # freed, kept for the reader (zombie)
    _check(d)
    assert sum(d.table.totals()[0].values()) == 0
    od.lost(d.table, b)                             # a change to a forgotten entry counts nowhere
    d.make_ready(b, inline=(b"x", ()), size=1)
    _check(d)


def test_totals_match_a_recount_after_a_random_history() -> None:
    rng = random.Random(7)
    d = ObjectDirectory(HERE)
    live: list = []
    for step in range(3000):
        op = rng.random()
        if op < 0.35 or not live:
            oid = _oid(step)
            e = d.create(oid, owner="driver", holder="driver")
            kind = rng.choice((KIND_INLINE, KIND_ARENA, KIND_FILE, "pending"))
            if kind == KIND_INLINE:
                d.make_ready(e, inline=(b"v", ()), size=rng.randrange(100))
            elif kind == KIND_ARENA:
                d.make_ready(e, shm=(step * 8, 4096), size=rng.randrange(4096))
            elif kind == KIND_FILE:
                d.make_ready(e, spilled=(f"file:///s/{step}", 8192), size=8000)
            live.append(e)
            continue
        e = rng.choice(live)
        if op < 0.5:
            d.update_holders("driver", [], [e.object_id])
            live.remove(e)
        elif op < 0.6 and e.state == SHM:
            od.spilled(d.table, e, "file:///s/x")
        elif op < 0.7 and e.state == SPILLED:
            od.restored(d.table, e, 0)
        elif op < 0.8:
            od.lost(d.table, e)
        elif op < 0.9 and e.state == PENDING:
            d.make_ready(e, inline=(b"again", ()), size=5)
        else:
            d.update_holders("w1", [e.object_id], [])
    _check(d)
    assert sum(d.table.totals()[0].values()) == len(d.table.entries)


def test_the_footprint_is_the_block_where_there_is_one() -> None:
    from nbray.core.object_table import footprint

    assert footprint(ObjectEntry(b"a", state=SHM, size=10, block=4096)) == 4096
    assert footprint(ObjectEntry(b"a", state=SPILLED, size=10, block=4096)) == 4096
    assert footprint(ObjectEntry(b"a", state=INLINE, size=10, block=0)) == 10
    assert footprint(ObjectEntry(b"a", state=PENDING, size=10, block=4096)) == 10
