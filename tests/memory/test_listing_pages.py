"""Pages of nbray.memory() are slices of one stable sort of the live table, whatever was put
or freed between two pages, and the per-node statistics equal a recount of the table."""

from __future__ import annotations

from typing import Any, List

import numpy as np

import nbray
from nbray.runtime.object_index import SORT_KEYS

from ._helpers import MiB, make_array, memory, node


@nbray.remote
def _make(n: int) -> Any:
    return list(range(n))


def _mixed_objects() -> List[Any]:
    refs: List[Any] = []
    for i in range(120):
        refs.append(nbray.put(i % 7))                     # equal sizes: ties
        refs.append(nbray.put("s" * (i % 13)))
    refs += [nbray.put(make_array(i, 300_000 + i)) for i in range(6)]   # shared memory
    refs += [_make.remote(i % 5) for i in range(20)]
    nbray.get(refs[-20:])
    nbray.get(refs[5])                                    # one more access time
    return refs


def _full_sort_ids(sort_by: str, descending: bool, **filters: Any) -> List[str]:
    """What a page must be a slice of: every matching entry, fully sorted (stable)."""
    ids = [r["object_id"] for r in memory(limit=None, **filters).objects]
    n = node()
    with n.lock:
        entries = [e for e in n.table.entries.values() if e.object_id.hex() in set(ids)]
    return [e.object_id.hex() for e in sorted(entries, key=SORT_KEYS[sort_by], reverse=descending)]


def test_pages_of_every_key_are_slices_of_a_full_sort(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    refs = _mixed_objects()
    for sort_by in SORT_KEYS:
        for descending in (True, False):
            full = _full_sort_ids(sort_by, descending)
            assert len(full) == len(refs)
            pages = []
            for offset in range(0, len(full), 37):
                got = memory(sort_by=sort_by, descending=descending, offset=offset, limit=37)
                assert got.total == len(full)
                pages += [r["object_id"] for r in got.objects]
            assert pages == full, (sort_by, descending)


def test_filtered_pages_are_slices_of_the_filtered_sort(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    _refs = _mixed_objects()
    for filters in ({"filter": "str"}, {"where": "shared_memory"}, {"filter": "ndarray"},
                    {"ref_type": "LOCAL_REFERENCE", "filter": "int"}, {"filter": "put driver"}):
        full = _full_sort_ids("size", True, **filters)
        assert full, filters
        got = memory(sort_by="size", descending=True, offset=3, limit=10, **filters)
        assert [r["object_id"] for r in got.objects] == full[3:13], filters
        assert got.total == len(full)


def test_a_text_filter_finds_an_object_by_part_of_its_id(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    refs = _mixed_objects()
    part = refs[17].hex()[-10:]
    rows = memory(filter=part.upper(), limit=None).objects
    assert refs[17].hex() in [r["object_id"] for r in rows]
    assert all(part in r["object_id"] or part in (r["type"] + r["call_site"]).lower()
               for r in rows)
    assert memory(filter="no object has this", limit=None).total == 0


def test_objects_put_and_freed_between_pages_show_on_the_next_page(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    refs = _mixed_objects()
    first = memory(sort_by="created", descending=True, limit=10)
    newer = [nbray.put(np.arange(i + 1)) for i in range(4)]
    again = memory(sort_by="created", descending=True, limit=10)
    assert [r["object_id"] for r in again.objects[:4]] == [r.hex() for r in reversed(newer)]
    assert [r["object_id"] for r in again.objects[4:]] == [r["object_id"] for r in first.objects[:6]]
    assert again.total == first.total + 4
    gone = {refs[-1].hex(), newer[0].hex()}
    del refs[-1], newer[0]
    after = memory(sort_by="created", descending=True, limit=None)
    assert after.total == again.total - 2
    assert not gone & {r["object_id"] for r in after.objects}


def test_node_statistics_equal_a_recount_through_spills_and_frees(make_cluster):
    make_cluster(object_store_memory=8 * MiB)
    refs = _mixed_objects()
    arrays = [nbray.put(make_array(100 + i, 2 * MiB)) for i in range(8)]   # spills
    nbray.get(arrays[0])                                                    # restores one
    del refs[:50], arrays[3:5]
    stats = memory(limit=0).nodes[0]
    n = node()
    with n.lock:
        counts, sizes = n.table.recount()
        assert n.table.totals() == (counts, sizes)
        assert stats["objects"] == len(n.table.entries)
    assert stats["spilled_objects"] == counts["spilled"] > 0
    assert (stats["inline_objects"], stats["inline_bytes"]) == (counts["inline"], sizes["inline"])
    assert (stats["shm_objects"], stats["shm_bytes"]) == (counts["shm"], sizes["shm"])
    assert stats["objects_pending"] == counts["pending"]
