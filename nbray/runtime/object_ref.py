"""ObjectRef, and the per-process count of live refs that drives distributed refcounting.

Each process counts its own live ObjectRef instances per object and tells the
node only when a count goes 0 -> 1 (a new holder) or 1 -> 0 (holder gone).
`__del__` may run at any time in any thread (garbage collection), so it only
records the change; the client delivers it in order with its other messages.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from ..ids import OBJECT_ID_SIZE, JobID, TaskID, job_id_of, task_id_of
from ..serialization import note_contained_ref
from . import context


class LocalRefCounter:
    def __init__(self, on_first: Any, on_last: Any) -> None:
        self.counts: Dict[bytes, int] = {}
        self._lock = threading.RLock()
        self._on_first = on_first   # called with the id when this process starts holding it
        self._on_last = on_last     # called with the id when it stops; must not block
        self.active = True

    def add(self, object_id: bytes, registered: bool = False) -> None:
        """One more live ObjectRef; `registered`: the node already counts this process."""
        with self._lock:
            n = self.counts.get(object_id, 0)
            self.counts[object_id] = n + 1
        if n == 0 and not registered and self.active:
            self._on_first(object_id)
        elif n > 0 and registered and self.active:
            # The node counted us again for a ref we already held: give that back.
            self._on_last(object_id)

    def remove(self, object_id: bytes) -> None:
        with self._lock:
            n = self.counts.get(object_id, 0) - 1
            if n > 0:
                self.counts[object_id] = n
                return
            self.counts.pop(object_id, None)
        if n == 0 and self.active:
            self._on_last(object_id)

    def count(self, object_id: bytes) -> int:
        return self.counts.get(object_id, 0)


class ObjectRef:
    """A reference to an immutable object in the cluster's object store.

    Hashable, comparable, and picklable inside other values: a ref pickled inside
    another object keeps the object alive (nested refs) and arrives as a ref.
    """

    __slots__ = ("_id", "_counter", "__weakref__")

    def __init__(self, object_id: bytes, _registered: bool = False) -> None:
        if type(object_id) is not bytes:
            raise TypeError(f"Unsupported type: {type(object_id)}, expected bytes")
        if len(object_id) != OBJECT_ID_SIZE:
            raise ValueError(f"ID string needs to have length {OBJECT_ID_SIZE}, got {len(object_id)}")
        self._id = object_id
        client = context.current_client()
        counter = client.ref_counter if client is not None else None
        self._counter = counter
        if counter is not None:
            counter.add(object_id, _registered)

    def __del__(self) -> None:
        counter = self._counter
        if counter is not None:
            try:
                counter.remove(self._id)
            except Exception:  # interpreter shutdown
                pass

    # -- identity -------------------------------------------------------------
    def binary(self) -> bytes:
        return self._id

    def hex(self) -> str:
        return self._id.hex()

    @classmethod
    def size(cls) -> int:
        """Length of an object id in bytes (28, as in Ray): not the size of the object."""
        return OBJECT_ID_SIZE

    def task_id(self) -> TaskID:
        """The id of the task that makes this object (its lineage)."""
        return TaskID(task_id_of(self._id))

    def job_id(self) -> JobID:
        return JobID(job_id_of(self._id))

    def is_nil(self) -> bool:
        return self._id == _NIL

    @classmethod
    def nil(cls) -> "ObjectRef":
        """A ref that refers to nothing (all bytes 0xff)."""
        return cls(_NIL)

    @classmethod
    def from_binary(cls, object_id: bytes) -> "ObjectRef":
        return cls(object_id)

    @classmethod
    def from_hex(cls, hex_id: str) -> "ObjectRef":
        return cls(bytes.fromhex(hex_id))

    @classmethod
    def from_random(cls) -> "ObjectRef":
        import os

        return cls(os.urandom(OBJECT_ID_SIZE))

    def call_site(self) -> str:
        """Where the object was created, as Ray reports it without call-site recording."""
        return ""

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"ObjectRef({self._id.hex()})"

    def _repr_html_(self) -> str:
        from .._repr import object_ref_html

        return object_ref_html(self)

    def __reduce__(self):
        note_contained_ref(self._id)
        return (_rebuild_ref, (self._id,))

    def __copy__(self) -> "ObjectRef":
        return ObjectRef(self._id)

    def __deepcopy__(self, memo: Any) -> "ObjectRef":
        return ObjectRef(self._id)

    # -- futures ----------------------------------------------------------------
    def result(self, timeout: Optional[float] = None) -> Any:
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        from .blocking import check_timeout, get_one

        return get_one(self._id, check_timeout(timeout, "get()"))

    def future(self):
        """A concurrent.futures.Future resolved with the value (or the error)."""
        import concurrent.futures

        fut: concurrent.futures.Future = concurrent.futures.Future()

        def resolve() -> None:
            try:
                fut.set_result(self.result())
            except BaseException as e:  # noqa: BLE001 - handed to the future
                fut.set_exception(e)

        threading.Thread(target=resolve, daemon=True, name="nbray-future").start()
        return fut

    def as_future(self):
        """An asyncio future of the value, for the running event loop (Ray's older spelling
        of `asyncio.wrap_future(ref.future())`)."""
        import asyncio

        return asyncio.wrap_future(self.future())

    def __await__(self):
        import asyncio

        return asyncio.wrap_future(self.future()).__await__()


_NIL = b"\xff" * OBJECT_ID_SIZE


def _rebuild_ref(object_id: bytes) -> ObjectRef:
    return ObjectRef(object_id)

