"""The Ray conformance suite: the same test code runs on nbray and, when it is installed, on Ray.

Every test takes the `ray` fixture: the module under test (`nbray`, or `ray` itself), with a
running cluster.  Tests are written as a Ray user writes code (`@ray.remote`, `ray.get`,
`ray.exceptions.X`, `ray.util.Y`) and assert only what the public API lets a program observe,
so a test that passes on Ray and fails on nbray is an nbray bug.

Clusters are expensive on Ray (4-15 s to start here), so one cluster per backend serves a whole
module (`ray`); a test that needs other `init()` arguments takes `ray_fresh`, a cluster of its
own, and names the arguments with the `init` marker:

    @pytest.mark.init(num_cpus=4)
    def test_x(ray_fresh): ...

Each Ray run gets its own temporary directory, so it never joins another cluster on the
machine, and no usage statistics are sent.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import tempfile
import threading
from types import ModuleType
from typing import Any, Dict, Iterator, List

import psutil
import pytest

import nbray
from tests import conftest as root_conftest
from tests._support import poll_for

MiB = 2**20
CLUSTER = {"num_cpus": 2, "object_store_memory": 256 * MiB}
PROCESS_TIMEOUT = 5.0
RAY_CLUSTER_TIMEOUT = 60.0   # Ray's processes exit after shutdown(), sometimes slowly

BACKENDS = ["nbray", "ray"]


def _ray_or_skip() -> ModuleType:
    try:
        return importlib.import_module("ray")
    except ImportError as e:  # pragma: no cover - the test extra installs Ray
        pytest.skip(f"Ray is not installed here ({e}); the nbray half of the suite still runs")


def _backend_module(name: str) -> ModuleType:
    return nbray if name == "nbray" else _ray_or_skip()


def _start(module: ModuleType, options: Dict[str, Any], tmp: str) -> None:
    if module is nbray:
        nbray.init(**options)
        return
    os.environ["RAY_TMPDIR"] = tmp              # this run's own session directory
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Ray gives its raylet 10 s to register; a loaded 2-core machine can take longer.
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    # ray.init() replaces this process's SIGTERM handler with one that exits, and
    # shutdown() leaves it there: a stray SIGTERM would end the whole pytest run without a
    # summary.  Keep pytest's own.
    handler = signal.getsignal(signal.SIGTERM)
    try:
        module.init(include_dashboard=False, _temp_dir=tmp, **options)
    finally:
        signal.signal(signal.SIGTERM, handler)


def _stop(module: ModuleType) -> None:
    module.shutdown()


_active_sessions = 0


def _children() -> Dict[int, psutil.Process]:
    try:
        return {p.pid: p for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return {}


class _Session:
    """A running backend cluster.  When it stops, every process it started must be gone (and,
    for nbray, every thread): the root conftest's per-test checks are off while it runs."""

    def __init__(self, name: str, options: Dict[str, Any]) -> None:
        self.name = name
        self.module = _backend_module(name)
        self.options = options
        self.tmp = tempfile.mkdtemp(prefix=f"nbray-compat-{name}-")
        self.threads_before = set(threading.enumerate())
        self.children_before: set = set()

    def __enter__(self) -> ModuleType:
        global _active_sessions
        if self.module is nbray:
            assert not nbray.is_initialized(), "an nbray cluster is already running"
        self.children_before = set(_children())
        _start(self.module, self.options, self.tmp)
        _active_sessions += 1
        root_conftest._shared_cluster_active = True
        return self.module

    def __exit__(self, *exc: Any) -> None:
        global _active_sessions
        _active_sessions -= 1
        root_conftest._shared_cluster_active = _active_sessions > 0
        try:
            _stop(self.module)
        finally:
            problems = self._leaks()
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems and exc[0] is None:
            pytest.fail(f"leak check after the {self.name} cluster: " + " | ".join(problems),
                        pytrace=False)

    def _new_children(self) -> List[psutil.Process]:
        return [p for pid, p in _children().items() if pid not in self.children_before]

    def _leaks(self) -> List[str]:
        # Ray's raylet, GCS and workers wind down after shutdown(): give them longer.
        timeout = PROCESS_TIMEOUT if self.module is nbray else RAY_CLUSTER_TIMEOUT
        try:
            poll_for(lambda: not self._new_children(), timeout=timeout, interval=0.05,
                     msg=f"the {self.name} cluster's processes to exit")
            problems: List[str] = []
        except AssertionError:
            left = self._new_children()
            problems = [f"processes left running: {root_conftest._describe(left)}"]
            for p in left:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(left, timeout=5)
        if self.module is nbray and not problems:
            root_conftest._collect_garbage(quiet=False)
            problems += root_conftest._thread_leaks(self.threads_before)
        return problems


_shared: Dict[str, _Session] = {}


def _stop_shared(name: str) -> None:
    session = _shared.pop(name, None)
    if session is not None:
        session.__exit__(None, None, None)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Which system the module's tests run on now ("nbray" or "ray"); tests are grouped by it,
    so each module starts at most one shared cluster per backend."""
    name = request.param
    _backend_module(name)   # skip here, once, when Ray is missing
    try:
        yield name
    finally:
        _stop_shared(name)


@pytest.fixture
def ray(backend: str) -> ModuleType:
    """The backend under test, with a 2-CPU cluster shared by the module's tests."""
    session = _shared.get(backend)
    if session is None:
        session = _Session(backend, dict(CLUSTER))
        session.__enter__()
        _shared[backend] = session
    return session.module


@pytest.fixture
def ray_fresh(backend: str, request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The backend under test with a cluster of this test's own, started with the defaults
    updated by the test's `@pytest.mark.init(**kwargs)` (Ray allows one cluster per process,
    so the shared one stops first and starts again for the next test that needs it)."""
    _stop_shared(backend)
    options = dict(CLUSTER)
    marker = request.node.get_closest_marker("init")
    if marker is not None:
        options.update(marker.kwargs)
    with _Session(backend, options) as module:
        yield module


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "init(**kwargs): init() arguments for the ray_fresh fixture")


def is_nbray(module: ModuleType) -> bool:
    return module is nbray


# Ray emits its own warnings (deprecations, resource warnings of its sockets): they are Ray's
# business, not a conformance difference, so they do not fail the Ray half of the suite.
RAY_WARNING_FILTERS = [
    "ignore::DeprecationWarning",
    "ignore::PendingDeprecationWarning",
    "ignore::ResourceWarning",
    "ignore::FutureWarning",
    "ignore::UserWarning:ray.*",
    "ignore::pytest.PytestUnraisableExceptionWarning",
]


def pytest_collection_modifyitems(items: list) -> None:
    for item in items:
        if "ray_compat" in str(item.fspath):
            for f in RAY_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(f))

