"""First-fit allocation of byte ranges inside the arena (pure, no I/O).

First fit at the lowest address reuses memory that was written before, whose
pages are already faulted in: a put into reused pages runs at memcpy speed,
one into fresh pages is bound by page faults (about ten times slower).
"""

from __future__ import annotations

import bisect
from typing import Dict, List, Optional

ALIGNMENT = 64


def align(n: int, alignment: int = ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


class Allocator:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._starts: List[int] = [0]          # sorted starts of free blocks
        self._free: Dict[int, int] = {0: capacity}  # start -> size
        self._by_end: Dict[int, int] = {capacity: 0}  # end -> start

    def allocate(self, size: int) -> Optional[int]:
        """Offset of a free block of at least `size` bytes, or None when none fits."""
        size = align(max(size, 1))
        for start in self._starts:
            block = self._free[start]
            if block >= size:
                self._remove(start)
                if block > size:
                    self._insert(start + size, block - size)
                self.used += size
                return start
        return None

    def free(self, offset: int, size: int) -> None:
        size = align(max(size, 1))
        self.used -= size
        start, end = offset, offset + size
        prev_start = self._by_end.get(start)
        if prev_start is not None:  # merge with the block before
            prev_size = self._free[prev_start]
            self._remove(prev_start)
            start = prev_start
            size += prev_size
        next_size = self._free.get(end)
        if next_size is not None:  # merge with the block after
            self._remove(end)
            size += next_size
        self._insert(start, size)

    def largest_free(self) -> int:
        return max(self._free.values(), default=0)

    @property
    def free_bytes(self) -> int:
        return self.capacity - self.used

    def _insert(self, start: int, size: int) -> None:
        bisect.insort(self._starts, start)
        self._free[start] = size
        self._by_end[start + size] = start

    def _remove(self, start: int) -> None:
        size = self._free.pop(start)
        del self._by_end[start + size]
        del self._starts[bisect.bisect_left(self._starts, start)]
