"""Sorted pages of the object listing: every page equals the same slice of a full stable sort."""

from __future__ import annotations

import random
from typing import Dict, List

import numpy as np
import pytest

from nbray.runtime import object_index
from nbray.runtime.object_index import SORT_KEYS, page, select
from nbray.core.object_table import INLINE, PENDING, SHM, SPILLED, ObjectEntry


def _entries(n: int, seed: int = 0) -> Dict[bytes, ObjectEntry]:
    """A table's worth of entries with many ties (sizes, types, owners repeat) and ids that
    count up as puts' ids do, in insertion order."""
    rng = random.Random(seed)
    out: Dict[bytes, ObjectEntry] = {}
    for i in range(n):
        oid = bytes(24) + i.to_bytes(4, "big") if rng.random() < 0.7 else rng.randbytes(28)
        out[oid] = ObjectEntry(
            oid, state=rng.choice((INLINE, SHM, PENDING, SPILLED)),
            size=rng.choice((28, 28, 28, 100, 4096, rng.randrange(1 << 20))),
            created_at=1000.0 + i * 1e-3 if rng.random() < 0.9 else 1000.0,
            last_access=rng.choice((0.0, 5.0, rng.random() * 100)),
            type_name=rng.choice(("int", "str", "ndarray", "")),
            call_site=rng.choice(("a.py:1", "b.py:2", f"c.py:{i % 7}")),
            owner=rng.choice(("driver", "w1", "w2")))
    return out


def _expected(entries: List[ObjectEntry], sort_by: str, descending: bool, offset: int,
              limit: int) -> List[ObjectEntry]:
    return sorted(entries, key=SORT_KEYS[sort_by], reverse=descending)[offset:offset + limit]


@pytest.mark.parametrize("sort_by", sorted(SORT_KEYS))
@pytest.mark.parametrize("descending", [True, False])
def test_every_page_is_the_slice_of_a_full_stable_sort(sort_by: str, descending: bool) -> None:
    table = _entries(3000)
    values = list(table.values())
    for offset, limit in [(0, 100), (0, 1), (37, 50), (1400, 200), (2950, 100), (2999, 1),
                          (2800, 200), (0, 3000), (10, 5000)]:
        got = page(table.values(), sort_by, descending, offset, limit)
        assert got == _expected(values, sort_by, descending, offset, limit), (offset, limit)


@pytest.mark.parametrize("sort_by", sorted(SORT_KEYS))
def test_pages_of_a_filtered_list_and_consecutive_pages_cover_it_once(sort_by: str) -> None:
    values = [e for e in _entries(2000, seed=3).values() if e.owner != "w1"]
    pages = [page(values, sort_by, True, off, 150) for off in range(0, len(values), 150)]
    flat = [e for p in pages for e in p]
    assert flat == sorted(values, key=SORT_KEYS[sort_by], reverse=True)
    assert len({id(e) for e in flat}) == len(values)


def test_no_limit_and_offsets_past_the_end() -> None:
    table = _entries(500, seed=5)
    assert page(table.values(), "size", True, 0, None) == _expected(
        list(table.values()), "size", True, 0, 500)
    assert page(table.values(), "created", False, 500, 10) == []
    assert page(table.values(), "type", False, 900, None) == []
    assert page(table.values(), "size", False, 0, 0) == []
    assert page({}.values(), "object_id", True, 0, 100) == []


def test_a_table_of_equal_keys_pages_in_insertion_order_both_ways() -> None:
    table = {bytes([i % 256, i // 256]) + bytes(26): ObjectEntry(bytes([i % 256, i // 256]) + bytes(26), size=28)
             for i in range(1000)}
    values = list(table.values())
    assert page(table.values(), "size", True, 990, 20) == values[990:]
    assert page(table.values(), "size", False, 100, 3) == values[100:103]
    assert page(table.values(), "where", True, 500, 2) == values[500:502]


def test_select_returns_positions_of_the_stable_order() -> None:
    keys = np.array([3, 1, 3, 2, 1, 3], dtype=np.int64)
    assert select(keys, 0, 6, False) == [1, 4, 3, 0, 2, 5]
    assert select(keys, 0, 6, True) == [0, 2, 5, 3, 1, 4]
    assert select(keys, 2, 4, True) == [5, 3]
    assert select(keys, 4, 5, False) == [2]


def _counting_sorts(monkeypatch) -> List[int]:
    """Make object_index's sorted() record how many items each call sorts."""
    calls: List[int] = []
    real_sorted = sorted

    def counting_sorted(items, **kwargs):
        items = list(items)
        calls.append(len(items))
        return real_sorted(items, **kwargs)

    monkeypatch.setattr(object_index, "sorted", counting_sorted, raising=False)
    return calls


def test_the_middle_of_a_long_id_sorted_list_falls_back_to_a_full_sort(monkeypatch) -> None:
    table = _entries(400, seed=9)
    calls = _counting_sorts(monkeypatch)
    got = page(table.values(), "object_id", True, 190, 20)
    assert got == _expected(list(table.values()), "object_id", True, 190, 20)
    assert calls == [400], "a page in the middle is cut from a full sort"
    calls.clear()
    assert page(table.values(), "object_id", True, 0, 20) == _expected(
        list(table.values()), "object_id", True, 0, 20)
    assert not calls, "a first page is selected with a heap"


@pytest.mark.parametrize("distinct", [3, 40, 150, 1000])
@pytest.mark.parametrize("descending", [True, False])
def test_text_keys_page_by_groups_of_equal_values_however_many(distinct: int, descending: bool,
                                                              monkeypatch) -> None:
    """Few big groups, many small ones (a page spans several), and so many values that the
    heap takes over: each page still equals the slice of the full sort."""
    rng = random.Random(distinct)
    values = [ObjectEntry(i.to_bytes(28, "big"), owner=f"w{rng.randrange(distinct):04d}")
              for i in range(2400)]
    calls = _counting_sorts(monkeypatch)
    for offset, limit in [(0, 100), (0, 1), (650, 200), (1199, 3), (2300, 100), (0, None)]:
        expected = sorted(values, key=SORT_KEYS["owner"], reverse=descending)
        got = page(values, "owner", descending, offset, limit)
        assert got == expected[offset:None if limit is None else offset + limit], (offset, limit)
    if distinct <= 150:
        # Only the distinct values, and the members of the groups a page spans, are sorted.
        assert all(n < 2400 for n in calls[:-1]), calls
