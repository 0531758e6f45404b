"""The public `nbray.actor` module, as `ray.actor`: the actor classes and `exit_actor()`.

The classes live in `nbray.runtime.actor`; this module re-exports them under Ray's names so
`ray.actor.ActorHandle` type hints and `ray.actor.exit_actor()` calls port over unchanged.
"""

from __future__ import annotations

from .runtime import context
from .runtime.actor import ActorClass, ActorExit, ActorHandle, ActorMethod

__all__ = ["ActorClass", "ActorHandle", "ActorMethod", "exit_actor"]


def exit_actor() -> None:
    """End the current actor from inside one of its methods.

    The method stops at this call, and its caller observes the actor's death
    (`ActorDiedError`) rather than a return value; calls queued after it fail the same way,
    and the actor is not restarted whatever its `max_restarts`.  Before the process leaves,
    the actor's `__ray_shutdown__()` method (if the class defines one) and the atexit
    handlers registered in the actor run.  To end an actor from outside, call
    `handle.__ray_terminate__.remote()` (graceful, after the calls queued before it) or
    `nbray.kill(handle)` (at once, no cleanup).

    Raises:
        TypeError: when called outside an actor method (in the driver or in a task).
    """
    client = context.current_client()
    spec = getattr(client, "current_task", None)
    if spec is None or spec.kind != "actor-call":
        if spec is not None:
            where = f"the task {spec.name}()"
        elif _in_worker(client):
            where = "a worker, outside any actor method"
        else:
            where = "the driver"
        raise TypeError(f"exit_actor() was called in {where}; it can only be called inside an "
                        f"actor method. To end an actor from outside, use nbray.kill(handle) or "
                        f"handle.__ray_terminate__.remote().")
    raise ActorExit("exit_actor() was called")


def _in_worker(client: object) -> bool:
    from .runtime.client import WorkerClient

    return isinstance(client, WorkerClient)
