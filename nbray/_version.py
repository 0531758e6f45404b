"""nbray's version, in a module of its own so the facade can read it without importing the
package `__init__` (which imports the facade)."""

from __future__ import annotations

__version__ = "0.1.0"
