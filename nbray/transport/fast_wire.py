"""The wire tuples of the hottest messages, built without building their records.

`wire(Done(...))` builds a NamedTuple, then a second tuple: 0.2 to 0.3 µs more than the
plain tuple (measured on a shared 2-core machine: 0.33 µs against 0.07 µs for a `Put`),
paid on every task (`Done`, and `Exec` the other way) and twice on every put() inside a
task (`Put`, and the `Refs` batch that the ref dropped before it sends first).  At about
10 µs for a small put() from a worker that is 4 to 6 %; these builders cost about as much
as the plain tuple (`wire(Exec(...))` 0.24 µs and `wire(Reply(...))` 0.20 µs against 0.04 µs
for their builders; a `Reply` answers every get() and wait() inside a task).  Each takes its
record's fields (same names, order and defaults) and returns exactly `wire(Record(...))`:
`tests/core/test_messages.py` checks both for every builder listed in FAST_WIRE.  Every
other message is sent as `wire(Record(...))`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ..core.specs import TaskSpec
from .messages import (DescriptorTuple, Done, Exec, InlineValue, Put, Refs, Reply, ResultTuple,
                       WireMessage, op_of)

_DONE = op_of(Done)
_PUT = op_of(Put)
_REFS = op_of(Refs)
_EXEC = op_of(Exec)
_REPLY = op_of(Reply)


def wire_done(task_id: bytes, results: List[ResultTuple], retry: bool,
              timing: Optional[Tuple[float, float]] = None) -> WireMessage:
    """`wire(Done(task_id, results, retry, timing))`."""
    return (_DONE, task_id, results, retry, timing)


def wire_put(oid: bytes, payload: InlineValue, size: int, contains: List[bytes],
             type_name: str, call_site: str = "") -> WireMessage:
    """`wire(Put(oid, payload, size, contains, type_name, call_site))`."""
    return (_PUT, oid, payload, size, contains, type_name, call_site)


def wire_refs(adds: List[bytes], removes: List[bytes]) -> WireMessage:
    """`wire(Refs(adds, removes))`."""
    return (_REFS, adds, removes)


def wire_exec(spec: TaskSpec, blob: Optional[bytes],
              deps: List[Tuple[bytes, DescriptorTuple]]) -> WireMessage:
    """`wire(Exec(spec, blob, deps))`: every task and actor call (node -> worker)."""
    return (_EXEC, spec, blob, deps)


def wire_reply(req: int, ok: bool, value: Any) -> WireMessage:
    """`wire(Reply(req, ok, value))`: the node's answer to a get() or wait() in a task."""
    return (_REPLY, req, ok, value)


# record -> its fast builder (for the test that keeps each equal to wire(record)).
FAST_WIRE: Dict[type, Callable[..., WireMessage]] = {
    Done: wire_done, Put: wire_put, Refs: wire_refs, Exec: wire_exec, Reply: wire_reply}

__all__ = ["wire_done", "wire_put", "wire_refs", "wire_exec", "wire_reply", "FAST_WIRE"]
