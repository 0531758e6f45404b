"""init() and shutdown(): start a local cluster or attach to one, and fill the runtime's
"current driver" slot (`nbray.runtime.context`) with it; `ClusterContext` is what init() returns."""

from __future__ import annotations

import atexit
import numbers
import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any, Dict, Iterator, Optional

from ._version import __version__
from .config import Config
from .ids import ids as _ids
from .ids import new_node_id
from .runtime import context
from .runtime.client import DriverClient
from .runtime.context import Driver

_init_lock = threading.RLock()
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


class ClusterContext(Mapping):
    """What init() returns (Ray's RayContext): addresses and a notebook view.

    `address_info` has the keys of Ray 2.60's, with None where nbray has no such thing
    (no Redis, raylet socket or metrics port); `ray_version` is nbray's own version, the
    one `nbray.__version__` reports.  Like Ray's, it reads as a mapping of `address_info`.
    """

    def __init__(self, address_info: Dict[str, Any], node_id: str) -> None:
        import sys

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
        import html

        from ._repr import cluster_html
        from .cluster_info import cluster_summary

        s = cluster_summary()
        where = (f"<div style='font-size:90%'>Attached to <code>{html.escape(s['attached_to'])}"
                 f"</code></div>" if s.get("attached_to") else "")
        return cluster_html(s) + where

    def __repr__(self) -> str:
        from .cluster_info import cluster_summary

        s = cluster_summary()
        attached = f", attached_to={s['attached_to']!r}" if s.get("attached_to") else ""
        return (f"ClusterContext(node={self.node_id[:12]}, cpus={s['resources'].get('CPU', 0):g}, "
                f"store={s['store_used'] / 2**20:.0f}/{s['store_capacity'] / 2**20:.0f} MiB"
                f"{attached})")


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
        running = context.current_driver()
        if running is not None:
            same = all(running.init_args.get(k) == v for k, v in given.items())
            if same or ignore_reinit_error:
                return _context_for(running)
            raise RuntimeError(
                f"nbray.init() was already called with {_fmt_args(running.init_args)}; this call "
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
        driver = Driver(DriverClient(node), config.namespace, init_args=given, job_id=job_id,
                        node=node, config=config)
        _ids.set_job_id(job_id)
        context.set_driver(driver)
        driver.state_server = _start_state_server()
        _register_atexit()
        return _context_for(driver)


def _attach(address: str, token: Optional[str], given: Dict[str, Any],
            object_store_memory: Optional[int], namespace: Optional[str]) -> ClusterContext:
    from .runtime.attach import AttachedDriver, resolve_address

    url, tok = resolve_address(address, token)
    attached = AttachedDriver(url, tok, object_store_memory or 0)
    config = Config(namespace=namespace or "default")
    driver = Driver(attached.client, config.namespace, init_args=given, config=config,
                    attached=attached, address=url)
    _ids.set_job_id(driver.job_id)
    context.set_driver(driver)
    # The same socket as a local cluster's: `nbray memory` and the JupyterLab sidebar find
    # this kernel by its pid and get the head's answers through the attached connection.
    driver.state_server = _start_state_server()
    _register_atexit()
    return _context_for(driver)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True


def _start_state_server() -> Any:
    """Serve memory() and friends as JSON on a private Unix socket for `nbray memory` and
    the JupyterLab sidebar; every answer comes from the head (in-process, or over the
    attached connection), and `summary` is the one the status display shows."""
    if os.environ.get("NBRAY_STATE_SERVER", "1") == "0":
        return None
    from .cluster_info import cluster_summary, memory, query
    from .runtime.state_server import StateServer

    try:
        from .runtime.queries import QUERIES

        handlers = {op: (lambda op=op, **kw: query(op, **kw)) for op in QUERIES}
        handlers["memory"] = lambda **kw: memory(**kw).to_dict()
        handlers["summary"] = lambda **kw: cluster_summary()
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


def _context_for(driver: Optional[Driver]) -> ClusterContext:
    if driver is not None:
        node_id = driver.node_id()
    else:  # init() inside a task
        node_id = getattr(context.current_client(), "node_id", "")
    address = driver.cluster_address() if driver is not None else context.cluster_address()
    return ClusterContext({
        "node_ip_address": "127.0.0.1", "redis_address": None, "object_store_address": None,
        "raylet_socket_name": None, "webui_url": "", "session_dir": None,
        "metrics_export_port": None, "gcs_address": address,
        "address": address or "local", "dashboard_agent_listen_port": None,
        "node_id": node_id}, node_id)


def shutdown(_exiting_interpreter: bool = False) -> None:
    """Stop the local cluster: workers exit and shared memory is returned to the system."""
    with _init_lock:
        driver = context.current_driver()
        if driver is None:
            return
        driver.client.ref_counter.active = False
        context.set_driver(None)
        if driver.state_server is not None:
            driver.state_server.close()
        if driver.attached is not None:
            driver.attached.close()
        if driver.node is not None:
            driver.node.shutdown()  # tells joined nodes to stop, over the head's sockets
        if driver.head_server is not None:
            driver.head_server.close()


def is_initialized() -> bool:
    return context.current_driver() is not None or context.in_worker()


def serve_cluster(head_server: Any) -> None:
    """Record that this driver's cluster now takes other nodes and drivers at
    `head_server.address` (`nbray start --head`); shutdown() closes it."""
    driver = context.current_driver()
    if driver is None:
        raise RuntimeError("nbray is not initialized: call nbray.init() first")
    driver.head_server = head_server


__all__ = ["ClusterContext", "init", "is_initialized", "serve_cluster", "shutdown"]
