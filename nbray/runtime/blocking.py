"""Blocking reads through the current client: get() of object ids, with a progress bar for
long waits and the interrupt event a notebook cancels its cell's work on.

The facade's get() checks its arguments and lands here; so do `ObjectRef.result()` and the
generator that reads its task's error, without importing the facade.
"""

from __future__ import annotations

import numbers
import time
from typing import Any, Callable, List, Optional

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
        if len(ids) > 1 and (timeout is None or timeout > 1) and _is_drivers(client):
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


def _is_drivers(client: Any) -> bool:
    """Whether `client` is the driver's (progress is drawn for a driver's gets only, with
    the node in this process or attached to a cluster; not inside tasks)."""
    driver = context.current_driver()
    return driver is not None and driver.client is client


def _wait_all_with_progress(client: Any, ids: List[bytes], timeout: Optional[float],
                            label: str, asked: Optional[float] = None) -> Optional[float]:
    """Wait for all objects, drawing a progress bar after a second; returns the time left."""
    __tracebackhide__ = True
    from .progress import wait_with_progress

    start = time.monotonic()
    unique = list(dict.fromkeys(ids))
    total = len(unique)
    failed: List[bytes] = []
    node = getattr(client, "node", None)
    count_ready = (_local_counter(node, unique, failed) if node is not None
                   else _attached_counter(client, unique, failed))
    # The caller already waited the usual delay: the bar shows at once.
    if not wait_with_progress(count_ready, total, timeout, f"{label} {total} objects", delay=0.0,
                              count_failed=lambda: len(failed[:1])):
        missing = total - count_ready(0.0)
        from ..exceptions import GetTimeoutError

        raise GetTimeoutError(f"{label} timed out after {asked or timeout} s: {missing} of {total} "
                              f"objects not ready")
    if failed:  # raise its error now, as Ray does, not after the others are ready
        client.get(failed[:1], None)
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - start))


def _local_counter(node: Any, unique: List[bytes], failed: List[bytes]) -> Callable[[float], int]:
    """count_ready for the node in this process: it answers without a round trip."""

    def count_ready(t: float) -> int:
        __tracebackhide__ = True
        bad = node.wait_all_or_first_error(unique, t)
        if bad is not None:
            failed.append(bad)  # one failed: stop waiting and raise it
        return len(node.ready_ids(unique))

    return count_ready


def _attached_counter(client: Any, unique: List[bytes], failed: List[bytes]
                      ) -> Callable[[float], int]:
    """count_ready for a driver attached to a cluster: a wait at the head for the objects
    not ready yet (one round trip per poll, carrying only those), and when some became
    ready, whether one of them holds an error (so the bar stops at it, as locally)."""
    pending = list(unique)

    def count_ready(t: float) -> int:
        __tracebackhide__ = True
        nonlocal pending
        if pending:
            ready = client.wait(pending, len(pending), t, False)
            if ready:
                bad = client.query("first_error", {"ids": [o.hex() for o in ready]})
                if bad is not None:
                    failed.append(bytes.fromhex(bad))
                pending = [o for o in pending if o not in ready]
        return len(unique) - len(pending)

    return count_ready


__all__ = ["check_timeout", "get_many", "get_one"]
