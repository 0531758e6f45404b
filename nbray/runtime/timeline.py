"""The node's record of task runs, for `timeline()`: when each task ran, and on which worker.

Workers time each task themselves (the node's send and receive times would make
queued actor calls look as if they ran at once) and send the two timestamps with
the task's results.  The record is a ring: it keeps the newest `maxlen` runs
(`MAX_EVENTS` unless `NBRAY_TIMELINE_EVENTS` says otherwise; 0 keeps none), so a
program that runs tasks forever holds a bounded record, about 250 bytes a run.
`dropped` counts the runs that fell out of it.  `events()` turns the runs into
Chrome trace events ("complete" events, `ph: "X"`, times in µs), which
chrome://tracing and Perfetto open as they are.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, Optional, Tuple

MAX_EVENTS = 10_000
"""Runs kept per cluster by default (older ones are dropped): about 2.5 MB at most."""

# (name, kind, task id, actor id, worker id, node id, worker pid, start s, end s, attempt)
_Run = Tuple[str, str, bytes, Optional[bytes], str, str, int, float, float, int]


class Timeline:
    def __init__(self, maxlen: int = MAX_EVENTS) -> None:
        self.maxlen = max(0, maxlen)
        self.runs: Deque[_Run] = collections.deque(maxlen=self.maxlen)
        self.dropped = 0   # runs pushed out of the ring (or not kept, with maxlen 0)

    def record(self, spec: Any, worker: Any, timing: Any) -> None:
        """One run of `spec` on `worker`; `timing` is (start, end) in seconds since the epoch."""
        try:
            start, end = float(timing[0]), float(timing[1])
        except (TypeError, ValueError, IndexError):
            return  # a worker of another version: nothing to record
        runs = self.runs
        if len(runs) == self.maxlen:
            self.dropped += 1
            if not self.maxlen:
                return
        runs.append((spec.name, spec.kind, spec.task_id, spec.actor_id, worker.worker_id,
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
