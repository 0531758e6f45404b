"""Blocking reads through the current client: get() of object ids, with a progress bar for
long waits and the interrupt event a notebook cancels its cell's work on.

The facade's get() checks its arguments and lands here; so do `ObjectRef.result()` and the
generator that reads its task's error, without importing the facade.
"""

from __future__ import annotations

import numbers
import time
from typing import Any, List, Optional

from . import context
from .notebook_port import report_interrupt


def check_timeout(timeout: Any, where: str) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"{where}: timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"{where}: timeout must be >= 0, got {timeout}")
    return float(timeout)


def get_one(object_id: bytes, timeout: Optional[float]) -> Any:
    """The value of one object (its error raised), waiting up to `timeout` seconds."""
    __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
    try:
        return context.client_or_init().get([object_id], timeout)[0]
    except KeyboardInterrupt:
        report_interrupt([object_id])
        raise


def get_many(ids: List[bytes], timeout: Optional[float]) -> List[Any]:
    """The values of several objects; the first error found raises at once."""
    __tracebackhide__ = True
    client = context.client_or_init()
    try:
        if len(ids) > 1 and (timeout is None or timeout > 1) and _runs_the_node(client):
            # The common case costs one pass: a plain get, given a second.  Only a get
            # still blocked after that waits with a progress bar.
            from ..exceptions import GetTimeoutError
            from .progress import PROGRESS_DELAY

            start = time.monotonic()
            try:
                return client.get(ids, PROGRESS_DELAY)
            except GetTimeoutError:
                pass
            left = None if timeout is None else timeout - (time.monotonic() - start)
            timeout = _wait_all_with_progress(client, ids, left, "get", timeout)
        return client.get(ids, timeout)
    except KeyboardInterrupt:
        report_interrupt(ids)
        raise


def _runs_the_node(client: Any) -> bool:
    """Whether `client` is a driver's, with the node in this process (progress is drawn
    only there: the node answers how many objects are ready without a round trip)."""
    driver = context.current_driver()
    return driver is not None and driver.node is not None and driver.client is client


def _wait_all_with_progress(client: Any, ids: List[bytes], timeout: Optional[float],
                            label: str, asked: Optional[float] = None) -> Optional[float]:
    """Wait for all objects, drawing a progress bar after a second; returns the time left."""
    __tracebackhide__ = True
    from .progress import wait_with_progress

    start = time.monotonic()
    unique = list(dict.fromkeys(ids))
    total = len(unique)
    failed: List[bytes] = []

    def count_ready(t: float) -> int:
        __tracebackhide__ = True
        bad = client.node.wait_all_or_first_error(unique, t)
        if bad is not None:
            failed.append(bad)  # one failed: stop waiting; the get() that follows raises it
        return len(client.node.ready_ids(unique))

    # The caller already waited the usual delay: the bar shows at once.
    if not wait_with_progress(count_ready, total, timeout, f"{label} {total} objects", delay=0.0,
                              count_failed=lambda: len(failed[:1])):
        missing = total - len(client.node.ready_ids(unique))
        from ..exceptions import GetTimeoutError

        raise GetTimeoutError(f"{label} timed out after {asked or timeout} s: {missing} of {total} "
                              f"objects not ready")
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - start))


__all__ = ["check_timeout", "get_many", "get_one"]
