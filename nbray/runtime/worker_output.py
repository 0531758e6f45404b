"""sys.stdout and sys.stderr of a worker process: what a task prints goes to its node.

Whole lines are sent as they are written (a partial line waits for its newline or a
flush), so the driver shows a task's output line by line, tagged with the task.
"""

from __future__ import annotations

import threading
from typing import Callable, List

__all__ = ["TaskOutput"]


class TaskOutput:
    """sys.stdout / sys.stderr of a worker: whole lines go to the node, tagged with the task."""

    def __init__(self, send: Callable[[str, str], None], stream: str) -> None:
        self._send = send   # (stream, text): to the node, tagged with the running task
        self._stream = stream
        self._buf: List[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            self._buf.append(text)
            if "\n" not in text:
                return len(text)
            data = "".join(self._buf)
            cut = data.rfind("\n") + 1
            self._buf = [data[cut:]] if cut < len(data) else []
        self._send(self._stream, data[:cut])
        return len(text)

    def flush(self) -> None:
        with self._lock:
            data = "".join(self._buf)
            self._buf = []
        if data:
            self._send(self._stream, data)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"

    def fileno(self) -> int:
        return 1 if self._stream == "stdout" else 2
