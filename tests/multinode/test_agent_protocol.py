"""The wire protocol between the head and its nodes: the node agent's handler tables, and
what the head does with a message it cannot take, from a node or relayed from a worker of
one (refused; a request answered with an error; the head goes on).

The test process is the head (see conftest.py); the agents are processes of their own.
"""

from __future__ import annotations

import textwrap
from typing import Any, Tuple

import nbray
from tests._support import run_attached


def test_an_agents_handlers_take_their_records_fields_and_the_head_refuses_a_bad_message(
        head: Any, capfd: Any) -> None:
    # An attached driver runs a NodeAgent of its own, in its process: its tables are the
    # agent's, and its connection to the head is an agent's.
    driver = textwrap.dedent(f"""
        import os
        from nbray.runtime.attach import AttachedDriver
        from nbray.transport.dispatch import check_handlers

        attached = AttachedDriver({head.server.address!r}, os.environ["NBRAY_TOKEN"])
        try:
            agent = attached.agent
            check_handlers(agent.head_handlers)
            check_handlers(agent.local_handlers)
            print("head", sorted(record.__name__ for record in agent.head_handlers))
            print("local", sorted(record.__name__ for record in agent.local_handlers))
            agent.conn.send(("no-such-op", 1))
            agent.conn.send(("heartbeat", 1))    # a field missing
            print("answer", attached.client.request(lambda req: ("get", req), timeout=60))
        finally:
            attached.close()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    assert ("head ['Fetch', 'Free', 'Registered', 'Room', 'Shutdown', 'Signal', 'ToWorker']"
            in out.stdout), out.stdout
    assert "local ['Alloc', 'FreeBlock']" in out.stdout, out.stdout
    # A relayed request with a field missing (get is (req, oids)) is answered with the error.
    assert "answer (False, ProtocolError(\"malformed 'get' message" in out.stdout, out.stdout
    err = capfd.readouterr().err
    assert "unknown op 'no-such-op' on channel agent->head" in err
    assert "malformed 'heartbeat' message" in err
    assert nbray.get(_add.remote(1, 2)) == 3


@nbray.remote
def _add(a: int, b: int) -> int:
    return a + b


@nbray.remote(resources={"far": 1})
def _ask_far(op: str, rest: Tuple[Any, ...]) -> Tuple[bool, str, str]:
    """On the joined node: send the request `(op, req, *rest)` as it is; the head's answer."""
    from nbray.runtime.context import current_client

    ok, value = current_client().request(lambda req: (op, req, *rest), timeout=60)
    return ok, type(value).__name__, str(value)


def test_a_malformed_request_relayed_from_a_joined_nodes_worker_gets_an_error_reply(
        head: Any, capfd: Any) -> None:
    head.join(resources='{"far": 1}')
    # stream-room is (req, task_id, need): relayed to the head, refused there, the error
    # relayed back; alloc is (req, oid, size), answered by the node's agent itself.
    ok, error, text = nbray.get(_ask_far.remote("stream-room", (b"t" * 16,)))
    assert (ok, error) == (False, "ProtocolError") and "malformed 'stream-room'" in text
    ok, error, text = nbray.get(_ask_far.remote("alloc", (b"o" * 16,)))
    assert (ok, error) == (False, "ProtocolError") and "malformed 'alloc'" in text
    assert nbray.get(_ask_far.remote("wait", ([], 0, False))) == (True, "list", "[]")
    assert "internal error while handling ('stream-room'" in capfd.readouterr().err
