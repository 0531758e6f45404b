/**
 * The JSON models of nbray's dashboard API, field by field.
 *
 * They mirror the TypedDicts in `nbray/dashboard/models.py` (the answers of
 * `GET {base_url}nbray/api/<name>?kernel_id=...`, built in
 * `nbray/dashboard/routes.py`). Sizes are bytes, times are seconds since the
 * epoch, ids are lowercase hex. Keep both files in step.
 */

/**
 * One kernel of this Jupyter server that runs an nbray cluster
 * (`GET nbray/api/sessions` answers a list of these).
 */
export interface ISessionModel {
  /** Jupyter's id of the kernel. */
  kernel_id: string;
  /** Process id of the kernel, which is the nbray driver. */
  pid: number;
}

/** `GET nbray/api/cluster`: the cluster as a whole. */
export interface IClusterModel {
  /** Id of the head node. */
  node_id: string;
  /** Live nodes (attached drivers not counted). */
  nodes: number;
  /** Total resources of live nodes, e.g. `{"CPU": 4}`. */
  resources: Record<string, number>;
  /** What is free now. */
  available: Record<string, number>;
  /** Bytes used in the stores of every live node row (the sum of `page.nodes`). */
  store_used: number;
  /** Bytes of those stores. */
  store_capacity: number;
  /** Live objects in the cluster. */
  objects: number;
  /** Task worker processes on all nodes. */
  workers: number;
  /** The head's address when the kernel is attached to a running cluster. */
  attached_to?: string | null;
  /** "ray" when the notebook layer is on a Ray cluster (absent: nbray's own). */
  backend?: string;
  /** Then the id of the kernel's own store among the node rows. */
  driver_node_id?: string | null;
}

/** `GET nbray/api/nodes` (a list), and `nodes` of an object page. */
export interface INodeModel {
  /** Id of the node. */
  node_id: string;
  /** Whether the node is up. */
  alive: boolean;
  /** Host the node runs on. */
  hostname: string;
  /** The store of an attached driver (a kernel), not a node that runs tasks. */
  is_driver?: boolean;
  /** Bytes of the node's shared-memory store. */
  store_capacity: number;
  /** Bytes in use in that store. */
  store_used: number;
  /** Objects with a copy on this node. */
  objects: number;
  /** Bytes of those in shared memory. */
  shm_bytes: number;
  /** Objects whose only copy is on the spill target. */
  spilled_objects: number;
  /** Bytes of those spilled objects. */
  spilled_bytes: number;
  /** Recent spill rate, or null before the first spill. */
  spill_throughput_bytes_per_s: number | null;
  /** Recent restore rate, or null before the first restore. */
  restore_throughput_bytes_per_s: number | null;
  /** Worker processes on the node. */
  workers: number;
  /** Actors placed on the node. */
  actors: number;
}

/** A process holding ObjectRefs to an object. */
export interface IHolderModel {
  /** `"driver"` or a worker id. */
  process: string;
  /** Its process id, when known. */
  pid: number | null;
  /** Live ObjectRefs in that process (null on Ray, which does not count them). */
  refs: number | null;
}

/** Where an object's value is. */
export type Where = 'inline' | 'shared_memory' | 'spilled' | 'pending';

/** One object of the store: a row of `GET nbray/api/objects`. */
export interface IObjectModel {
  /** Hex id of the object. */
  object_id: string;
  /** Bytes of the serialized value. */
  size: number;
  /** A short description of the value, e.g. `"ndarray(1000,) float64"`. */
  type: string;
  /** `{"process", "pid", "node_id"}` of the creator. */
  owner: { process?: string; pid?: number | null; node_id?: string };
  /** Node the object was created on. */
  node_id: string;
  /** Nodes holding a copy in shared memory (or inline). */
  locations: string[];
  /** `"inline"`, `"shared_memory"`, `"spilled"` or `"pending"`. */
  where: Where | string;
  /** The copy on the spill target, if any. */
  spill_url: string | null;
  /**
   * LOCAL_REFERENCE, BORROWED, USED_BY_PENDING_TASK, CAPTURED_IN_OBJECT,
   * CAPTURED_BY_CLOSURE, PINNED_IN_MEMORY, ACTOR_HANDLE.
   */
  reference_types: string[];
  /** Processes holding refs to it. */
  holders: IHolderModel[];
  /** Pending tasks using it. */
  submitted_tasks: number;
  /** Stored objects containing a ref to it. */
  contained_in: number;
  /**
   * `file:line` that created it; `"In [n] line k"` for a notebook cell when the
   * kernel has loaded the nbray extension.
   */
  call_site: string;
  /**
   * The notebook's names holding a ref to it: variables, `Out[n]`, elements of
   * containers (`"keep_me"`, `"objs['o137']"`, `"objs[3] (and 9 more)"`); empty
   * without the extension or when no variable holds it.
   */
  held_by?: string[];
  /** `"put"` or the name of the task that returned it. */
  created_by: string;
  /** Id of that task, if any. */
  task_id: string | null;
  /** When it was created. */
  created_at: number;
  /** When it was last read. */
  last_access: number;
}

/** `GET nbray/api/objects`: one page of objects plus every node's store. */
export interface IObjectPageModel {
  /** The rows of this page. */
  objects: IObjectModel[];
  /** Objects matching the filter (all pages). */
  total: number;
  /** Index of the first row of this page. */
  offset: number;
  /** Page size, or null for all rows. */
  limit: number | null;
  /** The sort key used. */
  sort_by: string;
  /** Store statistics of every node. */
  nodes: INodeModel[];
}

/** A row of `GET nbray/api/workers`. */
export interface IWorkerModel {
  /** Id of the worker. */
  worker_id: string;
  /** Its process id. */
  pid: number;
  /** Node it runs on. */
  node_id: string;
  /** `starting`, `idle`, `busy`, `actor`, `driver` or `dead`. */
  state: string;
  /** Name of the task it runs, if any. */
  task: string | null;
  /** Id of that task. */
  task_id: string | null;
  /** Actor it hosts, if any. */
  actor_id: string | null;
  /** Waiting in get() inside a task. */
  blocked: boolean;
}

/** A row of `GET nbray/api/tasks`: a task that has not finished. */
export interface ITaskModel {
  /** Id of the task. */
  task_id: string;
  /** Function or `Class.method` name. */
  name: string;
  /** `task`, `actor-create` or `actor-call`. */
  kind: string;
  /** `RUNNING`, `QUEUED`, `WAITING_FOR_ARGS` or `SUBMITTED_TO_ACTOR`. */
  state: string;
  /** Node it runs on, once placed. */
  node_id: string | null;
  /** Worker it runs on, once placed. */
  worker_id: string | null;
  /** Process id of that worker. */
  pid: number | null;
  /** Retry attempt, from 0. */
  attempt: number;
  /** Resources it asked for. */
  resources: Record<string, number>;
  /** `file:line` that submitted it. */
  call_site: string;
}

/** A row of `GET nbray/api/actors`. */
export interface IActorModel {
  /** Id of the actor. */
  actor_id: string;
  /** Name of its class. */
  class_name: string;
  /** Its name, for named actors. */
  name: string | null;
  /** Namespace of the name. */
  namespace: string;
  /** `PENDING_CREATION`, `ALIVE`, `RESTARTING` or `DEAD`. */
  state: string;
  /** Restarts so far. */
  restarts: number;
  /** Node it runs on. */
  node_id: string;
  /** Process id of its worker. */
  pid: number | null;
  /** Whether it outlives its owner. */
  detached: boolean;
  /** Calls waiting for it. */
  pending_calls: number;
  /** Why it died, if it did. */
  death_cause: string | null;
}

/** The body of an error answer (400, 404, 503). */
export interface IErrorModel {
  /** What went wrong and what to do. */
  error: string;
}

/** The parameters of `GET nbray/api/objects`. */
export interface IObjectQuery {
  /**
   * size, created, last_access, object_id, type, where, call_site, owner or held_by
   * (named objects first, by the first name holding them).
   */
  sort_by: string;
  /** Largest / newest first. */
  descending: boolean;
  /** Keep objects whose id, type, call site, task, owner or holder name contains it. */
  filter: string;
  /** Keep only objects in this place; null for all. */
  where: Where | null;
  /** Index of the first row. */
  offset: number;
  /** Rows per page (1 to 10000). */
  limit: number;
}
