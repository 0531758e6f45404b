"""A countdown latch: one thread waits until others have counted down to zero.

Built on a plain lock (cheaper than a Condition for one waiter); waits in short
slices so Ctrl-C / Kernel > Interrupt reaches a thread blocked in get().
"""

from __future__ import annotations

import threading
from typing import Any, Optional


class Latch:
    __slots__ = ("remaining", "_lock")

    def __init__(self, count: int = 1) -> None:
        self.remaining = count
        self._lock = threading.Lock()
        self._lock.acquire()

    def count_down(self, *_: Any) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._lock.release()

    # A latch can be appended to an object's waiters directly.
    __call__ = count_down

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once the count reached zero; False if `timeout` seconds passed first."""
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        if timeout is None:
            while not self._lock.acquire(timeout=0.5):
                pass
            return True
        return self._lock.acquire(timeout=max(0.0, timeout))


class Reply(Latch):
    """The answer to one request: set once by the reader thread, awaited by the caller."""

    __slots__ = ("ok", "value")

    def __init__(self) -> None:
        super().__init__(1)
        self.ok = False
        self.value: Any = None

    def set(self, ok: bool, value: Any) -> None:
        self.ok, self.value = ok, value
        self.count_down()
