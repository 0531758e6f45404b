"""The Ray-compatible module-level API (the facade): what `nbray.<name>` calls.

It gathers the calls of three modules and defines the remote/actor ones itself:

- `nbray.lifecycle`: init(), shutdown(), is_initialized(); they fill and empty the
  runtime's one "current driver" slot (`nbray.runtime.context`);
- `nbray.object_api`: put(), get(), wait(), cancel();
- `nbray.cluster_info`: nodes(), resources, memory(), timeline(), the runtime context.

Importing it registers init() as the runtime's auto-init hook: the first `.remote()`,
`put()` or `get()` of a program that never called init() starts a cluster, as Ray does.
The runtime itself never imports this module.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .cluster_info import (available_resources, cluster_resources, cluster_summary,
                           get_gpu_ids, get_runtime_context, list_actors, memory, nodes,
                           reference_counts, timeline)
from .cluster_info import query as _query
from .lifecycle import ClusterContext, init, is_initialized, shutdown
from .object_api import NotObjectRefsError, cancel, get, put, wait
from .runtime import context
from .runtime.actor import ActorClass, ActorHandle
from .runtime.client import DriverClient  # noqa: F401 - importable from here, as before
from .runtime.generators import ObjectRefGenerator  # noqa: F401
from .runtime.object_ref import ObjectRef
from .runtime.remote_function import RemoteFunction
from .runtime_context import RuntimeContext  # noqa: F401

context.set_auto_init(init)


# =============================================================================
# remote functions and actors
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
        return ActorClass(target, options)
    return RemoteFunction(target, options)


def kill(actor: Any, *, no_restart: bool = True) -> None:
    """Kill an actor's process at once; pending calls raise ActorDiedError.

    With no_restart=False the actor restarts if its max_restarts allows.
    """
    if not isinstance(actor, ActorHandle):
        raise ValueError(f"kill() only supports actor handles (for tasks, use cancel()); "
                         f"got {type(actor).__name__}")
    context.client_or_init().kill_actor(actor._actor_id, bool(no_restart))


def get_actor(name: str, namespace: Optional[str] = None) -> Any:
    """A handle to the live actor registered under `name` (ValueError if there is none)."""
    if not name:  # ValueError as in Ray, for None as for ""
        raise ValueError(f"get_actor() needs a non-empty actor name, got {name!r}")
    if not isinstance(name, str):
        raise TypeError(f"get_actor() takes an actor name (a str), got {type(name).__name__}")
    ns = namespace or context.namespace()
    found = context.client_or_init().get_actor(name, ns)
    if found is None:
        raise ValueError(f"Failed to look up actor with name {name!r} in namespace {ns!r}: "
                         f"no live actor has that name")
    actor_id, info = found
    return ActorHandle(actor_id, info, ObjectRef(info["creation_object"]))


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

