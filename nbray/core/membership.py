"""Cluster membership as the head decides it: which nodes are in, when each was last heard
from, and which are lost.  No sockets, threads or clocks: the caller passes the time in
(monotonic seconds) and performs what comes back.

Every event returns the list of nodes it made lost, as `Lost(node_id, reason)`; each node
is reported lost once per incarnation.  A node that registers again under the same id
(it restarted) is a new incarnation: the old one is reported lost first, and events of
the old incarnation's connection (a late close, a late heartbeat) no longer touch the new
one.  The head's own node is never a member, so it is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple

# A hung node is declared lost after this long without a heartbeat (sent every second);
# a dead one closes its socket and is seen at once.
HEARTBEAT_TIMEOUT_S = 5.0

RESTARTED = "it registered again (restarted)"
CONNECTION_CLOSED = "its connection to the head closed"


class Lost(NamedTuple):
    """Instruction: node `node_id` is lost for `reason`; handle its workers and objects."""

    node_id: str
    reason: str


@dataclass
class Member:
    incarnation: int
    last_seen: float
    alive: bool = True


class Membership:
    """The nodes that joined the head, their heartbeats and their deadlines."""

    def __init__(self, timeout_s: float = HEARTBEAT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.members: Dict[str, Member] = {}
        self._incarnations = 0

    # -- events ------------------------------------------------------------------------
    def join(self, node_id: str, now: float) -> Tuple[int, List[Lost]]:
        """Node `node_id` registered at `now`: returns its incarnation (to pass with later
        events of this connection) and the nodes lost by it (its previous incarnation,
        if that was still alive)."""
        lost: List[Lost] = []
        old = self.members.get(node_id)
        if old is not None and old.alive:
            old.alive = False
            lost.append(Lost(node_id, RESTARTED))
        self._incarnations += 1
        self.members[node_id] = Member(self._incarnations, now)
        return self._incarnations, lost

    def heard(self, node_id: str, incarnation: int, now: float) -> None:
        """A heartbeat from incarnation `incarnation` of `node_id` arrived at `now`."""
        member = self.members.get(node_id)
        if member is not None and member.incarnation == incarnation and member.alive:
            member.last_seen = max(member.last_seen, now)

    def closed(self, node_id: str, incarnation: int) -> List[Lost]:
        """The connection of incarnation `incarnation` of `node_id` closed."""
        member = self.members.get(node_id)
        if member is None or member.incarnation != incarnation or not member.alive:
            return []
        member.alive = False
        return [Lost(node_id, CONNECTION_CLOSED)]

    def lose(self, node_id: str, reason: str) -> List[Lost]:
        """Declare `node_id` lost for `reason` (no-op for a node that is not a live member)."""
        member = self.members.get(node_id)
        if member is None or not member.alive:
            return []
        member.alive = False
        return [Lost(node_id, reason)]

    def expired(self, now: float) -> List[Lost]:
        """The time is `now`: the live members silent for longer than the timeout are lost."""
        lost: List[Lost] = []
        for node_id, member in self.members.items():
            if member.alive:
                silent = now - member.last_seen
                if silent > self.timeout_s:
                    member.alive = False
                    lost.append(Lost(node_id, f"no heartbeat for {silent:.1f} s"))
        return lost

    # -- queries -----------------------------------------------------------------------
    def is_alive(self, node_id: str) -> bool:
        member = self.members.get(node_id)
        return member is not None and member.alive

    def silent_for(self, node_id: str, now: float) -> Optional[float]:
        """Seconds since `node_id` was last heard from (None: not a member)."""
        member = self.members.get(node_id)
        return None if member is None else now - member.last_seen


__all__ = ["HEARTBEAT_TIMEOUT_S", "Lost", "Member", "Membership", "RESTARTED", "CONNECTION_CLOSED"]
