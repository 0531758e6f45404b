"""What a worker process knows about the work it runs, for the runtime context.

The worker calls `enter()` before a task, actor creation or actor call and
`leave()` after it.  Process-wide facts go on the worker client, where
`nbray.get_runtime_context()` and `nbray.get_gpu_ids()` read them: the actor this
process is (id, name, resources, restart count, what a handle to it needs) and the
GPUs it was given.  GPUs are also exported as CUDA_VISIBLE_DEVICES, as Ray does:
for the length of a task, or for the actor's whole life.
"""

from __future__ import annotations

import os
import time
from typing import Any, List, Optional, Tuple, Union

from ..core.specs import ActorStart
from ..ids import JOB_ID_SIZE, ids, job_id_of

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

# GPUs the worker was started with: the node's ids 0..n-1 index into this list.
_ORIGINAL = os.environ.get(CUDA_VISIBLE_DEVICES)
_ORIGINAL_IDS: Optional[List[str]] = (
    [x.strip() for x in _ORIGINAL.split(",") if x.strip()] if _ORIGINAL else None)

_NO_JOB = b"\0" * JOB_ID_SIZE

_Saved = Optional[Tuple[bool, Optional[str]]]


def visible_ids(slots: List[int]) -> List[Union[int, str]]:
    """Node GPU slots as the ids the process sees: ints, or the strings the worker was
    started with in CUDA_VISIBLE_DEVICES."""
    if _ORIGINAL_IDS is None:
        return list(slots)
    return [_ORIGINAL_IDS[i] if i < len(_ORIGINAL_IDS) else str(i) for i in slots]


def enter(client: Any, spec: Any) -> Tuple[float, _Saved]:
    """Record what the runtime context needs before running `spec`; returns what leave() needs."""
    start = time.time()
    if ids.job_id == _NO_JOB:
        # A worker started without the job in its environment (one of another node) learns
        # it from the first task's id, so its runtime context and the ids it makes name it.
        ids.set_job_id(job_id_of(spec.task_id))
    kind = spec.kind
    if kind == "actor-call":
        return start, None
    if kind == "actor-create":
        actor = spec.actor or ActorStart()
        client.actor_id = spec.actor_id
        client.actor_name = actor.name
        client.actor_resources = dict(spec.resources)
        client.actor_restart_count = int(actor.restarts)
        client.actor_handle_info = actor.handle_info
    gpus = spec.gpu_ids
    if not gpus:
        return start, None
    client.gpu_ids = visible_ids(gpus)
    saved = os.environ.get(CUDA_VISIBLE_DEVICES)
    os.environ[CUDA_VISIBLE_DEVICES] = ",".join(str(g) for g in client.gpu_ids)
    return start, (True, saved)


def leave(client: Any, spec: Any, saved: _Saved) -> None:
    """After a task: its GPUs are given back (an actor keeps its own for life)."""
    if spec.kind != "task" or saved is None:
        return
    client.gpu_ids = []
    previous = saved[1]
    if previous is None:
        os.environ.pop(CUDA_VISIBLE_DEVICES, None)
    else:
        os.environ[CUDA_VISIBLE_DEVICES] = previous
