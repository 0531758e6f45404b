"""What a caller gets back from a generator task: ObjectRefGenerator and DynamicObjectRefGenerator.

`f.remote()` on a generator function returns an ObjectRefGenerator (Ray's default,
num_returns="streaming"): iterating it gives one ObjectRef per value, each as soon as
the task has yielded it, while the task is still running.  When the task raised, the
refs of the values yielded before stay good, the next ref raises the task's error, and
then the iteration stops; when the task died or was cancelled, the last ref is the
task's own return object (`completed()`), which raises that error.

With num_returns="dynamic" the task returns one ref, ready when the task has finished,
whose value is a DynamicObjectRefGenerator: the refs of every value it yielded.

The node keeps each stream (`node_streams.py`); this module only asks it for the next
item and tells it when a generator goes away, so the items it never handed out are freed.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Deque, Iterable, Iterator, Optional

from ..ids import task_id_of
from .blocking import get_one
from .notebook_port import report_interrupt
from .object_ref import ObjectRef

_END = object()   # what a blocking wait hands to asyncio instead of StopIteration


class ObjectRefGenerator:
    """The refs of a generator task's values, each available as soon as it is yielded.

    Supports `for ref in gen`, `next(gen)`, `async for ref in gen` and `await gen.__anext__()`,
    `ray.wait([gen])` (ready when `next(gen)` would not block), `ray.cancel(gen)`, and
    `completed()`.  It cannot be passed to another task or pickled (as in Ray).
    """

    def __init__(self, generator_ref: ObjectRef, client: Any) -> None:
        self._generator_ref = generator_ref
        self._task_id = task_id_of(generator_ref.binary())   # bytes, as on the wire
        self._client = client
        self._error_returned = False   # the return object's error was handed out already
        self._lock = threading.Lock()  # next() from two threads must not take one item twice

    # -- the iterator protocols -------------------------------------------------------
    def __iter__(self) -> "ObjectRefGenerator":
        return self

    def __next__(self) -> ObjectRef:
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        with self._lock:
            try:
                kind, oid = self._client.stream_next(self._task_id, True, None)
            except KeyboardInterrupt:
                # a notebook cancels the task
                report_interrupt([self._generator_ref.binary()])
                raise
            return self._hand_out(kind, oid)

    def __aiter__(self) -> "ObjectRefGenerator":
        return self

    async def __anext__(self) -> ObjectRef:
        import asyncio

        with self._lock:
            kind, oid = self._client.stream_next(self._task_id, True, 0)
        if kind == "pending":
            # Wait in a thread so the event loop keeps running (as awaiting an ObjectRef does).
            future: Any = _in_thread(self._next_or_end)
            ref = await asyncio.wrap_future(future)
        else:
            ref = self._hand_out_or_end(kind, oid)
        if ref is _END:
            raise StopAsyncIteration
        return ref

    def _next_or_end(self) -> Any:
        try:
            return self.__next__()
        except StopIteration:
            return _END

    def _hand_out_or_end(self, kind: str, oid: Optional[bytes]) -> Any:
        try:
            return self._hand_out(kind, oid)
        except StopIteration:
            return _END

    def _hand_out(self, kind: str, oid: Optional[bytes]) -> ObjectRef:
        if kind == "item":
            assert oid is not None
            return ObjectRef(oid, _registered=True)  # the stream's hold becomes this ref's
        if kind != "end":
            raise RuntimeError(f"unexpected answer {kind!r} for the next item of a generator")
        if self._error_returned or not self._ended_with_error():
            raise StopIteration
        self._error_returned = True
        return self._generator_ref

    def _ended_with_error(self) -> bool:
        try:
            get_one(self._generator_ref.binary(), None)
        except Exception:  # a crash or cancellation: the return object holds the error
            return True
        return False

    def send(self, value: Any) -> Any:
        raise NotImplementedError("`gen.send` is not supported (as in Ray).")

    def throw(self, *args: Any) -> Any:
        raise NotImplementedError("`gen.throw` is not supported (as in Ray).")

    def close(self) -> None:
        raise NotImplementedError("`gen.close` is not supported (as in Ray).")

    async def asend(self, value: Any) -> Any:
        raise NotImplementedError("`gen.asend` is not supported (as in Ray).")

    async def athrow(self, *args: Any) -> Any:
        raise NotImplementedError("`gen.athrow` is not supported (as in Ray).")

    async def aclose(self) -> None:
        raise NotImplementedError("`gen.aclose` is not supported (as in Ray).")

    # -- state ------------------------------------------------------------------------
    def completed(self) -> ObjectRef:
        """A ref that is ready when the task has ended; get() on it raises the error of a
        task that crashed or was cancelled (a raised exception arrives as an item instead)."""
        return self._generator_ref

    def next_ready(self) -> bool:
        """True if `next(gen)` would return a ref at once (without waiting)."""
        kind, _ = self._client.stream_next(self._task_id, False, 0)
        if kind == "item":
            return True
        return kind == "end" and not self._error_returned and self._ended_with_error()

    def is_finished(self) -> bool:
        """True once the task has ended and every ref was taken: next() raises StopIteration."""
        kind, _ = self._client.stream_next(self._task_id, False, 0)
        if kind != "end":
            return False
        return self._error_returned or not self._ended_with_error()

    # -- identity and lifetime ---------------------------------------------------------
    def task_id(self) -> bytes:
        return self._task_id

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._task_id.hex()})"

    def __reduce__(self) -> Any:
        raise TypeError("You cannot return or pass a generator to other task: an "
                        "ObjectRefGenerator cannot be serialized (as in Ray). Pass the refs it "
                        "yields instead, e.g. list(gen).")

    def __del__(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            if client.ref_counter.active:
                client.stream_release(self._task_id)
        except Exception:  # interpreter shutdown
            pass


class DynamicObjectRefGenerator:
    """The value of a num_returns="dynamic" task's ref: the refs of every value it yielded.

    Iterating takes the refs out (as Ray's does); `len()` says how many are left.
    """

    def __init__(self, refs: Iterable[ObjectRef]) -> None:
        self._refs: Deque[ObjectRef] = collections.deque(refs)

    def __iter__(self) -> Iterator[ObjectRef]:
        while self._refs:
            yield self._refs.popleft()

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"


def _in_thread(fn: Any) -> Any:
    import concurrent.futures

    future: concurrent.futures.Future = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(e)

    threading.Thread(target=run, daemon=True, name="nbray-generator-next").start()
    return future


# Older Ray releases call it this; some code still imports that name.
StreamingObjectRefGenerator = ObjectRefGenerator

__all__ = ["ObjectRefGenerator", "DynamicObjectRefGenerator", "StreamingObjectRefGenerator"]
