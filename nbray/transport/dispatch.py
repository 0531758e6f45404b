"""Receiving messages: a receiver's handler table and the one `dispatch` every receiver uses.

The messages themselves (records, op names, channels) are defined in
`messages.py`; this module delivers one that arrived to its handler, refuses what
cannot be delivered (answering a request with an error, so that its caller does
not wait forever), and checks that handlers match their messages.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Generic, Mapping, NoReturn, Optional, Tuple, TypeVar

from ..exceptions import NbrayInternalError
from .messages import (Channel, MessageInfo, Reply, WireMessage, channel_ops, info_of,
                       is_record_type, op_of, wire)


class ProtocolError(NbrayInternalError):
    """A message that the receiver cannot handle: unknown op, wrong fields, or an op that
    this receiver does not take.  A bug (or mixed nbray versions): please report it."""


S = TypeVar("S")
Handler = Callable[..., None]


class Handlers(Dict[type, Handler], Generic[S]):
    """A receiver's table: record type -> handler(sender, *fields).

    All records of one table belong to one channel.  `reply(sender, wire_message)`, if
    given, answers a request that cannot be delivered (the receiver's usual reply path).
    """

    def __init__(self, table: Mapping[type, Handler],
                 reply: Optional[Callable[[S, WireMessage], None]] = None) -> None:
        super().__init__(table)
        channels = {info_of(record).channel for record in table}
        if len(channels) != 1:
            raise ValueError(f"a handler table serves one channel, not {sorted(channels)}")
        self.channel: Channel = channels.pop()
        self.ops: Dict[str, MessageInfo] = channel_ops(self.channel)
        # op -> (handler, fewest and most items of its wire tuple, the op included)
        self.by_op: Dict[str, Tuple[Handler, int, int]] = {
            op_of(record): (h, 1 + _arity(record)[0], 1 + _arity(record)[1])
            for record, h in table.items()}
        self.reply = reply


def dispatch(handlers: Handlers[S], sender: S, msg: Any) -> None:
    """Call the handler of `msg` (a wire tuple, or a record) with (sender, *fields).

    Raises ProtocolError for a message this table cannot take: not a message, an unknown
    op, wrong fields (the error names the op and its fields), or an op that is not handled
    here; a request among these is first answered with Reply(req, False, the error).
    An exception raised by the handler itself propagates unchanged.  A handler must take
    its record's fields (`check_handlers` tests that).
    """
    if type(msg) is tuple:
        try:
            entry = handlers.by_op.get(msg[0])
        except (IndexError, TypeError):   # empty, or an unhashable first item
            entry = None
        if entry is not None:
            handler, fewest, most = entry
            if fewest <= len(msg) <= most:
                handler(sender, *msg[1:])
                return
    elif is_record_type(type(msg)):  # a record sent as it is (works, but pickles slowly)
        by_type = handlers.get(type(msg))
        if by_type is not None:
            by_type(sender, *msg)
            return
        msg = wire(msg)
    _refuse_message(handlers, sender, msg)


def _arity(record: Any) -> Tuple[int, int]:
    """How many fields a message of `record` has: at least (those without a default), at most."""
    fields: Tuple[str, ...] = record._fields
    return len(fields) - len(record._field_defaults), len(fields)


def _check_fields(handlers: Handlers[S], sender: S, op: str, values: Tuple[Any, ...]) -> None:
    """Raise ProtocolError (answering a request) if `values` do not fit the fields of `op`."""
    record = handlers.ops[op].record
    fewest, most = _arity(record)
    if not fewest <= len(values) <= most:
        _refuse(handlers, sender, op, values, f"malformed {op!r} message: expected fields "
                f"{signature_of(record)}, got {len(values)} value(s)")


def _refuse_message(handlers: Handlers[S], sender: S, msg: Any) -> NoReturn:
    if type(msg) is not tuple or not msg or not isinstance(msg[0], str):
        raise ProtocolError(f"not a message (expected a tuple whose first item is an op "
                            f"name, or a record): {_short(msg)}")
    op, values = msg[0], msg[1:]
    if op not in handlers.ops:
        # An unknown message has no request id one could trust: refused, not answered.
        raise ProtocolError(f"unknown op {op!r} on channel {handlers.channel}; known ops: "
                            f"{', '.join(sorted(handlers.ops))}")
    _check_fields(handlers, sender, op, values)
    _refuse(handlers, sender, op, values,
            f"op {op!r} is not handled by this receiver (channel {handlers.channel})")


def _refuse(handlers: Handlers[S], sender: S, op: str, values: Tuple[Any, ...],
            why: str) -> NoReturn:
    """Answer a request that cannot be delivered with the error, then raise it."""
    error = ProtocolError(why)
    reply = handlers.reply
    if handlers.ops[op].request and reply is not None and values and type(values[0]) is int:
        reply(sender, wire(Reply(values[0], False, error)))
    raise error


def _short(msg: Any) -> str:
    text = repr(msg)
    return text if len(text) <= 80 else text[:77] + "..."


def signature_of(record: type) -> str:
    """`(req, oid, size)`: a record's fields, defaults shown."""
    defaults: Dict[str, Any] = getattr(record, "_field_defaults", {})
    fields: Tuple[str, ...] = getattr(record, "_fields", ())
    return "(" + ", ".join(f"{f}={defaults[f]!r}" if f in defaults else f for f in fields) + ")"


def check_handlers(handlers: Mapping[type, Handler]) -> None:
    """Raise ValueError listing every handler whose parameters after the sender are not
    exactly its record's fields (same names, same order); for receivers' tests."""
    problems = []
    for record, handler in handlers.items():
        if not is_record_type(record):
            problems.append(f"{record!r} is not a message record")
            continue
        params = list(inspect.signature(handler).parameters.values())
        name = getattr(handler, "__qualname__", repr(handler))
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY,
                                                params[0].POSITIONAL_OR_KEYWORD):
            problems.append(f"{name} takes no sender")
            continue
        got = [p.name for p in params[1:]]
        fields = list(getattr(record, "_fields"))
        positional = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                         for p in params[1:])
        if got != fields or not positional:
            problems.append(f"{name}{inspect.signature(handler)} does not match "
                            f"{op_of(record)!r} {record.__name__}{signature_of(record)}")
    if problems:
        raise ValueError("handlers do not match their messages:\n  " + "\n  ".join(problems))


__all__ = ["ProtocolError", "Handlers", "dispatch", "check_handlers", "signature_of"]
