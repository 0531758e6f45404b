"""Progress of long waits: one listener, several renderers.

get()/wait() on many refs that is still blocked after PROGRESS_DELAY seconds
shows a progress bar.  The runtime owns the polling; a renderer only draws.
The text renderer writes to stderr when it is a terminal; the notebook layer
installs a widget renderer with set_progress_renderer().
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Protocol

PROGRESS_DELAY = 1.0
POLL = 0.2


class ProgressRenderer(Protocol):
    def update(self, done: int, total: int) -> None: ...
    def close(self, done: int, total: int) -> None: ...


class TextProgress:
    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.start = time.monotonic()

    def update(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                          f"{time.monotonic() - self.start:.1f}s")
        self.stream.flush()

    def close(self, done: int, total: int) -> None:
        self.update(done, total)
        self.stream.write("\n")
        self.stream.flush()


def _default_renderer(total: int, label: str) -> Optional[ProgressRenderer]:
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return TextProgress(total, label)
    except (AttributeError, ValueError):
        pass
    return None


_renderer_factory: Callable[[int, str], Optional[ProgressRenderer]] = _default_renderer


def set_progress_renderer(factory: Optional[Callable[[int, str], Optional[ProgressRenderer]]]) -> None:
    """Install a renderer factory (None: back to the text default)."""
    global _renderer_factory
    _renderer_factory = factory or _default_renderer


def wait_with_progress(count_ready: Callable[[float], int], total: int, timeout: Optional[float],
                       label: str, delay: float = PROGRESS_DELAY) -> bool:
    """Block until count_ready(...) == total or the timeout passes; True if all are ready.

    count_ready(t) waits up to t seconds for more objects and returns how many are ready.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    first = delay if deadline is None else min(delay, max(0.0, timeout or 0.0))
    done = count_ready(first)
    if done >= total:
        return True
    if deadline is not None and time.monotonic() >= deadline:
        return False
    bar = _renderer_factory(total, label)
    try:
        while done < total:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            done = count_ready(POLL if left is None else min(POLL, left))
            if bar is not None:
                bar.update(done, total)
        return True
    finally:
        if bar is not None:
            bar.close(done, total)
