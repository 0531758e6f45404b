"""The results of a Pool's calls: a job per map / apply / imap call, cut into chunks.

`Job` hands out the chunks of one call and collects their outcomes; `AsyncResult`
(apply_async, map_async, starmap_async) and `IMapIterator` (imap, imap_unordered) are
what the caller holds, with multiprocessing's API.  The pool's dispatcher thread feeds
them chunk outcomes; their callbacks run on that thread, as on multiprocessing's result
thread.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from multiprocessing import TimeoutError
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple

from .pool_process import Batch, CallFailure

__all__ = ["AsyncResult", "IMapIterator", "Job"]

logger = logging.getLogger("nbray.util.multiprocessing.pool")  # the logger it always had


class Job:
    """Hands out the chunks of one call and collects their outcomes."""

    def __init__(self, func_ref: Any, iterator: Iterator[Any], chunksize: int,
                 star: bool, kwargs_items: bool = False) -> None:
        self.func_ref = func_ref
        self._iterator = iterator
        self._chunksize = chunksize
        self._star = star
        self._kwargs_items = kwargs_items
        self.exhausted = False
        self.submitted = 0
        self.completed = 0
        self._lookahead: List[Any] = []

    def next_batch(self) -> Optional[Tuple[int, Batch]]:
        """The next chunk (index, calls), or None when the input is used up.

        Reads one item past the chunk, so `exhausted` is known as soon as the last chunk
        is handed out (and the job can finish when that chunk does).
        """
        if self.exhausted:
            return None
        try:
            items = self._lookahead + list(itertools.islice(
                self._iterator, self._chunksize - len(self._lookahead)))
            self._lookahead = list(itertools.islice(self._iterator, 1))
        except Exception as e:  # noqa: BLE001 - the caller's iterable raised
            self.exhausted = True
            self.on_input_error(e)
            return None
        if not self._lookahead:
            self.exhausted = True
        if not items:
            return None
        if self._kwargs_items:
            batch = [(tuple(a), dict(k)) for a, k in items]
        elif self._star:
            batch = [(tuple(a), {}) for a in items]
        else:
            batch = [((a,), {}) for a in items]
        index = self.submitted
        self.submitted += 1
        return index, batch

    @property
    def finished(self) -> bool:
        return self.exhausted and self.completed == self.submitted

    # Subclasses say what a chunk's outcome means to their caller.
    def on_chunk(self, index: int, outcome: Any) -> None:
        raise NotImplementedError

    def on_input_error(self, error: BaseException) -> None:
        raise NotImplementedError

    def on_abort(self, error: BaseException) -> None:
        raise NotImplementedError


class AsyncResult(Job):
    """The result of `apply_async` / `map_async` / `starmap_async`, as in multiprocessing."""

    def __init__(self, func_ref: Any, iterator: Iterator[Any], chunksize: int, star: bool,
                 single: bool, callback: Optional[Callable[[Any], Any]],
                 error_callback: Optional[Callable[[BaseException], Any]],
                 kwargs_items: bool = False) -> None:
        super().__init__(func_ref, iterator, chunksize, star, kwargs_items)
        self._single = single
        self._callback = callback
        self._error_callback = error_callback
        self._chunks: Dict[int, List[Any]] = {}
        self._event = threading.Event()
        self._finishing = False
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def _finish(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        if self._event.is_set() or self._finishing:
            return
        self._finishing = True
        self._value, self._error = value, error
        try:
            # Before the result is ready, as in multiprocessing: get() returns after it ran.
            if error is None and self._callback is not None:
                self._callback(value)
            elif error is not None and self._error_callback is not None:
                self._error_callback(error)
        except Exception:  # noqa: BLE001 - as multiprocessing: a callback's error is logged
            logger.exception("a Pool result callback raised")
        finally:
            self._event.set()

    def finish_empty(self) -> None:
        """Finish at once with []: a map over an empty iterable, for which no chunk runs."""
        self.exhausted = True
        self._finish([])

    def on_chunk(self, index: int, outcome: Any) -> None:
        if isinstance(outcome, BaseException):  # the whole chunk failed (actor died...)
            self._finish(error=outcome)
            return
        for item in outcome:
            if isinstance(item, CallFailure):
                # As multiprocessing: the first error makes the result ready at once.
                self._finish(error=item.rebuild())
                return
        self._chunks[index] = outcome
        if self.finished:
            values = [v for i in sorted(self._chunks) for v in self._chunks[i]]
            self._finish(values[0] if self._single else values)

    def on_input_error(self, error: BaseException) -> None:
        self._finish(error=error)

    def on_abort(self, error: BaseException) -> None:
        self._finish(error=error)

    def ready(self) -> bool:
        """True once the call has finished (successfully or not)."""
        return self._event.is_set()

    def successful(self) -> bool:
        """True if the call finished without raising.

        Raises:
            ValueError: the result is not ready yet.
        """
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._error is None

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait until the result is ready, or `timeout` seconds pass."""
        self._event.wait(timeout)

    def get(self, timeout: Optional[float] = None) -> Any:
        """The result, waiting up to `timeout` seconds; re-raises the function's error.

        Raises:
            multiprocessing.TimeoutError: not ready within `timeout`.
        """
        if not self._event.wait(timeout):
            raise TimeoutError(f"the pool's result was not ready within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value

    def __repr__(self) -> str:
        state = "ready" if self.ready() else "pending"
        return f"<nbray.util.multiprocessing.AsyncResult {state}>"


class IMapIterator(Job):
    """The iterator `imap` / `imap_unordered` return; `next(timeout=)` as in multiprocessing."""

    def __init__(self, pool: object, func_ref: Any, iterator: Iterator[Any], chunksize: int,
                 ordered: bool, star: bool = False) -> None:
        super().__init__(func_ref, iterator, chunksize, star)
        self._pool = pool  # the Pool lives at least as long as an iterator over its results
        self._ordered = ordered
        self._cond = threading.Condition()
        self._chunks: Dict[int, Any] = {}
        self._arrival: Deque[int] = collections.deque()
        self._next_chunk = 0
        self._items: Deque[Any] = collections.deque()
        self._input_error: Optional[BaseException] = None

    def on_chunk(self, index: int, outcome: Any) -> None:
        with self._cond:
            self._chunks[index] = outcome
            self._arrival.append(index)
            self._cond.notify_all()

    def on_input_error(self, error: BaseException) -> None:
        with self._cond:
            self._input_error = error
            self._cond.notify_all()

    def on_abort(self, error: BaseException) -> None:
        with self._cond:
            self._input_error = error
            self.exhausted = True
            self.completed = self.submitted
            self._cond.notify_all()

    def __iter__(self) -> "IMapIterator":
        return self

    def next(self, timeout: Optional[float] = None) -> Any:
        """The next result, waiting up to `timeout` seconds.

        Raises:
            multiprocessing.TimeoutError: no result within `timeout`.
            StopIteration: every result was returned.
            The function's own exception, at the position of the call that raised it.
        """
        with self._cond:
            while not self._items:
                index = self._take_chunk_locked()
                if index is not None:
                    outcome = self._chunks.pop(index)
                    if isinstance(outcome, BaseException):
                        self._items.append(CallFailure(outcome, ""))
                    else:
                        self._items.extend(outcome)
                    continue
                if self._input_error is not None:
                    error, self._input_error = self._input_error, None
                    raise error
                if self.exhausted and self._next_chunk >= self.submitted:
                    raise StopIteration
                if not self._cond.wait(timeout):
                    raise TimeoutError(f"no result of imap within {timeout} s")
            item = self._items.popleft()
        if isinstance(item, CallFailure):
            raise item.rebuild() if item.traceback_text else item.error
        return item

    __next__ = next

    def _take_chunk_locked(self) -> Optional[int]:
        if self._ordered:
            if self._next_chunk in self._chunks:
                self._next_chunk += 1
                return self._next_chunk - 1
            return None
        while self._arrival:
            index = self._arrival.popleft()
            if index in self._chunks:
                self._next_chunk += 1
                return index
        return None
