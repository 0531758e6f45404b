"""The Ray-compatible module-level API; holds the single "current cluster" slot of a driver."""

from __future__ import annotations

import atexit
import numbers
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .config import Config
from .ids import ids as _ids
from .ids import new_node_id
from .runtime import context
from .runtime.client import DriverClient
from .runtime.generators import ObjectRefGenerator
from .runtime.object_ref import ObjectRef
from .runtime.remote_function import RemoteFunction
from .runtime_context import RuntimeContext

if TYPE_CHECKING:  # pragma: no cover
    from .memory_summary import MemorySummary

_init_lock = threading.RLock()
_state: Optional["_DriverState"] = None
_atexit_registered = False

# init() keywords Ray accepts that change nothing here (no dashboard process, no log files).
_ACCEPTED_NOOP = {"include_dashboard", "dashboard_host", "dashboard_port", "logging_level",
                  "logging_format", "configure_logging", "log_to_driver", "_temp_dir",
                  "local_mode", "job_config", "_system_config", "storage", "runtime_env",
                  "_node_ip_address", "logging_config", "enable_resource_isolation",
                  # the rest of Ray 2.60's init() keywords: node labels, cgroups, Redis,
                  # metrics and tracing have no counterpart here
                  "labels", "cgroup_path", "system_reserved_cpu", "system_reserved_memory",
                  "proxy_server_url", "_enable_object_reconstruction", "_plasma_directory",
                  "_driver_object_store_memory", "_memory", "_redis_username",
                  "_redis_password", "_metrics_export_port", "_tracing_startup_hook",
                  "_node_name", "_skip_env_hook", "_object_spilling_directory"}


@dataclass
class _DriverState:
    node: Any
    client: DriverClient
    config: Config
    init_args: Dict[str, Any]
    namespace: str
    job_id: str = field(default_factory=lambda: os.urandom(4).hex())
    state_server: Any = None
    attached: Any = None
    head_server: Any = None
    address: Optional[str] = None          # the cluster's URL, when attached to one


class ClusterContext(Mapping):
    """What init() returns (Ray's RayContext): addresses and a notebook view.

    `address_info` has the keys of Ray 2.60's, with None where nbray has no such thing
    (no Redis, raylet socket or metrics port); `ray_version` is nbray's own version, the
    one `nbray.__version__` reports.  Like Ray's, it reads as a mapping of `address_info`.
    """

    def __init__(self, address_info: Dict[str, Any], node_id: str) -> None:
        import sys

        from . import __version__

        self.address_info = address_info
        self.node_id = node_id
        self.dashboard_url: str = address_info.get("webui_url") or ""
        self.python_version = "{}.{}.{}".format(*sys.version_info[:3])
        self.ray_version: str = __version__
        self.ray_commit: Optional[str] = None

    def __getitem__(self, key: str) -> Any:
        return self.address_info[key]

    def __len__(self) -> int:
        return len(self.address_info)

    def __iter__(self) -> Iterator[str]:
        return iter(self.address_info)

    def __enter__(self) -> "ClusterContext":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        shutdown()

    def disconnect(self) -> None:
        shutdown()

    def _repr_html_(self) -> str:
        from ._repr import cluster_html

        return cluster_html(cluster_summary())

    def __repr__(self) -> str:
        s = cluster_summary()
        return (f"ClusterContext(node={self.node_id[:12]}, cpus={s['resources'].get('CPU', 0):g}, "
                f"store={s['store_used'] / 2**20:.0f}/{s['store_capacity'] / 2**20:.0f} MiB)")


def init(address: Optional[str] = None, *, num_cpus: Optional[int] = None,
         num_gpus: Optional[int] = None, resources: Optional[Dict[str, float]] = None,
         object_store_memory: Optional[int] = None, ignore_reinit_error: bool = False,
         namespace: Optional[str] = None, spill_url: Optional[str] = None,
         spill_options: Optional[Dict[str, Any]] = None, token: Optional[str] = None,
         **kwargs: Any) -> ClusterContext:
    """Start a local cluster (one node: shared-memory store, workers) in this process.

    Args:
        address: None or "local" starts a new local cluster in this process;
            "ws://host:port" (or wss://) attaches to a running cluster started with
            `nbray start --head`; "auto" finds the one running on this machine.
            NBRAY_ADDRESS sets it too.
        token: the cluster token when attaching (default: NBRAY_TOKEN, then the
            token file the head wrote).
        num_cpus: CPUs to schedule on, and worker processes to start (default: cores).
        num_gpus: GPUs this node advertises.
        resources: custom resources of this node, name -> amount.
        object_store_memory: bytes of shared memory for large objects.
        ignore_reinit_error: return the running cluster when init() is called again
            with different arguments, instead of raising.
        namespace: namespace for named actors.
        spill_url: where objects go when shared memory is full: a directory or
            file:// URL (default: a private directory under the temp dir), or any
            fsspec URL such as s3://bucket/prefix.
        spill_options: fsspec storage options for spill_url (e.g. for S3:
            {"client_kwargs": {"endpoint_url": ...}, "key": ..., "secret": ...}).

    Returns:
        A ClusterContext describing the cluster.

    Raises:
        RuntimeError: init() was already called with other arguments.
    """
    global _state, _atexit_registered
    unknown = set(kwargs) - _ACCEPTED_NOOP
    if unknown:
        raise TypeError(f"init() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    address = address or os.environ.get("NBRAY_ADDRESS") or None
    if spill_url is None and kwargs.get("_object_spilling_directory"):
        spill_url = kwargs["_object_spilling_directory"]  # Ray's spelling of a spill directory
    if os.environ.get("NBRAY_WORKER") == "1" and context.current_client() is not None:
        return _context_for(None)  # init() inside a task: the worker is already connected
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 0):
        raise ValueError(f"num_cpus must be an integer >= 0, got {num_cpus!r}")
    if object_store_memory is not None and (not isinstance(object_store_memory, numbers.Integral)
                                            or object_store_memory < 2**20):
        raise ValueError(f"object_store_memory must be an integer number of bytes >= 1 MiB, "
                         f"got {object_store_memory!r}")
    args = {"num_cpus": num_cpus, "num_gpus": num_gpus, "resources": resources,
            "object_store_memory": object_store_memory, "namespace": namespace,
            "spill_url": spill_url}
    given = {k: v for k, v in args.items() if v is not None}
    if address not in (None, "local"):
        given["address"] = address
    with _init_lock:
        if _state is not None:
            same = all(_state.init_args.get(k) == v for k, v in given.items())
            if same or ignore_reinit_error:
                return _context_for(_state)
            raise RuntimeError(
                f"nbray.init() was already called with {_fmt_args(_state.init_args)}; this call "
                f"asks for {_fmt_args(given)}. Call nbray.shutdown() first to start a cluster with "
                f"other settings, or pass ignore_reinit_error=True to keep the running one.")
        if address not in (None, "local"):
            return _attach(address, token, given, object_store_memory, namespace)
        res = dict(resources or {})
        if num_gpus:
            res["GPU"] = float(num_gpus)
        job_id = os.urandom(4).hex()
        config = Config.from_env(num_cpus=num_cpus, object_store_memory=object_store_memory, job_id=job_id,
                                 resources=res, log_to_driver=kwargs.get("log_to_driver", True),
                                 namespace=namespace or "default", spill_url=spill_url,
                                 spill_options=dict(spill_options or {})).resolved()
        _check_store_size(config.object_store_memory)
        from .runtime.node import Node

        node_id = new_node_id()
        from .store.spill import SpillConfigError

        try:
            node = Node(config, node_id)
        except SpillConfigError as e:
            raise ValueError(str(e)) from None
        client = DriverClient(node)
        _state = _DriverState(node, client, config, given, config.namespace, job_id=job_id)
        _ids.set_job_id(job_id)
        context.set_client(client)
        _state.state_server = _start_state_server()
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return _context_for(_state)


def _attach(address: str, token: Optional[str], given: Dict[str, Any],
            object_store_memory: Optional[int], namespace: Optional[str]) -> ClusterContext:
    global _state, _atexit_registered
    from .runtime.attach import AttachedDriver, resolve_address

    url, tok = resolve_address(address, token)
    attached = AttachedDriver(url, tok, object_store_memory or 0)
    config = Config(namespace=namespace or "default")
    _state = _DriverState(None, attached.client, config, given, config.namespace)
    _state.attached = attached
    _state.address = url
    _ids.set_job_id(_state.job_id)
    context.set_client(attached.client)
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    return _context_for(_state)


def _start_state_server() -> Any:
    """Serve memory() and friends as JSON on a private Unix socket for `nbray memory`."""
    if os.environ.get("NBRAY_STATE_SERVER", "1") == "0":
        return None
    from .runtime.state_server import StateServer

    try:
        from .runtime.queries import QUERIES

        handlers = {op: (lambda op=op, **kw: _query(op, **kw)) for op in QUERIES}
        handlers["memory"] = lambda **kw: memory(**kw).to_dict()
        return StateServer(handlers)
    except OSError as e:  # a read-only temp dir must not stop the cluster
        warnings.warn(f"nbray: `nbray memory` will not see this cluster: {e}", stacklevel=3)
        return None


def _check_store_size(size: int) -> None:
    import shutil

    try:
        shm = shutil.disk_usage("/dev/shm").total
    except OSError:
        return
    if size > shm:
        warnings.warn(f"object_store_memory={size / 2**30:.1f} GiB is larger than /dev/shm "
                      f"({shm / 2**30:.1f} GiB); nbray's store does not live in /dev/shm, but "
                      f"the machine may not have that much shared memory to give.", stacklevel=3)


def _fmt_args(args: Dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")" if args else "(defaults)"


def _context_for(state: Optional[_DriverState]) -> ClusterContext:
    if state is not None and state.node is None:
        node_id = state.attached.agent.node_id
    elif state is not None:
        node_id = state.node.node_id
    else:  # init() inside a task
        node_id = getattr(context.current_client(), "node_id", "")
    address = _cluster_address(state)
    return ClusterContext({
        "node_ip_address": "127.0.0.1", "redis_address": None, "object_store_address": None,
        "raylet_socket_name": None, "webui_url": "", "session_dir": None,
        "metrics_export_port": None, "gcs_address": address,
        "address": address or "local", "dashboard_agent_listen_port": None,
        "node_id": node_id}, node_id)


def _cluster_address(state: Optional[_DriverState] = None) -> Optional[str]:
    """The address other drivers and nodes join this cluster at (None: it serves none)."""
    state = state if state is not None else _state
    if state is not None and state.address is not None:
        return state.address
    if state is not None and state.head_server is not None:
        return state.head_server.address
    return os.environ.get("NBRAY_ADDRESS") or None


def shutdown(_exiting_interpreter: bool = False) -> None:
    """Stop the local cluster: workers exit and shared memory is returned to the system."""
    global _state
    with _init_lock:
        state, _state = _state, None
        if state is None:
            return
        state.client.ref_counter.active = False
        context.set_client(None)
        if state.state_server is not None:
            state.state_server.close()
        if state.attached is not None:
            state.attached.close()
        if state.node is not None:
            state.node.shutdown()  # tells joined nodes to stop, over the head's sockets
        if state.head_server is not None:
            state.head_server.close()


def is_initialized() -> bool:
    return _state is not None or (os.environ.get("NBRAY_WORKER") == "1"
                                  and context.current_client() is not None)


def _client_or_auto_init() -> Any:
    client = context.current_client()
    if client is None:
        init()  # as Ray does on first use
        client = context.current_client()
    return client


# =============================================================================
# objects
# =============================================================================
def put(value: Any, *, _owner: Any = None) -> ObjectRef:
    """Store `value` in the object store and return a ref to it (the value is copied)."""
    return _client_or_auto_init().put(value)


def _check_timeout(timeout: Any, where: str) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"{where}: timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"{where}: timeout must be >= 0, got {timeout}")
    return float(timeout)


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
    timeout = _check_timeout(timeout, "get()")
    if isinstance(object_refs, ObjectRefGenerator):
        return object_refs  # as Ray does: iterate it to get its refs
    if isinstance(object_refs, ObjectRef):
        try:
            return _client_or_auto_init().get([object_refs._id], timeout)[0]
        except KeyboardInterrupt:
            _on_interrupt([object_refs._id])
            raise
    if not isinstance(object_refs, (list, tuple)):
        raise NotObjectRefsError(f"get() takes an ObjectRef or a list of ObjectRefs, got "
                                 f"{type(object_refs).__name__}" + _hint_for(object_refs))
    for i, r in enumerate(object_refs):
        if not isinstance(r, ObjectRef):
            raise TypeError(f"get(): item {i} of the list is a {type(r).__name__}, not an "
                            f"ObjectRef" + _hint_for(r))
    if not object_refs:
        return []
    client = _client_or_auto_init()
    ids = [r._id for r in object_refs]
    try:
        if isinstance(client, DriverClient) and len(ids) > 1 and (timeout is None or timeout > 1):
            # The common case costs one pass: a plain get, given a second.  Only a get
            # still blocked after that waits with a progress bar.
            from .exceptions import GetTimeoutError
            from .runtime.progress import PROGRESS_DELAY

            start = time.monotonic()
            try:
                return client.get(ids, PROGRESS_DELAY)
            except GetTimeoutError:
                pass
            left = None if timeout is None else timeout - (time.monotonic() - start)
            timeout = _wait_all_with_progress(client, ids, left, "get", timeout)
        return client.get(ids, timeout)
    except KeyboardInterrupt:
        _on_interrupt(ids)
        raise


def _wait_all_with_progress(client: DriverClient, ids: List[bytes], timeout: Optional[float],
                            label: str, asked: Optional[float] = None) -> Optional[float]:
    """Wait for all objects, drawing a progress bar after a second; returns the time left."""
    from .runtime.progress import wait_with_progress

    start = time.monotonic()
    unique = list(dict.fromkeys(ids))
    total = len(unique)

    def count_ready(t: float) -> int:
        if client.node.wait_all_or_first_error(unique, t) is not None:
            return total   # one failed: stop waiting, and the get() that follows raises its error
        return len(client.node.ready_ids(unique))

    # The caller already waited the usual delay: the bar shows at once.
    if not wait_with_progress(count_ready, total, timeout, f"{label} {total} objects", delay=0.0):
        missing = total - len(client.node.ready_ids(unique))
        from .exceptions import GetTimeoutError

        raise GetTimeoutError(f"{label} timed out after {asked or timeout} s: {missing} of {total} "
                              f"objects not ready")
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - start))


# Called with the ids a blocking call was waiting for when Ctrl-C / Kernel > Interrupt
# arrived; the notebook layer uses it to cancel the work its cell started.
_interrupt_handler: Optional[Any] = None


def _on_interrupt(ids: List[bytes]) -> None:
    handler = _interrupt_handler
    if handler is not None:
        try:
            handler(ids)
        except Exception:  # never mask the KeyboardInterrupt
            pass


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
    if isinstance(object_refs, (ObjectRef, ObjectRefGenerator)):
        raise TypeError("wait() takes a list of ObjectRefs; wrap a single ref in a list: wait([ref])")
    if not isinstance(object_refs, (list, tuple)):
        raise TypeError(f"wait() takes a list of ObjectRefs, got {type(object_refs).__name__}")
    has_generators = False
    for i, r in enumerate(object_refs):
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
    if len(set(keys)) != len(keys):
        raise ValueError("wait() requires a list of unique ObjectRefs; the list has duplicates")
    timeout = _check_timeout(timeout, "wait()")
    if has_generators:
        return _wait_with_generators(object_refs, num_returns, timeout)
    ids = keys
    try:
        ready_ids = _client_or_auto_init().wait(ids, num_returns, timeout, fetch_local)
    except KeyboardInterrupt:
        _on_interrupt(ids)
        raise
    ready: List[ObjectRef] = []
    not_ready: List[ObjectRef] = []
    for r in object_refs:
        if r._id in ready_ids and len(ready) < num_returns:
            ready.append(r)
        else:
            not_ready.append(r)
    return ready, not_ready


def _wait_with_generators(items: Sequence[Any], num_returns: int, timeout: Optional[float]
                          ) -> Tuple[List[Any], List[Any]]:
    oids = [r._id for r in items if isinstance(r, ObjectRef)]
    tids = [r.task_id() for r in items if isinstance(r, ObjectRefGenerator)]
    try:
        ready_oids, ready_tids = _client_or_auto_init().wait_mixed(oids, tids, num_returns,
                                                                   timeout)
    except KeyboardInterrupt:
        _on_interrupt(oids + [r.completed()._id for r in items if isinstance(r, ObjectRefGenerator)])
        raise
    ready: List[Any] = []
    not_ready: List[Any] = []
    for r in items:
        done = r._id in ready_oids if isinstance(r, ObjectRef) else r.task_id() in ready_tids
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
    _client_or_auto_init().cancel(object_ref.task_id().binary(), bool(force), bool(recursive))


# =============================================================================
# remote
# =============================================================================
def remote(*args: Any, **options: Any) -> Any:
    """Turn a function into a remote function (or a class into an actor class).

    Use as `@remote` or `@remote(num_cpus=1, num_returns=2, max_retries=3)`.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return _make_remote(args[0], {})
    if args:
        raise TypeError("@remote takes either a function/class, or keyword options only: "
                        "@remote(num_cpus=2)")

    def decorator(fn_or_class: Any) -> Any:
        return _make_remote(fn_or_class, options)

    return decorator


def _make_remote(target: Any, options: Dict[str, Any]) -> Any:
    if isinstance(target, type):
        from .runtime.actor import ActorClass

        return ActorClass(target, options)
    return RemoteFunction(target, options)


def _current_namespace() -> str:
    return _state.namespace if _state is not None else os.environ.get("NBRAY_NAMESPACE", "default")


def kill(actor: Any, *, no_restart: bool = True) -> None:
    """Kill an actor's process at once; pending calls raise ActorDiedError.

    With no_restart=False the actor restarts if its max_restarts allows.
    """
    from .runtime.actor import ActorHandle

    if not isinstance(actor, ActorHandle):
        raise ValueError(f"kill() only supports actor handles (for tasks, use cancel()); "
                         f"got {type(actor).__name__}")
    _client_or_auto_init().kill_actor(actor._actor_id, bool(no_restart))


def get_actor(name: str, namespace: Optional[str] = None) -> Any:
    """A handle to the live actor registered under `name` (ValueError if there is none)."""
    from .runtime.actor import ActorHandle

    if not name:  # ValueError as in Ray, for None as for ""
        raise ValueError(f"get_actor() needs a non-empty actor name, got {name!r}")
    if not isinstance(name, str):
        raise TypeError(f"get_actor() takes an actor name (a str), got {type(name).__name__}")
    ns = namespace or _current_namespace()
    found = _client_or_auto_init().get_actor(name, ns)
    if found is None:
        raise ValueError(f"Failed to look up actor with name {name!r} in namespace {ns!r}: "
                         f"no live actor has that name")
    actor_id, info = found
    return ActorHandle(actor_id, info, ObjectRef(info["creation_object"]))


def list_actors() -> List[Dict[str, Any]]:
    """One row per actor: id, class, name, state, restarts, node, pid."""
    return _query("actors")


def method(*args: Any, **options: Any) -> Any:
    """Options for one actor method, e.g. `@nbray.method(num_returns=2)`."""
    from .core.specs import validate_method_options

    if args:
        raise TypeError("@method takes keyword options only: @method(num_returns=2)")
    opts = validate_method_options(options, "@method")

    def decorator(fn: Any) -> Any:
        fn.__nbray_method_options__ = opts
        return fn

    return decorator


# =============================================================================
# cluster information
# =============================================================================
def _require_state() -> _DriverState:
    if _state is None:
        raise RuntimeError("nbray is not initialized: call nbray.init() first")
    return _state


def nodes() -> List[Dict[str, Any]]:
    """One dict per node, with Ray's keys (NodeID, Alive, Resources, ...)."""
    return _query("nodes")


def cluster_resources() -> Dict[str, float]:
    rows = nodes()
    total: Dict[str, float] = {}
    for row in rows:
        if row["Alive"]:
            for k, v in row["Resources"].items():
                total[k] = total.get(k, 0.0) + v
    return total


def available_resources() -> Dict[str, float]:
    avail: Dict[str, float] = {}
    for row in nodes():
        if row["Alive"]:
            for k, v in row["Available"].items():
                avail[k] = avail.get(k, 0.0) + v
            free = row["Resources"]["object_store_memory"] - row["ObjectStoreUsed"]
            avail["object_store_memory"] = avail.get("object_store_memory", 0.0) + free
    return avail


def memory(*, sort_by: str = "size", descending: bool = True, filter: str = "",
           where: Optional[str] = None, ref_type: Optional[str] = None, offset: int = 0,
           limit: Optional[int] = 100) -> "MemorySummary":
    """Objects in the cluster, one row each, and per-node store and spill statistics.

    Args:
        sort_by: size, created, last_access, object_id, type, where, call_site or owner.
        descending: largest / newest first.
        filter: keep objects whose id, type, call site, creating task or owner contains it.
        where: keep only "inline", "shared_memory", "spilled" or "pending" objects.
        ref_type: keep only objects with this reference type (e.g. "USED_BY_PENDING_TASK").
        offset, limit: the page to return (limit=None: all).
    """
    from .memory_summary import MemorySummary

    return MemorySummary.from_dict(_query(
        "memory", sort_by=sort_by, descending=descending, filter=filter, where=where,
        ref_type=ref_type, offset=offset, limit=limit))


def _query(op: str, **args: Any) -> Any:
    """Ask the head a read-only question (in-process, over the attached connection, or
    from inside a task over the worker's socket)."""
    from .runtime import queries

    if _state is None and os.environ.get("NBRAY_WORKER") == "1":
        client = context.current_client()
        if client is not None:
            return client.query(op, args)
    state = _require_state()
    if state.node is not None:
        return queries.run(state.node, op, args, dict(state.client.ref_counter.counts))
    return state.client.query(op, args)


def reference_counts() -> Dict[str, Dict[str, Any]]:
    """Exact counts per live object, keyed by hex id (for tests and debugging).

    local: live ObjectRefs in this driver process; borrowers: other processes holding
    one; submitted: pending tasks using it; contained_in: stored objects containing it;
    captured: pinned by a remote function's closure; mapped: zero-copy views alive.
    """
    return _query("reference_counts")


def cluster_summary() -> Dict[str, Any]:
    return _query("summary")


def get_runtime_context() -> RuntimeContext:
    """The runtime context (ids of the job, node, worker, task and actor) of the caller."""
    return RuntimeContext(_client_or_auto_init())


def get_gpu_ids() -> List[Any]:
    """The GPUs given to the running task or actor ([] in the driver, or when it asked for none).

    Ids are ints 0..n-1 among the node's `num_gpus`, or, when the worker was started with
    CUDA_VISIBLE_DEVICES set, the entries of that list as strings (as in Ray).  The worker
    also sets CUDA_VISIBLE_DEVICES to them while the task (or the actor) runs.
    """
    client = _client_or_auto_init()
    return list(getattr(client, "gpu_ids", ()))


def timeline(filename: Optional[str] = None) -> Optional[List[Dict[str, Any]]]:
    """Chrome trace events of the tasks and actor calls that ran (the last 10,000).

    One "complete" event (`ph` "X") per run: `ts` and `dur` in microseconds, `pid` the
    node, `tid` "worker:<worker id>", `name` the task's name, `cat` "task::<name>",
    `args` with the task id.  Open the file in chrome://tracing or Perfetto.

    Args:
        filename: write the events to this file as JSON and return None.

    Returns:
        The list of events, when no filename is given.
    """
    _client_or_auto_init()
    events = _query("timeline")
    if filename is None:
        return events
    import json

    with open(filename, "w") as f:
        json.dump(events, f)
    return None
