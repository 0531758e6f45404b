"""The JSON models of the dashboard API, field by field (mirrored in labextension/src/tokens.ts).

Every endpoint answers with one of these (as plain JSON).  Sizes are bytes, times
are seconds since the epoch, ids are lowercase hex.
"""

from __future__ import annotations

from typing import Dict, List, Optional, TypedDict


class ClusterModel(TypedDict):
    node_id: str                    # id of the head node
    nodes: int                      # live nodes (attached drivers not counted)
    resources: Dict[str, float]     # total resources of live nodes, e.g. {"CPU": 4}
    available: Dict[str, float]     # what is free now
    store_used: int                 # bytes used in the head's shared-memory store
    store_capacity: int             # bytes of the head's shared-memory store
    objects: int                    # live objects in the cluster
    workers: int                    # worker processes on all nodes


class NodeModel(TypedDict):
    node_id: str
    alive: bool
    hostname: str
    store_capacity: int
    store_used: int
    objects: int                    # objects with a copy on this node
    shm_bytes: int                  # bytes of those in shared memory
    spilled_objects: int            # objects whose only copy is on the spill target
    spilled_bytes: int
    spill_throughput_bytes_per_s: Optional[float]
    restore_throughput_bytes_per_s: Optional[float]
    workers: int
    actors: int
    # The `nodes` endpoint adds (the objects page's `nodes` does not):
    role: str                       # "head" | "node" | "driver" (an attached driver process)
    label: str                      # "host (head)", "host", "host (driver pid N)"
    pid: Optional[int]              # the node's (or driver's) process
    lost_reason: Optional[str]      # a lost node or driver: why ("connection closed", ...)
    lost_at: Optional[float]
    objects_left: Optional[int]     # a lost one: objects created there still held by others


class HolderModel(TypedDict):
    process: str                    # "driver" or a worker id
    pid: Optional[int]
    refs: Optional[int]             # live ObjectRefs in that process (None on Ray)


class ObjectModel(TypedDict):
    object_id: str
    size: int                       # bytes of the serialized value
    type: str                       # e.g. "ndarray(1000,) float64"
    owner: Dict[str, object]        # {"process", "pid", "node_id"} of the creator
    node_id: str                    # node the object was created on
    locations: List[str]            # nodes holding a copy in shared memory (or inline)
    where: str                      # "inline" | "shared_memory" | "spilled" | "pending"
    spill_url: Optional[str]        # copy on the spill target, if any
    reference_types: List[str]      # LOCAL_REFERENCE, BORROWED, USED_BY_PENDING_TASK,
                                    # CAPTURED_IN_OBJECT, CAPTURED_BY_CLOSURE,
                                    # PINNED_IN_MEMORY, ACTOR_HANDLE
    holders: List[HolderModel]
    submitted_tasks: int            # pending tasks using it
    contained_in: int               # stored objects containing a ref to it
    call_site: str                  # file:line that created it ("In [n] line k" in a notebook)
    held_by: List[str]              # notebook names holding a ref ("keep_me", "objs[3]")
    created_by: str                 # "put" or the task name
    task_id: Optional[str]
    created_at: float
    last_access: float


class ObjectPageModel(TypedDict):
    objects: List[ObjectModel]
    total: int                      # objects matching the filter (all pages)
    offset: int
    limit: Optional[int]
    sort_by: str
    nodes: List[NodeModel]


class WorkerModel(TypedDict):
    worker_id: str
    pid: int
    node_id: str
    state: str                      # starting | idle | busy | actor | driver | dead
    task: Optional[str]
    task_id: Optional[str]
    actor_id: Optional[str]
    blocked: bool                   # waiting in get() inside a task


class TaskModel(TypedDict):
    task_id: str
    name: str
    kind: str                       # task | actor-create | actor-call
    state: str                      # RUNNING | QUEUED | WAITING_FOR_ARGS | SUBMITTED_TO_ACTOR
    node_id: Optional[str]
    worker_id: Optional[str]
    pid: Optional[int]
    attempt: int
    resources: Dict[str, float]
    call_site: str


class ActorModel(TypedDict):
    actor_id: str
    class_name: str
    name: Optional[str]
    namespace: str
    state: str                      # PENDING_CREATION | ALIVE | RESTARTING | DEAD
    restarts: int
    node_id: str
    pid: Optional[int]
    detached: bool
    pending_calls: int
    death_cause: Optional[str]


class NodeSampleModel(TypedDict):
    node_id: str
    label: str                      # "host (head)", "host", or "host (driver pid N)"
    store_used: int                 # bytes in the node's shared-memory store
    store_capacity: int
    spilled_bytes: int              # bytes whose only copy is on the spill target


class SampleModel(TypedDict):
    t: float                        # when it was taken
    nodes: List[NodeSampleModel]    # live nodes
    tasks_done: int                 # task and actor-call runs finished so far (cumulative)
    tasks_running: int              # workers running a task or an actor call
    busy_s: float                   # seconds those runs took (cumulative): d(busy_s)/dt is
                                    # the average number of busy workers


class MetricsModel(TypedDict):
    interval_s: float               # about how far apart samples are
    now: float                      # the head's clock when it answered
    samples: List[SampleModel]      # oldest first; a bounded ring (the newest 600)


class TimelineModel(TypedDict):
    events: List[Dict[str, object]]  # Chrome trace "X" events, as nbray.timeline() has them
    dropped: int                    # runs the head's record no longer holds (it keeps 10,000)
    now: float                      # the head's clock when it answered
