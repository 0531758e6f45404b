"""`ray.util.ActorPool` on nbray and on Ray: ordering, waiting values, timeouts, errors.

Values that must finish late block on a `Gate` actor the test opens, so the order in which
results become ready is fixed without sleeping.
"""

from __future__ import annotations

import importlib

import pytest
from tests.ray_compat._helpers import Gate


class Doubler:
    def double(self, v, gate=None):
        if gate is not None:
            import importlib

            backend = importlib.import_module(self.backend)
            backend.get(gate.wait.remote())
        if v == "bad":
            raise ValueError("cannot double 'bad'")
        return 2 * v

    def __init__(self, backend):
        self.backend = backend


def _pool(ray, n=2):
    actor_pool = importlib.import_module(f"{ray.__name__}.util.actor_pool")
    actors = [ray.remote(Doubler).remote(ray.__name__) for _ in range(n)]
    return actor_pool.ActorPool(actors), actors


def test_util_exposes_actor_pool(ray):
    from_module = importlib.import_module(f"{ray.__name__}.util.actor_pool").ActorPool
    assert ray.util.ActorPool is from_module


def test_map_returns_results_in_order(ray):
    pool, _ = _pool(ray)
    results = pool.map(lambda a, v: a.double.remote(v), range(10))
    assert not isinstance(results, list)  # an iterator: results are taken as it advances
    assert list(results) == [2 * i for i in range(10)]
    assert not pool.has_next()


def test_map_unordered_returns_every_result(ray):
    pool, _ = _pool(ray)
    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(10))) == \
        [2 * i for i in range(10)]


def test_get_next_keeps_submission_order_when_a_later_value_finishes_first(ray):
    pool, _ = _pool(ray)
    gate = ray.remote(Gate).remote()
    pool.submit(lambda a, v: a.double.remote(v, gate), 1)   # blocked
    pool.submit(lambda a, v: a.double.remote(v), 2)         # finishes at once
    assert pool.get_next_unordered(timeout=60) == 4
    ray.get(gate.open.remote())
    assert pool.get_next_unordered(timeout=60) == 2
    assert not pool.has_next()

    gate = ray.remote(Gate).remote()
    pool.submit(lambda a, v: a.double.remote(v, gate), 3)
    pool.submit(lambda a, v: a.double.remote(v), 4)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.2)  # the first value is still blocked: it stays next
    ray.get(gate.open.remote())
    assert [pool.get_next(), pool.get_next()] == [6, 8]


def test_get_next_timeout_with_ignore_moves_past_the_value(ray):
    pool, _ = _pool(ray)
    gate = ray.remote(Gate).remote()
    pool.submit(lambda a, v: a.double.remote(v, gate), 1)
    pool.submit(lambda a, v: a.double.remote(v), 2)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.2, ignore_if_timedout=True)
    assert pool.get_next(timeout=60) == 4
    assert not pool.has_next()
    ray.get(gate.open.remote())


def test_get_next_unordered_times_out_when_nothing_is_ready(ray):
    pool, _ = _pool(ray, n=1)
    gate = ray.remote(Gate).remote()
    pool.submit(lambda a, v: a.double.remote(v, gate), 1)
    with pytest.raises(TimeoutError):
        pool.get_next_unordered(timeout=0.2)
    assert pool.has_next()
    ray.get(gate.open.remote())
    assert pool.get_next_unordered(timeout=60) == 2


def test_values_wait_for_a_free_actor(ray):
    pool, _ = _pool(ray, n=1)
    assert pool.has_free()
    for v in range(3):
        pool.submit(lambda a, v: a.double.remote(v), v)
    assert not pool.has_free()
    assert pool.pop_idle() is None   # the only actor is busy
    assert [pool.get_next() for _ in range(3)] == [0, 2, 4]
    assert pool.has_free()


def test_nothing_pending_raises_stop_iteration(ray):
    pool, _ = _pool(ray, n=1)
    assert not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()
    with pytest.raises(StopIteration):
        pool.get_next_unordered()


def test_get_next_after_out_of_order_results_is_refused(ray):
    pool, _ = _pool(ray)
    gate = ray.remote(Gate).remote()
    pool.submit(lambda a, v: a.double.remote(v, gate), 1)
    pool.submit(lambda a, v: a.double.remote(v), 2)
    assert pool.get_next_unordered(timeout=60) == 4  # the second value, out of order
    with pytest.raises(ValueError):
        pool.get_next()
    ray.get(gate.open.remote())
    assert pool.get_next_unordered(timeout=60) == 2


def test_an_error_re_raises_and_the_pool_keeps_working(ray):
    pool, _ = _pool(ray, n=1)
    pool.submit(lambda a, v: a.double.remote(v), "bad")
    pool.submit(lambda a, v: a.double.remote(v), 5)
    with pytest.raises(ValueError, match="cannot double"):
        pool.get_next()
    assert pool.get_next() == 10
    with pytest.raises(ray.exceptions.RayTaskError):
        list(pool.map(lambda a, v: a.double.remote(v), [1, "bad", 3]))


def test_pop_idle_and_push(ray):
    pool, actors = _pool(ray)
    taken = pool.pop_idle()
    assert taken in actors
    assert pool.pop_idle() is not None
    assert pool.pop_idle() is None and not pool.has_free()
    pool.submit(lambda a, v: a.double.remote(v), 21)   # waits: the pool is empty
    pool.push(taken)                                   # starts the waiting value
    assert pool.get_next(timeout=60) == 42
    with pytest.raises(ValueError):
        pool.push(taken)                               # already in the pool


def test_a_dead_actor_leaves_the_pool(ray):
    actor_pool = importlib.import_module(f"{ray.__name__}.util.actor_pool")
    alive = ray.remote(Doubler).remote(ray.__name__)
    dead = ray.remote(Doubler).remote(ray.__name__)
    ray.kill(dead)
    pool = actor_pool.ActorPool([alive, dead])
    pool.submit(lambda a, v: a.double.remote(v), 1)   # goes to the last idle actor: dead
    with pytest.raises(ray.exceptions.ActorDiedError):
        pool.get_next(timeout=60)
    assert pool.pop_idle() == alive
    assert pool.pop_idle() is None


def test_num_returns_list_results(ray):
    @ray.remote
    class Splitter:
        @ray.method(num_returns=2)
        def split(self, v):
            return v, -v

    actor_pool = importlib.import_module(f"{ray.__name__}.util.actor_pool")
    pool = actor_pool.ActorPool([Splitter.remote()])
    assert list(pool.map(lambda a, v: a.split.remote(v), [1, 2])) == [[1, -1], [2, -2]]
