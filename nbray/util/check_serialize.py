"""`inspect_serializability`: find which part of a value cannot be sent to a task.

nbray pickles values and functions with cloudpickle (as Ray does).  When a function's
closure or an object's attribute holds something unpicklable (a lock, a socket, an open
file...), the error names only the outermost value; this walks into closures, attributes
and containers to name the innermost culprits, as `ray.util.inspect_serializability` does.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, List, Optional, Set, TextIO, Tuple

from ..serialization import SerializationError, serialize

__all__ = ["FailureTuple", "inspect_serializability"]


class FailureTuple:
    """One value that could not be serialized.

    Attributes:
        obj: the value itself.
        name: the name it had where it was found (variable, attribute, key or index).
        path: the names leading to it from the inspected value.
        parent: the value that holds it (None for the inspected value itself).
    """

    def __init__(self, obj: Any, path: Tuple[str, ...], parent: Any) -> None:
        self.obj = obj
        self.path = path
        self.name = path[-1] if path else None
        self.parent = parent

    def __repr__(self) -> str:
        where = " -> ".join(self.path) or "<inspected value>"
        return f"FailTuple({self.name} [path={where}, obj={_short(self.obj)}, " \
               f"parent={_short(self.parent)}])"


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the report
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error(value: Any) -> Optional[str]:
    """None if `value` serializes, else why not."""
    try:
        serialize(value, context="the inspected value", out_of_band=False)
        return None
    except SerializationError as e:
        cause = e.__cause__
        return f"{type(cause).__name__}: {cause}" if cause is not None else str(e)
    except Exception as e:  # noqa: BLE001 - whatever pickling raised is the answer
        return f"{type(e).__name__}: {e}"


def _children(value: Any) -> List[Tuple[str, Any]]:
    """The named parts of `value` that pickling it pickles too."""
    if inspect.isfunction(value):
        try:
            closure = inspect.getclosurevars(value)
        except (TypeError, ValueError):
            return []
        return [*closure.nonlocals.items(), *closure.globals.items()]
    if isinstance(value, dict):
        return [(f"[{k!r}]", v) for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    parts: List[Tuple[str, Any]] = []
    if inspect.isclass(value):
        for name, member in vars(value).items():
            if not (name.startswith("__") and name.endswith("__")):
                parts.append((name, member))
        return parts
    try:
        parts.extend(vars(value).items())
    except TypeError:  # no __dict__ (slots, builtins)
        pass
    for slot in getattr(type(value), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(value, slot):
            parts.append((slot, getattr(value, slot)))
    return parts


def inspect_serializability(base_obj: Any, name: Optional[str] = None, depth: int = 3,
                            print_file: Optional[TextIO] = None
                            ) -> Tuple[bool, Set[FailureTuple]]:
    """Check whether `base_obj` can be sent to a task, and if not, which parts cannot.

    Args:
        base_obj: a value, function or class.
        name: what to call it in the report.
        depth: how many levels of closures, attributes and items to walk into.
        print_file: where the report goes (default: standard output).

    Returns:
        (True, empty set) if it serializes; else (False, the innermost failing values found,
        as FailureTuple objects with `obj`, `name`, `path` and `parent`).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative int, got {depth!r}")
    out = print_file if print_file is not None else sys.stdout
    label = name or _short(base_obj)
    rule = "=" * min(80, 30 + len(label))
    print(rule, file=out)
    print(f"Checking serializability of {label}", file=out)
    print(rule, file=out)
    failures: Set[FailureTuple] = set()
    ok = _walk(base_obj, (name,) if name else (), None, depth, failures, out, level=0)
    if not ok:
        print(rule, file=out)
        print("Not serializable:", file=out)
        for f in sorted(failures, key=lambda f: f.path):
            print(f"    {f!r}", file=out)
        print("Create these values inside the task or actor instead of capturing them, or "
              "give their class a __reduce__ method.", file=out)
    print(rule, file=out)
    return ok, failures


def _walk(value: Any, path: Tuple[str, ...], parent: Any, depth: int,
          failures: Set[FailureTuple], out: TextIO, level: int) -> bool:
    indent = "    " * level
    why = _error(value)
    if why is None:
        return True
    where = path[-1] if path else "it"
    print(f"{indent}!!! FAIL serializing {where!s}: {why}", file=out)
    culprits = 0
    if depth > 0:
        seen: Set[int] = set()
        for child_name, child in _children(value):
            if id(child) in seen:
                continue
            seen.add(id(child))
            if not _walk(child, path + (child_name,), value, depth - 1, failures, out, level + 1):
                culprits += 1
    if culprits == 0:
        # Nothing inside failed alone (or we may go no deeper): this value is the culprit.
        failures.add(FailureTuple(value, path, parent))
    return False
