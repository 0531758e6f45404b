"""put / get: values, copies, immutability, inline vs shared memory, zero-copy, freeing."""

from __future__ import annotations

import gc
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytest

import nbray
from nbray.exceptions import GetTimeoutError, RayError
from tests._support import FileEvent, poll_for

INLINE_THRESHOLD = 100 * 1024
SMALL = 1000                    # float64 elements: 8 KB, stored inline
LARGE = 1_000_000               # float64 elements: 8 MB, stored in shared memory


@dataclass
class Point:
    x: int
    y: int


@nbray.remote
def identity(x):
    return x


@nbray.remote
def make_array(n):
    return np.arange(n, dtype=np.float64)


@nbray.remote
def is_writeable(a):
    return a.flags.writeable


@nbray.remote
def write_into(a):
    a[0] = -1
    return a


@nbray.remote
def wait_then(go, value):
    go.wait(120)
    return value


@pytest.mark.parametrize("value", [
    0, -7, 2**100, 3.5, "text", "ünïcödé", b"\x00bytes", None, True,
    [1, [2, [3]]], (1, "a"), {"k": [1, 2]}, {1, 2, 3}, frozenset({4}),
    OrderedDict(a=1), Point(1, 2), complex(1, 2), range(5),
], ids=repr)
def test_put_get_roundtrip(cluster, value):
    assert nbray.get(nbray.put(value)) == value


def test_get_of_a_list_keeps_the_order(cluster):
    refs = [nbray.put(i) for i in range(20)]
    assert nbray.get(refs) == list(range(20))


def test_get_of_an_empty_list(cluster):
    assert nbray.get([]) == []


def test_get_of_the_same_ref_twice_in_a_list(cluster):
    ref = nbray.put("x")
    assert nbray.get([ref, ref]) == ["x", "x"]


def test_put_copies_the_value(cluster):
    data = {"items": [1, 2, 3]}
    ref = nbray.put(data)
    data["items"].append(4)
    assert nbray.get(ref) == {"items": [1, 2, 3]}


@pytest.mark.parametrize("n", [SMALL, LARGE], ids=["inline", "shared-memory"])
def test_put_copies_an_array(cluster, n):
    a = np.zeros(n)
    ref = nbray.put(a)
    a[:] = 1
    assert not nbray.get(ref).any()


def test_each_get_returns_a_new_python_object(cluster):
    ref = nbray.put([1, 2, 3])
    first = nbray.get(ref)
    first.append(4)
    assert nbray.get(ref) == [1, 2, 3]


def test_small_object_is_stored_inline(cluster):
    used = cluster.node.store_stats()["used"]
    ref = nbray.put(np.ones(SMALL))
    assert cluster.entry(ref).state == "inline"
    assert cluster.node.store_stats()["used"] == used
    np.testing.assert_array_equal(nbray.get(ref), np.ones(SMALL))


def test_large_array_is_stored_in_shared_memory(cluster):
    used = cluster.node.store_stats()["used"]
    a = np.arange(LARGE, dtype=np.float64)
    ref = nbray.put(a)
    assert cluster.entry(ref).state == "shm"
    assert cluster.node.store_stats()["used"] >= used + a.nbytes
    np.testing.assert_array_equal(nbray.get(ref), a)


def test_threshold_is_100_kb(cluster):
    below = nbray.put(b"x" * (INLINE_THRESHOLD - 1024))
    above = nbray.put(b"x" * (INLINE_THRESHOLD + 1024))
    assert cluster.entry(below).state == "inline"
    assert cluster.entry(above).state == "shm"


def test_large_array_from_get_is_read_only(cluster):
    got = nbray.get(nbray.put(np.zeros(LARGE)))
    assert not got.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        got[0] = 1


def test_two_gets_of_a_large_array_share_memory(cluster):
    ref = nbray.put(np.arange(LARGE, dtype=np.float64))
    a, b = nbray.get(ref), nbray.get(ref)
    assert a is not b
    assert np.shares_memory(a, b)


def test_gets_of_different_large_objects_do_not_share_memory(cluster):
    a = nbray.get(nbray.put(np.zeros(LARGE)))
    b = nbray.get(nbray.put(np.zeros(LARGE)))
    assert not np.shares_memory(a, b)


def test_large_array_returned_by_a_task_is_zero_copy_and_read_only(cluster):
    ref = make_array.remote(LARGE)
    a, b = nbray.get(ref), nbray.get(ref)
    np.testing.assert_array_equal(a, np.arange(LARGE, dtype=np.float64))
    assert not a.flags.writeable
    assert np.shares_memory(a, b)


def test_collection_of_arrays_is_zero_copy(cluster):
    ref = nbray.put({"a": np.ones(LARGE), "b": [np.zeros(LARGE)]})
    v1, v2 = nbray.get(ref), nbray.get(ref)
    assert np.shares_memory(v1["a"], v2["a"])
    assert np.shares_memory(v1["b"][0], v2["b"][0])
    assert not v1["a"].flags.writeable


def test_large_array_argument_is_read_only_in_the_task(cluster):
    ref = nbray.put(np.zeros(LARGE))
    assert nbray.get(is_writeable.remote(ref)) is False
    with pytest.raises(ValueError, match="read-only"):
        nbray.get(write_into.remote(ref))
    assert not nbray.get(ref).any()


def test_large_array_passed_by_value_arrives_intact(cluster):
    a = np.random.default_rng(0).random(LARGE)
    np.testing.assert_array_equal(nbray.get(identity.remote(a)), a)


def test_zero_copy_value_outlives_its_ref(cluster):
    ref = nbray.put(np.full(LARGE, 7.0))
    oid = ref.binary()
    value = nbray.get(ref)
    del ref
    gc.collect()
    poll_for(lambda: oid not in cluster.node.table.entries, msg="the object to be released")
    # Overwrite the store with other data: the mapped value must not change.
    others = [nbray.put(np.zeros(LARGE)) for _ in range(3)]
    assert (value == 7.0).all()
    del others


def test_memory_of_a_freed_object_comes_back_once_readers_let_go(cluster):
    used = cluster.node.store_stats()["used"]
    ref = nbray.put(np.ones(LARGE))
    value = nbray.get(ref)
    del ref
    gc.collect()
    assert value.sum() == LARGE  # still mapped: memory must not be reused yet
    assert cluster.node.store_stats()["used"] >= used + value.nbytes
    del value
    gc.collect()
    poll_for(lambda: cluster.node.store_stats()["used"] == used, msg="store memory to be returned")


@pytest.mark.parametrize("value", [b"y" * 200_000, "z" * 200_000, list(range(40_000))],
                         ids=["bytes", "str", "list"])
def test_memory_of_a_value_with_no_buffer_comes_back_after_get(cluster, value):
    # Over the inline threshold but pickled in-band (no out-of-band buffer): the value lives
    # in the arena, every get() copies it out, and no view of the block outlives the read.
    # The worker reads it as an argument, the driver as a result; then the refs go.
    node = cluster.node
    used = node.store_stats()["used"]
    ref = identity.remote(value)
    assert nbray.get(ref) == value
    assert cluster.entry(ref).state == "shm"
    del ref
    gc.collect()
    poll_for(lambda: node.store_stats()["used"] == used, msg="store memory to be returned")
    with node.lock:
        assert node.table.zombies == {}


def test_object_is_freed_when_its_last_ref_goes(cluster):
    ref = nbray.put(np.ones(LARGE))
    copy = nbray.ObjectRef(ref.binary())
    oid = ref.binary()
    del ref
    gc.collect()
    assert oid in cluster.node.table.entries  # `copy` still refers to it
    del copy
    gc.collect()
    poll_for(lambda: oid not in cluster.node.table.entries, msg="the object to be freed")


def test_nested_ref_keeps_the_inner_object_alive(cluster):
    inner = nbray.put(np.full(LARGE, 3.0))
    inner_id = inner.binary()
    outer = nbray.put([inner])
    del inner
    gc.collect()
    (got_inner,) = nbray.get(outer)
    assert got_inner.binary() == inner_id
    assert nbray.get(got_inner)[0] == 3.0
    del got_inner, outer
    gc.collect()
    poll_for(lambda: inner_id not in cluster.node.table.entries, msg="the inner object to be freed")


def test_get_with_timeout_raises_get_timeout_error(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    ref = wait_then.remote(go, "late")
    with pytest.raises(GetTimeoutError):
        nbray.get(ref, timeout=0.2)
    with pytest.raises(TimeoutError):  # GetTimeoutError is a TimeoutError, as in Ray
        nbray.get(ref, timeout=0)
    go.set()
    assert nbray.get(ref, timeout=30) == "late"


def test_get_timeout_error_is_a_ray_error():
    assert issubclass(GetTimeoutError, TimeoutError)
    assert issubclass(GetTimeoutError, RayError)


def test_get_of_a_list_with_timeout_raises_if_any_is_late(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    refs = [nbray.put(1), wait_then.remote(go, 2)]
    with pytest.raises(GetTimeoutError):
        nbray.get(refs, timeout=0.2)
    go.set()
    assert nbray.get(refs) == [1, 2]


def test_get_with_timeout_zero_on_a_ready_object(cluster):
    assert nbray.get(nbray.put("ready"), timeout=0) == "ready"


def test_put_inside_a_task_and_get_from_the_driver(cluster):
    @nbray.remote
    def put_there(n):
        return [nbray.put(np.arange(n)), nbray.put("small")]

    big, small = nbray.get(put_there.remote(LARGE))
    np.testing.assert_array_equal(nbray.get(big), np.arange(LARGE))
    assert nbray.get(small) == "small"


def test_put_get_and_tasks_from_several_driver_threads(cluster):
    import threading

    errors = []

    def work(k):
        try:
            for i in range(50):
                small = nbray.put((k, i))
                big = nbray.put(np.full(20_000, float(i)))
                assert nbray.get(small) == (k, i)
                assert nbray.get(identity.remote(big))[0] == float(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_many_objects(cluster):
    refs = [nbray.put(i) for i in range(2000)]
    assert nbray.get(refs) == list(range(2000))
