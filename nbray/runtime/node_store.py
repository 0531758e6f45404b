"""A node's object memory: arena blocks, and spilling to and restoring from the spill target.

Allocation first tries the arena; when it is full, the least recently used
objects that no process is reading are written to the spill target (once:
the copy stays while the object lives) and their blocks reused.  Runs under
the node's lock; it decides nothing about references, only about bytes.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Optional

from .. import exceptions as exc
from ..core import object_directory
from ..core.object_table import SHM, ObjectEntry, ObjectTable
from ..store.allocator import Allocator
from ..store.shm import Arena
from ..store.spill import SpillBackend, spill_failure


class NodeStore:
    def __init__(self, arena: Arena, allocator: Allocator, spill: SpillBackend,
                 table: ObjectTable, stats: Dict[str, int]) -> None:
        self.arena = arena
        self.allocator = allocator
        self.spill = spill
        self.table = table
        self.stats = stats

    def allocate(self, size: int, object_id: bytes) -> int:
        """An arena block of `size` bytes, spilling least recently used objects to make room."""
        offset = self.allocator.allocate(size)
        if offset is None and size <= self.allocator.capacity:
            offset = self.spill_until_fits(size)
        if offset is None:
            self.stats["store_full"] += 1
            if size > self.allocator.capacity:
                raise exc.ObjectStoreFullError(
                    f"object store full: object {object_id.hex()} ({size / 2**20:.1f} MiB) is "
                    f"larger than this node's whole store ({self.allocator.capacity / 2**20:.1f} "
                    f"MiB); call nbray.init(object_store_memory=...) (or nbray start "
                    f"--object-store-memory) with a larger store")
            mapped = sorted((e for e in self.table.entries.values()
                             if e.state == SHM and e.readers and e.offset >= 0),
                            key=lambda e: -e.block)
            mapped_bytes = sum(e.block for e in mapped)
            named = "; ".join(f"{e.object_id.hex()} ({e.block / 2**20:.1f} MiB"
                              + (f", from {e.call_site}" if e.call_site else "") + ")"
                              for e in mapped[:5])
            more = f" and {len(mapped) - 5} more" if len(mapped) > 5 else ""
            raise exc.ObjectStoreFullError(
                f"object store full: cannot store {size / 2**20:.1f} MiB "
                f"(object {object_id.hex()}); {self.allocator.used / 2**20:.1f} MiB of "
                f"{self.allocator.capacity / 2**20:.1f} MiB is in use, of which "
                f"{mapped_bytes / 2**20:.1f} MiB in {len(mapped)} objects cannot be spilled "
                f"because arrays returned by get() still point into them (and the rest is being "
                f"written){': ' + named + more if named else ''}. Delete those arrays (or copy what you need with np.array(x)) and "
                f"ObjectRefs you no longer need, or call nbray.init(object_store_memory=...) "
                f"with a larger store.")
        return offset

    def spill_until_fits(self, size: int) -> Optional[int]:
        candidates = sorted((e for e in self.table.entries.values()
                             if e.state == SHM and not e.readers and e.offset >= 0),
                            key=lambda e: e.last_access)
        for entry in candidates:
            self.spill_entry(entry)
            offset = self.allocator.allocate(size)
            if offset is not None:
                return offset
        return None

    def spill_entry(self, entry: ObjectEntry) -> None:
        url = entry.spill_url   # spilled before, and restored since: that copy is still good
        if url is None:
            view = self.arena.view[entry.offset:entry.offset + entry.block]
            try:
                url = self.spill_write(entry.object_id, [view], entry.block)
            finally:
                view.release()
        self.allocator.free(entry.offset, entry.block)
        object_directory.spilled(self.table, entry, url)

    def spill_write(self, object_id: bytes, chunks: List[Any], size: int) -> str:
        t0 = time.perf_counter()
        try:
            url = self.spill.write(object_id.hex(), chunks)
        except Exception as e:
            self.stats["spill_errors"] += 1
            raise spill_failure(e, (
                f"spilling object {object_id.hex()} ({size / 2**20:.1f} MiB) to {self.spill.url} "
                f"failed: {type(e).__name__}: {e}. Nothing stored was lost; free some objects, "
                f"or give nbray.init(spill_url=...) a target with room.")) from e
        self.stats["spilled_objects"] += 1
        self.stats["spilled_bytes"] += size
        self.stats["spill_ns"] += int((time.perf_counter() - t0) * 1e9)
        return url

    def restore(self, entry: ObjectEntry) -> bool:
        """Bring a spilled object back into the arena; False if it cannot fit."""
        url = entry.spill_url
        if url is None:  # only a spilled object (it has a copy on the target) comes back
            raise exc.ObjectSpillError(f"object {entry.object_id.hex()} has no spilled copy")
        try:
            offset = self.allocate(entry.block, entry.object_id)
        except (exc.ObjectStoreFullError, exc.ObjectSpillError):
            return False
        t0 = time.perf_counter()
        view = self.arena.view[offset:offset + entry.block]
        try:
            self.spill.read_into(url, view)
        except Exception as e:
            self.allocator.free(offset, entry.block)
            raise exc.ObjectSpillError(f"restoring object {entry.object_id.hex()} from "
                                       f"{url} failed: {type(e).__name__}: {e}") from e
        finally:
            view.release()
        object_directory.restored(self.table, entry, offset)
        self.stats["restored_objects"] += 1
        self.stats["restored_bytes"] += entry.block
        self.stats["restore_ns"] += int((time.perf_counter() - t0) * 1e9)
        return True

    def delete_spilled(self, url: str) -> None:
        try:
            self.spill.delete(url)
        except Exception as e:  # the object is gone either way; say so once
            sys.stderr.write(f"nbray: could not delete spilled object {url}: {e}\n")
