"""Progress of long waits: one listener, a pure state, several renderers.

get() on many refs that is still blocked after PROGRESS_DELAY seconds shows a progress
bar.  The runtime owns the polling and the state (`ProgressState`: how many are done,
failed, and how the wait ended); a renderer only draws it.  The text renderer writes to
stderr when it is a terminal; the notebook layer installs a widget renderer with
set_progress_renderer().  A wait stopped by Ctrl-C leaves its bar saying so; the notebook
then reports what the interrupt did to the rest (cancelled, or left running).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Protocol

PROGRESS_DELAY = 1.0
POLL = 0.2

# How a wait ended (ProgressState.outcome); "running" while it waits.
RUNNING, FINISHED, FAILED, INTERRUPTED, TIMED_OUT = (
    "running", "finished", "failed", "interrupted", "timed out")


class ProgressState:
    """What a progress bar shows: done / total, failures, and how the wait ended.

    Pure: no clock, no I/O; renderers pass the elapsed seconds in."""

    __slots__ = ("total", "done", "failed", "outcome", "cancelled", "left_running")

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.outcome = RUNNING
        self.cancelled = 0        # objects whose tasks the interrupt cancelled
        self.left_running = 0     # objects still being made after an interrupt (no cancel)

    # -- events ---------------------------------------------------------------------
    def advance(self, done: int) -> None:
        self.done = max(0, min(done, self.total))

    def fail(self, count: int = 1) -> None:
        """`count` objects hold errors: the wait stops, get() raises the first one."""
        self.failed += count
        self.outcome = FAILED

    def finish(self) -> None:
        if self.outcome == RUNNING:
            self.outcome = FINISHED if self.done >= self.total else TIMED_OUT

    def interrupt(self) -> None:
        if self.outcome == RUNNING:
            self.outcome = INTERRUPTED

    def settle_interrupt(self, cancelling: bool) -> None:
        """After the interrupt was handled: the objects not done were cancelled, or (with
        cancel_on_interrupt off) are still being made."""
        if self.outcome != INTERRUPTED:
            return
        rest = max(0, self.total - self.done - self.failed)
        if cancelling:
            self.cancelled, self.left_running = rest, 0
        else:
            self.cancelled, self.left_running = 0, rest

    # -- what to show ---------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.outcome != RUNNING

    @property
    def style(self) -> str:
        """The bar's colour, as ipywidgets names them: running "info", finished "success",
        failed "danger" (the error colour), interrupted / timed out "warning"."""
        return {RUNNING: "info", FINISHED: "success", FAILED: "danger"}.get(self.outcome,
                                                                            "warning")

    def text(self, label: str, elapsed: float) -> str:
        """One line: "get 6 objects: 2/6 (1.5 s)", "... interrupted after 4.0 s: 2 of 6 done,
        4 cancelled", "... 3/6, 1 failed", "... timed out after 2.0 s: 5 of 6 done"."""
        t = f"{elapsed:.1f} s"
        n, total = self.done, self.total
        if self.outcome == INTERRUPTED:
            if self.cancelled:
                what = (f"cancelled {self.cancelled} of {total}" if n == 0
                        else f"{n} of {total} done, {self.cancelled} cancelled")
            elif self.left_running:
                what = f"{n} of {total} done, {self.left_running} still running"
            else:
                what = f"{n} of {total} done"
            return f"{label}: interrupted after {t}: {what}"
        if self.outcome == FAILED:
            why = f"{self.failed} failed" if self.failed else "stopped by an error"
            return f"{label}: {n}/{total}, {why} ({t})"
        if self.outcome == TIMED_OUT:
            return f"{label}: timed out after {t}: {n} of {total} done"
        return f"{label}: {n}/{total} ({t})"


class ProgressRenderer(Protocol):
    def update(self, state: ProgressState) -> None: ...
    def close(self, state: ProgressState) -> None: ...


class TextProgress:
    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.start = time.monotonic()

    def _line(self, state: ProgressState) -> str:
        elapsed = time.monotonic() - self.start
        if state.ended:
            return state.text(self.label, elapsed)
        width = 30
        filled = int(width * state.done / state.total) if state.total else width
        return (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{state.done}/{state.total} {elapsed:.1f}s")

    def update(self, state: ProgressState) -> None:
        self.stream.write("\r" + self._line(state))
        self.stream.flush()

    def close(self, state: ProgressState) -> None:
        self.stream.write("\r" + self._line(state) + "\n")
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
                       label: str, delay: float = PROGRESS_DELAY,
                       count_failed: Optional[Callable[[], int]] = None) -> bool:
    """Block until count_ready(...) == total, an object failed, or the timeout passes; True
    unless it timed out.

    count_ready(t) waits up to t seconds for more objects and returns how many are ready;
    count_failed() says how many of them hold errors (the wait stops at the first).
    """
    __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
    failed = count_failed or (lambda: 0)
    deadline = None if timeout is None else time.monotonic() + timeout
    first = delay if deadline is None else min(delay, max(0.0, timeout or 0.0))
    done = count_ready(first)
    if done >= total or failed():
        return True
    if deadline is not None and time.monotonic() >= deadline:
        return False
    state = ProgressState(total)
    bar = _renderer_factory(total, label)
    try:
        state.advance(done)
        while True:
            bad = failed()
            if bad:
                state.fail(bad)
                return True
            if done >= total:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            done = count_ready(POLL if left is None else min(POLL, left))
            state.advance(done)
            if bar is not None:
                bar.update(state)
    except KeyboardInterrupt:
        state.interrupt()
        raise
    except BaseException:
        state.fail(0)   # the wait itself broke (the cluster shut down): the error says why
        raise
    finally:
        if bar is not None:
            state.finish()
            bar.close(state)
