"""Task specs and the one list of options accepted by @remote and .options()."""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List, Optional, Tuple

# option name -> (check, message).  The one source for @remote, .options() and actor options.
_TASK_OPTIONS = {
    "num_cpus", "num_gpus", "num_returns", "max_retries", "retry_exceptions", "resources",
    "name", "memory", "scheduling_strategy", "runtime_env", "max_calls", "accelerator_type",
    "_metadata", "placement_group", "num_return_vals", "_generator_backpressure_num_objects",
}
_ACTOR_OPTIONS = {
    "num_cpus", "num_gpus", "resources", "max_restarts", "max_task_retries", "max_concurrency",
    "name", "namespace", "lifetime", "get_if_exists", "memory", "scheduling_strategy",
    "runtime_env", "accelerator_type", "max_pending_calls", "concurrency_groups",
    "placement_group", "_metadata",
}
_METHOD_OPTIONS = {"num_returns", "max_task_retries", "retry_exceptions", "name",
                   "concurrency_group", "_generator_backpressure_num_objects"}

# num_returns of a generator function: its items arrive one by one ("streaming", Ray's
# default for generators) or all together in one object once it has finished ("dynamic").
GENERATOR_MODES = ("streaming", "dynamic")


def _non_negative_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def _check_common(opts: Dict[str, Any]) -> None:
    for key in ("num_cpus", "num_gpus", "memory"):
        if key in opts and opts[key] is not None:
            _non_negative_number(key, opts[key])
    if "resources" in opts and opts["resources"] is not None:
        res = opts["resources"]
        if not isinstance(res, dict):
            raise TypeError(f"resources must be a dict of name -> amount, got {type(res).__name__}")
        for k, v in res.items():
            if not isinstance(k, str):
                raise TypeError(f"resource names must be strings, got {k!r}")
            if k in ("CPU", "GPU"):
                raise ValueError(f"use num_cpus/num_gpus instead of resources={{{k!r}: ...}}")
            _non_negative_number(f"resources[{k!r}]", v)


def validate_task_options(opts: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Check option names and values; returns a normalized copy."""
    unknown = set(opts) - _TASK_OPTIONS
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}; "
                         f"valid options are {', '.join(sorted(_TASK_OPTIONS - {'num_return_vals'}))}")
    opts = dict(opts)
    if "num_return_vals" in opts:
        warnings.warn("num_return_vals is deprecated, use num_returns", DeprecationWarning,
                      stacklevel=4)
        opts.setdefault("num_returns", opts.pop("num_return_vals"))
    _check_common(opts)
    _check_generator_options(opts)
    if "max_retries" in opts:
        n = opts["max_retries"]
        if isinstance(n, bool) or not isinstance(n, int) or n < -1:
            raise ValueError(f"max_retries must be an integer >= -1 (-1: retry forever), got {n!r}")
    if opts.get("max_calls") is not None:
        n = opts["max_calls"]
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"max_calls must be None, 0 (no limit) or a positive integer, "
                            f"got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"max_calls must be None, 0 (no limit) or a positive integer, "
                             f"got {n!r}")
    if "retry_exceptions" in opts:
        r = opts["retry_exceptions"]
        if not (isinstance(r, bool) or (isinstance(r, (list, tuple)) and all(
                isinstance(c, type) and issubclass(c, BaseException) for c in r))):
            raise TypeError("retry_exceptions must be a bool or a list of exception classes")
    return opts


def validate_actor_options(opts: Dict[str, Any], where: str) -> Dict[str, Any]:
    unknown = set(opts) - _ACTOR_OPTIONS
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}; "
                         f"valid options are {', '.join(sorted(_ACTOR_OPTIONS))}")
    opts = dict(opts)
    _check_common(opts)
    for key, low in (("max_restarts", -1), ("max_task_retries", -1), ("max_concurrency", 1)):
        if key in opts:
            n = opts[key]
            if isinstance(n, bool) or not isinstance(n, int) or n < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {n!r}")
    if "lifetime" in opts and opts["lifetime"] not in (None, "detached", "non_detached"):
        raise ValueError(f"lifetime must be None, 'detached' or 'non_detached', got {opts['lifetime']!r}")
    if "name" in opts and opts["name"] is not None and not isinstance(opts["name"], str):
        raise TypeError(f"actor name must be a string, got {type(opts['name']).__name__}")
    if "namespace" in opts and opts["namespace"] is not None and not isinstance(opts["namespace"], str):
        raise TypeError(f"namespace must be a string, got {type(opts['namespace']).__name__}")
    return opts


def validate_method_options(opts: Dict[str, Any], where: str) -> Dict[str, Any]:
    unknown = set(opts) - _METHOD_OPTIONS
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}; "
                         f"valid options are {', '.join(sorted(_METHOD_OPTIONS))}")
    _check_generator_options(opts)
    return dict(opts)


def _check_generator_options(opts: Dict[str, Any]) -> None:
    if opts.get("num_returns") is not None:
        n = opts["num_returns"]
        if n == "dynamic":
            warnings.warn("num_returns='dynamic' is deprecated (as in Ray): use "
                          "num_returns='streaming'", DeprecationWarning, stacklevel=5)
        elif isinstance(n, bool) or not (isinstance(n, int) or n in GENERATOR_MODES) or (
                isinstance(n, int) and n < 0):
            raise ValueError(f"num_returns must be an integer >= 0, 'streaming' or 'dynamic' "
                             f"(for generator functions), got {n!r}")
    b = opts.get("_generator_backpressure_num_objects")
    if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b == 0):
        raise ValueError(f"_generator_backpressure_num_objects must be a non-zero integer "
                         f"(-1: no limit), got {b!r}")


def resolve_num_returns(opts: Dict[str, Any], is_generator: bool, where: str) -> Any:
    """The num_returns a call uses: the option, else "streaming" for a generator function
    (Ray's default) and 1 for anything else.  Raises ValueError for "streaming"/"dynamic"
    on a function that does not yield."""
    n = opts.get("num_returns")
    if n is None:
        return "streaming" if is_generator else 1
    if n in GENERATOR_MODES and not is_generator:
        raise ValueError(f"{where}: num_returns={n!r} can only be used with generator functions "
                         f"(functions that use 'yield'), and this one is not a generator function")
    return n


def resource_demand(opts: Dict[str, Any], default_cpus: float = 1) -> Dict[str, float]:
    cpus = opts.get("num_cpus")
    demand = {"CPU": float(default_cpus if cpus is None else cpus)}
    if opts.get("num_gpus"):
        demand["GPU"] = float(opts["num_gpus"])
    for k, v in (opts.get("resources") or {}).items():
        demand[k] = float(v)
    return {k: v for k, v in demand.items() if v}


@dataclass
class TaskSpec:
    """Everything a node needs to run one task or actor call."""

    task_id: bytes
    name: str
    function_id: bytes                 # b"" for actor methods
    args: bytes                        # pickled (args, kwargs) with top-level refs as placeholders
    arg_refs: List[bytes]              # top-level refs, resolved before the task runs
    nested_refs: List[bytes]           # refs inside arguments, passed as refs (kept alive)
    return_ids: List[bytes]
    resources: Dict[str, float]
    max_retries: int = 3
    retry_exceptions: Any = False
    owner: str = "driver"
    actor_id: Optional[bytes] = None
    method: str = ""
    kind: str = "task"                 # "task" | "actor-create" | "actor-call"
    call_site: str = ""
    attempt: int = 0
    generator: str = ""                # "" | "streaming" | "dynamic": items sent as yielded
    args_ref: Optional[bytes] = None   # large by-value arguments, stored as this object
    tag: Any = None                    # whose work: a cell, "attached:<driver>#<cell>"; inherited
    parent: Optional[bytes] = None     # the task that submitted this one (recursive cancel)
    log_name: str = ""                 # name on output lines; "" means `name`
    backpressure: int = 0              # streaming generator: items ahead of the caller; 0: no limit
    max_calls: int = 0                 # runs per worker before it is replaced; 0: no limit
    gpu_ids: Optional[List[int]] = None  # set by the node when it places the task
    actor: Optional[ActorStart] = None   # kind == "actor-create" only

    def all_refs(self) -> Tuple[bytes, ...]:
        return tuple(self.arg_refs) + tuple(self.nested_refs)

    # A spec is pickled for every task (driver -> node -> worker): as one tuple of field
    # values, without the key strings a pickled __dict__ repeats each time.
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return _rebuild_spec, _spec_values(self)


@dataclass
class ActorStart:
    """What a worker needs to become an actor (set at submit and at each (re)start)."""

    name: Optional[str] = None           # the actor's name (get_actor_name)
    is_async: bool = False
    max_concurrency: int = 1
    restarts: int = 0                    # restarts so far (was_current_actor_reconstructed)
    handle_info: Optional[Dict[str, Any]] = None


_SPEC_FIELDS = tuple(f.name for f in fields(TaskSpec))
_spec_values: Callable[[TaskSpec], Tuple[Any, ...]] = operator.attrgetter(*_SPEC_FIELDS)


def _rebuild_spec(*values: Any) -> TaskSpec:
    spec = TaskSpec.__new__(TaskSpec)
    spec.__dict__.update(zip(_SPEC_FIELDS, values))
    return spec
