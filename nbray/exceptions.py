"""Every public error nbray raises, with Ray's names so `except` clauses port over unchanged."""

from __future__ import annotations

import pickle
import sys
from typing import Any, Callable, Dict, Optional, Tuple

# How a task's traceback text is shown in a notebook (file names of cells -> "In [n]"):
# installed by the serialization layer while the notebook labels its cells.
_traceback_labeler: Optional[Callable[[str], str]] = None


def set_traceback_labeler(labeler: Optional[Callable[[str], str]]) -> None:
    """Install how RayTaskError's IPython rendering relabels file names (None: as sent)."""
    global _traceback_labeler
    _traceback_labeler = labeler


class NbrayError(Exception):
    """Base class of every nbray error."""


# Ray's root name: code written for Ray catches RayError.
RayError = NbrayError


class NbrayInternalError(NbrayError):
    """Something inside nbray broke: please file a bug with the message."""


class RaySystemError(NbrayError):
    """The runtime itself failed (a lost connection to the node, a broken store)."""


class RayTaskError(NbrayError):
    """A task or actor method raised; `cause` is the original exception.

    `get` raises a subclass that is also an instance of the cause's class, so
    `except ValueError:` still catches a ValueError raised remotely.  When a task
    fails because a task it waited on failed, `cause` is the innermost error and the
    message shows every task of the chain, as in Ray.

    `str()` reads as Ray's: a header `ray::name() (pid=N, ip=A)` (with `actor_id=` for
    actor methods) followed by the remote traceback.
    """

    def __init__(self, function_name: str = "", traceback_str: str = "",
                 cause: Optional[BaseException] = None, pid: Optional[int] = None,
                 cause_repr: str = "", ip: str = "", actor_id: str = "",
                 actor_repr: str = "") -> None:
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.ip = ip
        self.actor_id = actor_id
        self.actor_repr = actor_repr
        self.cause_repr = cause_repr or (repr(cause) if cause is not None else "")
        # Not super(): in the class made by as_instanceof_cause, the next __init__ in the
        # MRO is the cause's own, whose signature is unknown.
        Exception.__init__(self, function_name, traceback_str, cause, pid, self.cause_repr)

    def header(self) -> str:
        """`ray::name() (pid=N, ip=A[, actor_id=X, repr=R])`: the first line of the message."""
        fields = []
        if self.pid:
            fields.append(f"pid={self.pid}")
        if self.ip:
            fields.append(f"ip={self.ip}")
        if self.actor_id:
            fields.append(f"actor_id={self.actor_id}")
            if self.actor_repr:
                fields.append(f"repr={self.actor_repr}")
        return f"ray::{self.function_name}()" + (f" ({', '.join(fields)})" if fields else "")

    def __str__(self) -> str:
        # As Ray: each "Traceback (most recent call last):" line becomes the header, so the
        # message names the task, its process and node, then shows the task's own frames.
        header = self.header()
        lines = self.traceback_str.strip("\n").split("\n")
        if any(line.startswith("Traceback ") for line in lines):
            return "\n".join(header if line.startswith("Traceback ") else line
                             for line in lines)
        return "\n".join([header] + lines)

    def __reduce__(self):
        return (_rebuild_task_error, (self.function_name, self.traceback_str, self.cause,
                                      self.pid, self.cause_repr, self.ip, self.actor_id,
                                      self.actor_repr))

    def _render_traceback_(self) -> list:
        # IPython shows this instead of the local frames of `get`.
        text = f"{type(self).__name__}: {self}"
        labeler = _traceback_labeler
        if labeler is not None:
            try:
                text = labeler(text)
            except Exception:  # noqa: BLE001 - show the error as sent rather than none
                pass
        return text.split("\n")

    def as_instanceof_cause(self) -> "RayTaskError":
        """This error re-typed as a subclass of both RayTaskError and the cause's class.

        Returns this error unchanged when the cause's class cannot be combined with
        RayTaskError (a BaseExceptionGroup holding BaseExceptions, an incompatible layout).
        """
        cause = self.cause
        if cause is None or issubclass(RayTaskError, type(cause)) \
                or isinstance(cause, RayTaskError) or isinstance(self, type(cause)):
            return self
        try:
            cls = _dual_class(type(cause))
            # Called through the class so builtins with their own __new__ (MemoryError,
            # OSError, ExceptionGroup) are constructed the way they require.
            err = cls(self.function_name, self.traceback_str, cause, self.pid, self.cause_repr,
                      self.ip, self.actor_id, self.actor_repr)
        except Exception:  # noqa: BLE001 - Ray also falls back to the plain RayTaskError
            return self
        # Exposes the cause's own attributes (errno, filename, custom fields).
        try:
            err.__dict__.update({k: v for k, v in vars(cause).items() if k not in err.__dict__})
        except TypeError:
            pass
        return err


_DUAL_CLASSES: Dict[type, type] = {}
if sys.version_info >= (3, 11):
    _GROUP_TYPES: Tuple[type, ...] = (BaseExceptionGroup,)
else:
    _GROUP_TYPES = ()


def _dual_class(cause_cls: type) -> type:
    cls = _DUAL_CLASSES.get(cause_cls)
    if cls is None:
        name = f"RayTaskError({cause_cls.__name__})"
        namespace: Dict[str, Any] = {
            "__init__": _dual_init, "__str__": RayTaskError.__str__,
            "__repr__": _dual_repr, "__reduce__": RayTaskError.__reduce__,
            "__getattr__": _dual_getattr, "__module__": __name__, "__qualname__": name,
        }
        if _GROUP_TYPES and issubclass(cause_cls, _GROUP_TYPES):
            # An exception group is built from its message and sub-exceptions, so the
            # dual error exposes the remote sub-exceptions and `except*` matches them.
            namespace["__new__"] = _dual_group_new
        cls = type(name, (RayTaskError, cause_cls), namespace)
        _DUAL_CLASSES[cause_cls] = cls
    return cls


def _dual_init(self: RayTaskError, *args: Any, **kwargs: Any) -> None:
    RayTaskError.__init__(self, *args, **kwargs)
    try:
        # As Ray: the dual error's args are the cause alone.
        self.args = (self.cause,)
    except (AttributeError, TypeError):  # a cause class with a read-only `args`
        pass


def _dual_group_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    cause = args[2] if len(args) > 2 else kwargs["cause"]
    # Raises TypeError for a BaseExceptionGroup holding BaseExceptions (a RayTaskError is an
    # Exception); as_instanceof_cause then keeps the plain RayTaskError, as Ray does.
    if sys.version_info >= (3, 11):  # only exception groups (Python 3.11+) get this __new__
        return BaseExceptionGroup.__new__(cls, cause.message, cause.exceptions)
    raise TypeError("exception groups need Python 3.11")


def _dual_repr(self: RayTaskError) -> str:
    return f"{type(self).__name__}({self.cause!r})"


def _dual_getattr(self: RayTaskError, name: str) -> Any:
    # Attributes the cause has and the dual error lacks (slots, properties of the cause
    # computed from its own state) are read from the cause, as Ray does.
    cause = self.__dict__.get("cause")
    if cause is None or name.startswith("__"):
        raise AttributeError(name)
    return getattr(cause, name)


def _rebuild_task_error(function_name, traceback_str, cause, pid, cause_repr, ip="",
                        actor_id="", actor_repr=""):
    return RayTaskError(function_name, traceback_str, cause, pid, cause_repr, ip, actor_id,
                        actor_repr).as_instanceof_cause()


class UnserializableException(NbrayError):
    """A task's exception reached the caller, but its class could not be rebuilt there.

    This happens when unpickling the exception fails on the caller (for example an
    `__init__` with several required arguments and no `__reduce__`).  The message holds
    the task's header and the remote traceback text, captured where it was raised.
    """

    def __init__(self, original_stack_trace: str = "") -> None:
        self.original_stack_trace = original_stack_trace
        super().__init__(original_stack_trace)

    def __str__(self) -> str:
        return ("Failed to deserialize exception: its class could not be rebuilt here (give it a "
                "__reduce__, or make its __init__ accept the exception's args).\n"
                f"Original exception:\n{self.original_stack_trace}")


class ErrorEnvelope:
    """A pickled error and its text: unpickles to the error, or to UnserializableException.

    Workers store task errors wrapped in one, so a caller that cannot rebuild the
    error's class still learns which task failed and how.
    """

    def __init__(self, blob: bytes, text: str) -> None:
        self.blob = blob
        self.text = text

    def __reduce__(self):
        return (_restore_error, (self.blob, self.text))


def _restore_error(blob: bytes, text: str) -> BaseException:
    try:
        return pickle.loads(blob)
    except Exception:  # noqa: BLE001 - any failure to rebuild the class
        return UnserializableException(text)


class GetTimeoutError(NbrayError, TimeoutError):
    """`get` or an actor call did not finish within its timeout."""


class WorkerCrashedError(NbrayError):
    """The worker process running a task died and the task ran out of retries."""


class TaskCancelledError(NbrayError):
    """The task was cancelled with `cancel()` before it finished."""

    def __init__(self, task_id: str = "", message: str = "") -> None:
        self.task_id = task_id
        super().__init__(message or f"task {task_id} was cancelled")

    def __reduce__(self):
        return (type(self), (self.task_id, self.args[0]))


class ObjectLostError(NbrayError):
    """The object's data is gone from every node and could not be rebuilt."""

    def __init__(self, object_ref_hex: str = "", reason: str = "") -> None:
        self.object_ref_hex = object_ref_hex
        self.reason = reason
        super().__init__(f"object {object_ref_hex} was lost" + (f": {reason}" if reason else ""))

    def __reduce__(self):
        return (type(self), (self.object_ref_hex, self.reason))


class ObjectFetchTimedOutError(ObjectLostError):
    """Fetching the object from another node timed out."""


class ReferenceCountingAssertionError(ObjectLostError, AssertionError):
    """The object was freed while a reference to it still existed (a bug)."""


class ObjectFreedError(ObjectLostError):
    """The object was freed explicitly while a reference to it was still used."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died, so it cannot be fetched or rebuilt."""


class ObjectReconstructionFailedError(ObjectLostError):
    """Lineage reconstruction of the object failed."""


class ObjectReconstructionFailedMaxAttemptsExceededError(ObjectReconstructionFailedError):
    """Reconstruction was tried as often as max_retries allows."""


class ObjectReconstructionFailedLineageEvictedError(ObjectReconstructionFailedError):
    """The lineage needed to rebuild the object is no longer kept."""


class ObjectStoreFullError(NbrayError, MemoryError):
    """The shared-memory store has no room and nothing more can be spilled."""


class ObjectSpillError(NbrayError):
    """Writing an object to the spill target or reading it back failed."""


class OutOfDiskError(ObjectSpillError):
    """The store is full and the spill target is full or read-only, so the object cannot be
    stored.  Objects already stored are intact.  (Ray's name; as in Ray it is not an
    ObjectStoreFullError, and here it is also an ObjectSpillError.)"""


class OutOfMemoryError(NbrayError):
    """The node ran low on memory and a task or actor was killed to free some."""


class RayActorError(NbrayError):
    """An actor died or could not be created; its calls cannot run."""

    def __init__(self, message: str = "The actor died unexpectedly.", actor_id: str = "",
                 actor_name: str = "", cause: str = "") -> None:
        self.actor_id = actor_id
        self.actor_name = actor_name
        self.cause = cause
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.args[0], self.actor_id, self.actor_name, self.cause))


class ActorDiedError(RayActorError):
    """The actor's process died, was killed, or its constructor raised."""


class ActorUnavailableError(RayActorError):
    """The actor is temporarily unreachable (restarting)."""


class ActorUnschedulableError(NbrayError):
    """No node can host the actor with the resources it asks for."""


class TaskUnschedulableError(NbrayError):
    """No node can run the task with the resources it asks for."""


class NodeDiedError(NbrayError):
    """A node of the cluster died."""


class LocalRayletDiedError(NbrayError):
    """The local node manager died."""


class WorkerUnavailableError(NbrayError):
    """No worker could be started."""


class PendingCallsLimitExceeded(NbrayError):
    """Too many calls are queued on one actor."""


class AsyncioActorExit(NbrayError):
    """An async actor exited on purpose."""


class ActorAlreadyExistsError(ValueError, NbrayError):
    """An actor with this name already exists in the namespace (also a ValueError, as in Ray)."""


class ActorHandleNotFoundError(ValueError, NbrayError):
    """The actor handle belongs to another cluster session (also a ValueError, as in Ray)."""


class ObjectRefStreamEndOfStreamError(NbrayError):
    """A streaming generator has no more objects."""


class PlasmaObjectNotAvailable(NbrayError):
    """An object was not available in time (kept for Ray compatibility)."""


class UserCodeException(NbrayError):
    """Wraps an exception raised by user code inside a library."""


class RpcError(NbrayError):
    """A call between cluster processes failed."""


class TaskPlacementGroupRemoved(NbrayError):
    """Not raised by nbray (no placement groups); present so Ray code imports unchanged."""


class ActorPlacementGroupRemoved(NbrayError):
    """Not raised by nbray (no placement groups); present so Ray code imports unchanged."""


class OufOfBandObjectRefSerializationException(NbrayError):
    """An ObjectRef was pickled outside nbray's serializer (Ray's spelling of the name)."""


class StreamingGeneratorReplayInconsistentError(RaySystemError):
    """A retried streaming generator produced a different number of objects."""


class RayChannelError(RaySystemError):
    """Not raised by nbray (no compiled graphs); present so Ray code imports unchanged."""


class RayChannelTimeoutError(RayChannelError, TimeoutError):
    """Not raised by nbray (no compiled graphs); present so Ray code imports unchanged."""


class RayCgraphCapacityExceeded(RaySystemError):
    """Not raised by nbray (no compiled graphs); present so Ray code imports unchanged."""


class RayDirectTransportError(RaySystemError):
    """Not raised by nbray; present so Ray code imports unchanged."""


class CrossLanguageError(NbrayError):
    """Not used by nbray (Python only); present so Ray code imports unchanged."""


class RuntimeEnvSetupError(NbrayError):
    """Setting up the runtime environment failed."""


class AuthenticationError(NbrayError):
    """A peer presented a missing or wrong cluster token."""


class HeadLostError(RaySystemError, ConnectionError):
    """An attached driver lost its connection to the head (killed, or unreachable).

    Every call blocked at that moment and every later call raises it, until
    shutdown() and a new init(). A RaySystemError, so Ray code that catches that
    catches this too; a ConnectionError for code that retries on those."""


__all__ = [name for name, value in list(globals().items())
           if isinstance(value, type) and issubclass(value, BaseException)]
