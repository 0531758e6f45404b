"""Identifiers: tasks, objects, workers, nodes and actors, as bytes with hex forms.

Sizes are Ray's, so ids print the way Ray users expect (an ObjectRef shows 56 hex
digits):

- a task id is 24 bytes: 8 that differ for every task of a process (a scrambled
  counter, so even the first hex digits tell tasks apart), 12 random bytes drawn
  once per process, and the 4-byte job id;
- an object id is the id of the task that makes it plus a 4-byte return index,
  so lineage (which task to re-run) can be read off the id itself.  `put`
  objects get a task id of their own, with the index PUT_INDEX;
- an actor id is 16 bytes: 12 random bytes and the job id; the task that
  creates the actor has the id ff..ff (8 bytes) + actor id, as in Ray;
- a job id is 4 bytes, a node id 28.

`BaseID` and its subclasses are the typed views Ray's API hands out
(`ref.task_id()`, `ref.job_id()`); inside nbray ids travel as plain bytes.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
from typing import Any, Type, TypeVar

TASK_ID_SIZE = 24
OBJECT_ID_SIZE = TASK_ID_SIZE + 4
ACTOR_ID_SIZE = 16
JOB_ID_SIZE = 4
NODE_ID_SIZE = 28
PUT_INDEX = 0xFFFFFFFF
NIL_TASK_PREFIX = b"\xff" * (TASK_ID_SIZE - ACTOR_ID_SIZE)

_INDEX = struct.Struct(">I")
_M64 = (1 << 64) - 1
_ODD = 0x9E3779B97F4A7C15   # odd, so n -> n * _ODD mod 2**64 is a bijection: no two counters collide


class IdGenerator:
    """Process-local source of unique task ids: a scrambled counter plus a random part."""

    def __init__(self, job_id: bytes = b"\0" * JOB_ID_SIZE) -> None:
        self._salt = int.from_bytes(os.urandom(8), "big")
        self._prefix = os.urandom(12)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.set_job_id(job_id)

    def reset_after_fork(self) -> None:
        self.__init__(self._job)  # type: ignore[misc]

    def set_job_id(self, job_id: Any) -> None:
        """The job new ids belong to: 4 bytes, or their 8 hex digits."""
        raw = bytes.fromhex(job_id) if isinstance(job_id, str) else bytes(job_id)
        if len(raw) != JOB_ID_SIZE:
            raise ValueError(f"a job id is {JOB_ID_SIZE} bytes, got {len(raw)}")
        self._job = raw
        self._tail = self._prefix + raw

    @property
    def job_id(self) -> bytes:
        return self._job

    def task_id(self) -> bytes:
        # itertools.count is atomic under the GIL; the lock keeps free-threaded builds honest.
        with self._lock:
            n = next(self._counter)
        head = ((n * _ODD) & _M64) ^ self._salt
        return head.to_bytes(8, "big") + self._tail

    def put_object_id(self) -> bytes:
        return self.task_id() + _INDEX.pack(PUT_INDEX)

    def actor_id(self) -> bytes:
        return os.urandom(ACTOR_ID_SIZE - JOB_ID_SIZE) + self._job


def object_id_for_return(task_id: bytes, index: int) -> bytes:
    return task_id + _INDEX.pack(index)


def task_id_of(object_id: bytes) -> bytes:
    return object_id[:TASK_ID_SIZE]


def return_index_of(object_id: bytes) -> int:
    return _INDEX.unpack_from(object_id, TASK_ID_SIZE)[0]


def is_put_object(object_id: bytes) -> bool:
    return return_index_of(object_id) == PUT_INDEX


def actor_creation_task_id(actor_id: bytes) -> bytes:
    """The id of the task that creates (and re-creates) an actor."""
    return NIL_TASK_PREFIX + actor_id


def job_id_of(task_id: bytes) -> bytes:
    return task_id[TASK_ID_SIZE - JOB_ID_SIZE:TASK_ID_SIZE]


def random_id(nbytes: int = 16) -> bytes:
    return os.urandom(nbytes)


def new_node_id() -> str:
    """The hex id of a new node (Ray's NodeID length)."""
    return os.urandom(NODE_ID_SIZE).hex()


_T = TypeVar("_T", bound="BaseID")


class BaseID:
    """An immutable id of fixed length, compared and hashed by its bytes (Ray's BaseID)."""

    SIZE = 0
    __slots__ = ("_bytes",)

    def __init__(self, id_bytes: bytes) -> None:
        if not isinstance(id_bytes, bytes):
            raise TypeError(f"Unsupported type: {type(id_bytes)}, expected bytes")
        if len(id_bytes) != self.SIZE:
            raise ValueError(f"ID string needs to have length {self.SIZE}, got {len(id_bytes)}")
        self._bytes = id_bytes

    @classmethod
    def size(cls) -> int:
        """Length of this kind of id in bytes (a class constant, not an object's size)."""
        return cls.SIZE

    @classmethod
    def from_binary(cls: Type[_T], id_bytes: bytes) -> _T:
        return cls(id_bytes)

    @classmethod
    def from_hex(cls: Type[_T], hex_id: str) -> _T:
        return cls(bytes.fromhex(hex_id))

    @classmethod
    def nil(cls: Type[_T]) -> _T:
        return cls(b"\xff" * cls.SIZE)

    def is_nil(self) -> bool:
        return self._bytes == b"\xff" * self.SIZE

    def binary(self) -> bytes:
        return self._bytes

    def hex(self) -> str:
        return self._bytes.hex()

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._bytes == self._bytes

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._bytes.hex()})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        return (type(self), (self._bytes,))


class JobID(BaseID):
    SIZE = JOB_ID_SIZE
    __slots__ = ()


class ActorID(BaseID):
    SIZE = ACTOR_ID_SIZE
    __slots__ = ()

    def job_id(self) -> JobID:
        return JobID(self._bytes[-JOB_ID_SIZE:])


class TaskID(BaseID):
    SIZE = TASK_ID_SIZE
    __slots__ = ()

    def job_id(self) -> JobID:
        return JobID(job_id_of(self._bytes))


class NodeID(BaseID):
    SIZE = NODE_ID_SIZE
    __slots__ = ()


ids = IdGenerator()
