"""The worker's side of the wire protocol, against a real worker process.

The test plays the worker's node: it starts `nbray.runtime.worker` on a socketpair and
an arena of its own (as the node does, through `start_worker_process`), sends it
messages as they travel (plain tuples) and reads what the worker sends back.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Iterator, List, Tuple

import pytest

from nbray.core.specs import TaskSpec
from nbray.ids import ids, object_id_for_return
from nbray.runtime.task_args import pack_args
from nbray.runtime.worker import Worker
from nbray.runtime.worker_process import start_worker_process
from nbray.serialization import deserialize, serialize
from nbray.store.shm import Arena, create_arena_fd
from nbray.transport.dispatch import check_handlers
from nbray.transport.framing import MessageConnection
from nbray.transport.messages import (KIND_INLINE, CancelRunning, Done, Exec, Exit, Log, Output,
                                      Ready, Reply, Result, op_of, wire)

CAPACITY = 1 << 20


@pytest.fixture
def arena() -> Iterator[Arena]:
    arena = Arena(create_arena_fd(CAPACITY), CAPACITY)
    try:
        yield arena
    finally:
        arena.close()


def test_worker_handlers_take_their_records_fields(arena: Arena) -> None:
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        worker = Worker(MessageConnection(theirs), arena, "node", "worker")
        handlers = worker.node_handlers()
        check_handlers(handlers)
        # Output (op "log" of this channel) is sent only to an attached driver.
        assert set(handlers) == {Exec, Reply, CancelRunning, Exit}
    finally:
        mine.close()
        theirs.close()


def _task(fn: Any, *args: Any) -> Tuple[TaskSpec, bytes]:
    """A task of `fn(*args)`, as a node sends it, and its function blob."""
    ser, top = pack_args(args, {}, fn.__name__)
    task_id = ids.task_id()
    spec = TaskSpec(task_id=task_id, name=fn.__name__, function_id=b"fn-" + task_id[:8],
                    args=(ser.meta, tuple(bytes(b) for b in ser.buffers)), arg_refs=top,
                    nested_refs=[], return_ids=[object_id_for_return(task_id, 0)],
                    resources={"CPU": 1.0})
    return spec, serialize(fn).meta


def _read_until(conn: MessageConnection, op: str, seen: List[Tuple[Any, ...]]) -> Tuple[Any, ...]:
    """Messages from the worker up to the first `op` (returned); the others go to `seen`."""
    while True:
        msg = conn.recv()
        if msg[0] == op:
            return msg
        seen.append(msg)


def test_worker_reports_a_message_it_cannot_take_and_goes_on(arena: Arena) -> None:
    env = dict(os.environ)
    proc, conn = start_worker_process(arena.fd, CAPACITY, "node", "worker-under-test", env)
    try:
        seen: List[Tuple[Any, ...]] = []
        ready = _read_until(conn, op_of(Ready), seen)
        assert ready == wire(Ready(proc.pid))
        # An unknown op, a known op with a field missing, and an op of the channel that
        # a worker does not take: each is reported on the worker's stderr, none kills it.
        conn.send(("no-such-op", 1))
        conn.send(("cancel",))
        conn.send(wire(Output({"text": "for an attached driver only"})))
        spec, blob = _task(max, 3, 4)
        conn.send(wire(Exec(spec, blob, [])))
        done = Done(*_read_until(conn, op_of(Done), seen)[1:])
        assert done.task_id == spec.task_id and not done.retry
        result = Result._make(done.results[0])
        assert result.oid == spec.return_ids[0] and result.kind == KIND_INLINE
        assert not result.is_error
        assert deserialize(*result.payload) == 4
        stderr = "".join(Log(*m[1:]).text for m in seen
                         if m[0] == op_of(Log) and m[1] == "stderr")
        assert "ProtocolError: unknown op 'no-such-op'" in stderr
        assert "malformed 'cancel' message" in stderr
        assert "op 'log' is not handled by this receiver" in stderr
        conn.send(wire(Exit()))
        assert proc.wait(timeout=30) == 0
    finally:
        conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
