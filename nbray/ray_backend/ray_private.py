"""Every private Ray hook the notebook layer uses, behind a version check and fallbacks.

Ray has no public API for three things the notebook layer needs; this module is the only
place that reaches into Ray for them (checked against Ray 2.60.0, supported ">= 2.9, < 3"):

- worker output on the driver: `ray._private.worker.global_worker_stdstream_dispatcher`
  (its handlers get every log batch of the job; Ray's own printer is the handler named
  "ray_print_logs", added by `ray.init`).  Without it: Ray prints task output itself,
  under whatever cell runs when the line arrives.
- submissions: `RemoteFunction._remote`, `ActorClass._remote`, `ActorMethod._remote`
  (the one place every `.remote()` passes; wrapped to learn task id -> cell).  Without
  them: no attribution at all, Ray prints task output itself.
- per-node object store figures: the raylet's `GetNodeStats` RPC (what `ray memory
  --stats-only` reads, per node).  Without it: `store_stats()` is None and the rows show
  Ray's public figures only.

`ray.init` is wrapped too (public, but wrapping it is a hook): it merges nbray's
`worker_process_setup_hook` (a public runtime_env field) into the job's runtime_env.
The hook runs in every worker of the job and makes each task's first write to
sys.stdout/sys.stderr print a marker line `:task_name:<name>\\x1f<task id>`, which Ray's
log monitor consumes like its own `:task_name:` line and carries as the batch's
task_name; nested `.remote()` calls in workers print `:nbray_link:<child> <parent>`
lines.  The hook is pickled by value (it is built by nested functions, with no reference
to nbray), so workers do not need nbray installed.

Everything here fails soft: a missing attribute or a changed signature switches the
feature off (the function returns None/False) and `check_version()` or the caller's mode
line says why; nothing raises into the kernel.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

RAY_SUPPORTED = ">= 2.9, < 3"
PRINTER_NAME = "ray_print_logs"  # Ray's own handler on the stdstream dispatcher
MARKER_SEP = "\x1f"
TASK_MARKER = ":task_name:"
LINK_MARKER = ":nbray_link:"
HOOK_NAME = "nbray_worker_setup"  # Ray stores the hook's __name__ in the job's runtime_env
TQDM_MAGIC = "__ray_tqdm_magic_token__"  # ray.experimental.tqdm_ray's line marker

OnSubmit = Callable[[str, str, str], None]  # (task id hex, name, kind)
Undo = Callable[[], None]


def check_version() -> Optional[str]:
    """None when Ray is importable and its version is supported, else the reason."""
    try:
        import ray
    except Exception as exc:  # ImportError, or a broken install
        return f"Ray cannot be imported ({type(exc).__name__}: {exc})"
    version = str(getattr(ray, "__version__", ""))
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"Ray's version {version!r} cannot be read"
    if (major, minor) < (2, 9) or major >= 3:
        return f"Ray {version} is not supported (nbray needs Ray {RAY_SUPPORTED})"
    return None


# -- the driver's log batches ---------------------------------------------------------
def _dispatcher() -> Any:
    try:
        from ray._private import worker

        dispatcher = worker.global_worker_stdstream_dispatcher
    except Exception:
        return None
    ok = all(callable(getattr(dispatcher, name, None))
             for name in ("add_handler", "remove_handler", "emit"))
    return dispatcher if ok and isinstance(getattr(dispatcher, "handlers", None), list) else None


def log_batches_available() -> Optional[str]:
    """None when the driver's log batches can be listened to, else why not."""
    reason = check_version()
    if reason is not None:
        return reason
    if _dispatcher() is None:
        return "this Ray has no ray._private.worker.global_worker_stdstream_dispatcher"
    return None


def add_log_handler(name: str, handler: Callable[[Dict[str, Any]], None]) -> bool:
    """Call `handler(batch)` for every log batch the driver receives."""
    dispatcher = _dispatcher()
    if dispatcher is None:
        return False
    try:
        dispatcher.add_handler(name, handler)
        return True
    except Exception:
        return False


def remove_log_handler(name: str) -> bool:
    dispatcher = _dispatcher()
    if dispatcher is None:
        return False
    try:
        dispatcher.remove_handler(name)
        return True
    except Exception:
        return False


def log_handler(name: str) -> Optional[Callable[[Dict[str, Any]], None]]:
    """The handler registered under `name`, or None."""
    dispatcher = _dispatcher()
    if dispatcher is None:
        return None
    for pair in list(dispatcher.handlers):
        if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == name:
            return pair[1]
    return None


def take_ray_printer() -> Optional[Callable[[Dict[str, Any]], None]]:
    """Remove Ray's own log printer from the dispatcher and return it (None: none there,
    e.g. `ray.init(log_to_driver=False)`, or Ray not started)."""
    handler = log_handler(PRINTER_NAME)
    if handler is not None:
        remove_log_handler(PRINTER_NAME)
    return handler


def put_ray_printer(handler: Callable[[Dict[str, Any]], None]) -> bool:
    """Give Ray's printer back (only while Ray is connected and has none: `ray.shutdown`
    removes it, the next `ray.init` adds a fresh one)."""
    if not ray_connected() or log_handler(PRINTER_NAME) is not None:
        return False
    return add_log_handler(PRINTER_NAME, handler)


def ray_connected() -> bool:
    try:
        import ray

        return bool(ray.is_initialized())
    except Exception:
        return False


def ray_client_mode() -> bool:
    """True in a Ray Client (`ray://`) session, where worker logs reach the driver another way."""
    try:
        from ray.util.client import ray as client_ray

        return bool(client_ray.is_connected())
    except Exception:
        return False


def job_id_hex() -> Optional[str]:
    try:
        import ray

        if not ray.is_initialized():
            return None
        return str(ray.get_runtime_context().get_job_id())
    except Exception:
        return None


def job_has_worker_hook() -> bool:
    """True when the running job's workers run nbray's setup hook (they print markers)."""
    try:
        import ray

        runtime_env = ray.get_runtime_context().runtime_env
        return bool(runtime_env.get("worker_process_setup_hook") == HOOK_NAME)
    except Exception:
        return False


# -- submissions -----------------------------------------------------------------------
def _submission_kit() -> Tuple[Callable[[Any], Optional[str]],
                               Callable[[OnSubmit], Optional[Undo]]]:
    """(task_id_of, wrap_submissions), built as nested functions so that the worker hook
    that uses them is pickled by value (workers need not have nbray)."""

    def task_id_of(result: Any) -> Optional[str]:
        """The id of the task that `.remote()` started, from what it returned."""
        import ray

        if isinstance(result, list) and result:
            result = result[0]
        if isinstance(result, ray.ObjectRef):
            return str(result.task_id().hex())
        if isinstance(result, ray.actor.ActorHandle):  # the actor's creation task
            from ray._raylet import TaskID

            return str(TaskID.for_actor_creation_task(result._ray_actor_id).hex())
        generator = getattr(ray, "ObjectRefGenerator", None)
        if generator is not None and isinstance(result, generator):  # streaming
            return str(result.completed().task_id().hex())
        return None

    def wrap_submissions(on_submit: OnSubmit) -> Optional[Undo]:
        """Wrap the three `_remote`s so each submission calls `on_submit(task id, name,
        kind)`; returns the undo, or None when a `_remote` is missing."""
        import functools

        try:
            from ray.actor import ActorClass, ActorMethod
            from ray.remote_function import RemoteFunction
        except Exception:
            return None
        targets = [(RemoteFunction, "task"), (ActorClass, "actor"), (ActorMethod, "method")]
        found = [cls.__dict__.get("_remote") for cls, _ in targets]
        originals: List[Callable[..., Any]] = [fn for fn in found if callable(fn)]
        if len(originals) != len(targets):
            return None
        state = {"on": True}

        def name_of(obj: Any, kind: str, options: Dict[str, Any]) -> str:
            try:
                if kind == "task":
                    return str(options.get("name") or obj._function.__name__)
                if kind == "actor":
                    return str(obj.__ray_metadata__.class_name)
                return str(obj._actor._ray_actor_creation_function_descriptor.class_name)
            except Exception:
                return ""

        def make(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
            @functools.wraps(original)
            def _remote(self: Any, *args: Any, **kwargs: Any) -> Any:
                result = original(self, *args, **kwargs)
                if state["on"]:
                    try:
                        task_id = task_id_of(result)
                        if task_id is not None:
                            on_submit(task_id, name_of(self, kind, kwargs), kind)
                    except Exception:  # attribution is best effort, never the user's error
                        pass
                return result

            return _remote

        wrappers = [make(fn, kind) for fn, (_, kind) in zip(originals, targets)]
        for (cls, _), wrapper in zip(targets, wrappers):
            setattr(cls, "_remote", wrapper)

        def undo() -> None:
            state["on"] = False  # a wrapper someone wrapped again stays harmless
            for (cls, _), wrapper, original in zip(targets, wrappers, originals):
                if cls.__dict__.get("_remote") is wrapper:
                    setattr(cls, "_remote", original)

        return undo

    return task_id_of, wrap_submissions


task_id_of, wrap_submissions = _submission_kit()


# -- the workers' setup hook -----------------------------------------------------------
def worker_setup_hook(user_hook: Any = None) -> Callable[[], None]:
    """The job's `worker_process_setup_hook`: marks each task's output with its task id,
    links nested submissions to their parent, then runs the user's own hook (a callable
    or "module.function"), whose errors fail the worker as they would without nbray."""
    _, wrap = _submission_kit()
    sep, task_marker, link_marker = MARKER_SEP, TASK_MARKER, LINK_MARKER
    ray_markers = (":task_name:", ":actor_name:", ":job_id:")

    def install() -> None:
        import sys
        import threading as _threading

        import ray

        worker = ray._private.worker.global_worker
        if worker.mode != ray.WORKER_MODE:
            return  # spill/restore workers run no tasks (and get_task_id would warn)
        # The task that last started or wrote in this process.  A thread that a task
        # started has a placeholder task id of its own (and no task name): its output
        # is the task's.  Ray writes its `:task_name:` line on the task's own thread.
        last: Dict[str, Any] = {"id": None, "name": ""}

        def current() -> Any:
            """The running thread's TaskID, None outside a task (0.3 us; the public
            get_task_id() takes 1.3 us and would be paid at each task's start)."""
            try:
                task_id = worker.current_task_id
                return None if task_id.is_nil() else task_id
            except Exception:
                return None

        def task_name() -> str:
            try:
                return ray.get_runtime_context().get_task_name() or ""
            except Exception:
                return ""

        def task_now() -> Any:
            """The task whose output a write is: this thread's, or for a thread the task
            started (or no task at all), the task that last ran here."""
            task_id = current()
            if task_id is None or task_id == last["id"]:
                return last["id"] if task_id is None else task_id
            name = task_name()
            if not name:
                return last["id"]
            last["id"], last["name"] = task_id, name
            return task_id

        class MarkedStream:
            """sys.stdout/sys.stderr of a worker: a task's first write is preceded by
            its marker line (Ray's own `:task_name:` line resets the log monitor, so the
            next write marks again)."""

            def __init__(self, inner: Any) -> None:
                self._inner = inner
                self._marked: Any = None  # the TaskID last marked on this stream
                self._line_start = True
                self._lock = _threading.Lock()
                self._busy = _threading.local()

            def write(self, text: str) -> int:
                # a write from inside a write (a warning logged while marking) goes
                # straight through: the lock is not taken twice
                if not text or getattr(self._busy, "on", False):
                    return self._inner.write(text)
                with self._lock:
                    self._busy.on = True
                    try:
                        return self._marked_write(text)
                    finally:
                        self._busy.on = False

            def _marked_write(self, text: str) -> int:
                if text.startswith(ray_markers):  # Ray's own line at a task's start
                    self._marked = None
                    task_id = current()
                    if task_id is not None and task_id != last["id"]:
                        if text.startswith(":task_name:"):
                            last["id"], last["name"] = task_id, text[11:].strip()
                        elif task_name():
                            last["id"], last["name"] = task_id, task_name()
                else:
                    task_id = task_now()
                    if task_id is not None and task_id != self._marked:
                        lead = "" if self._line_start else "\n"
                        self._inner.write(
                            f"{lead}{task_marker}{last['name']}{sep}{task_id.hex()}\n")
                        self._marked = task_id
                written = self._inner.write(text)
                self._line_start = text.endswith("\n")
                return written

            def link(self, child: str, parent: str) -> None:
                with self._lock:
                    lead = "" if self._line_start else "\n"
                    self._inner.write(f"{lead}{link_marker}{child} {parent}\n")
                    self._line_start = True
                    self._inner.flush()

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        out = MarkedStream(sys.stdout)
        sys.stdout = out
        sys.stderr = MarkedStream(sys.stderr)

        def on_submit(child: str, name: str, kind: str) -> None:
            parent = task_now()
            if parent is not None:
                out.link(child, parent.hex())

        wrap(on_submit)

    def nbray_worker_setup() -> None:
        try:
            install()
        except Exception:  # a worker without markers still runs: its output goes by name
            pass
        if callable(user_hook):
            user_hook()
        elif isinstance(user_hook, str) and user_hook:
            import importlib

            module, _, func = user_hook.rpartition(".")
            getattr(importlib.import_module(module), func)()

    nbray_worker_setup.__name__ = HOOK_NAME
    return nbray_worker_setup


# -- ray.init --------------------------------------------------------------------------
def _injected_hook() -> bool:
    """True when a job submission already set a setup hook (ours would conflict)."""
    import json

    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if os.environ.get("__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"):
        return True
    if not raw:
        return False
    try:
        return bool((json.loads(raw).get("runtime_env") or {}).get("worker_process_setup_hook"))
    except Exception:
        return True


def with_worker_hook(kwargs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """`ray.init`'s keyword arguments with nbray's setup hook merged into the runtime_env
    (chaining the user's hook), or None when it cannot be added (Ray Client address, a
    job submission's own hook)."""
    address = kwargs.get("address") or os.environ.get("RAY_ADDRESS") or ""
    if str(address).startswith("ray://") or _injected_hook():
        return None
    runtime_env = kwargs.get("runtime_env")
    job_config = kwargs.get("job_config")
    if runtime_env is None and job_config is not None:
        runtime_env = getattr(job_config, "runtime_env", None)
    merged = dict(runtime_env or {})
    merged["worker_process_setup_hook"] = worker_setup_hook(
        merged.get("worker_process_setup_hook"))
    return {**kwargs, "runtime_env": merged}


def wrap_init(after_init: Callable[[bool], None]) -> Optional[Undo]:
    """Make `ray.init` add nbray's worker hook; `after_init(hooked)` runs after each
    successful init (hooked: the job's workers print markers).  None: cannot wrap."""
    import functools

    try:
        import ray
    except Exception:
        return None
    original = getattr(ray, "init", None)
    if not callable(original):
        return None
    lock = threading.Lock()

    @functools.wraps(original)
    def init(address: Optional[str] = None, **kwargs: Any) -> Any:
        if address is not None:
            kwargs["address"] = address
        try:
            hooked = None if ray.is_initialized() else with_worker_hook(kwargs)
        except Exception:  # an odd runtime_env: start Ray as asked, output goes by name
            hooked = None
        with lock:
            if hooked is None:
                result = original(**kwargs)
            else:
                try:
                    result = original(**hooked)
                except Exception:
                    if ray.is_initialized():
                        raise
                    hooked = None  # the hook was the problem: start Ray as asked
                    result = original(**kwargs)
        try:
            after_init(hooked is not None or job_has_worker_hook())
        except Exception:
            pass
        return result

    ray.init = init

    def undo() -> None:
        if getattr(ray, "init", None) is init:
            ray.init = original

    return undo


# -- object store figures --------------------------------------------------------------
def store_stats(timeout_s: float = 5.0) -> Optional[Dict[str, Dict[str, int]]]:
    """Per alive node (id hex): store_used, store_capacity, spilled_bytes_total,
    spilled_objects_total, restored_bytes_total, from each raylet's GetNodeStats RPC.
    None when Ray is not connected or the private RPC is unavailable; a node that does not
    answer in `timeout_s` is left out."""
    if check_version() is not None or not ray_connected():
        return None
    try:
        import ray
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import node_manager_pb2, node_manager_pb2_grpc
    except Exception:
        return None
    stats: Dict[str, Dict[str, int]] = {}
    try:
        nodes: List[Dict[str, Any]] = [n for n in ray.nodes() if n.get("Alive")]
    except Exception:
        return None
    for node in nodes:
        channel = None
        try:
            channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
            stub = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
            reply = stub.GetNodeStats(
                node_manager_pb2.GetNodeStatsRequest(  # type: ignore[attr-defined]
                    include_memory_info=False),
                timeout=timeout_s)
            store = reply.store_stats
            stats[str(node["NodeID"])] = {
                "store_used": int(store.object_store_bytes_used),
                "store_capacity": int(store.object_store_bytes_avail),
                "spilled_bytes_total": int(store.spilled_bytes_total),
                "spilled_objects_total": int(store.spilled_objects_total),
                "restored_bytes_total": int(store.restored_bytes_total),
            }
        except AttributeError:
            return None  # the RPC or its fields changed: the feature is off
        except Exception:
            continue  # this node did not answer
        finally:
            if channel is not None:
                try:
                    channel.close()
                except Exception:
                    pass
    return stats
