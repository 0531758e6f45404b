"""`ActorPool`: spread work over a fixed set of actors, as `ray.util.ActorPool` does.

The pool hands each submitted value to an idle actor through a user function
`fn(actor, value) -> ObjectRef`; values submitted while every actor is busy wait in the
pool (not in an actor's queue) and start as soon as a result is taken back, so a slow actor
never collects a backlog.  Results come back in submission order (`get_next`) or as they
finish (`get_next_unordered`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..object_api import get, wait
from .. import exceptions as exc
from ..runtime.object_ref import ObjectRef

_TIMED_OUT = "Timed out waiting for result"


def _key(future: Any) -> Any:
    """A dict key for what fn returned: one ref, or a list of refs (num_returns > 1)."""
    return tuple(future) if isinstance(future, list) else future


def _wait_target(future: Any) -> List[ObjectRef]:
    return list(future) if isinstance(future, (list, tuple)) else [future]


class ActorPool:
    """A fixed set of actors that work through submitted values.

    Args:
        actors: the actor handles to use; each runs one submitted value at a time.

    Example::

        pool = ActorPool([Worker.remote(), Worker.remote()])
        results = list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3, 4]))
    """

    def __init__(self, actors: List[Any]) -> None:
        self._idle_actors: List[Any] = list(actors)
        self._future_to_actor: Dict[Any, Tuple[int, Any]] = {}
        self._index_to_future: Dict[int, Any] = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits: List[Tuple[Callable[[Any, Any], Any], Any]] = []

    # -- submitting -----------------------------------------------------------------
    def submit(self, fn: Callable[[Any, Any], Any], value: Any) -> None:
        """Run `fn(actor, value)` on an idle actor, or queue it until one is free.

        `fn` must return the ObjectRef (or list of refs) of an actor call; the actor counts
        as busy until its result is taken with `get_next()` / `get_next_unordered()`.
        """
        if not callable(fn):
            raise TypeError(f"ActorPool.submit() needs a function fn(actor, value) returning an "
                            f"ObjectRef, got {type(fn).__name__}")
        if not self._idle_actors:
            self._pending_submits.append((fn, value))
            return
        actor = self._idle_actors.pop()
        try:
            future = fn(actor, value)
        except BaseException:
            self._idle_actors.append(actor)  # fn failed before using it: still idle
            raise
        if not all(isinstance(r, ObjectRef) for r in _wait_target(future)):
            self._idle_actors.append(actor)
            raise TypeError(f"the function given to ActorPool must return the ObjectRef of an "
                            f"actor call (e.g. lambda a, v: a.method.remote(v)), but it returned "
                            f"{type(future).__name__}")
        self._future_to_actor[_key(future)] = (self._next_task_index, actor)
        self._index_to_future[self._next_task_index] = future
        self._next_task_index += 1

    def map(self, fn: Callable[[Any, Any], Any], values: Any) -> Iterator[Any]:
        """Apply `fn` over `values` on the pool's actors; an iterator of results in order.

        Results not yet taken from earlier submissions are discarded first.  Nothing waits
        until the iterator is advanced, and an error raised by a call re-raises there.
        """
        self._discard_pending(ordered=True)
        for v in values:
            self.submit(fn, v)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next()

        return results()

    def map_unordered(self, fn: Callable[[Any, Any], Any], values: Any) -> Iterator[Any]:
        """As `map()`, but results come in the order they finish."""
        self._discard_pending(ordered=False)
        for v in values:
            self.submit(fn, v)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next_unordered()

        return results()

    def _discard_pending(self, ordered: bool) -> None:
        # Results the caller never took: their actors come back once each finishes.
        while self.has_next():
            try:
                if ordered:
                    self.get_next(timeout=0, ignore_if_timedout=True)
                else:
                    self.get_next_unordered(timeout=0, ignore_if_timedout=True)
            except TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - a discarded result's error is not the caller's
                pass

    # -- taking results -------------------------------------------------------------
    def has_next(self) -> bool:
        """True while some submitted value's result has not been taken."""
        return bool(self._future_to_actor)

    def get_next(self, timeout: Optional[float] = None, ignore_if_timedout: bool = False) -> Any:
        """The next result in submission order, waiting up to `timeout` seconds for it.

        Raises:
            StopIteration: nothing is pending.
            TimeoutError: the result was not ready in time.  With `ignore_if_timedout=True`
                that result is dropped (its actor returns to the pool) and the next call
                moves on to the following one; otherwise it stays next.
            ValueError: after `get_next_unordered()` took results out of order.
            The call's own error (a RayTaskError, ActorDiedError...) if it failed; an actor
            that died leaves the pool.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("get_next() cannot be called after get_next_unordered() has taken "
                             "results out of order; keep using get_next_unordered()")
        future = self._index_to_future[self._next_return_index]
        timed_out = False
        if timeout is not None:
            ready, _ = wait(_wait_target(future), num_returns=len(_wait_target(future)),
                            timeout=timeout)
            if len(ready) < len(_wait_target(future)):
                if not ignore_if_timedout:
                    raise TimeoutError(_TIMED_OUT)
                timed_out = True
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(_key(future))
        if timed_out:
            self._return_actor(actor)
            raise TimeoutError(f"{_TIMED_OUT}. The task {future} has been ignored.")
        return self._get_result(future, actor)

    def get_next_unordered(self, timeout: Optional[float] = None,
                           ignore_if_timedout: bool = False) -> Any:
        """Whichever pending result is ready first, waiting up to `timeout` seconds.

        Raises:
            StopIteration: nothing is pending.
            TimeoutError: no result was ready in time (nothing is dropped: no result is
                more "next" than another, so `ignore_if_timedout` has nothing to skip).
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        by_ref: Dict[ObjectRef, Any] = {}
        for key in self._future_to_actor:
            for ref in _wait_target(key):
                by_ref.setdefault(ref, key)
        ready, _ = wait(list(by_ref), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError(_TIMED_OUT)
        key = by_ref[ready[0]]
        index, actor = self._future_to_actor.pop(key)
        future = self._index_to_future.pop(index)
        self._next_return_index = max(self._next_return_index, index + 1)
        return self._get_result(future, actor)

    def _get_result(self, future: Any, actor: Any) -> Any:
        alive = True
        try:
            return get(future)
        except exc.ActorDiedError:
            alive = False  # a dead actor would fail every later value: drop it
            raise
        finally:
            self._return_actor(actor, alive)

    def _return_actor(self, actor: Any, alive: bool = True) -> None:
        if alive:
            self._idle_actors.append(actor)
        if self._pending_submits and self._idle_actors:
            self.submit(*self._pending_submits.pop(0))

    # -- membership -------------------------------------------------------------------
    def has_free(self) -> bool:
        """True if an actor is idle and no submitted value is waiting for one."""
        return bool(self._idle_actors) and not self._pending_submits

    def pop_idle(self) -> Optional[Any]:
        """Take an idle actor out of the pool; None if none is free."""
        if self.has_free():
            return self._idle_actors.pop()
        return None

    def push(self, actor: Any) -> None:
        """Add an actor to the pool (it starts on a waiting value at once, if any).

        Raises:
            ValueError: the actor is already in the pool.
        """
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle_actors or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)

    def __repr__(self) -> str:
        return (f"ActorPool(idle={len(self._idle_actors)}, busy={len(self._future_to_actor)}, "
                f"waiting={len(self._pending_submits)})")
