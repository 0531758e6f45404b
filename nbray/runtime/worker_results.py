"""What a worker sends back for a task: its values as result records, and its errors.

A result record is the 7-tuple the node stores for one return object, the fields of
`transport.messages.Result` sent as a plain tuple:
`(object_id, kind, where, nbytes, contained_refs, is_error, type_name)`, with kind
KIND_INLINE (the value inline: `where` is `(meta, buffers)`) or a block the worker wrote
(kind and `where` as `WorkerClient.write_block` gives them: the arena, or the spill
target).  An error is an inline record whose value is the task's exception, wrapped with
its text.

`TaskResults` builds these records and the errors a task ends with (RayTaskError with
the user's traceback, a cancellation, an argument that holds an error); `should_retry`
decides whether a task's exception is one of its `retry_exceptions`.  The task loop
(`worker.py`) and the generator path (`worker_generators.py`) both use them.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Any, List, Optional

from .. import exceptions as exc
from ..core.specs import TaskSpec
from ..serialization import SerializationError, deserialize, label_for_filename, serialize
from ..transport.messages import KIND_ARENA, KIND_INLINE, FreeBlock, ResultTuple, wire
from .client import WorkerClient, type_name_of

__all__ = ["TaskResults", "format_remote_traceback", "node_ip", "should_retry"]

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_DIR = os.path.dirname(_RUNTIME_DIR) + os.sep


class TaskResults:
    """Encodes a worker's task values and errors into result records for its node.

    Args:
        client: the worker's client: where values go (inline or the arena) and how a
            block already written is given back.
    """

    def __init__(self, client: WorkerClient) -> None:
        self.client = client
        # The actor instance once this worker hosts one: an actor task's error names it.
        self.actor: Any = None

    # -- values -----------------------------------------------------------------------
    def encode_returns(self, spec: TaskSpec, value: Any) -> List[ResultTuple]:
        """The records of a call's value: one per return id (num_returns=N unpacks it)."""
        n = len(spec.return_ids)
        if n == 1:
            values = [value]
        elif n == 0:
            return []
        else:
            try:
                values = list(value)
            except TypeError:
                raise ValueError(f"{spec.name}() was declared with num_returns={n} but returned "
                                 f"{type(value).__name__}, which is not a sequence") from None
            if len(values) != n:
                raise ValueError(f"{spec.name}() was declared with num_returns={n} but returned "
                                 f"{len(values)} values")
        results: List[ResultTuple] = []
        for oid, v in zip(spec.return_ids, values):
            try:
                results.append(self.encode_value(spec, oid, v))
            except BaseException:
                self.free_results(results)
                raise
        return results

    def encode_value(self, spec: TaskSpec, oid: bytes, v: Any) -> ResultTuple:
        """One result record: inline bytes, or a block written into the arena."""
        ser = serialize(v, context=f"the return value of {spec.name}()")
        if ser.nbytes <= self.client.inline_threshold:
            payload = (ser.meta, tuple(bytes(b) for b in ser.buffers))
            return (oid, KIND_INLINE, payload, ser.nbytes, ser.contained_refs, False,
                    type_name_of(v))
        kind, where = self.client.write_block(oid, ser)
        return (oid, kind, where, ser.nbytes, ser.contained_refs, False, type_name_of(v))

    def free_results(self, results: List[ResultTuple]) -> None:
        """Give back the arena blocks of records that will not be sent."""
        for r in results:
            if r[1] == KIND_ARENA:
                offset, block = r[2]
                self.client.send(wire(FreeBlock(offset, block)))

    # -- errors -----------------------------------------------------------------------
    def error_results(self, spec: TaskSpec, error: BaseException) -> List[ResultTuple]:
        """`error` as the record of each of the task's returns."""
        return [self.error_result(spec, oid, error) for oid in spec.return_ids]

    def error_result(self, spec: TaskSpec, oid: bytes, error: BaseException) -> ResultTuple:
        """`error` as the record of return `oid`."""
        try:
            blob = serialize(error, context="exception", out_of_band=False).meta
        except SerializationError:
            error = exc.RayTaskError(spec.name, str(error), None, os.getpid(), ip=node_ip())
            blob = serialize(error, out_of_band=False).meta
        # Wrapped with its text: a caller that cannot rebuild the error's class gets
        # UnserializableException naming the task and its traceback, not a bare TypeError.
        text = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
        meta = serialize(exc.ErrorEnvelope(blob, text), context="exception").meta
        return (oid, KIND_INLINE, (meta, ()), len(meta), [], True, type(error).__name__)

    def task_error(self, spec: TaskSpec,
                   replacement: Optional[BaseException] = None) -> exc.RayTaskError:
        """The RayTaskError for the exception being handled (or `replacement`, raised
        at the same place), with the task's frames and where it ran."""
        _, handled, tb = sys.exc_info()
        # Drop the runtime's frames: the user wants their own code's traceback.
        while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _RUNTIME_DIR:
            tb = tb.tb_next
        evalue = replacement if replacement is not None else handled
        if evalue is None:  # only called in an except block; never fail the report itself
            evalue = exc.NbrayInternalError(f"the error of {spec.name} was lost")
        etype = type(evalue)
        text = format_remote_traceback(etype, evalue, tb)
        cause: BaseException = evalue
        if isinstance(cause, exc.RayTaskError) and cause.cause is not None:
            # A task this one waited on failed: keep the innermost error as the cause (so
            # `except ZeroDivisionError` still works two tasks up); the text shows both.
            cause = cause.cause
        try:
            serialize(cause, context="exception")
        except Exception as e:
            cause = exc.RayError(
                f"Exception {etype.__module__}.{etype.__qualname__} isn't serializable: {e}.\n"
                f"Original exception details:\n{text}")
        actor_id = spec.actor_id.hex() if spec.actor_id else ""
        actor_repr = ""
        if actor_id and self.actor is not None:
            try:
                actor_repr = repr(self.actor)
            except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the error
                actor_repr = f"<{type(self.actor).__qualname__} object>"
        return exc.RayTaskError(spec.name, text, cause, os.getpid(), ip=node_ip(),
                                actor_id=actor_id, actor_repr=actor_repr)

    def dependency_error(self, spec: TaskSpec, error: BaseException) -> BaseException:
        """The error of a task that did not run because an argument holds `error`: as in Ray,
        a RayTaskError naming this task, with the argument's error (and its cause) inside."""
        if not isinstance(error, exc.RayTaskError) or error.cause is None:
            return error   # an object lost, a worker crash...: the argument's own error
        text = ("  At least one of the input arguments for this task could not be computed:\n"
                f"{type(error).__module__}.{type(error).__qualname__}: {error}")
        actor_id = spec.actor_id.hex() if spec.actor_id else ""
        return exc.RayTaskError(spec.name, text, error.cause, os.getpid(), ip=node_ip(),
                                actor_id=actor_id)

    def cancelled_error(self, spec: TaskSpec) -> exc.RayTaskError:
        """The error of a task cancelled while it ran or waited in this worker."""
        return self.task_error(spec, exc.TaskCancelledError(spec.task_id.hex()))


def node_ip() -> str:
    """The address of this worker's node, as errors report it."""
    return os.environ.get("NBRAY_NODE_IP", "127.0.0.1")


def format_remote_traceback(etype: Any, evalue: BaseException, tb: Any) -> str:
    """The traceback text of a task's error; notebook cells read as "In [n]"."""
    te = traceback.TracebackException(etype, evalue, tb)
    seen: set = set()
    pending = [te]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # nbray's own frames (get() inside a task, the worker loop) are noise to the user.
        current.stack[:] = [f for f in current.stack
                            if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
        for frame in current.stack:
            label = label_for_filename(frame.filename)
            if label is not None:
                frame.line  # noqa: B018 - load the source line before the name changes
                frame.filename = label
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += list(getattr(current, "exceptions", None) or ())
    return "".join(te.format())


@functools.lru_cache(maxsize=128)
def _retry_classes(packed: bytes) -> tuple:
    return tuple(deserialize(packed))


def should_retry(retry_exceptions: Any, error: BaseException) -> bool:
    """Whether `error` is one the task is to be retried for (`retry_exceptions`: True,
    a list of classes, or that list packed by remote_function.packed_retry_exceptions)."""
    if isinstance(retry_exceptions, bytes):
        retry_exceptions = _retry_classes(retry_exceptions)
    if retry_exceptions is True:
        return isinstance(error, Exception)
    if isinstance(retry_exceptions, (list, tuple)):
        return isinstance(error, tuple(retry_exceptions))
    return False
