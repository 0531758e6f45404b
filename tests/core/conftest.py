"""The pure core's tests: no process, thread or shared memory may appear.

This replaces the suite-wide leak check (which polls and collects garbage for
tests that run real clusters) with a cheap one, so this tier runs in seconds.
"""

from __future__ import annotations

import threading
from typing import Iterator

import psutil
import pytest


@pytest.fixture(autouse=True)
def check_leaks() -> Iterator[None]:
    me = psutil.Process()
    children_before = {p.pid for p in me.children(recursive=True)}
    threads_before = set(threading.enumerate())
    yield
    started = [p for p in me.children(recursive=True) if p.pid not in children_before]
    threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert not started, f"a core test started processes: {started}"
    assert not threads, f"a core test started threads: {threads}"
