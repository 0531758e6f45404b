"""`ray.util.multiprocessing.Pool` on nbray and on Ray: the `multiprocessing.Pool` API.

A call that must still be running when the test looks blocks on a `Gate` actor, opened by
the test afterwards; nothing sleeps.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading

import pytest
from tests.ray_compat._helpers import Gate

_INITIALIZED = None


def _initialize(value):
    global _INITIALIZED
    _INITIALIZED = value


def _read_initialized(_):
    return _INITIALIZED


def _square(x):
    return x * x


def _fail_on_three(x):
    if x == 3:
        raise KeyError(f"three ({x})")
    return x


def _pid(_):
    return os.getpid()


def _pool_module(ray):
    return importlib.import_module(f"{ray.__name__}.util.multiprocessing")


def test_map_starmap_and_apply(ray):
    mp = _pool_module(ray)
    with mp.Pool() as pool:
        assert pool.map(_square, range(20)) == [x * x for x in range(20)]
        assert pool.map(_square, range(5), chunksize=1) == [0, 1, 4, 9, 16]
        assert pool.map(_square, range(5), chunksize=100) == [0, 1, 4, 9, 16]
        assert pool.map(_square, []) == []
        assert pool.map(lambda s: s.upper(), iter(["a", "b"])) == ["A", "B"]
        assert pool.starmap(pow, [(2, 3), (3, 2), (10, 0)]) == [8, 9, 1]
        assert pool.apply(divmod, (7, 2)) == (3, 1)
        assert pool.apply(int, ("ff",), {"base": 16}) == 255


def test_async_results(ray):
    mp = _pool_module(ray)
    with mp.Pool(2) as pool:
        r = pool.apply_async(_square, (7,))
        assert r.get(timeout=60) == 49
        assert r.ready() and r.successful()
        m = pool.map_async(_square, range(4))
        m.wait(timeout=60)
        assert m.ready() and m.get() == [0, 1, 4, 9]
        s = pool.starmap_async(max, [(1, 5), (7, 2)])
        assert s.get(timeout=60) == [5, 7]


def test_callbacks_run_before_get_returns(ray):
    mp = _pool_module(ray)
    seen = []
    with mp.Pool(2) as pool:
        pool.map_async(_square, range(3), callback=seen.append).get(timeout=60)
        pool.apply_async(_square, (5,), callback=seen.append).get(timeout=60)
        r = pool.apply_async(_fail_on_three, (3,), error_callback=seen.append)
        with pytest.raises(KeyError):
            r.get(timeout=60)
    # (Ray hands map_async's callback the values in the order chunks finished, nbray in
    # input order as multiprocessing does; both hold the same values.)
    assert sorted(seen[0]) == [0, 1, 4] and seen[1] == 25
    assert len(seen) == 3
    if ray.__name__ == "nbray":
        # multiprocessing hands error_callback the exception itself, and so does nbray;
        # Ray 2.60 hands it its internal PoolTaskError wrapper instead.
        assert isinstance(seen[2], KeyError)


def test_errors_re_raise_as_the_original_exception(ray):
    mp = _pool_module(ray)
    with mp.Pool(2) as pool:
        with pytest.raises(KeyError) as info:
            pool.map(_fail_on_three, range(6), chunksize=1)
        assert type(info.value) is KeyError  # not wrapped, as in multiprocessing
        with pytest.raises(KeyError):
            pool.apply(_fail_on_three, (3,))
        r = pool.map_async(_fail_on_three, range(6))
        r.wait(timeout=60)
        assert r.ready() and not r.successful()
        # The pool is still usable after errors.
        assert pool.map(_square, [3]) == [9]


def test_imap_in_order_and_unordered(ray):
    mp = _pool_module(ray)
    with mp.Pool(2) as pool:
        assert list(pool.imap(_square, range(10))) == [x * x for x in range(10)]
        assert list(pool.imap(_square, (x for x in range(10)), chunksize=3)) == \
            [x * x for x in range(10)]
        assert sorted(pool.imap_unordered(_square, range(10), chunksize=2)) == \
            [x * x for x in range(10)]
        assert list(pool.imap(_square, [])) == []


def test_get_timeout_and_not_ready_result(ray):
    mp = _pool_module(ray)
    gate = ray.remote(Gate).remote()
    backend = ray.__name__

    def blocked(x):
        importlib.import_module(backend).get(gate.wait.remote())
        return x

    with mp.Pool(2) as pool:
        r = pool.apply_async(blocked, (1,))
        with pytest.raises(multiprocessing.TimeoutError):
            r.get(timeout=0.2)
        assert not r.ready()
        with pytest.raises(ValueError):
            r.successful()  # not ready yet
        it = pool.imap(blocked, [2])
        with pytest.raises(multiprocessing.TimeoutError):
            it.next(timeout=0.2)
        ray.get(gate.open.remote())
        assert r.get(timeout=60) == 1
        assert it.next(timeout=60) == 2


def test_initializer_runs_in_every_process(ray):
    mp = _pool_module(ray)
    with mp.Pool(2, initializer=_initialize, initargs=("ready",)) as pool:
        assert pool.map(_read_initialized, range(8), chunksize=1) == ["ready"] * 8


def test_processes_bound_the_processes_used(ray):
    mp = _pool_module(ray)
    with mp.Pool(processes=1) as pool:
        assert len(set(pool.map(_pid, range(6), chunksize=1))) == 1
    with mp.Pool() as pool:  # default: one process per CPU of the cluster (2 here)
        assert 1 <= len(set(pool.map(_pid, range(6), chunksize=1))) <= 2


def test_maxtasksperchild_replaces_processes(ray):
    mp = _pool_module(ray)
    with mp.Pool(processes=1, maxtasksperchild=1) as pool:
        assert len(set(pool.map(_pid, range(3), chunksize=1))) == 3


def test_bad_process_counts_are_refused(ray):
    mp = _pool_module(ray)
    with pytest.raises(ValueError):
        mp.Pool(processes=0)
    with pytest.raises(ValueError):
        mp.Pool(processes=1000)   # more than the cluster's CPUs


def test_close_join_and_terminate(ray):
    mp = _pool_module(ray)
    pool = mp.Pool(2)
    with pytest.raises(ValueError):
        pool.join()               # still running
    pending = pool.map_async(_square, range(4))
    pool.close()
    with pytest.raises(ValueError):
        pool.map(_square, [1])    # closed: no new work
    pool.join()                   # waits for the submitted work
    assert pending.get(timeout=0) == [0, 1, 4, 9]

    pool = mp.Pool(1)
    pool.terminate()
    with pytest.raises(ValueError):
        pool.apply(_square, (2,))
    pool.join()

    with mp.Pool(1) as pool:
        assert pool.apply(_square, (3,)) == 9
    with pytest.raises(ValueError):
        pool.map(_square, [1])    # the with block terminated it


def test_callbacks_run_off_the_calling_thread(ray):
    mp = _pool_module(ray)
    threads = []
    with mp.Pool(1) as pool:
        pool.apply_async(_square, (2,),
                         callback=lambda _: threads.append(threading.get_ident())).get(60)
    assert threads and threads[0] != threading.get_ident()
