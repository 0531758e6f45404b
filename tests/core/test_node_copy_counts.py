"""The table's per-node counts (the head's own copies, and each other node's copies and
their bytes), which node_stats reads instead of a pass over every object per node, stay
equal to a full recount through every way a copy comes and goes."""

from __future__ import annotations

import random
from typing import Dict, Tuple

from nbray.core import object_directory as od
from nbray.core.object_directory import ObjectDirectory
from nbray.core.object_table import INLINE, PENDING, SHM, SPILLED

HERE, B, C = "h" * 28, "b" * 28, "c" * 28


def _oid(i: int) -> bytes:
    return i.to_bytes(28, "big")


def _by_pass(d: ObjectDirectory) -> Tuple[int, Dict[str, Tuple[int, int]]]:
    """What node_stats counted with a pass per node: the head's objects (inline, or in
    its arena) and per other node its copies and their blocks' bytes."""
    entries = list(d.table.entries.values())
    head = sum(1 for e in entries if e.offset >= 0 or e.state == INLINE)
    nodes = {nid: (sum(1 for e in entries if nid in e.copies),
                   sum(e.copies[nid][1] for e in entries if nid in e.copies))
             for nid in (B, C)}
    return head, nodes


def _check(d: ObjectDirectory) -> None:
    t = d.table
    head, nodes = _by_pass(d)
    assert t.local_objects() == head
    for nid, figures in nodes.items():
        assert t.node_totals(nid) == figures, nid
    local, counts, sizes = t.recount_copies()
    assert (t.local_blocks, t.copy_counts, t.copy_bytes) == (local, counts, sizes)
    assert all(counts.values())   # a node with no copies leaves no key


def test_copies_count_where_they_come_and_go() -> None:
    d = ObjectDirectory(HERE)
    t = d.table
    a = d.create(_oid(1), owner="driver", holder="driver")
    d.make_ready(a, remote=(B, (0, 4096)), size=4000)    # made on node B
    b = d.create(_oid(2), owner="driver", holder="driver")
    d.placed(b, 0, 8192)                                   # a put being written here
    _check(d)
    assert t.local_objects() == 1 and t.node_totals(B) == (1, 4096)
    d.make_ready(b, shm=(0, 8192), size=8000)
    c = d.create(_oid(3), owner="driver", holder="driver")
    d.make_ready(c, inline=(b"v", ()), size=1)
    t.add_copy(b, C, 64, 8192)                             # pulled to node C
    t.add_copy(a, C, 0, 4096)
    _check(d)
    assert t.local_objects() == 2 and t.node_totals(C) == (2, 8192 + 4096)
    t.add_copy(a, C, 128, 4096)                            # the same copy again: counted once
    _check(d)
    assert t.node_totals(C) == (2, 8192 + 4096)
    assert t.drop_copy(a, B) == (0, 4096)                  # made room on B
    _check(d)
    assert t.node_totals(B) == (0, 0) and B not in t.copy_counts
    od.spilled(t, b, "file:///s/b")                        # its block here written out
    _check(d)
    assert t.local_objects() == 1
    od.restored(t, b, 256)
    od.spilled(t, b, "file:///s/b")
    od.copy_arrived(t, b, 512)
    _check(d)
    assert t.local_objects() == 2
    d.update_holders("driver", [], [_oid(2)])              # freed with a copy on C
    _check(d)
    assert t.node_totals(C) == (1, 4096) and t.local_objects() == 1


def test_freed_entries_kept_for_a_reader_and_abandoned_writes_count_nowhere() -> None:
    d = ObjectDirectory(HERE)
    t = d.table
    a = d.create(_oid(1), owner="driver", holder="driver")
    d.make_ready(a, shm=(0, 4096), size=4000)
    t.add_copy(a, B, 0, 4096)
    d.descriptor(a, "w1", 1.0)                   # a reader maps it
    d.update_holders("driver", [], [_oid(1)])    # freed, kept for the reader (a zombie)
    _check(d)
    assert t.local_objects() == 0 and t.node_totals(B) == (0, 0)
    d.free(d.remove_readers("w1", [_oid(1)]), (), False)   # the block goes back
    a.copies.clear()                             # the shell released the copies (ReleaseCopies)
    _check(d)
    t.add_copy(a, C, 0, 4096)                    # a late pull of a freed object: not counted
    _check(d)
    b = d.create(_oid(2), owner="driver", holder="driver")
    d.placed(b, 0, 4096)
    d.abandon(_oid(2), 0, 4096)
    _check(d)
    assert t.local_objects() == 0


def test_a_lost_node_takes_its_copies_out_of_the_counts() -> None:
    d = ObjectDirectory(HERE)
    t = d.table
    for i in range(5):
        e = d.create(_oid(i), owner="driver", holder="driver")
        d.make_ready(e, remote=(B, (i * 4096, 4096)), size=100)
        if i % 2:
            t.add_copy(e, C, i * 4096, 4096)
    for e in list(t.entries.values()):           # what remote_nodes does for a lost node
        if B in e.copies:
            t.drop_copy(e, B)
            if not e.copies:
                od.lost(t, e)
    _check(d)
    assert t.node_totals(B) == (0, 0) and t.node_totals(C) == (2, 8192)
    e = t.entries[_oid(0)]                       # rebuilt on node C
    d.make_ready(e, remote=(C, (0, 4096)), size=100)
    _check(d)
    assert t.node_totals(C) == (3, 3 * 4096)


def test_counts_match_a_recount_after_a_random_history() -> None:
    rng = random.Random(11)
    d = ObjectDirectory(HERE)
    t = d.table
    live: list = []
    for step in range(3000):
        op = rng.random()
        if op < 0.3 or not live:
            e = d.create(_oid(step), owner="driver", holder="driver")
            where = rng.choice(("inline", "here", "remote", "spilled", "pending"))
            if where == "inline":
                d.make_ready(e, inline=(b"v", ()), size=1)
            elif where == "here":
                if rng.random() < 0.5:
                    d.placed(e, step * 8, 4096)
                d.make_ready(e, shm=(step * 8, 4096), size=4000)
            elif where == "remote":
                d.make_ready(e, remote=(rng.choice((B, C)), (step, rng.choice((512, 4096)))),
                             size=500)
            elif where == "spilled":
                d.make_ready(e, spilled=(f"file:///s/{step}", 8192), size=8000)
            live.append(e)
            continue
        e = rng.choice(live)
        node = rng.choice((B, C))
        if op < 0.45:
            d.update_holders("driver", [], [e.object_id])
            live.remove(e)
        elif op < 0.55 and e.state == SHM:
            t.add_copy(e, node, step, 4096)
        elif op < 0.65 and node in e.copies:
            t.drop_copy(e, node)
        elif op < 0.7 and e.state == SHM and e.offset >= 0:
            od.spilled(t, e, "file:///s/x")
        elif op < 0.72 and e.state == SPILLED:
            od.copy_arrived(t, e, step)
        elif op < 0.75 and e.state == SPILLED:
            od.restored(t, e, step)
        elif op < 0.8 and e.state != PENDING:
            od.lost(t, e)
        elif op < 0.85 and e.state == PENDING:
            d.make_ready(e, remote=(node, (step, 4096)), size=100)
    _check(d)
    assert t.copy_counts and t.local_blocks
