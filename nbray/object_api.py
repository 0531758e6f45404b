"""put(), get(), wait() and cancel(): the facade's object calls, checked for Ray's argument
errors and sent through the current client (`nbray.runtime.context`)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Set, Tuple, Union

from .runtime.blocking import check_timeout, get_many, get_one
from .runtime.context import client_or_init
from .runtime.generators import ObjectRefGenerator
from .runtime.notebook_port import report_interrupt
from .runtime.object_ref import ObjectRef
from .runtime.remote_function import RemoteFunction


def put(value: Any, *, _owner: Any = None) -> ObjectRef:
    """Store `value` in the object store and return a ref to it (the value is copied)."""
    return client_or_init().put(value)


class NotObjectRefsError(TypeError, ValueError):
    """get() of something that is neither an ObjectRef nor a list of them.

    Ray raises ValueError here, and programs written for Ray catch that; it is a TypeError
    too, as every other bad argument of get() and wait() is.
    """


def get(object_refs: Union[ObjectRef, Sequence[ObjectRef]], *,
        timeout: Optional[float] = None) -> Any:
    """The value of a ref, or a list of values for a list of refs, waiting as needed.

    Raises:
        GetTimeoutError: not ready within `timeout` seconds.
        RayTaskError: the task raised (also an instance of the original exception class).
    """
    __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
    timeout = check_timeout(timeout, "get()")
    if isinstance(object_refs, ObjectRefGenerator):
        return object_refs  # as Ray does: iterate it to get its refs
    if isinstance(object_refs, ObjectRef):
        return get_one(object_refs._id, timeout)
    if not isinstance(object_refs, (list, tuple)):
        raise NotObjectRefsError(f"get() takes an ObjectRef or a list of ObjectRefs, got "
                                 f"{type(object_refs).__name__}" + _hint_for(object_refs))
    for i, r in enumerate(object_refs):
        if not isinstance(r, ObjectRef):
            raise TypeError(f"get(): item {i} of the list is a {type(r).__name__}, not an "
                            f"ObjectRef" + _hint_for(r))
    if not object_refs:
        return []
    return get_many([r._id for r in object_refs], timeout)


def _hint_for(value: Any) -> str:
    if isinstance(value, RemoteFunction):
        return " (did you forget to call .remote()?)"
    return ""


def wait(object_refs: Sequence[Any], *, num_returns: int = 1,
         timeout: Optional[float] = None, fetch_local: bool = True
         ) -> Tuple[List[Any], List[Any]]:
    """Split refs into (ready, not ready) once `num_returns` are ready or `timeout` passes.

    Both lists keep the input order; `ready` has at most `num_returns` refs.  The list may
    hold ObjectRefGenerators too: one is ready when `next()` on it would not wait.
    """
    __tracebackhide__ = True
    if isinstance(object_refs, (ObjectRef, ObjectRefGenerator)):
        raise TypeError("wait() takes a list of ObjectRefs; wrap a single ref in a list: wait([ref])")
    if not isinstance(object_refs, (list, tuple)):
        raise TypeError(f"wait() takes a list of ObjectRefs, got {type(object_refs).__name__}")
    has_generators = False
    # A drain loop calls wait() once per finished ref over a long list: the common case (a
    # list of plain refs) is checked by one C loop (measured 11.6 us for 500 refs, against
    # about 20 us for the Python loop below).
    only_refs = set(map(type, object_refs)) == _ONLY_REFS
    for i, r in enumerate(() if only_refs else object_refs):
        if type(r) is ObjectRef:   # the common case, without isinstance's subclass walk
            continue
        has_generators = has_generators or isinstance(r, ObjectRefGenerator)
        if not isinstance(r, (ObjectRef, ObjectRefGenerator)):
            raise TypeError(f"wait(): item {i} of the list is a {type(r).__name__}, not an "
                            f"ObjectRef" + _hint_for(r))
    if isinstance(num_returns, bool) or not isinstance(num_returns, int):
        raise TypeError(f"wait(): num_returns must be an int, got {num_returns!r}")
    if not object_refs:
        return [], []  # as Ray does, before checking num_returns
    if num_returns <= 0:
        raise ValueError(f"wait(): num_returns must be at least 1, got {num_returns}")
    if num_returns > len(object_refs):
        raise ValueError(f"wait(): num_returns={num_returns} is larger than the number of refs "
                         f"given ({len(object_refs)})")
    # Duplicates are found on the ids (bytes hash in C; ObjectRef.__hash__ is Python code,
    # and a drain loop calls wait() once per finished ref).
    keys = [r.binary() if type(r) is ObjectRef else r for r in object_refs] \
        if has_generators else [r._id for r in object_refs]
    key_set = set(keys)
    if len(key_set) != len(keys):
        raise ValueError("wait() requires a list of unique ObjectRefs; the list has duplicates")
    timeout = check_timeout(timeout, "wait()")
    if has_generators:
        return _wait_with_generators(object_refs, num_returns, timeout)
    ids = keys
    try:
        ready_ids = client_or_init().wait(ids, num_returns, timeout, fetch_local, key_set)
    except KeyboardInterrupt:
        report_interrupt(ids)
        raise
    return _split(object_refs, ids, ready_ids, num_returns)


def _split(refs: Sequence[Any], ids: List[bytes], ready_ids: Set[bytes], num_returns: int
           ) -> Tuple[List[Any], List[Any]]:
    """(ready, not ready), both in input order, at most `num_returns` ready."""
    if len(ready_ids) <= _FEW:
        # Each ready id found by a C scan (list.index), the rest as slices.
        at = sorted(ids.index(oid) for oid in ready_ids)[:num_returns]
        not_ready: List[Any] = []
        start = 0
        for i in at:
            not_ready += refs[start:i]
            start = i + 1
        not_ready += refs[start:]
        return [refs[i] for i in at], not_ready
    ready: List[Any] = []
    not_ready = []
    for r, oid in zip(refs, ids):
        if oid in ready_ids and len(ready) < num_returns:
            ready.append(r)
        else:
            not_ready.append(r)
    return ready, not_ready


def _wait_with_generators(items: Sequence[Any], num_returns: int, timeout: Optional[float]
                          ) -> Tuple[List[Any], List[Any]]:
    __tracebackhide__ = True
    oids = [r.binary() for r in items if isinstance(r, ObjectRef)]
    tids = [r.task_id() for r in items if isinstance(r, ObjectRefGenerator)]
    try:
        ready_oids, ready_tids = client_or_init().wait_mixed(oids, tids, num_returns, timeout)
    except KeyboardInterrupt:
        report_interrupt(oids + [r.completed().binary() for r in items
                                 if isinstance(r, ObjectRefGenerator)])
        raise
    ready: List[Any] = []
    not_ready: List[Any] = []
    for r in items:
        done = r.binary() in ready_oids if isinstance(r, ObjectRef) else r.task_id() in ready_tids
        if done and len(ready) < num_returns:
            ready.append(r)
        else:
            not_ready.append(r)
    return ready, not_ready


def cancel(object_ref: ObjectRef, *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes `object_ref` (or an ObjectRefGenerator's task); get() on
    it then raises TaskCancelledError.

    A queued task is dropped; a running one is interrupted (KeyboardInterrupt in the
    task), or its worker killed with force=True.  A finished task is left alone.
    With recursive=True (the default) the tasks it submitted are cancelled too, and
    theirs in turn.  force=True is refused (ValueError) for actor calls: use kill().
    """
    if isinstance(object_ref, ObjectRefGenerator):
        object_ref = object_ref.completed()
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(f"cancel() takes an ObjectRef, got {type(object_ref).__name__}")
    client_or_init().cancel(object_ref.task_id().binary(), bool(force), bool(recursive))


_ONLY_REFS = {ObjectRef}
# Up to this many ready refs, wait() finds each by a C scan of the id list and slices the
# rest; more, and one Python pass over the list is cheaper.
_FEW = 16

__all__ = ["NotObjectRefsError", "cancel", "get", "put", "wait"]
