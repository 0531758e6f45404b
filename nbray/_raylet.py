"""`ray._raylet` names that user code imports or type-hints (`ray._raylet.ObjectRef`).

Ray's `_raylet` is its compiled core; here it only re-exports the public classes that
programs reach through that path, so `import nbray._raylet` and annotations keep working.
"""

from __future__ import annotations

from .ids import ActorID, BaseID, JobID, NodeID, TaskID
from .runtime.object_ref import ObjectRef

ObjectID = ObjectRef

__all__ = ["ActorID", "BaseID", "JobID", "NodeID", "ObjectID", "ObjectRef", "TaskID"]
