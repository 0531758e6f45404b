"""What the views (status display, sidebar, dashboard charts) read about a second node:
its copies from the head's kept counts, and its spilled bytes from its own reports.

The test process is the head (see conftest.py); the node is a NodeAgent process.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

import nbray
from nbray.runtime import queries
from tests._support import poll_for

MiB = 2**20


@nbray.remote(resources={"w": 1})
def too_large_for_the_node() -> Any:
    return np.ones(20 * MiB // 8)   # larger than the node's 16 MiB store: on its spill target


@nbray.remote(resources={"w": 1})
def three_in_the_node_store() -> Any:
    return [nbray.put(np.full(MiB // 8, float(i))) for i in range(3)]


def _rows(head: Any) -> Dict[bool, Dict[str, Any]]:
    return {r["is_head"]: r for r in queries.run(head.node, "node_stats", {})}


def test_a_nodes_copies_and_spilled_bytes_reach_node_stats_and_the_metrics(make_head: Any) -> None:
    head = make_head(store=64 * MiB)
    agent = head.join(resources='{"w": 1}', store=16 * MiB)
    node_id = head.info_of(agent).node_id
    inner = nbray.get(three_in_the_node_store.remote(), timeout=60)
    rows = _rows(head)
    assert rows[False]["node_id"] == node_id
    assert rows[False]["objects"] == rows[False]["shm_objects"] == 3
    assert rows[False]["shm_bytes"] >= 3 * MiB
    assert sum(float(v[0]) for v in nbray.get(inner)) == 3.0

    big = too_large_for_the_node.remote()
    nbray.wait([big], timeout=60)
    poll_for(lambda: _rows(head)[False]["spilled_objects"] == 1, timeout=30,
             msg="the node reported its spilled object")
    rows = _rows(head)
    assert rows[False]["spilled_bytes"] >= 20 * MiB
    # Not counted again on the head, whose table knows the object too.
    assert rows[True]["spilled_objects"] == 0 and rows[True]["spilled_bytes"] == 0

    def sampled() -> bool:
        samples = queries.run(head.node, "metrics", {})["samples"]
        return any(n["node_id"] == node_id and n["spilled_bytes"] >= 20 * MiB
                   for s in samples[-1:] for n in s["nodes"])
    poll_for(sampled, timeout=30, msg="memory over time shows the node's spilled bytes")

    assert float(nbray.get(big, timeout=60)[-1]) == 1.0
    del big
    poll_for(lambda: _rows(head)[False]["spilled_bytes"] == 0, timeout=30,
             msg="the spilled file was deleted once freed")
    del inner
    poll_for(lambda: _rows(head)[False]["objects"] == 0, timeout=30,
             msg="the node's copies were freed")
