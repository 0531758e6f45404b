"""`get_runtime_context()`: what the running code can learn about where it runs (Ray's
`ray.runtime_context` module: `RuntimeContext` and `get_runtime_context`).

The same class answers in the driver and in a worker process; it reads the process's
client (set by `init()` or by the worker at start-up) and the task running in the
calling thread.  In a worker, the worker client carries what belongs to the whole
process rather than to one call:

- `actor_id`, `actor_name`, `actor_resources`: set when the process becomes an actor;
- `actor_restart_count`: how many times the actor was restarted before this instance
  (0 for the first), as the node sent it with the creation task;
- `gpu_ids`: the GPUs given to the running task, or to the actor for its lifetime;
- `cancelled`: ids of tasks the node asked this worker to cancel.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .ids import ActorID, JobID, NodeID, TaskID, ids
from .runtime import context


class RuntimeContext:
    """What `get_runtime_context()` returns: ids of the job, node, worker, task and actor."""

    def __init__(self, client: Any) -> None:
        self._client = client

    # -- helpers ------------------------------------------------------------------
    @property
    def _task(self) -> Any:
        return getattr(self._client, "current_task", None)

    # -- ids ------------------------------------------------------------------------
    def get_job_id(self) -> str:
        """The job's id: 8 hex digits."""
        driver = context.current_driver()
        if driver is not None:
            return driver.job_id
        return ids.job_id.hex()  # the worker set it from its environment or its first task

    def get_node_id(self) -> str:
        """The id of the node this process runs on: 56 hex digits."""
        driver = context.current_driver()
        if driver is not None and driver.node is not None:
            return driver.node.node_id
        return getattr(self._client, "node_id", "")

    def get_worker_id(self) -> str:
        return getattr(self._client, "holder", "")

    def get_task_id(self) -> Optional[str]:
        """The running task's id (hex), or None in the driver."""
        task = self._task
        return task.task_id.hex() if task is not None else None

    def get_task_name(self) -> Optional[str]:
        task = self._task
        return task.name if task is not None else None

    def get_actor_id(self) -> Optional[str]:
        """The id (hex) of the actor this process is, or None outside an actor."""
        actor_id = getattr(self._client, "actor_id", None)
        return actor_id.hex() if actor_id else None

    def get_actor_name(self) -> Optional[str]:
        """The actor's name ("" for an unnamed actor), or None outside an actor."""
        if not getattr(self._client, "actor_id", None):
            return None
        return getattr(self._client, "actor_name", None) or ""

    @property
    def namespace(self) -> str:
        return context.namespace()

    def get_namespace(self) -> str:
        return self.namespace

    @property
    def gcs_address(self) -> Optional[str]:
        """The address other processes join this cluster at, or None when it serves none."""
        return context.cluster_address()

    # -- the current actor ------------------------------------------------------------
    @property
    def current_actor(self) -> Any:
        """A handle to the actor this code runs in (RuntimeError outside an actor)."""
        actor_id = getattr(self._client, "actor_id", None)
        if not actor_id:
            raise RuntimeError("This method is only available in an actor.")
        info = getattr(self._client, "actor_handle_info", None)
        if info is None:
            raise RuntimeError("this actor's handle information did not reach its worker")
        from .runtime.actor import ActorHandle
        from .runtime.object_ref import ObjectRef

        # A new handle each time: one kept by the actor itself would keep it alive forever.
        return ActorHandle(actor_id, info, ObjectRef(info["creation_object"]))

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether this actor instance is a restart (its process died and was replaced)."""
        return getattr(self._client, "actor_restart_count", 0) > 0

    # -- resources ------------------------------------------------------------------------
    def get_assigned_resources(self) -> Dict[str, float]:
        """Resources held by the running task, or by the actor this code runs in."""
        if getattr(self._client, "actor_id", None):
            return dict(getattr(self._client, "actor_resources", {}) or {})
        task = self._task
        return dict(task.resources) if task is not None else {}

    def get_accelerator_ids(self) -> Dict[str, List[str]]:
        """Accelerator ids (as strings) given to the running task or actor, by kind."""
        return {"GPU": [str(i) for i in getattr(self._client, "gpu_ids", ())]}

    def get_resource_ids(self) -> Dict[str, List[str]]:
        return self.get_accelerator_ids()

    def is_canceled(self) -> bool:
        """Whether the running task was asked to stop by `cancel()`."""
        task = self._task
        if task is None:
            raise RuntimeError("is_canceled() is only available inside a task or actor call")
        return task.task_id in getattr(self._client, "cancelled", ())

    # -- older spellings (Ray's deprecated properties return typed ids) ----------------
    @property
    def job_id(self) -> JobID:
        return JobID(bytes.fromhex(self.get_job_id()))

    @property
    def node_id(self) -> NodeID:
        return NodeID(bytes.fromhex(self.get_node_id()))

    @property
    def task_id(self) -> Optional[TaskID]:
        task = self._task
        return TaskID(task.task_id) if task is not None else None

    @property
    def actor_id(self) -> Optional[ActorID]:
        actor_id = getattr(self._client, "actor_id", None)
        return ActorID(actor_id) if actor_id else None

    def get(self) -> Dict[str, Any]:
        """The context as a dict (Ray's older API)."""
        out: Dict[str, Any] = {"job_id": self.job_id, "node_id": self.node_id,
                               "namespace": self.namespace}
        if self._task is not None:
            out["task_id"] = self.task_id
        if self.actor_id is not None:
            out["actor_id"] = self.actor_id
        return out

    def __repr__(self) -> str:
        return (f"RuntimeContext(job={self.get_job_id()}, node={self.get_node_id()[:12]}, "
                f"task={self.get_task_id()}, actor={self.get_actor_id()})")


def get_runtime_context() -> RuntimeContext:
    """The runtime context of this process and the task running in this thread."""
    return RuntimeContext(context.client_or_init())


__all__ = ["RuntimeContext", "get_runtime_context"]
