"""Helpers of the actor tests: finding an actor's row in list_actors() and waiting for states."""

from __future__ import annotations

import os
import signal
from typing import Any, Dict, Optional

import nbray
from tests._support import pid_gone, poll_for


def actor_row(handle: Any) -> Optional[Dict[str, Any]]:
    """The list_actors() row of the actor behind `handle` (None if it is not listed)."""
    actor_id = handle._actor_id_hex()
    for row in nbray.list_actors():
        if row["actor_id"] == actor_id:
            return row
    return None


def wait_for_state(handle: Any, state: str, **match: Any) -> Dict[str, Any]:
    """Poll list_actors() until the actor is in `state` (and its row has the `match` values)."""

    last: list = [None]

    def check() -> Optional[Dict[str, Any]]:
        row = last[0] = actor_row(handle)
        if row is not None and row["state"] == state and \
                all(row.get(k) == v for k, v in match.items()):
            return row
        return None

    try:
        return poll_for(check, msg=f"actor {handle!r} to be {state} with {match}")
    except AssertionError as e:
        raise AssertionError(f"{e}; its last row: {last[0]}") from None


def sigkill(pid: int) -> None:
    """SIGKILL a process and wait until it is gone (its node then notices the death)."""
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    poll_for(lambda: pid_gone(pid), msg=f"pid {pid} to die")


def actor_ids() -> set:
    return {row["actor_id"] for row in nbray.list_actors()}
