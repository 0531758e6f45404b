"""The joblib backend (`ray.util.joblib.register_ray`) on nbray and on Ray.

joblib is an optional dependency of both: without it these tests are skipped.
"""

from __future__ import annotations

import importlib
import os

import pytest

joblib = pytest.importorskip("joblib", reason="joblib is not installed (pip install joblib)")


@pytest.fixture(scope="module", autouse=True)
def _stop_joblib_resource_tracker(backend):
    """Ray's backend runs on joblib's multiprocessing pool, which starts joblib's (loky's)
    resource tracker process in the driver; it would outlive the module's cluster and fail
    the harness's process-leak check, so it is stopped first.  nbray starts none."""
    yield
    try:
        from joblib.externals.loky.backend import resource_tracker
    except ImportError:  # pragma: no cover - a joblib without loky
        return
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def _square_and_pid(x):
    return x * x, os.getpid()


def _fail_on_five(x):
    if x == 5:
        raise LookupError("five")
    return x


def _register(ray):
    importlib.import_module(f"{ray.__name__}.util.joblib").register_ray()


def test_parallel_runs_in_other_processes(ray):
    _register(ray)
    with joblib.parallel_backend("ray"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(_square_and_pid)(i) for i in range(10))
    assert [v for v, _ in out] == [i * i for i in range(10)]
    assert os.getpid() not in {pid for _, pid in out}


def test_all_cpus_and_many_small_calls(ray):
    _register(ray)
    with joblib.parallel_backend("ray", n_jobs=-1):
        out = joblib.Parallel()(joblib.delayed(pow)(i, 2) for i in range(500))
    assert out == [i ** 2 for i in range(500)]


def test_an_error_re_raises_as_the_original_exception(ray):
    _register(ray)
    with joblib.parallel_backend("ray"):
        with pytest.raises(LookupError, match="five"):
            joblib.Parallel(n_jobs=2)(joblib.delayed(_fail_on_five)(i) for i in range(10))
        # The backend is still usable after an error.
        assert joblib.Parallel(n_jobs=2)(joblib.delayed(_fail_on_five)(i) for i in range(3)) \
            == [0, 1, 2]


def test_lambdas_and_closures_are_shipped(ray):
    _register(ray)
    offset = 100
    with joblib.parallel_backend("ray"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(lambda x: x + offset)(i) for i in range(4))
    assert out == [100, 101, 102, 103]
