"""How one serialized object is laid out in a block of the arena.

    header   magic "NBR1", buffer count n, metadata length
    n x      (offset from block start, length) of each out-of-band buffer
    metadata the pickle stream
    buffers  each aligned to 64 bytes

Any process that knows (offset, size) of the block can read the object back
without asking anyone, and buffers come back as read-only views of the mapping.
"""

from __future__ import annotations

import struct
import weakref
import threading
from typing import Callable, List, Optional, Sequence, Tuple

from .allocator import align

MAGIC = b"NBR1"
_HEADER = struct.Struct("<4sIQ")
_ENTRY = struct.Struct("<QQ")

# Copies above this size are split over two threads (numpy releases the GIL);
# below it thread hand-off costs more than it saves.
PARALLEL_COPY_BYTES = 32 * 2**20


def layout_size(meta_len: int, buffer_lengths: Sequence[int]) -> int:
    pos = align(_HEADER.size + _ENTRY.size * len(buffer_lengths) + meta_len)
    for n in buffer_lengths:
        pos = align(pos + n)
    return max(pos, 64)


def write_object(view: memoryview, offset: int, meta: bytes,
                 buffers: Sequence[memoryview]) -> int:
    """Write the object at `offset` of `view`; returns the bytes used."""
    nbuf = len(buffers)
    head_end = offset + _HEADER.size + _ENTRY.size * nbuf
    _HEADER.pack_into(view, offset, MAGIC, nbuf, len(meta))
    view[head_end:head_end + len(meta)] = meta
    pos = align(head_end + len(meta) - offset)
    for i, buf in enumerate(buffers):
        n = buf.nbytes
        _ENTRY.pack_into(view, offset + _HEADER.size + _ENTRY.size * i, pos, n)
        _copy_into(view, offset + pos, buf)
        pos = align(pos + n)
    return max(pos, 64)


def _copy_into(view: memoryview, at: int, buf: memoryview) -> None:
    src = buf.cast("B") if buf.format != "B" or buf.ndim != 1 else buf
    n = src.nbytes
    if n < PARALLEL_COPY_BYTES:
        view[at:at + n] = src
        return
    import numpy as np  # only objects this large pay for the import

    dst = np.frombuffer(view, dtype=np.uint8, count=n, offset=at)
    srcarr = np.frombuffer(src, dtype=np.uint8)
    half = (n // 2) // 4096 * 4096
    # A thread per large copy (tens of microseconds against milliseconds of copying)
    # leaves nothing running between puts.
    helper = threading.Thread(target=np.copyto, args=(dst[:half], srcarr[:half]),
                              name="nbray-copy", daemon=True)
    helper.start()
    np.copyto(dst[half:], srcarr[half:])
    helper.join()


def read_object(view: memoryview, offset: int,
                on_release: Optional[Callable[[], None]] = None
                ) -> Tuple[memoryview, List[memoryview], bool]:
    """Metadata and read-only buffer views of the object at `offset`.

    Returns (meta, buffers, pinned).  When the object has buffers and
    `on_release` is given, the buffers share one numpy base array whose
    finalizer calls `on_release` once every view of them is gone: until then
    the block must not be reused.  pinned says whether that happened.
    """
    magic, nbuf, meta_len = _HEADER.unpack_from(view, offset)
    if magic != MAGIC:
        raise ValueError(f"corrupt object header at arena offset {offset}")
    head_end = offset + _HEADER.size + _ENTRY.size * nbuf
    meta = view[head_end:head_end + meta_len]
    if not nbuf:
        return meta, [], False
    entries = [_ENTRY.unpack_from(view, offset + _HEADER.size + _ENTRY.size * i) for i in range(nbuf)]
    end = max(pos + n for pos, n in entries)
    import numpy as np

    base = np.frombuffer(view, dtype=np.uint8, count=end, offset=offset)
    base.flags.writeable = False
    pinned = False
    if on_release is not None:
        weakref.finalize(base, on_release)
        pinned = True
    # numpy's stubs declare the buffer protocol only for Python >= 3.12 targets
    whole = memoryview(base)  # type: ignore[arg-type]
    return meta, [whole[pos:pos + n] for pos, n in entries], pinned


def read_bytes(view: memoryview, offset: int, size: int) -> bytes:
    return bytes(view[offset:offset + size])


__all__ = ["layout_size", "layout_chunks", "write_object", "read_object", "read_bytes"]


def layout_chunks(meta: bytes, buffers: Sequence[memoryview]) -> List[object]:
    """The bytes write_object would put in a block, as chunks (for writing to a spill target)."""
    nbuf = len(buffers)
    head = bytearray(_HEADER.size + _ENTRY.size * nbuf)
    _HEADER.pack_into(head, 0, MAGIC, nbuf, len(meta))
    head += meta
    pos = align(len(head))
    entries = []
    for buf in buffers:
        entries.append((pos, buf.nbytes))
        pos = align(pos + buf.nbytes)
    for i, (off, n) in enumerate(entries):
        _ENTRY.pack_into(head, _HEADER.size + _ENTRY.size * i, off, n)
    chunks: List[object] = []
    head += bytes(align(len(head)) - len(head))
    chunks.append(head)
    total = len(head)
    for buf, (off, n) in zip(buffers, entries):
        chunks.append(buf.cast("B") if buf.format != "B" or buf.ndim != 1 else buf)
        end = align(off + n)
        if end - off - n:
            chunks.append(bytes(end - off - n))
        total = end
    if total < 64:
        chunks.append(bytes(64 - total))
    return chunks
