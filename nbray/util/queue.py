"""`Queue`: a first-in first-out queue shared by the driver, tasks and actors (`ray.util.queue`).

The items live in one async actor holding an `asyncio.Queue`, so a blocked `get()` or a
`put()` into a full queue waits inside the actor without holding a thread, and every
process that has the `Queue` object (it pickles as its actor handle) sees the same items.
Errors follow the standard library's `queue` module: `Empty` and `Full` (subclasses of
`queue.Empty` / `queue.Full`), and `ValueError` for a negative timeout.
"""

from __future__ import annotations

import asyncio
import queue as _std_queue
from collections.abc import Iterable
from typing import Any, Dict, List, Optional

from .. import api
from .. import exceptions as exc

__all__ = ["Empty", "Full", "Queue"]


class Empty(_std_queue.Empty):
    """`get_nowait()`, or `get()` past its timeout, found no item."""


class Full(_std_queue.Full):
    """`put_nowait()`, or `put()` past its timeout, found the queue at its maxsize."""


def _check_timeout(block: bool, timeout: Optional[float]) -> None:
    if timeout is None or not block:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"'timeout' must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")


def _reraise_as_queue_error(error: exc.RayTaskError) -> None:
    """The actor's Empty / Full arrive wrapped as a task error: raise them plainly."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, (Empty, Full)):
        raise type(cause)(*cause.args) from None
    raise error


class Queue:
    """A FIFO queue, usable from the driver, tasks and actors alike.

    Args:
        maxsize: the most items the queue holds; 0 or less means no limit.
        actor_options: options for the actor that holds the items, as for
            `.options()` (e.g. `{"name": "jobs", "lifetime": "detached"}`).

    Example::

        q = Queue(maxsize=100)
        producer.remote(q)           # the queue travels to tasks and actors
        item = q.get(timeout=5)
    """

    def __init__(self, maxsize: int = 0, actor_options: Optional[Dict[str, Any]] = None) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"Queue(maxsize=) must be an int, got {maxsize!r}")
        if actor_options is not None and not isinstance(actor_options, dict):
            raise TypeError(f"Queue(actor_options=) must be a dict of actor options, got "
                            f"{type(actor_options).__name__}")
        self.maxsize = maxsize
        cls = api.remote(_QueueActor)
        if actor_options:
            cls = cls.options(**actor_options)
        self.actor: Any = cls.remote(maxsize)

    def _actor(self) -> Any:
        if self.actor is None:
            raise RuntimeError("this Queue was shut down; create a new one")
        return self.actor

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        """The number of items in the queue now."""
        return api.get(self._actor().qsize.remote())

    def qsize(self) -> int:
        """The number of items in the queue now (as `queue.Queue.qsize`)."""
        return self.size()

    def empty(self) -> bool:
        """True if the queue holds no item now."""
        return api.get(self._actor().empty.remote())

    def full(self) -> bool:
        """True if the queue holds maxsize items now (never true without a maxsize)."""
        return api.get(self._actor().full.remote())

    # -- adding -----------------------------------------------------------------------
    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Add an item, waiting for room (up to `timeout` seconds) if the queue is full.

        Raises:
            Full: no room with `block=False`, or none came within `timeout`.
            ValueError: a negative timeout.
        """
        _check_timeout(block, timeout)
        actor = self._actor()
        ref = actor.put_nowait.remote(item) if not block else actor.put.remote(item, timeout)
        try:
            api.get(ref)
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)

    async def put_async(self, item: Any, block: bool = True,
                        timeout: Optional[float] = None) -> None:
        """`put()` for async code: awaits instead of blocking the thread."""
        _check_timeout(block, timeout)
        actor = self._actor()
        ref = actor.put_nowait.remote(item) if not block else actor.put.remote(item, timeout)
        try:
            await ref
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)

    def put_nowait(self, item: Any) -> None:
        """`put(item, block=False)`."""
        self.put(item, block=False)

    def put_nowait_batch(self, items: Iterable) -> None:
        """Add all `items` at once, or none of them if they do not all fit.

        Raises:
            Full: the items do not all fit now.
            TypeError: `items` is not iterable.
        """
        if not isinstance(items, Iterable):
            raise TypeError(f"Argument 'items' must be an Iterable of items, got "
                            f"{type(items).__name__}")
        try:
            api.get(self._actor().put_nowait_batch.remote(list(items)))
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)

    # -- taking -------------------------------------------------------------------
    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Remove and return the oldest item, waiting (up to `timeout` seconds) for one.

        Raises:
            Empty: no item with `block=False`, or none came within `timeout`.
            ValueError: a negative timeout.
        """
        _check_timeout(block, timeout)
        actor = self._actor()
        ref = actor.get_nowait.remote() if not block else actor.get.remote(timeout)
        try:
            return api.get(ref)
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)

    async def get_async(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """`get()` for async code: awaits instead of blocking the thread."""
        _check_timeout(block, timeout)
        actor = self._actor()
        ref = actor.get_nowait.remote() if not block else actor.get.remote(timeout)
        try:
            return await ref
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)

    def get_nowait(self) -> Any:
        """`get(block=False)`."""
        return self.get(block=False)

    def get_nowait_batch(self, num_items: int) -> List[Any]:
        """Remove and return the `num_items` oldest items, or none if there are fewer.

        Raises:
            Empty: fewer than `num_items` items are queued.
            TypeError / ValueError: `num_items` is not an int / is negative.
        """
        if isinstance(num_items, bool) or not isinstance(num_items, int):
            raise TypeError(f"Argument 'num_items' must be an int, got {num_items!r}")
        if num_items < 0:
            raise ValueError(f"'num_items' must be nonnegative, got {num_items}")
        try:
            return api.get(self._actor().get_nowait_batch.remote(num_items))
        except exc.RayTaskError as e:
            _reraise_as_queue_error(e)
            raise  # not reached: for type checkers

    # -- ending ---------------------------------------------------------------------
    def shutdown(self, force: bool = False, grace_period_s: float = 5) -> None:
        """End the queue's actor; its items are lost and the Queue cannot be used again.

        Args:
            force: kill the actor at once instead of letting pending calls finish.
            grace_period_s: how long a graceful end may take before the actor is killed.
        """
        if self.actor is None:
            return
        if force:
            api.kill(self.actor, no_restart=True)
        else:
            done = self.actor.__ray_terminate__.remote()
            _, not_done = api.wait([done], timeout=grace_period_s)
            if not_done:
                api.kill(self.actor, no_restart=True)
        self.actor = None

    def __repr__(self) -> str:
        state = "shut down" if self.actor is None else repr(self.actor)
        return f"Queue(maxsize={self.maxsize}, {state})"


class _QueueActor:
    """The actor holding a Queue's items (async: waiting calls hold no thread)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._queue: "Optional[asyncio.Queue[Any]]" = None

    @property
    def queue(self) -> "asyncio.Queue[Any]":
        # Made on first use, inside the actor's event loop (Python 3.9 binds a Queue to the
        # loop current at construction, and __init__ does not run in that loop).
        if self._queue is None:
            self._queue = asyncio.Queue(self.maxsize)
        return self._queue

    def qsize(self) -> int:
        return self.queue.qsize()

    def empty(self) -> bool:
        return self.queue.empty()

    def full(self) -> bool:
        return self.queue.full()

    async def put(self, item: Any, timeout: Optional[float] = None) -> None:
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
        except asyncio.TimeoutError:
            raise Full(f"no room in the queue (maxsize {self.maxsize}) within {timeout} s") \
                from None

    async def get(self, timeout: Optional[float] = None) -> Any:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Empty(f"no item came within {timeout} s") from None

    def put_nowait(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            raise Full(f"the queue is full (maxsize {self.maxsize})") from None

    def put_nowait_batch(self, items: List[Any]) -> None:
        if self.maxsize > 0 and len(items) + self.qsize() > self.maxsize:
            raise Full(f"Cannot add {len(items)} items to queue of size {self.qsize()} and "
                       f"maxsize {self.maxsize}.")
        for item in items:
            self.queue.put_nowait(item)

    def get_nowait(self) -> Any:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            raise Empty("the queue is empty") from None

    def get_nowait_batch(self, num_items: int) -> List[Any]:
        if num_items > self.qsize():
            raise Empty(f"Cannot get {num_items} items from queue of size {self.qsize()}.")
        return [self.queue.get_nowait() for _ in range(num_items)]
