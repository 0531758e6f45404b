"""The one process-wide "current driver" slot: whom this process talks to the cluster through.

A driver's slot holds a `Driver` record (its client, namespace, job id, the node it runs
in-process or the cluster it attached to); init() fills it and shutdown() empties it.  A
worker process holds only its client (`set_client`, at start-up).  Everything else receives
its collaborators explicitly.

The runtime reads the slot through the functions below and never imports the facade
(`nbray.api`): the facade registers its `init` as the auto-init hook when it is imported,
so the first `.remote()` or `put()` of a program that never called init() starts a cluster,
as Ray does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional


@dataclass
class Driver:
    """What a driver is connected through (the facade's session, as the runtime sees it)."""

    client: Any
    namespace: str
    init_args: Dict[str, Any] = field(default_factory=dict)
    job_id: str = field(default_factory=lambda: os.urandom(4).hex())
    node: Any = None                       # the in-process head node (None when attached)
    config: Any = None
    state_server: Any = None               # serves `nbray memory` (a local cluster only)
    attached: Any = None                   # the AttachedDriver, when attached to a cluster
    head_server: Any = None                # set by `nbray start --head`: others join here
    address: Optional[str] = None          # the cluster's URL, when attached to one

    def cluster_address(self) -> Optional[str]:
        """The address other drivers and nodes join this cluster at (None: it serves none)."""
        if self.address is not None:
            return self.address
        if self.head_server is not None:
            return self.head_server.address
        return os.environ.get("NBRAY_ADDRESS") or None

    def node_id(self) -> str:
        if self.node is not None:
            return self.node.node_id
        if self.attached is not None:
            return self.attached.agent.node_id
        return getattr(self.client, "node_id", "")


# Two names, one slot: `_client` mirrors `_driver.client` in a driver (set together by
# set_driver) and is read on its own by the hot paths (every ObjectRef, every submit).
_client: Optional[Any] = None
_driver: Optional[Driver] = None
_auto_init: Optional[Callable[[], Any]] = None


def set_driver(driver: Optional[Driver]) -> None:
    """Install (or, with None, remove) this driver's connection."""
    global _client, _driver
    _driver = driver
    _client = driver.client if driver is not None else None


def set_client(client: Optional[Any]) -> None:
    """A worker process's client (a worker has no Driver record)."""
    global _client, _driver
    _driver = None
    _client = client


def current_client() -> Optional[Any]:
    return _client


def current_driver() -> Optional[Driver]:
    """This driver's connection, or None (not initialized, or a worker process)."""
    return _driver


def in_worker() -> bool:
    """Whether this is a worker process that is connected to its node."""
    return _client is not None and os.environ.get("NBRAY_WORKER") == "1"


def set_auto_init(hook: Optional[Callable[[], Any]]) -> None:
    """The function that starts a cluster on first use (the facade's init)."""
    global _auto_init
    _auto_init = hook


def client_or_init() -> Any:
    """The current client, starting a cluster first if there is none (as Ray does)."""
    client = _client
    if client is None:
        if _auto_init is None:
            raise RuntimeError("nbray is not initialized: call nbray.init() first")
        _auto_init()
        client = _client
    return client


def namespace() -> str:
    """The namespace named actors are created in and looked up in by default."""
    driver = _driver
    return driver.namespace if driver is not None else os.environ.get("NBRAY_NAMESPACE",
                                                                       "default")


def cluster_address() -> Optional[str]:
    driver = _driver
    if driver is not None:
        return driver.cluster_address()
    return os.environ.get("NBRAY_ADDRESS") or None


__all__ = ["Driver", "client_or_init", "cluster_address", "current_client", "current_driver",
           "in_worker", "namespace", "set_auto_init", "set_client", "set_driver"]
