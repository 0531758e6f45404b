"""A local Ray for a test module: `local_ray(...)` starts it in a directory of its own and,
after the module, shuts it down and waits until every process it started has exited."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import tempfile
from typing import Any, Dict, Iterator, Optional, Set

import psutil

from tests import conftest as root_conftest
from tests._support import poll_for

RAY_EXIT_TIMEOUT = 60.0  # Ray's dashboard and agents take a while to go on a loaded machine


def _children() -> Set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


@contextlib.contextmanager
def local_ray(env: Optional[Dict[str, str]] = None, **init_args: Any) -> Iterator[Any]:
    """`ray.init(**init_args)` with `env` set while Ray starts (Ray reads its settings
    then); yields the ray module.  The per-test leak check is off meanwhile: Ray's
    processes belong to the module."""
    import ray

    before = _children()
    tmp = tempfile.mkdtemp(prefix="nbray-ray-test-")
    env = dict(env or {}, RAY_USAGE_STATS_ENABLED="0")
    saved = {k: os.environ.get(k) for k in env}
    handler = signal.getsignal(signal.SIGTERM)   # ray.init() replaces pytest's
    os.environ.update(env)
    try:
        ray.init(_temp_dir=tmp, **init_args)
    finally:
        signal.signal(signal.SIGTERM, handler)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    root_conftest._shared_cluster_active = True
    try:
        yield ray
    finally:
        root_conftest._shared_cluster_active = False
        gc.collect()  # no Ray ref may be freed after Ray's core worker is gone
        ray.shutdown()
        try:
            poll_for(lambda: not (_children() - before), timeout=RAY_EXIT_TIMEOUT,
                     interval=0.05, msg="Ray's processes to exit")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
