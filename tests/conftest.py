"""Fixtures for nbray's tests: clusters, and a leak check after every test.

After each test, no child process, no new /dev/shm entry and no new
non-daemon (or nbray) thread may be left.  Tests that share one module-scoped
cluster (`shared_cluster`) are checked for processes and threads when that
cluster shuts down at the end of the module instead.  Don't mix
`shared_cluster` with `cluster`/`make_cluster` in one module.
"""

from __future__ import annotations

import gc
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List

import psutil
import pytest

import nbray
from tests._support import dev_shm_entries, poll_for

# Tests that start heads and nodes give each its own cluster directory through TMPDIR; a
# developer's XDG_RUNTIME_DIR would take precedence and make them share the real one.
os.environ.pop("XDG_RUNTIME_DIR", None)
os.environ.pop("NBRAY_STATE_DIR", None)

MiB = 2**20
DEFAULT_CLUSTER = {"num_cpus": 2, "object_store_memory": 256 * MiB}
LEAK_TIMEOUT = 5.0
PROCESS_LEAK_TIMEOUT = 3.0  # shutdown() reaps its workers itself: this is only slack

_shared_cluster_active = False


@dataclass
class Cluster:
    """A running local cluster as the tests see it."""

    context: Any
    options: dict

    @property
    def node(self) -> Any:
        state = nbray.runtime.context.current_driver()
        assert state is not None and state.node is not None, "the cluster is not running"
        return state.node

    def worker_pids(self) -> List[int]:
        return self.node.worker_pids()

    def entry(self, ref: nbray.ObjectRef) -> Any:
        """The object table entry of `ref` (None once the object is freed)."""
        with self.node.lock:
            return self.node.table.entries.get(ref.binary())


# -- leak checks ----------------------------------------------------------------------
def _leftover_children() -> List[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _describe(procs: List[psutil.Process]) -> str:
    out = []
    for p in procs:
        try:
            out.append(f"pid {p.pid} ({p.status()}): {' '.join(p.cmdline())[:200]}")
        except psutil.Error:
            out.append(f"pid {p.pid} (gone)")
    return "; ".join(out)


def _process_leaks() -> List[str]:
    try:
        poll_for(lambda: not _leftover_children(), timeout=PROCESS_LEAK_TIMEOUT,
                 msg="no child processes")
        return []
    except AssertionError:
        procs = _leftover_children()
        if not procs:
            return []
        text = _describe(procs)
        for p in procs:  # don't let one test's leak fail every later test
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=5)
        return [f"child processes left running: {text}"]


def _suspect_threads(before: set) -> List[threading.Thread]:
    return [t for t in threading.enumerate()
            if t not in before and t.is_alive()
            and (not t.daemon or (t.name.startswith("nbray-") and t.name != "nbray-future"))]


def _thread_leaks(before: set) -> List[str]:
    try:
        poll_for(lambda: not _suspect_threads(before), timeout=LEAK_TIMEOUT,
                 msg="no leftover threads")
        return []
    except AssertionError:
        left = _suspect_threads(before)
        return [f"threads left running: {[t.name for t in left]}"] if left else []


def _shm_leaks(before: set) -> List[str]:
    try:
        poll_for(lambda: not (dev_shm_entries() - before), timeout=LEAK_TIMEOUT,
                 msg="no new /dev/shm entries")
        return []
    except AssertionError:
        new = dev_shm_entries() - before
        return [f"new files in /dev/shm: {sorted(new)}"] if new else []


def _collect_garbage(quiet: bool) -> None:
    """Collect now, so an unclosed socket or Popen warns in the test that dropped it.

    After a process leak (already reported), their ResourceWarnings are only noise.
    """
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def check_leaks() -> Iterator[None]:
    """Fail the test (at teardown) if it leaves processes, /dev/shm files or threads."""
    shm_before = dev_shm_entries()
    threads_before = set(threading.enumerate())
    yield
    problems: List[str] = []
    if not _shared_cluster_active:
        if nbray.is_initialized():
            nbray.shutdown()  # a test that failed half-way; its failure is reported already
        leaked = _process_leaks()
        _collect_garbage(quiet=bool(leaked))
        problems += leaked
        problems += _thread_leaks(threads_before)
    problems += _shm_leaks(shm_before)
    if problems:
        pytest.fail("leak check: " + " | ".join(problems), pytrace=False)


# -- clusters -------------------------------------------------------------------------
@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    """Factory: `make_cluster(**init_kwargs)` starts a cluster, shut down after the test.

    Defaults: num_cpus=2, object_store_memory=256 MiB.
    """
    assert not _shared_cluster_active, "don't mix shared_cluster with make_cluster in one module"

    def factory(**overrides: Any) -> Cluster:
        assert not nbray.is_initialized(), "a cluster is already running"
        options = {**DEFAULT_CLUSTER, **overrides}
        context = nbray.init(**options)
        return Cluster(context, options)

    try:
        yield factory
    finally:
        nbray.shutdown()


@pytest.fixture
def cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    """A fresh 2-CPU cluster with a 256 MiB store for this test only."""
    return make_cluster()


@pytest.fixture(scope="module")
def shared_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """One cluster for a whole module of read-only tests.

    Override init() arguments with indirect parametrization:
    `@pytest.mark.parametrize("shared_cluster", [{"num_cpus": 1}], indirect=True)`.
    Processes and threads are checked when it shuts down, after the module's last test.
    """
    global _shared_cluster_active
    assert not nbray.is_initialized(), "a cluster is already running"
    threads_before = set(threading.enumerate())
    options = {**DEFAULT_CLUSTER, **getattr(request, "param", {})}
    context = nbray.init(**options)
    _shared_cluster_active = True
    try:
        yield Cluster(context, options)
    finally:
        _shared_cluster_active = False
        nbray.shutdown()
    leaked = _process_leaks()
    _collect_garbage(quiet=bool(leaked))
    problems = leaked + _thread_leaks(threads_before)
    if problems:
        pytest.fail("leak check after the shared cluster: " + " | ".join(problems), pytrace=False)
