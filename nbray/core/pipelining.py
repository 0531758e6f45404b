"""Which busy worker of another node may take one more task, and the bookkeeping of the
tasks sent to a worker ahead of time (pure decisions, used by `core.scheduler`).

A task's round trip to another node's worker crosses that node's websocket twice, so one
task at a time per remote worker leaves the worker idle for most of it.  When no idle
worker fits a queued task, the scheduler may send it to a busy remote worker whose running
task has the same demand, up to `pipeline_depth` tasks in flight per worker (the running
one included).  The worker runs what it was sent in order (its own queue), and the head
learns that the next one started from the `Done` of the one ahead: both travel over the
same ordered connections (worker -> agent -> head), so the head's picture of which task
runs is exact.

Resources: a pipelined task holds none until it starts; it then takes exactly what the
task ahead gave back (the same demand), so a node's `available` never goes negative and
`available_resources()` counts running tasks only.

Not pipelined: GPU tasks (GPU ids are given per worker), generators and max_calls tasks,
actor calls, tasks whose arguments are not on that node yet, and anything behind a task
that is blocked in get/wait.  When a running task blocks, what was sent behind it goes
back to the front of the queue (`take_back`: the blocked task may wait for one of them,
and cannot finish before they would start, so none of them has started); the worker is
told to skip them, and the `Done` each skip reports is ignored (`skipped`).  A task
waiting behind a long one is not moved to a worker that becomes idle elsewhere: the head
cannot know whether the worker started it meanwhile without another round trip (moving
it then would run it twice); the depth bound caps that wait, as in Ray's lease pipelining.
"""

from __future__ import annotations

from typing import Deque, Dict, Iterable, Mapping, Optional, Protocol, Tuple, TypeVar

from .specs import TaskSpec


class PipelineWorker(Protocol):
    """What is read of a worker here (a `scheduler.WorkerLike`; read-only, so that its
    narrower field types match)."""

    @property
    def node_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def task(self) -> Optional[TaskSpec]: ...
    @property
    def held(self) -> Dict[str, float]: ...
    @property
    def blocked(self) -> int: ...
    @property
    def pipelined(self) -> Deque[TaskSpec]: ...   # sent behind `task`, not started
    @property
    def revoked(self) -> Dict[bytes, int]: ...    # task id -> skipped runs still to report


class AliveNode(Protocol):
    @property
    def alive(self) -> bool: ...


class ArgsLocality(Protocol):
    def args_present(self, node_id: str, spec: TaskSpec) -> bool: ...


W = TypeVar("W", bound=PipelineWorker)


def may_pipeline(spec: TaskSpec) -> bool:
    """Whether `spec` may be sent ahead of time, or have a task sent behind it."""
    return spec.kind == "task" and not spec.generator and not spec.max_calls and \
        "GPU" not in spec.resources


def target(workers: Iterable[W], nodes: Mapping[str, AliveNode], here: str, depth: int,
           spec: TaskSpec, locality: Optional[ArgsLocality]) -> Optional[W]:
    """The busy worker of a node other than `here` with the fewest tasks in flight that may
    take `spec` behind its running task, or None."""
    if not may_pipeline(spec):
        return None
    best: Optional[W] = None
    for w in workers:
        running = w.task
        if w.state != "busy" or running is None or w.blocked or w.node_id == here:
            continue
        if len(w.pipelined) + 1 >= depth or w.held != spec.resources or \
                not may_pipeline(running):
            continue
        if best is not None and len(w.pipelined) >= len(best.pipelined):
            continue
        info = nodes.get(w.node_id)
        if info is None or not info.alive:
            continue
        if spec.arg_refs and (locality is None or not locality.args_present(w.node_id, spec)):
            continue
        best = w
    return best


def revoke(worker: PipelineWorker, spec: TaskSpec) -> None:
    """`spec` no longer waits on `worker`: the worker will report one skipped run of it."""
    worker.pipelined.remove(spec)
    worker.revoked[spec.task_id] = worker.revoked.get(spec.task_id, 0) + 1


def take_back(worker: PipelineWorker) -> Tuple[TaskSpec, ...]:
    """Everything sent to `worker` behind its running task, in order, revoked."""
    specs = tuple(worker.pipelined)
    for spec in specs:
        revoke(worker, spec)
    return specs


def skipped(worker: PipelineWorker, task_id: bytes) -> bool:
    """Whether the worker's report of `task_id` is that of a run it was told to skip.
    Its skips come before any later real run of the same task on it (it runs what it was
    sent in order), so the first reports are the skipped ones."""
    left = worker.revoked.get(task_id)
    if left is None:
        return False
    if left <= 1:
        del worker.revoked[task_id]
    else:
        worker.revoked[task_id] = left - 1
    return True


__all__ = ["PipelineWorker", "may_pipeline", "target", "revoke", "take_back", "skipped"]
