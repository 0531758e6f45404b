"""One sorted page of the object listing, without sorting every object.

`page(entries, sort_by, descending, offset, limit)` returns exactly
`sorted(entries, key=SORT_KEYS[sort_by], reverse=descending)[offset:offset + limit]`
(ties in the order of `entries`, as Python's stable sort keeps them), at a cost that
grows with the number of objects, not with a sort of them:

- numeric keys (size, created, last_access): one pass reads the keys into an array,
  a partition finds the page's first and last key, and only the candidates between
  them are sorted; any offset costs the same.
- text keys (type, where, call_site, owner) usually take few values: one pass counts the
  objects per value, the sorted values say which groups the page falls in, and the page
  is read from those groups in table order (a pass that stops once the page is full);
  any offset costs the same.
- object_id (and a text key with many distinct values): a heap of offset + limit
  entries from whichever end of the order is nearer; a page from the middle of a very
  long list falls back to a full sort.

Nothing is kept between calls: pages are computed on the table as it is, so objects put
or freed between two pages are simply there or not on the next one.  Pure (no clocks,
threads or I/O), but outside `nbray/core/` because it computes with numpy.
"""

from __future__ import annotations

import heapq
from collections import Counter
from itertools import compress, islice, repeat
from operator import attrgetter, eq
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..core.object_table import ObjectEntry

SORT_KEYS: Dict[str, Callable[[ObjectEntry], Any]] = {
    "size": attrgetter("size"),
    "created": attrgetter("created_at"),
    "last_access": attrgetter("last_access"),
    "object_id": attrgetter("object_id"),
    "type": attrgetter("type_name"),
    "where": attrgetter("state"),
    "call_site": attrgetter("call_site"),
    "owner": attrgetter("owner"),
}

# Keys read into a numpy array (the dtype they are read as).
_NUMERIC: Dict[str, Any] = {"size": np.int64, "created": np.float64, "last_access": np.float64}
# Keys no two entries share (ties impossible), so a heap may scan in either direction.
_UNIQUE = frozenset({"object_id"})
# A heap of more than this fraction of the entries is slower than sorting them all.
_HEAP_FRACTION = 8
# Text keys with more distinct values than this fraction of the entries go to the heap.
_GROUPS_FRACTION = 16
# A page spanning more groups than this is read in one pass and sorted, not group by group.
_GROUP_PASSES = 4


def page(entries: Any, sort_by: str, descending: bool, offset: int,
         limit: Optional[int]) -> List[ObjectEntry]:
    """sorted(entries, key=SORT_KEYS[sort_by], reverse=descending)[offset:offset + limit].

    `entries` is a list or a dict's values view (sized and reversible)."""
    key = SORT_KEYS[sort_by]
    n = len(entries)
    end = n if limit is None else min(n, offset + limit)
    if offset >= end:
        return []
    if sort_by in _NUMERIC:
        values = list(entries)
        keys = np.fromiter(map(key, values), dtype=_NUMERIC[sort_by], count=n)
        return [values[i] for i in select(keys, offset, end, descending)]
    if sort_by not in _UNIQUE:
        values = list(entries)
        counts = Counter(map(key, values))
        if len(counts) * _GROUPS_FRACTION <= n:
            return _group_page(values, key, counts, descending, offset, end)
    return _heap_page(entries, key, sort_by in _UNIQUE, descending, offset, end)


def _group_page(values: List[ObjectEntry], key: Callable[[ObjectEntry], Any],
                counts: "Counter[Any]", descending: bool, offset: int,
                end: int) -> List[ObjectEntry]:
    """The page, from groups of equal keys (`counts`: objects per key value), each group
    in table order as a stable sort leaves it."""
    groups = []   # (key value, members to skip, members to take)
    start = 0     # position of the group's first member in the sorted order
    for value in sorted(counts, reverse=descending):
        size = counts[value]
        if start + size > offset:
            skip = max(0, offset - start)
            groups.append((value, skip, min(size, end - start) - skip))
        start += size
        if start >= end:
            break
    if len(groups) <= _GROUP_PASSES:
        out: List[ObjectEntry] = []
        for value, skip, take in groups:
            members = compress(values, map(eq, map(key, values), repeat(value)))
            out += islice(members, skip, skip + take)   # stops once the page is full
        return out
    # Many small groups: one pass for all of them, then a sort of just those members.
    wanted = {value for value, _, _ in groups}
    chosen = sorted(compress(values, map(wanted.__contains__, map(key, values))), key=key,
                    reverse=descending)
    first_skip = groups[0][1]
    return chosen[first_skip:first_skip + end - offset]


def select(keys: "np.ndarray[Any, Any]", offset: int, end: int, descending: bool) -> List[int]:
    """Positions offset..end-1 of the stable order of `keys` (ascending, or descending with
    ties still in position order, as sorted(reverse=True) keeps them), in that order.

    Costs one partition and comparisons over all keys plus a sort of the candidates whose
    key lies between the page's first and last key (the page, and the ties at its edges)."""
    if descending:
        keys = -keys   # ties keep position order, as in sorted(..., reverse=True)
    first, last = np.partition(keys, (offset, end - 1))[[offset, end - 1]]
    before = int(np.count_nonzero(keys < first))
    candidates = np.flatnonzero((keys >= first) & (keys <= last))
    if first != last:   # equal keys are already in position order
        candidates = candidates[np.argsort(keys[candidates], kind="stable")]
    return [int(i) for i in candidates[offset - before:end - before]]


def _heap_page(entries: Any, key: Callable[[ObjectEntry], Any], unique: bool,
               descending: bool, offset: int, end: int) -> List[ObjectEntry]:
    n = len(entries)
    front, back = end, n - offset   # entries a heap needs from each end of the order
    if min(front, back) * _HEAP_FRACTION > n:
        return sorted(entries, key=key, reverse=descending)[offset:end]
    if front <= back:
        smallest = not descending
        count, scan = front, entries
    else:
        # The last `back` entries of the order are the first of the mirrored order (keys
        # reversed and, for ties, positions reversed too): scan from the end for them.
        smallest = descending
        count, scan = back, reversed(entries)
    if unique:
        # No ties, so either direction gives the same answer: scan the one that meets the
        # winners first (ids of puts count up), so the heap is seldom replaced.
        scan = entries if smallest else reversed(entries)
    chosen = (heapq.nsmallest if smallest else heapq.nlargest)(count, scan, key=key)
    if front <= back:
        return chosen[offset:]
    chosen.reverse()
    return chosen[:end - offset]


__all__ = ["SORT_KEYS", "page", "select"]
