"""nbray: Ray-style parallel computing built for notebooks first.

`import nbray as ray` runs the common Ray core API unchanged.
"""

from __future__ import annotations

from . import exceptions
from .api import (available_resources, cancel, cluster_resources, get, get_actor,
                  get_runtime_context, init, is_initialized, kill, list_actors, memory, method,
                  nodes, put, reference_counts, remote, shutdown, wait)
from .runtime.actor import ActorClass, ActorHandle
from .runtime.object_ref import ObjectRef

__version__ = "0.1.0"

__all__ = [
    "ActorClass", "ActorHandle", "ObjectRef", "available_resources", "cancel", "cluster_resources", "exceptions", "get",
    "get_actor", "get_runtime_context", "init", "is_initialized", "kill", "list_actors", "memory", "method", "nodes", "put", "reference_counts", "remote",
    "shutdown", "wait", "__version__",
]
