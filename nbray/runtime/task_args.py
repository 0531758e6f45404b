"""Packing task arguments: top-level refs become placeholders resolved before the task runs.

Refs nested inside lists, dicts or objects are pickled as refs and arrive as refs
(seed 000/004); the node keeps them alive while the task is pending.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..serialization import Serialized, deserialize, serialize
from .object_ref import ObjectRef


class TopLevelArg:
    """Stands for the value of a top-level ObjectRef argument."""

    __slots__ = ("object_id",)

    def __init__(self, object_id: bytes) -> None:
        self.object_id = object_id

    def __reduce__(self):
        return (TopLevelArg, (self.object_id,))


def pack_args(args: Tuple[Any, ...], kwargs: Dict[str, Any], fn_name: str
              ) -> Tuple[Serialized, List[bytes]]:
    """Returns (serialized (args, kwargs), top-level ref ids); nested ids are in contained_refs."""
    top: List[bytes] = []
    if any(type(a) is ObjectRef for a in args):
        new_args = []
        for a in args:
            if type(a) is ObjectRef:
                top.append(a._id)
                a = TopLevelArg(a._id)
            new_args.append(a)
        args = tuple(new_args)
    if kwargs and any(type(v) is ObjectRef for v in kwargs.values()):
        new_kwargs = {}
        for k, v in kwargs.items():
            if type(v) is ObjectRef:
                top.append(v._id)
                v = TopLevelArg(v._id)
            new_kwargs[k] = v
        kwargs = new_kwargs
    if not args and not kwargs:
        return _EMPTY, top
    ser = serialize((args, kwargs), context=f"an argument of {fn_name}()")
    return ser, top


_EMPTY = serialize(((), {}), out_of_band=False)


def unpack_args(packed: Tuple[Any, ...], values: Dict[bytes, Any]) -> Tuple[tuple, dict]:
    args, kwargs = packed
    if values:
        args = tuple(values[a.object_id] if type(a) is TopLevelArg else a for a in args)
        if kwargs:
            kwargs = {k: values[v.object_id] if type(v) is TopLevelArg else v
                      for k, v in kwargs.items()}
    return args, kwargs


def load_inline_args(blob: Tuple[bytes, tuple]) -> Tuple[Any, ...]:
    meta, buffers = blob
    return deserialize(meta, buffers)
