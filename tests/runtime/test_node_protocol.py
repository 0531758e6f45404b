"""The node's side of the wire protocol: its handler tables, and what it does with a message
it cannot take (a malformed request is answered with an error, an unknown op is logged; the
node goes on either way).

The bad messages are sent by a real worker, from inside a task, through its own client.
"""

from __future__ import annotations

from typing import Any, Tuple

import nbray
from nbray.transport.dispatch import check_handlers
from nbray.transport.messages import ReadyDriver, channel_ops, info_of


def test_the_nodes_handlers_take_their_records_fields(cluster: Any) -> None:
    node = cluster.node
    check_handlers(node.handlers)
    check_handlers(node.remote.handlers)
    # Every worker->node message but ReadyDriver (RemoteNodes takes that one itself).
    worker_ops = {info.record for info in channel_ops("worker->node").values()}
    assert set(node.handlers) == worker_ops - {ReadyDriver}
    assert {info_of(record).channel for record in node.remote.handlers} == {"agent->head"}


@nbray.remote
def _send_request(msg_tail: Tuple[Any, ...]) -> Tuple[bool, str, str]:
    """From inside a task: send the request `(op, req, *rest)` as it is; the node's answer."""
    from nbray.runtime.context import current_client

    op, rest = msg_tail[0], msg_tail[1:]
    ok, value = current_client().request(lambda req: (op, req, *rest), timeout=60)
    return ok, type(value).__name__, str(value)


@nbray.remote
def _send(msg: Tuple[Any, ...]) -> str:
    from nbray.runtime.context import current_client

    current_client().send(msg)
    return "sent"


@nbray.remote
def _add(a: int, b: int) -> int:
    return a + b


def test_a_malformed_request_gets_an_error_reply_and_the_node_goes_on(cluster: Any,
                                                                       capfd: Any) -> None:
    # stream-room is (req, task_id, need): `need` is missing.
    ok, error, text = nbray.get(_send_request.remote(("stream-room", b"t" * 16)))
    assert (ok, error) == (False, "ProtocolError")
    assert "malformed 'stream-room' message" in text and "need" in text
    # A request with fields too many: answered too, not left waiting.
    ok, error, text = nbray.get(_send_request.remote(("get", [], "extra", "fields")))
    assert (ok, error) == (False, "ProtocolError") and "malformed 'get'" in text
    assert nbray.get(_add.remote(2, 3)) == 5
    assert "internal error while handling ('stream-room'" in capfd.readouterr().err


def test_an_unknown_op_is_logged_and_the_node_goes_on(cluster: Any, capfd: Any) -> None:
    workers_before = sorted(cluster.node.worker_pids())
    assert nbray.get(_send.remote(("no-such-op", 1, 2))) == "sent"
    assert nbray.get(_send.remote(("done",))) == "sent"          # a known op, no fields
    assert nbray.get(_send.remote(["not", "a", "tuple"])) == "sent"
    assert nbray.get([_add.remote(i, 1) for i in range(4)]) == [1, 2, 3, 4]
    err = capfd.readouterr().err
    assert "ProtocolError: unknown op 'no-such-op' on channel worker->node" in err
    assert "malformed 'done' message" in err
    assert "not a message" in err
    # The worker that sent them was not dropped: the node took its later messages.
    assert set(workers_before) <= set(cluster.node.worker_pids())
