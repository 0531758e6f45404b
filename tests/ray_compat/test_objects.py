"""put / get / wait as a Ray program sees them: values, lists, timeouts, errors, zero-copy arrays,
refs kept inside containers, and the argument checks of wait()."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from tests.ray_compat._helpers import make_gate


Point = collections.namedtuple("Point", ["x", "y"])


def test_put_get_round_trips_common_values(ray):
    values = [0, -1, 2**100, 1.5, "text", "\u262f", b"", b"bytes", None, True, [], (), {}, set(),
              {"a": [1, (2, 3)], "b": {4, 5}}, Point(1, 2), collections.OrderedDict(a=1),
              collections.Counter("hello"), collections.deque([1, 2]), np.int8(3), np.float32(1.5),
              int, ValueError("kept")]
    for value in values:
        back = ray.get(ray.put(value))
        if isinstance(value, BaseException):
            assert type(back) is ValueError and back.args == value.args
        else:
            assert back == value
            assert type(back) is type(value)


def test_get_of_a_list_keeps_order_and_duplicates(ray):
    refs = [ray.put(i) for i in range(5)]
    order = [3, 1, 3, 0, 4, 4]
    assert ray.get([refs[i] for i in order]) == order


def test_get_of_one_ref_gives_the_value_and_of_a_list_gives_a_list(ray):
    ref = ray.put("v")
    assert ray.get(ref) == "v"
    assert ray.get([ref]) == ["v"]
    assert ray.get([]) == []


def test_get_with_timeout_raises_get_timeout_error_which_is_a_timeout_error(ray):
    gate = make_gate(ray)
    pending = gate.wait.remote()
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(pending, timeout=0.1)
    with pytest.raises(TimeoutError):
        ray.get([ray.put(1), pending], timeout=0.1)
    ray.get(gate.open.remote())
    assert ray.get(pending, timeout=60) == "opened"


def test_get_with_zero_timeout_returns_a_ready_value(ray):
    ref = ray.put(7)
    assert ray.get(ref, timeout=0) == 7


def test_get_of_a_list_with_a_non_ref_raises_type_error(ray):
    with pytest.raises(TypeError):
        ray.get([ray.put(1), 2])


@pytest.mark.parametrize("value", [1, "ref", None, {"a": 1}])
def test_get_of_something_that_is_not_a_ref_or_a_list_raises_value_error(ray, value):
    with pytest.raises(ValueError):
        ray.get(value)


def test_get_of_a_failed_task_in_a_list_raises_its_error(ray):
    @ray.remote
    def fails():
        raise KeyError("missing")

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get([ray.put(1), fails.remote()])
    assert isinstance(info.value, KeyError)


def test_get_of_a_list_raises_a_failure_without_waiting_for_the_rest(ray):
    @ray.remote
    def fails():
        raise KeyError("early failure")

    gate = make_gate(ray)
    pending = gate.wait.remote()
    failing = fails.remote()
    for refs in ([pending, failing], [failing, pending]):
        # Bounded, so a get that waited for the gate would fail with GetTimeoutError instead.
        with pytest.raises(ray.exceptions.RayTaskError, match="early failure"):
            ray.get(refs, timeout=60)
    ray.get(gate.open.remote())


def test_put_of_an_object_ref_raises_type_error(ray):
    with pytest.raises(TypeError):
        ray.put(ray.put(1))


def test_refs_can_be_dict_keys_and_compare_by_identity_of_the_object(ray):
    a = ray.put(1)
    b = ray.put(1)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b"
    assert a == a and a != b
    assert len({a, a, b}) == 2


def test_refs_nested_in_a_stored_container_come_back_as_refs(ray):
    inner = ray.put("inner")
    outer = ray.put({"ref": inner, "list": [inner]})
    value = ray.get(outer)
    assert isinstance(value["ref"], ray.ObjectRef)
    assert ray.get(value["ref"]) == "inner"
    assert ray.get(value["list"][0]) == "inner"


def test_task_arguments_top_level_refs_resolve_and_nested_refs_do_not(ray):
    @ray.remote
    def describe(top, nested, *, kw):
        return (top, type(nested[0]).__name__, ray.get(nested[0]), kw)

    ref = ray.put(5)
    assert ray.get(describe.remote(ref, [ref], kw=ref)) == (5, "ObjectRef", 5, 5)


def test_task_can_return_refs_that_the_driver_gets(ray):
    @ray.remote
    def make():
        return [ray.put(i * 10) for i in range(3)]

    refs = ray.get(make.remote())
    assert ray.get(refs) == [0, 10, 20]


def test_large_numpy_array_comes_back_read_only(ray):
    array = np.arange(1_000_000, dtype=np.float64)
    back = ray.get(ray.put(array))
    np.testing.assert_array_equal(back, array)
    assert not back.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        back[0] = 1.0


def test_numpy_array_argument_is_read_only_in_the_task(ray):
    @ray.remote
    def try_write(a):
        try:
            a[0] = 1
        except ValueError as e:
            return "read-only" in str(e)
        return False

    assert ray.get(try_write.remote(ray.put(np.zeros(1_000_000))))


def test_large_bytes_round_trip(ray):
    blob = bytes(range(256)) * (40 * 1024)   # 10 MiB
    assert ray.get(ray.put(blob)) == blob


def test_wait_returns_num_returns_ready_refs_in_input_order(ray):
    refs = [ray.put(i) for i in range(6)]
    ready, rest = ray.wait(refs, num_returns=6)
    assert ready == refs and rest == []
    ready, rest = ray.wait(refs, num_returns=2)
    assert len(ready) == 2 and len(rest) == 4
    assert [r for r in refs if r in ready] == ready
    assert [r for r in refs if r in rest] == rest
    assert set(ready) | set(rest) == set(refs)


def test_wait_defaults_to_one_ready_ref(ray):
    ready, rest = ray.wait([ray.put(1), ray.put(2), ray.put(3)])
    assert len(ready) == 1 and len(rest) == 2


def test_wait_timeout_returns_what_is_ready(ray):
    gate = make_gate(ray)
    pending = gate.wait.remote()
    done = ray.put("done")
    ready, rest = ray.wait([pending, done], num_returns=2, timeout=0.2)
    assert ready == [done] and rest == [pending]
    ready, rest = ray.wait([pending], timeout=0)
    assert ready == [] and rest == [pending]
    ray.get(gate.open.remote())
    ready, rest = ray.wait([pending], timeout=60)
    assert ready == [pending] and rest == []


def test_wait_with_fetch_local_false_still_reports_ready_refs(ray):
    ref = ray.put(np.zeros(100_000))
    ready, rest = ray.wait([ref], fetch_local=False)
    assert ready == [ref] and rest == []


def test_wait_of_an_empty_list_returns_two_empty_lists(ray):
    assert ray.wait([]) == ([], [])


def test_wait_rejects_duplicates_and_bad_num_returns(ray):
    ref = ray.put(1)
    with pytest.raises(ValueError):
        ray.wait([ref, ref])
    with pytest.raises(ValueError):
        ray.wait([ref], num_returns=2)
    with pytest.raises(ValueError):
        ray.wait([ref], num_returns=0)


def test_wait_rejects_a_single_ref_and_non_refs(ray):
    ref = ray.put(1)
    with pytest.raises(TypeError):
        ray.wait(ref)
    with pytest.raises(TypeError):
        ray.wait([1])


def test_wait_on_task_results_then_get_them(ray):
    @ray.remote
    def square(x):
        return x * x

    refs = [square.remote(i) for i in range(8)]
    remaining, results = refs, []
    while remaining:
        ready, remaining = ray.wait(remaining)
        results.extend(ray.get(ready))
    assert sorted(results) == [i * i for i in range(8)]
