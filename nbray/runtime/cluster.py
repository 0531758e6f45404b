"""What the node, the worker pool and the remote-node bookkeeping share: a node of the cluster
as the head sees it, the driver's holder name, and the shape of an object descriptor.

Kept apart from node.py so that the modules the node is built from never import the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

DRIVER = "driver"


@dataclass(eq=False)
class NodeInfo:
    """A node of the cluster as the head sees it (the head's own node included).

    Whether it is alive is decided by `core.membership.Membership`; `alive` mirrors that
    decision here because scheduling reads it on every dispatch."""

    node_id: str
    total: Dict[str, float]
    available: Dict[str, float]
    conn: Any = None                   # None for the head's own node
    hostname: str = ""
    object_url: str = ""               # where its objects can be fetched over HTTP
    alive: bool = True
    is_head: bool = False
    store_capacity: int = 0
    store_used: int = 0
    spilled_bytes: int = 0             # on its spill target (its reports; the head: unused)
    spilled_objects: int = 0
    pid: int = 0
    is_driver: bool = False            # the in-process node of an attached driver (no CPUs)
    lost_reason: str = ""              # why it was lost (the dashboard explains a dead row)
    lost_at: float = 0.0               # when (epoch s)


__all__ = ["DRIVER", "NodeInfo"]
