"""The node's record of task runs, for `timeline()`: when each task ran, and on which worker.

Workers time each task themselves (the node's send and receive times would make
queued actor calls look as if they ran at once) and send the two timestamps with
the task's results.  The record is a ring: it keeps the newest `maxlen` runs
(`MAX_EVENTS` unless `NBRAY_TIMELINE_EVENTS` says otherwise; 0 keeps none), so a
program that runs tasks forever holds a bounded record, about 250 bytes a run.
`dropped` counts the runs that fell out of it, `total` every run recorded (the
dashboard's "tasks done"), `busy_s` the sum of their durations.  `events()` turns the runs into Chrome trace events
("complete" events, `ph: "X"`, times in µs); `chrome_trace()` adds the metadata
events ("M": process_name, thread_name) that make chrome://tracing and Perfetto label
each row with its node and worker; `window()` is the dashboard's recent slice.
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
        self.total = 0     # runs recorded, ever
        self.busy_s = 0.0  # the sum of their durations (the dashboard's average busy workers)

    def record(self, spec: Any, worker: Any, timing: Any) -> None:
        """One run of `spec` on `worker`; `timing` is (start, end) in seconds since the epoch."""
        try:
            start, end = float(timing[0]), float(timing[1])
        except (TypeError, ValueError, IndexError):
            return  # a worker of another version: nothing to record
        runs = self.runs
        self.total += 1
        self.busy_s += max(0.0, end - start)
        if len(runs) == self.maxlen:
            self.dropped += 1
            if not self.maxlen:
                return
        runs.append((spec.name, spec.kind, spec.task_id, spec.actor_id, worker.worker_id,
                     worker.node_id, worker.pid, start, end, spec.attempt))

    def events(self, runs: Optional[List[_Run]] = None) -> List[Dict[str, Any]]:
        """The runs (default: all kept) as Chrome trace "X" events, oldest first."""
        out = []
        for name, kind, task_id, actor_id, worker_id, node_id, pid, start, end, attempt in \
                (list(self.runs) if runs is None else runs):
            args: Dict[str, Any] = {"task_id": task_id.hex(), "name": name, "kind": kind,
                                    "worker_id": worker_id, "node_id": node_id, "pid": pid,
                                    "attempt": attempt}
            if actor_id:
                args["actor_id"] = actor_id.hex()
            out.append({"cat": f"task::{name}", "name": name, "ph": "X",
                        "ts": start * 1e6, "dur": max(0.0, end - start) * 1e6,
                        "pid": _pid(node_id), "tid": _tid(worker_id),
                        "cname": "generic_work", "args": args})
        return out

    def window(self, since: Optional[float] = None, limit: int = 5000) -> List[Dict[str, Any]]:
        """The newest `limit` runs that ended at or after `since` (epoch s; None: any), as
        "X" events, oldest first."""
        picked: List[_Run] = []
        for run in reversed(self.runs):
            if since is None or run[8] >= since:
                picked.append(run)
                if len(picked) >= limit:
                    break
        picked.reverse()
        return self.events(picked)

    def chrome_trace(self, node_labels: Dict[str, str]) -> List[Dict[str, Any]]:
        """The whole record as a Chrome trace: metadata events naming each node ("process")
        and worker ("thread"), then the runs.  `node_labels`: node id -> its name."""
        runs = list(self.runs)
        meta: List[Dict[str, Any]] = []
        seen_nodes: Dict[str, int] = {}
        seen_workers = set()
        for run in runs:
            worker_id, node_id, pid = run[4], run[5], run[6]
            if node_id not in seen_nodes:
                seen_nodes[node_id] = len(seen_nodes)
                label = node_labels.get(node_id) or node_id[:12]
                meta.append({"name": "process_name", "ph": "M", "pid": _pid(node_id), "tid": 0,
                             "args": {"name": f"node {node_id[:12]} {label}"}})
                meta.append({"name": "process_sort_index", "ph": "M", "pid": _pid(node_id),
                             "tid": 0, "args": {"sort_index": seen_nodes[node_id]}})
            if (node_id, worker_id) not in seen_workers:
                seen_workers.add((node_id, worker_id))
                meta.append({"name": "thread_name", "ph": "M", "pid": _pid(node_id),
                             "tid": _tid(worker_id),
                             "args": {"name": f"worker {worker_id} (pid {pid})"}})
        return meta + self.events(runs)


def _pid(node_id: str) -> str:
    return f"node:{node_id[:12]}"


def _tid(worker_id: str) -> str:
    return f"worker:{worker_id}"
