"""The wire protocol's records, the one dispatch, and the message table in the docs."""

from __future__ import annotations

import inspect
import os
import pickle
import pickletools
import re
from typing import Any, Callable, Dict, List, Tuple

import pytest

from nbray.core.specs import TaskSpec
from nbray.exceptions import NbrayInternalError
from nbray.transport import messages as m
from nbray.transport.dispatch import Handlers, ProtocolError, check_handlers, dispatch, signature_of
from nbray.transport.fast_wire import FAST_WIRE
from nbray.transport.framing import MessageConnection
from nbray.transport.protocol_doc import render_table, type_text

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "protocol.md")
BEGIN, END = "<!-- BEGIN message table", "<!-- END message table -->"

# Every op the runtime sends and receives today, per channel (from its send and receive
# sites).  A message added or removed changes this list, the records and the docs together.
EXPECTED_OPS = {
    "worker->node": {
        "ready", "ready-driver", "refs", "unpin", "stream-release", "put", "alloc",
        "free-block", "seal", "seal-spilled", "get", "get-cancel", "wait", "submit",
        "register-function", "cancel", "cancel-tagged", "create-actor", "kill-actor", "get-actor", "query",
        "log", "done", "yield", "stream-next", "stream-wait", "stream-room", "actor-exit"},
    "node->worker": {"secrets", "exec", "reply", "cancel", "exit", "log"},
    "agent->head": {"register", "heartbeat", "w", "worker-exit", "fetched", "make-room"},
    "head->agent": {"registered", "to", "signal", "free", "fetch", "room", "shutdown"},
}
REQUESTS = {"alloc", "get", "wait", "cancel", "cancel-tagged", "create-actor", "get-actor", "query",
            "stream-next", "stream-wait", "stream-room"}

SPEC = TaskSpec(task_id=b"t" * 24, name="f", function_id=b"f" * 28, args=b"args",
                arg_refs=[b"a" * 28], nested_refs=[], return_ids=[b"r" * 28],
                resources={"CPU": 1.0})
RESULT = (b"r" * 28, "i", (b"meta", (b"buf",)), 11, [b"n" * 28], False, "int")
# A sample value per field type, as the annotations spell it: a new type needs a sample.
SAMPLES: Dict[str, Any] = {
    "int": 7, "bytes": b"x" * 28, "str": "name", "bool": True, "Any": {"any": [1]},
    "List[bytes]": [b"a" * 28, b"b" * 28], "Dict[str, Any]": {"name": "a", "n": 1},
    "Dict[str, float]": {"CPU": 2.0}, "TaskSpec": SPEC, "Optional[bytes]": b"t" * 24,
    "Optional[str]": "full", "Optional[int]": -9, "InlineValue": (b"meta", (b"buf",)),
    "ResultTuple": RESULT, "List[ResultTuple]": [RESULT],
    "List[Tuple[bytes, DescriptorTuple]]": [(b"a" * 28, ("s", 4096, False))],
    "Optional[Tuple[float, float]]": (1.5, 2.5), "WireMessage": ("ready", 42),
}


def sample(record: Any) -> Any:
    """An instance of `record` with a sample value in each field."""
    return record(*(SAMPLES[type_text(record, f)] for f in record._fields))


class Pipe:
    """The two ends of a stream socket, in memory: framing.py's code runs unchanged."""

    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data

    def recv(self, n: int) -> bytes:
        chunk, self.data[:n] = bytes(self.data[:n]), b""
        return chunk

    def fileno(self) -> int:
        return -1  # no descriptor: nothing polls this one


def through_framing(*msgs: Any) -> List[Any]:
    """`msgs` sent and received by framing.MessageConnection (its pickler, its frames)."""
    pipe = Pipe()
    sender, receiver = MessageConnection(pipe), MessageConnection(pipe)  # type: ignore[arg-type]
    for msg in msgs:
        sender.send(msg)
    return [receiver.recv() for _ in msgs]


def all_records() -> List[type]:
    return [info.record for info in m.messages()]


def recorder(calls: List[Tuple[Any, ...]]) -> Callable[..., None]:
    def handler(sender: Any, *fields: Any) -> None:
        calls.append((sender, *fields))
    return handler


def table_for(channel: m.Channel, calls: List[Tuple[Any, ...]],
              replies: List[Tuple[Any, Any]]) -> Handlers[Any]:
    return Handlers({info.record: recorder(calls) for info in m.messages(channel)},
                    reply=lambda sender, msg: replies.append((sender, msg)))


# -- the table -------------------------------------------------------------------------
def test_every_op_has_a_record_and_every_record_an_op() -> None:
    for channel in m.CHANNELS:
        assert set(m.channel_ops(channel)) == EXPECTED_OPS[channel], channel
    defined = {obj for obj in vars(m).values()
               if isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
               and obj.__module__ == m.__name__}
    assert defined - set(all_records()) == {m.MessageInfo}
    # The values inside messages are defined once, with the objects they describe.
    assert m.Result.__module__ == m.Descriptor.__module__ == "nbray.core.object_directory"
    assert all(m.op_of(info.record) == info.op for info in m.messages())


def test_requests_carry_a_request_id_and_say_what_they_get_back() -> None:
    requests = {info.op for info in m.messages("worker->node") if info.request}
    assert requests == REQUESTS
    for info in m.messages():
        assert info.record._fields[:1] == ("req",) or not info.request  # type: ignore[attr-defined]
        assert bool(info.reply) == info.request
        assert (info.record.__doc__ or "").strip(), info.op


def test_a_request_without_a_request_id_cannot_be_defined() -> None:
    with pytest.raises(ValueError, match="`req` as its first field"):
        @m.message("bogus", "head->agent", reply="nothing")
        class Bogus(tuple):  # pragma: no cover - refused before use
            _fields = ("x",)


def test_an_op_cannot_be_defined_twice_on_one_channel() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        m.message("ready", "worker->node")(type("Again", (tuple,), {"_fields": ("pid",)}))
    assert m.channel_ops("worker->node")["ready"].record is m.Ready


def test_ops_are_kebab_case_and_records_are_distinct() -> None:
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", info.op) for info in m.messages())
    assert len({info.record for info in m.messages()}) == len(m.messages())
    with pytest.raises(KeyError):
        m.wire(m.Result._make(RESULT))  # a value inside messages, not a message


def test_same_op_on_two_channels_is_two_messages() -> None:
    assert m.channel_ops("worker->node")["cancel"].record is m.Cancel
    assert m.channel_ops("node->worker")["cancel"].record is m.CancelRunning
    assert m.channel_ops("worker->node")["log"].record is m.Log
    assert m.channel_ops("node->worker")["log"].record is m.Output


# -- what travels ----------------------------------------------------------------------
@pytest.mark.parametrize("record", all_records(), ids=lambda r: r.__name__)
def test_every_record_round_trips_through_the_framing(record: type) -> None:
    msg = sample(record)
    back, as_is = through_framing(m.wire(msg), msg)
    assert type(back) is tuple
    assert back == (m.op_of(record), *msg)
    assert record(*back[1:]) == msg
    assert type(as_is) is record and as_is == msg  # a record sent as it is (slow, but works)
    assert pickle.loads(pickle.dumps(m.wire(msg), protocol=5)) == back  # as ws.py sends


@pytest.mark.parametrize("record", all_records(), ids=lambda r: r.__name__)
def test_wire_messages_carry_no_class_reference(record: type) -> None:
    """A class in a pickle costs a module lookup on each side of every message, several
    times the cost of the tuple: only a TaskSpec or an Any value may bring one."""
    msg = sample(record)
    globals_ = [arg for op, arg, _ in pickletools.genops(pickle.dumps(m.wire(msg), protocol=5))
                if op.name in ("GLOBAL", "STACK_GLOBAL", "INST")]
    carries = {type_text(record, f) for f in record._fields}  # type: ignore[attr-defined]
    if not carries & {"TaskSpec", "Any"}:
        assert globals_ == []


def test_wire_is_the_op_then_the_fields() -> None:
    assert m.wire(m.Alloc(3, b"o", 64)) == ("alloc", 3, b"o", 64)
    assert m.wire(m.Exit()) == ("exit",)
    assert m.wire(m.Done(b"t", [], False)) == ("done", b"t", [], False, None)
    assert type(m.wire(m.Shutdown())) is tuple


@pytest.mark.parametrize("record", list(FAST_WIRE), ids=lambda r: r.__name__)
def test_a_fast_builder_takes_its_records_fields_and_makes_its_wire_tuple(record: Any) -> None:
    build = FAST_WIRE[record]
    params = list(inspect.signature(build).parameters.values())
    assert [p.name for p in params] == list(record._fields)
    assert {p.name: p.default for p in params if p.default is not p.empty} == \
        record._field_defaults
    msg = sample(record)
    assert build(*msg) == m.wire(msg) and type(build(*msg)) is tuple
    fewest = [SAMPLES[type_text(record, f)] for f in record._fields
              if f not in record._field_defaults]
    assert build(*fewest) == m.wire(record(*fewest))


def test_result_and_descriptor_unpack_like_the_tuples_that_travel() -> None:
    oid, kind, payload, size, contains, is_error, type_name = m.Result._make(RESULT)
    assert (oid, kind, size, type_name) == (RESULT[0], "i", 11, "int")
    assert m.Result._make(RESULT) == RESULT
    assert len(m.Descriptor._fields) == 3 and m.Descriptor("s", 64, False)[1] == 64
    assert {m.KIND_INLINE, m.KIND_ARENA, m.KIND_FILE} == {"i", "s", "f"}


# -- dispatch ----------------------------------------------------------------------------
@pytest.mark.parametrize("channel", m.CHANNELS)
def test_dispatch_finds_the_handler_of_every_message(channel: m.Channel) -> None:
    calls: List[Tuple[Any, ...]] = []
    handlers = table_for(channel, calls, [])
    for info in m.messages(channel):
        msg = sample(info.record)
        dispatch(handlers, "peer", through_framing(m.wire(msg))[0])
        assert calls.pop() == ("peer", *msg)
        dispatch(handlers, "peer", msg)  # a record as it is
        assert calls.pop() == ("peer", *msg)


def test_dispatch_calls_each_handler_with_the_fields_by_name() -> None:
    seen: Dict[str, Any] = {}

    def on_alloc(worker: str, req: int, oid: bytes, size: int) -> None:
        seen.update(worker=worker, req=req, oid=oid, size=size)

    def on_done(worker: str, task_id: bytes, results: List[Any], retry: bool,
                timing: Any = None) -> None:
        seen.update(task_id=task_id, timing=timing)

    handlers: Handlers[str] = Handlers({m.Alloc: on_alloc, m.Done: on_done})
    dispatch(handlers, "w1", ("alloc", 5, b"o", 4096))
    dispatch(handlers, "w1", ("done", b"t", [], False))   # trailing default left out
    assert seen == {"worker": "w1", "req": 5, "oid": b"o", "size": 4096, "task_id": b"t",
                    "timing": None}


def test_an_unknown_op_is_refused_and_not_answered() -> None:
    replies: List[Tuple[Any, Any]] = []
    handlers = table_for("worker->node", [], replies)
    with pytest.raises(ProtocolError, match="unknown op 'spawn' on channel worker->node"):
        dispatch(handlers, "w1", ("spawn", 5))
    assert replies == []   # no request id can be trusted in an unknown message


@pytest.mark.parametrize("msg", [("alloc", 5, b"o"), ("alloc", 5, b"o", 64, "extra")])
def test_wrong_fields_are_refused_naming_the_op_and_its_fields(msg: Tuple[Any, ...]) -> None:
    replies: List[Tuple[Any, Any]] = []
    calls: List[Tuple[Any, ...]] = []
    handlers = table_for("worker->node", calls, replies)
    with pytest.raises(ProtocolError) as info:
        dispatch(handlers, "w1", msg)
    assert str(info.value) == (f"malformed 'alloc' message: expected fields (req, oid, size), "
                               f"got {len(msg) - 1} value(s)")
    (sender, reply), = replies
    assert sender == "w1" and reply[:3] == ("reply", 5, False) and reply[3] is info.value
    assert calls == []


def test_wrong_fields_of_a_message_that_is_no_request_get_no_reply() -> None:
    replies: List[Tuple[Any, Any]] = []
    handlers = table_for("worker->node", [], replies)
    with pytest.raises(ProtocolError, match=r"'seal' message: expected fields \(oid, offset, "
                                            r"block, size, contains, type_name, call_site=''\)"):
        dispatch(handlers, "w1", ("seal", b"o", 0))
    assert replies == []


def test_wrong_fields_reach_no_handler() -> None:
    calls: List[Tuple[Any, ...]] = []

    def on_alloc(worker: str, req: int, oid: bytes, size: int) -> None:
        calls.append((worker, req))

    with pytest.raises(ProtocolError, match="malformed 'alloc'"):
        dispatch(Handlers({m.Alloc: on_alloc}), "w1", ("alloc", 5))
    assert calls == []


def test_an_op_not_handled_here_is_refused_and_a_request_answered() -> None:
    replies: List[Tuple[Any, Any]] = []
    handlers: Handlers[str] = Handlers({m.Ready: recorder([])},
                                       reply=lambda s, msg: replies.append((s, msg)))
    with pytest.raises(ProtocolError, match="op 'query' is not handled by this receiver"):
        dispatch(handlers, "w1", ("query", 9, "nodes", {}))
    assert replies[0][1][:3] == ("reply", 9, False)
    assert "query" in str(replies[0][1][3])
    with pytest.raises(ProtocolError, match="op 'refs' is not handled"):
        dispatch(handlers, "w1", m.Refs([], []))
    assert len(replies) == 1


def test_a_request_is_not_answered_without_a_reply_path_or_request_id() -> None:
    handlers: Handlers[str] = Handlers({m.Ready: recorder([])})
    with pytest.raises(ProtocolError, match="not handled"):
        dispatch(handlers, "w1", ("get", 3, []))
    replies: List[Tuple[Any, Any]] = []
    handlers = Handlers({m.Ready: recorder([])}, reply=lambda s, x: replies.append((s, x)))
    with pytest.raises(ProtocolError, match="malformed 'get'"):
        dispatch(handlers, "w1", ("get",))
    with pytest.raises(ProtocolError, match="malformed 'get'"):
        dispatch(handlers, "w1", ("get", "not an id", [], 1))
    assert replies == []


@pytest.mark.parametrize("msg", [(), [], "ready", None, (42, 1), ([1], 2), {"op": "ready"}])
def test_what_is_no_message_is_refused(msg: Any) -> None:
    handlers = table_for("worker->node", [], [])
    with pytest.raises(ProtocolError, match="not a message"):
        dispatch(handlers, "w1", msg)


def test_a_handlers_own_type_error_is_not_mistaken_for_a_malformed_message() -> None:
    def broken(worker: str, pid: int) -> None:
        raise TypeError("a bug in the handler")

    with pytest.raises(TypeError, match="a bug in the handler") as info:
        dispatch(Handlers({m.Ready: broken}), "w1", ("ready", 1))
    assert not isinstance(info.value, ProtocolError)


def test_a_handler_table_serves_one_channel() -> None:
    with pytest.raises(ValueError, match="one channel"):
        Handlers({m.Ready: recorder([]), m.Exec: recorder([])})
    assert Handlers({m.Exec: recorder([])}).channel == "node->worker"


def test_protocol_error_travels_in_a_reply() -> None:
    error = ProtocolError("op 'x' is not handled")
    back = pickle.loads(pickle.dumps(m.wire(m.Reply(1, False, error)), protocol=5))
    assert isinstance(back[3], ProtocolError) and isinstance(back[3], NbrayInternalError)
    assert str(back[3]) == "op 'x' is not handled"


# -- handler signatures ------------------------------------------------------------------
class Receiver:
    def on_alloc(self, worker: str, req: int, oid: bytes, size: int) -> None:
        pass

    def on_done(self, worker: str, task_id: bytes, results: List[Any], retry: bool,
                timing: Any = None) -> None:
        pass


def test_check_handlers_accepts_handlers_that_match_their_records() -> None:
    r = Receiver()

    def on_exit(worker: str) -> None:
        pass

    check_handlers({m.Alloc: r.on_alloc, m.Done: r.on_done, m.Exit: on_exit})
    check_handlers(Handlers({m.Alloc: r.on_alloc}))


def test_check_handlers_names_each_mismatch() -> None:
    def swapped(worker: str, req: int, size: int, oid: bytes) -> None:
        pass

    def short(worker: str, req: int) -> None:
        pass

    def extra(worker: str, req: int, oids: List[bytes], blocked: bool = False) -> None:
        pass

    def star(worker: str, *fields: Any) -> None:
        pass

    def no_sender() -> None:
        pass

    with pytest.raises(ValueError) as info:
        check_handlers({m.Alloc: swapped, m.Unpin: short, m.Get: extra, m.Ready: star,
                        m.Exit: no_sender, int: short})
    lines = str(info.value).splitlines()[1:]
    assert [line.split("(")[0].strip() for line in lines] == [
        "test_check_handlers_names_each_mismatch.<locals>.swapped",
        "test_check_handlers_names_each_mismatch.<locals>.short",
        "test_check_handlers_names_each_mismatch.<locals>.extra",
        "test_check_handlers_names_each_mismatch.<locals>.star",
        "test_check_handlers_names_each_mismatch.<locals>.no_sender takes no sender",
        "<class 'int'> is not a message record"]
    assert lines[0].endswith("does not match 'alloc' Alloc(req, oid, size)")
    assert lines[1].endswith("does not match 'unpin' Unpin(oids)")
    assert lines[2].endswith("does not match 'get' Get(req, oids)")
    assert lines[3].endswith("does not match 'ready' Ready(pid)")


def test_signature_of_shows_defaults() -> None:
    assert signature_of(m.Done) == "(task_id, results, retry, timing=None)"
    assert signature_of(m.Shutdown) == "()"
    assert inspect.isfunction(m.wire)


# -- the docs ------------------------------------------------------------------------------
def test_the_docs_list_exactly_the_records_ops_and_fields() -> None:
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    block = text[start:text.index(END)]
    assert block.strip() == render_table().strip(), (
        "docs/protocol.md is out of date: paste the output of "
        "`python -c 'from nbray.transport.protocol_doc import render_table; "
        "print(render_table())'` between its markers")


def test_the_rendered_table_has_a_row_per_message() -> None:
    table = render_table()
    for info in m.messages():
        row = next(line for line in table.splitlines()
                   if line.startswith(f"| `{info.op}` | `{info.record.__name__}` |"))
        for field in info.record._fields:  # type: ignore[attr-defined]
            assert f"`{field}: " in row
    assert sum(line.startswith("| `") for line in table.splitlines()) == len(m.messages())
