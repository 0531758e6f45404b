"""`nbray.util`, as `ray.util`: helpers built on the core API.

`ActorPool`, `as_completed`, `map_unordered`, `list_named_actors`, `get_node_ip_address`
and `inspect_serializability` are here; the submodules `queue` (`Queue`), `multiprocessing`
(`Pool`) and `joblib` (`register_ray`) load on first use, so `import nbray` stays cheap and
never imports joblib.
"""

from __future__ import annotations

import importlib
import socket
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Union

from ..cluster_info import list_actors
from ..object_api import get, wait
from ..runtime import context
from .actor_pool import ActorPool
from .check_serialize import inspect_serializability

__all__ = ["ActorPool", "as_completed", "get_node_ip_address", "inspect_serializability",
           "joblib", "list_named_actors", "map_unordered", "multiprocessing", "queue"]

_SUBMODULES = ("queue", "multiprocessing", "joblib", "actor_pool", "check_serialize")


def __getattr__(name: str) -> Any:
    # `ray.util.queue.Queue` works after a bare `import ray` in Ray for the modules Ray
    # imports eagerly; here every submodule resolves on first access instead.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_node_ip_address() -> str:
    """The IP address other machines would use to reach this node (127.0.0.1 offline).

    As Ray does, this asks the operating system which local address would route to a public
    address; a UDP `connect` sends no packet.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("8.8.8.8", 80))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def list_named_actors(all_namespaces: bool = False) -> List[Union[str, Dict[str, str]]]:
    """The names of the live named actors (of the current namespace by default).

    With `all_namespaces=True`, one `{"name": ..., "namespace": ...}` dict per actor.
    """
    rows = [r for r in list_actors() if r.get("name") and r.get("state") != "DEAD"]
    if all_namespaces:
        return [{"name": r["name"], "namespace": r["namespace"]} for r in rows]
    namespace = context.namespace()
    return [r["name"] for r in rows if r["namespace"] == namespace]


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be an int >= 1, got {chunk_size!r}")


def as_completed(refs: Sequence[Any], *, chunk_size: int = 10, yield_obj_refs: bool = False,
                 **wait_kwargs: Any) -> Iterator[Any]:
    """Yield the values of `refs` as they finish, fetching up to `chunk_size` at a time.

    With `yield_obj_refs=True`, the ready refs themselves are yielded instead of their values.
    Other keywords (`timeout`, `fetch_local`) go to each `wait()`.
    """
    _check_chunk_size(chunk_size)
    if "num_returns" in wait_kwargs:
        raise ValueError("as_completed() takes `chunk_size`, not `num_returns`")
    pending = list(refs)
    while pending:
        ready, pending = wait(pending, num_returns=min(chunk_size, len(pending)),
                              **wait_kwargs)
        yield from (ready if yield_obj_refs else get(ready))


def map_unordered(fn: Any, items: Iterable[Any], *, backpressure_size: Union[int, None] = 100,
                  chunk_size: int = 10, yield_obj_refs: bool = False,
                  **wait_kwargs: Any) -> Iterator[Any]:
    """Run the remote function `fn` on each item, yielding results as they finish.

    At most `backpressure_size` calls are in flight at once (None: no limit), so a long
    `items` iterator is consumed lazily.
    """
    if backpressure_size is not None and backpressure_size <= 0:
        raise ValueError(f"backpressure_size must be positive or None, got {backpressure_size}")
    _check_chunk_size(chunk_size)
    if "num_returns" in wait_kwargs:
        raise ValueError("map_unordered() takes `chunk_size`, not `num_returns`")
    limit = float("inf") if backpressure_size is None else backpressure_size
    pending: List[Any] = []
    for item in items:
        pending.append(fn.remote(item))
        if len(pending) >= limit:
            ready, pending = wait(pending, num_returns=min(chunk_size, len(pending)),
                                  **wait_kwargs)
            yield from (ready if yield_obj_refs else get(ready))
    yield from as_completed(pending, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs,
                            **wait_kwargs)
