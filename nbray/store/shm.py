"""The shared-memory arena: one memfd per node, mapped once by every process of the node.

The arena is an anonymous memfd (or, where memfd_create is missing, a /dev/shm
file unlinked at once), so it has no name in /dev/shm and the kernel reclaims
it when the last process holding it exits, however that process dies.  Pages
are touched only when written: an idle arena costs no memory.
"""

from __future__ import annotations

import mmap
import os
import tempfile


def create_arena_fd(capacity: int) -> int:
    """A new, zero-length-until-written shared-memory file of `capacity` bytes."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("nbray-arena", 0)
    else:  # pragma: no cover - non-Linux fallback
        fd, path = tempfile.mkstemp(prefix="nbray-arena-", dir="/dev/shm")
        os.unlink(path)
    try:
        os.ftruncate(fd, capacity)
    except OSError:
        os.close(fd)
        raise
    os.set_inheritable(fd, True)
    return fd


class Arena:
    """A read-write mapping of the node's arena in this process."""

    def __init__(self, fd: int, capacity: int, owns_fd: bool = True) -> None:
        self.fd = fd
        self.capacity = capacity
        self._owns_fd = owns_fd
        self.map = mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.map)

    def close(self) -> None:
        try:
            self.view.release()
            self.map.close()
        except BufferError:
            # Zero-copy arrays handed to the user still point into the mapping;
            # the kernel unmaps it when they and this process are gone.
            pass
        if self._owns_fd and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
