"""`ray._raylet` names that Ray programs import or type-hint directly: ObjectRef, the id
classes and the generator classes.

Ray keeps these in its compiled `_raylet` module; code written for Ray sometimes imports
them from there (`from ray._raylet import ObjectRefGenerator`, `ray._raylet.ObjectRef` in
annotations), so `nbray._raylet` offers the same names.
"""

from __future__ import annotations

from .ids import ActorID, BaseID, JobID, NodeID, TaskID
from .runtime.generators import (DynamicObjectRefGenerator, ObjectRefGenerator,
                                 StreamingObjectRefGenerator)
from .runtime.object_ref import ObjectRef

ObjectID = ObjectRef

__all__ = ["ActorID", "BaseID", "DynamicObjectRefGenerator", "JobID", "NodeID", "ObjectID",
           "ObjectRef", "ObjectRefGenerator", "StreamingObjectRefGenerator", "TaskID"]
