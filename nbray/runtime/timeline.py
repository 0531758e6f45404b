"""The node's record of task runs, for `timeline()`: when each task ran, and on which worker.

Workers time each task themselves (the node's send and receive times would make
queued actor calls look as if they ran at once) and send the two timestamps with
the task's results.  The node keeps the last `MAX_EVENTS` runs; `events()` turns
them into Chrome trace events ("complete" events, `ph: "X"`, times in µs), which
chrome://tracing and Perfetto open as they are.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, Optional, Tuple

MAX_EVENTS = 10_000
"""Runs kept per cluster (older ones are dropped): about 2 MB at most."""

# (name, kind, task id, actor id, worker id, node id, worker pid, start s, end s, attempt)
_Run = Tuple[str, str, bytes, Optional[bytes], str, str, int, float, float, int]


class Timeline:
    def __init__(self, maxlen: int = MAX_EVENTS) -> None:
        self.runs: Deque[_Run] = collections.deque(maxlen=maxlen)

    def record(self, spec: Any, worker: Any, timing: Any) -> None:
        """One run of `spec` on `worker`; `timing` is (start, end) in seconds since the epoch."""
        try:
            start, end = float(timing[0]), float(timing[1])
        except (TypeError, ValueError, IndexError):
            return  # a worker of another version: nothing to record
        self.runs.append((spec.name, spec.kind, spec.task_id, spec.actor_id, worker.worker_id,
                          worker.node_id, worker.pid, start, end, spec.attempt))

    def events(self) -> List[Dict[str, Any]]:
        """The runs as Chrome trace events, oldest first."""
        out = []
        for name, kind, task_id, actor_id, worker_id, node_id, pid, start, end, attempt in \
                list(self.runs):
            args: Dict[str, Any] = {"task_id": task_id.hex(), "name": name, "kind": kind,
                                    "worker_id": worker_id, "node_id": node_id, "pid": pid,
                                    "attempt": attempt}
            if actor_id:
                args["actor_id"] = actor_id.hex()
            out.append({"cat": f"task::{name}", "name": name, "ph": "X",
                        "ts": start * 1e6, "dur": max(0.0, end - start) * 1e6,
                        "pid": f"node:{node_id[:12]}", "tid": f"worker:{worker_id}",
                        "cname": "generic_work", "args": args})
        return out
