"""Progress bars and cancel-on-interrupt around `ray.get` and `ray.wait`.

Ray draws no progress and leaves tasks running when a cell is interrupted.  While the
notebook layer is on Ray, the names `ray.get` and `ray.wait` are bound to wrappers (the
public names only, so `import ray; ray.get(...)` finds them; Ray's own functions do the
work).  A `ray.get` of several refs, or a `ray.wait` for several of them, that is not done
after a second (Ray's own call, with a one-second timeout) shows a progress bar (the same `ProgressState` and renderers as
nbray's own gets), polling with `ray.wait` without fetching anything.  Ctrl-C during either call reports the refs it waited for to
the notebook's interrupt handler, which cancels their tasks (`BlockingHooks.cancel`):
only those not finished, because Ray 2.60's driver aborts the process when a finished
task is cancelled (task_manager.cc).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from ..runtime.notebook_port import report_interrupt
from ..runtime.progress import PROGRESS_DELAY, wait_with_progress


class BlockingHooks:
    """The wrappers bound to `ray.get` / `ray.wait` while installed, and the refs the
    interrupted call was waiting for (to cancel by id)."""

    def __init__(self) -> None:
        self._originals: Dict[str, Callable[..., Any]] = {}
        self._waiting: Dict[bytes, Any] = {}   # id -> ref, of the call Ctrl-C stopped

    # -- install ---------------------------------------------------------------------
    def install(self) -> None:
        import ray

        if self._originals:
            return
        for name, make in (("get", self._wrap_get), ("wait", self._wrap_wait)):
            original = getattr(ray, name)
            self._originals[name] = original
            setattr(ray, name, make(original))

    def uninstall(self) -> None:
        import ray

        for name, original in self._originals.items():
            current = getattr(ray, name, None)
            if getattr(current, "__wrapped__", None) is original:
                setattr(ray, name, original)
        self._originals.clear()

    # -- the wrappers ------------------------------------------------------------------
    def _wrap_get(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def get(object_refs: Any, *, timeout: Optional[float] = None, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            refs = _refs_in(object_refs)
            try:
                if len(refs) > 1 and (timeout is None or timeout > PROGRESS_DELAY):
                    # The common case costs one call: Ray's get, given a second; only a
                    # get still blocked then waits with a bar (the values fetched so far
                    # stay local for the second call).
                    from ray.exceptions import GetTimeoutError

                    start = time.monotonic()
                    try:
                        return original(object_refs, timeout=PROGRESS_DELAY, **kwargs)
                    except GetTimeoutError:
                        pass
                    left = None if timeout is None else timeout - (time.monotonic() - start)
                    timeout = self._wait_with_bar(refs, left)
                return original(object_refs, timeout=timeout, **kwargs)
            except KeyboardInterrupt:
                self._interrupted(refs)
                raise

        return get

    def _wrap_wait(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wait(object_refs: Any, *args: Any, num_returns: int = 1,
                 timeout: Optional[float] = None, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            refs = _refs_in(object_refs)
            try:
                if (not args and num_returns > 1 and len(refs) > 1
                        and (timeout is None or timeout > PROGRESS_DELAY)):
                    start = time.monotonic()
                    ready, rest = original(object_refs, num_returns=num_returns,
                                           timeout=PROGRESS_DELAY, **kwargs)
                    if len(ready) >= num_returns:
                        return ready, rest
                    left = None if timeout is None else timeout - (time.monotonic() - start)
                    timeout = self._wait_with_bar(refs, left, num_returns, "ray.wait")
                return original(object_refs, *args, num_returns=num_returns, timeout=timeout,
                                **kwargs)
            except KeyboardInterrupt:
                self._interrupted(refs)
                raise

        return wait

    def _wait_with_bar(self, refs: List[Any], timeout: Optional[float],
                       wanted: Optional[int] = None, call: str = "ray.get") -> Optional[float]:
        """Wait (up to `timeout`) until `wanted` refs (default: all) are ready, drawing a
        bar; returns what is left of the timeout, for Ray's own get or wait to give the
        caller its answer (Ray's timeout error, the first error, the ready list), as
        without the bar."""
        __tracebackhide__ = True
        wait = self._originals["wait"]
        pending = list({r.binary(): r for r in refs}.values())
        total = len(pending)
        goal = total if wanted is None else min(wanted, total)

        def count_ready(t: float) -> int:
            nonlocal pending
            if pending:
                _, pending = wait(pending, num_returns=len(pending), timeout=t,
                                  fetch_local=False)
            return min(goal, total - len(pending))

        start = time.monotonic()
        label = (f"{call} {total} objects" if goal == total
                 else f"{call} {goal} of {total} objects")
        # Ray's own call already waited the usual delay: the bar shows at once
        wait_with_progress(count_ready, goal, timeout, label, delay=0.0)
        return None if timeout is None else max(0.0, timeout - (time.monotonic() - start))

    # -- interrupt ---------------------------------------------------------------------
    def _interrupted(self, refs: List[Any]) -> None:
        self._waiting = {r.binary(): r for r in refs}
        report_interrupt(list(self._waiting))

    def cancel(self, object_ids: Iterable[bytes]) -> int:
        """Cancel (with the tasks they started) the tasks making these objects of the
        interrupted call that are not finished; returns how many were cancelled."""
        import ray

        wait = self._originals.get("wait", ray.wait)
        refs = [self._waiting[i] for i in object_ids if i in self._waiting]
        self._waiting = {}
        if not refs:
            return 0
        _, not_ready = wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        for ref in not_ready:
            try:
                ray.cancel(ref, recursive=True)
            except Exception:  # an actor call (Ray cancels those only when async) or gone
                pass
        return len(not_ready)


def _refs_in(object_refs: Any) -> List[Any]:
    """The ObjectRefs a get/wait call names (a ref, or a list of them)."""
    if isinstance(object_refs, (list, tuple)):
        return [r for r in object_refs if hasattr(r, "binary")]
    return [object_refs] if hasattr(object_refs, "binary") else []


__all__ = ["BlockingHooks"]
