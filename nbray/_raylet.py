"""`ray._raylet` names that Ray programs import directly: ObjectRef and the generator classes.

Ray keeps these in its compiled `_raylet` module; code written for Ray sometimes imports
them from there (`from ray._raylet import ObjectRefGenerator`), so `nbray._raylet` offers
the same names.
"""

from __future__ import annotations

from .runtime.generators import (DynamicObjectRefGenerator, ObjectRefGenerator,
                                 StreamingObjectRefGenerator)
from .runtime.object_ref import ObjectRef

__all__ = ["DynamicObjectRefGenerator", "ObjectRef", "ObjectRefGenerator",
           "StreamingObjectRefGenerator"]
