"""`nbray.util.multiprocessing`, as `ray.util.multiprocessing`: a `Pool` whose processes are
actors, with the standard library's `multiprocessing.Pool` API.

`TimeoutError` and `JoinableQueue` are the standard library's, as Ray re-exports them.
"""

from __future__ import annotations

from multiprocessing import JoinableQueue, TimeoutError

from .pool import AsyncResult, IMapIterator, Pool

__all__ = ["AsyncResult", "IMapIterator", "JoinableQueue", "Pool", "TimeoutError"]
