"""Helpers for the memory tests: deterministic data, store and spill-target inspection."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

import nbray
from nbray import api
from nbray.runtime import context
from tests._support import poll_for

MiB = 2**20


def make_array(seed: int, size: int) -> np.ndarray:
    """`size` random bytes, the same for the same seed (to check bit-exact round trips)."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def node() -> Any:
    state = context.current_driver()
    assert state is not None and state.node is not None, "no local cluster is running"
    return state.node


def counts() -> Dict[str, Dict[str, Any]]:
    """nbray.reference_counts() (which also applies the driver's pending ref drops)."""
    return nbray.reference_counts()


def store_used() -> int:
    counts()  # drain deferred frees first: store_stats() does not
    return node().store_stats()["used"]


def store_stats() -> Dict[str, int]:
    counts()
    return node().store_stats()


def memory(**kwargs: Any) -> Any:
    """The memory API.  nbray.api.memory is the function nbray.memory re-exports
    (test_nbray_memory_is_the_function checks the re-export itself)."""
    return api.memory(**kwargs)


def row_of(ref_or_hex: Any, **kwargs: Any) -> Optional[Dict[str, Any]]:
    """The memory() row of one object (None if it is not in the table)."""
    hexid = ref_or_hex if isinstance(ref_or_hex, str) else ref_or_hex.hex()
    summary = memory(filter=hexid, limit=None, **kwargs)
    rows = [r for r in summary.objects if r["object_id"] == hexid]
    return rows[0] if rows else None


def spill_dir() -> str:
    """The private directory of a local spill target."""
    spill = node().spill
    assert hasattr(spill, "directory"), f"not a local spill target: {spill.url}"
    return spill.directory


def spill_files() -> List[str]:
    d = spill_dir()
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def wait_freed(*hexids: str, timeout: float = 30.0) -> None:
    """Wait until none of the objects is in the table any more."""
    poll_for(lambda: not (set(hexids) & set(counts())), timeout=timeout,
             msg=f"objects {', '.join(h[:12] for h in hexids)} to be freed")


def wait_store_used(expected: int, timeout: float = 30.0) -> None:
    """Wait until the store's used bytes are `expected` (workers release mappings
    asynchronously, a moment after their task returns)."""
    poll_for(lambda: store_used() == expected, timeout=timeout,
             msg=f"store used to be {expected} bytes (now {store_used()})")
