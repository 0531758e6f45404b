"""Identifiers: tasks, objects, workers, nodes and actors, as bytes with hex forms.

An object id is the id of the task that makes it plus a 4-byte return index, so
lineage (which task to re-run) can be read off the id itself.  `put` objects
get a task id of their own, with the index PUT_INDEX.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading

TASK_ID_SIZE = 16
OBJECT_ID_SIZE = TASK_ID_SIZE + 4
PUT_INDEX = 0xFFFFFFFF

_INDEX = struct.Struct(">I")


class IdGenerator:
    """Process-local source of unique task ids: a random prefix plus a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def reset_after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]

    def task_id(self) -> bytes:
        # itertools.count is atomic under the GIL; the lock keeps free-threaded builds honest.
        with self._lock:
            n = next(self._counter)
        return self._prefix + n.to_bytes(8, "big")

    def put_object_id(self) -> bytes:
        return self.task_id() + _INDEX.pack(PUT_INDEX)


def object_id_for_return(task_id: bytes, index: int) -> bytes:
    return task_id + _INDEX.pack(index)


def task_id_of(object_id: bytes) -> bytes:
    return object_id[:TASK_ID_SIZE]


def return_index_of(object_id: bytes) -> int:
    return _INDEX.unpack_from(object_id, TASK_ID_SIZE)[0]


def is_put_object(object_id: bytes) -> bool:
    return return_index_of(object_id) == PUT_INDEX


def random_id(nbytes: int = 16) -> bytes:
    return os.urandom(nbytes)


ids = IdGenerator()
