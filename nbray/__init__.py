"""nbray: Ray-style parallel computing built for notebooks first.

`import nbray as ray` runs the common Ray core API unchanged.
"""

from __future__ import annotations

import cloudpickle  # `ray.cloudpickle`: the pickler that also handles closures and notebook classes

from . import _raylet, exceptions  # _raylet: Ray code imports ObjectRef etc. from there
from ._version import __version__
from .api import (available_resources, cancel, cluster_resources, get, get_actor,
                  get_runtime_context, init, is_initialized, kill, list_actors, memory, method,
                  nodes, put, reference_counts, remote, shutdown, wait)
from .api import get_gpu_ids, timeline
from .ids import ActorID, JobID, NodeID, TaskID
from .runtime.actor import ActorClass, ActorHandle
from .runtime.generators import DynamicObjectRefGenerator, ObjectRefGenerator
from .runtime.object_ref import ObjectRef
from . import actor, util  # noqa: E402 - after the API they use: `ray.actor`, `ray.util`

ObjectID = ObjectRef  # Ray's older name, still exported by Ray


def load_ipython_extension(shell):  # %load_ext nbray
    from .jupyter import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell):  # %unload_ext nbray
    from .jupyter import unload_ipython_extension as unload

    unload(shell)


def _jupyter_server_extension_points():  # `jupyter server extension enable nbray`
    return [{"module": "nbray.jupyter"}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "nbray-labextension"}]


def inspect(refresh_s: float = 1.0, page_size: int = 25):
    """A live widget of every object in the store (in a notebook)."""
    from .jupyter import inspect as _inspect

    return _inspect(refresh_s=refresh_s, page_size=page_size)

__all__ = [
    "ActorClass", "ActorHandle", "DynamicObjectRefGenerator", "ObjectRef", "ObjectRefGenerator",
    "actor", "available_resources", "cancel", "cloudpickle", "cluster_resources", "exceptions", "get",
    "get_actor", "get_runtime_context", "init", "is_initialized", "kill", "list_actors", "memory", "method", "nodes", "put", "reference_counts", "remote",
    "shutdown", "util", "wait", "__version__", "inspect", "load_ipython_extension",
    "unload_ipython_extension",
    "ActorID", "JobID", "NodeID", "ObjectID", "TaskID", "get_gpu_ids", "timeline",
]
