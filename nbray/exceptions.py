"""Every public error nbray raises, with Ray's names so `except` clauses port over unchanged."""

from __future__ import annotations

from typing import Any, Optional


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
    `except ValueError:` still catches a ValueError raised remotely.
    """

    def __init__(self, function_name: str = "", traceback_str: str = "",
                 cause: Optional[BaseException] = None, pid: Optional[int] = None,
                 cause_repr: str = "") -> None:
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.cause_repr = cause_repr or (repr(cause) if cause is not None else "")
        # Not super(): in the class made by as_instanceof_cause, the next __init__ in the
        # MRO is the cause's own, whose signature is unknown.
        Exception.__init__(self, function_name, traceback_str, cause, pid, self.cause_repr)

    def __str__(self) -> str:
        where = f"{self.function_name}()" + (f" (pid={self.pid})" if self.pid else "")
        return f"{where} failed:\n{self.traceback_str.rstrip()}"

    def __reduce__(self):
        return (_rebuild_task_error,
                (self.function_name, self.traceback_str, self.cause, self.pid, self.cause_repr))

    def _render_traceback_(self) -> list:
        # IPython shows this instead of the local frames of `get`.
        return [f"{type(self).__name__}: task {self.function_name}() failed"
                + (f" on pid {self.pid}" if self.pid else ""), self.traceback_str.rstrip()]

    def as_instanceof_cause(self) -> "RayTaskError":
        """This error re-typed as a subclass of both RayTaskError and the cause's class."""
        cause = self.cause
        if cause is None or isinstance(cause, RayTaskError):
            return self
        cause_cls = type(cause)
        if not _can_subclass(cause_cls):
            return self
        cls = _dual_class(cause_cls)
        # Called through the class so builtins with their own __new__ (MemoryError, OSError)
        # are constructed the way they require.
        err = cls(self.function_name, self.traceback_str, cause, self.pid, self.cause_repr)
        # Exposes the cause's own attributes (errno, filename, custom fields).
        try:
            err.__dict__.update({k: v for k, v in vars(cause).items() if k not in err.__dict__})
        except TypeError:
            pass
        return err


_DUAL_CLASSES: dict = {}


def _can_subclass(cls: type) -> bool:
    try:
        type("_probe", (RayTaskError, cls), {})
        return True
    except TypeError:  # e.g. classes with incompatible layouts
        return False


def _dual_class(cause_cls: type) -> type:
    cls = _DUAL_CLASSES.get(cause_cls)
    if cls is None:
        name = f"RayTaskError({cause_cls.__name__})"

        def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - not called
            RayTaskError.__init__(self, *args, **kwargs)

        cls = type(name, (RayTaskError, cause_cls), {
            "__init__": __init__, "__str__": RayTaskError.__str__,
            "__reduce__": RayTaskError.__reduce__, "__module__": __name__,
        })
        _DUAL_CLASSES[cause_cls] = cls
    return cls


def _rebuild_task_error(function_name, traceback_str, cause, pid, cause_repr):
    return RayTaskError(function_name, traceback_str, cause, pid, cause_repr).as_instanceof_cause()


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


class ReferenceCountingAssertionError(ObjectLostError):
    """The object was freed while a reference to it still existed (a bug)."""


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


class OutOfDiskError(ObjectStoreFullError):
    """The spill target is full."""


class ObjectSpillError(NbrayError):
    """Writing an object to the spill target or reading it back failed."""


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


class LocalRayletDiedError(RaySystemError):
    """The local node manager died."""


class WorkerUnavailableError(NbrayError):
    """No worker could be started."""


class PendingCallsLimitExceeded(NbrayError):
    """Too many calls are queued on one actor."""


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
