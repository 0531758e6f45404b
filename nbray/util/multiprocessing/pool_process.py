"""What runs inside a Pool's actors: the pool process class and how a failed call comes back.

A chunk of calls returns one entry per call; a call that raised returns a `CallFailure`
in place of its value, so the rest of the chunk still counts and the caller re-raises the
error as itself, with the remote traceback as its `__cause__` (multiprocessing's
RemoteTraceback).
"""

from __future__ import annotations

import os
import traceback
from multiprocessing.pool import RemoteTraceback  # type: ignore[attr-defined]  # not in typeshed
from typing import Any, Callable, List, Optional, Tuple

__all__ = ["Batch", "CallFailure", "PoolProcess", "failure_of"]

Batch = List[Tuple[tuple, dict]]   # one chunk: (args, kwargs) of each call


class CallFailure:
    """A call that raised, returned in place of its value (so the rest of the chunk counts)."""

    def __init__(self, error: BaseException, traceback_text: str) -> None:
        self.error = error
        self.traceback_text = traceback_text

    def rebuild(self) -> BaseException:
        error = self.error
        error.__cause__ = RemoteTraceback(self.traceback_text)
        return error


def failure_of(error: BaseException) -> CallFailure:
    """The CallFailure for `error`, being handled now (its traceback is taken here)."""
    text = traceback.format_exc()
    from ...serialization import SerializationError, serialize

    try:
        serialize(error, context="exception", out_of_band=False)
    except SerializationError:
        error = RuntimeError(f"{type(error).__name__}: {error} (the exception could not be "
                             f"pickled, so this RuntimeError stands for it)")
    return CallFailure(error, text)


class PoolProcess:
    """One process of a Pool: runs the initializer once, then chunks of calls."""

    def __init__(self, initializer: Optional[Callable[..., Any]], initargs: tuple) -> None:
        if initializer is not None:
            initializer(*initargs)

    def pid(self) -> int:
        return os.getpid()

    def run_batch(self, func: Callable[..., Any], batch: Batch) -> List[Any]:
        out: List[Any] = []
        for args, kwargs in batch:
            try:
                out.append(func(*args, **kwargs))
            except Exception as e:  # noqa: BLE001 - re-raised in the caller
                out.append(failure_of(e))
        return out
