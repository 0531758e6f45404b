"""The head's recent history of cluster metrics, for the dashboard's charts over time.

About once a second the node's I/O loop (which wakes at least that often) offers a
sample: per node, store bytes used, capacity and bytes spilled; tasks done so far
(cumulative), tasks running now, and the seconds task runs took so far (cumulative: its
change over an interval is the average number of busy workers, which a point sample of
"running" misses between short tasks).  `MetricsHistory` decides whether a sample is due
and keeps the newest `maxlen` of them in a ring, so a head that runs for weeks holds
a bounded history (600 samples, about ten minutes, by default: some 150 bytes per
node and sample).  The decision and the ring are pure (`offer(now, take)` calls
`take` only when a sample is due; tests drive it with made-up clocks), and
`sample_node(node)` is the one place that reads the node, with its lock held.
"""

from __future__ import annotations

import collections
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .introspection import head_spilled

INTERVAL_S = 1.0
MAX_SAMPLES = 600

# (node_id, label, store_used, store_capacity, spilled_bytes)
NodeSample = Tuple[str, str, int, int, int]
# (nodes, tasks_done, tasks_running, busy_s): what sample_node reads
Reading = Tuple[Tuple[NodeSample, ...], int, int, float]
# (t, nodes, tasks_done, tasks_running, busy_s)
Sample = Tuple[float, Tuple[NodeSample, ...], int, int, float]


class MetricsHistory:
    """A ring of samples taken at least `interval_s` apart (wall-clock times, epoch s)."""

    def __init__(self, interval_s: float = INTERVAL_S, maxlen: int = MAX_SAMPLES) -> None:
        self.interval_s = interval_s
        self.samples: Deque[Sample] = collections.deque(maxlen=max(1, maxlen))
        self.last: Optional[float] = None

    def due(self, now: float) -> bool:
        """Whether a sample taken at `now` belongs in the history.

        A clock set back (now before the last sample) starts over from `now` rather
        than waiting for the old time to come round again."""
        last = self.last
        return last is None or now - last >= self.interval_s or now < last

    def offer(self, now: float, take: Callable[[], Reading]) -> bool:
        """Record `take()` as the sample at `now` if one is due; True when it was taken."""
        if not self.due(now):
            return False
        nodes, done, running, busy = take()
        self.samples.append((now, nodes, done, running, busy))
        self.last = now
        return True

    def maybe_sample(self, node: Any) -> bool:
        """The node's hook (I/O thread, lock held): sample `node` if a sample is due."""
        return self.offer(time.time(), lambda: sample_node(node))

    def rows(self, since: Optional[float] = None) -> List[Dict[str, Any]]:
        """The samples taken after `since` (all: None), oldest first, as JSON-able dicts."""
        out = []
        for t, nodes, done, running, busy in list(self.samples):
            if since is not None and t <= since:
                continue
            out.append({"t": t, "tasks_done": done, "tasks_running": running, "busy_s": busy, "nodes": [
                {"node_id": nid, "label": label, "store_used": used, "store_capacity": cap,
                 "spilled_bytes": spilled} for nid, label, used, cap, spilled in nodes]})
        return out


def node_label(info: Any) -> str:
    """How the dashboard names a node: "host (head)", "host (driver pid N)", or for a worker
    node "host <id[:8]>" (several nodes may run on one host)."""
    host = info.hostname or "?"
    if info.is_head:
        return f"{host} (head)"
    if info.is_driver:
        return f"{host} (driver pid {info.pid})"
    return f"{host} {info.node_id[:8]}"


def sample_node(node: Any) -> Reading:
    """(per-node store figures, tasks done so far, tasks running, seconds of task runs so
    far) of a head; lock held.

    Cheap at any scale: the store totals are kept counters (no pass over objects), and
    tasks done is the timeline's count of runs."""
    rows = []
    for nid, info in node.cluster_nodes.items():
        if not info.alive:
            continue
        if info.is_head:
            rows.append((nid, node_label(info), node.allocator.used, node.allocator.capacity,
                         head_spilled(node)[1]))
        else:
            rows.append((nid, node_label(info), info.store_used, info.store_capacity,
                         info.spilled_bytes))
    # A worker runs a task, or an actor call it was sent (calls_out) and has not answered.
    running = sum(1 for w in node.workers.values()
                  if w.task is not None or getattr(w, "calls_out", 0) > 0)
    return tuple(rows), node.timeline.total, running, node.timeline.busy_s


__all__ = ["INTERVAL_S", "MAX_SAMPLES", "MetricsHistory", "node_label", "sample_node"]
