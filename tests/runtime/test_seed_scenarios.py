"""The examples of the object-store tutorials (shared/seeds), run against nbray as `ray`.

numpy arrays stand in for the torch tensors of the originals; sleeps that only
illustrate slowness are replaced by test-controlled events.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nbray as ray
from nbray.exceptions import GetTimeoutError
from tests._support import FileEvent, poll_for


@ray.remote
def echo(x):
    print(f"current value of argument x: {x}")
    return x


@ray.remote
def echo3(a, b, c):
    print(a, b, c)
    return a, b, c


@ray.remote
def echo_and_get(x_list):
    print("args:", x_list)
    print("values:", ray.get(x_list))
    return ray.get(x_list)


@ray.remote
def transform_tensor(tensor):
    return np.transpose(tensor, (1, 0, 2))


@ray.remote
def add2(a, b):
    return a + b


@ray.remote
def generate_data():
    return np.random.normal(size=1000)


@ray.remote
def aggregate_data(x, y):
    return x + y


@ray.remote
def do_some_work(x):
    return x


@ray.remote
def long_running_function(go):
    go.wait(120)
    return "finished"


def _output(capfd, needle, seen):
    def arrived():
        out, _ = capfd.readouterr()
        seen.append(out)
        return needle in "".join(seen)

    poll_for(arrived, msg=f"{needle!r} on stdout")
    return "".join(seen)


def test_put_and_get_a_list_of_tensors(cluster):
    rng = np.random.default_rng(42)
    tensors = [rng.standard_normal((i, 8, 8), dtype=np.float32) for i in range(1, 16)]
    refs = [ray.put(t) for t in tensors]
    assert len(refs) == 15
    assert re.fullmatch(r"ObjectRef\([0-9a-f]+\)", repr(refs[0]))
    val = ray.get(refs[0])
    assert val.shape == (1, 8, 8)
    np.testing.assert_array_equal(val, tensors[0])
    results = ray.get(refs)
    for got, want in zip(results, tensors):
        np.testing.assert_array_equal(got, want)


def test_transform_remote_objects_into_new_ones(cluster):
    rng = np.random.default_rng(0)
    refs = [ray.put(rng.standard_normal((i, 8, 8))) for i in range(1, 16)]
    transformed = [transform_tensor.remote(r) for r in refs]
    for i, t in enumerate(ray.get(transformed), start=1):
        assert t.shape == (8, i, 8)
    # the originals are unchanged (immutable)
    assert ray.get(refs[3]).shape == (4, 8, 8)


def test_echo_dereferences_top_level_refs_only(cluster, capfd):
    x = list(range(5))
    x_obj_ref = ray.put(x)
    assert ray.get(echo.remote(x_obj_ref)) == [0, 1, 2, 3, 4]
    assert ray.get(echo.remote(x)) == [0, 1, 2, 3, 4]
    in_dict = ray.get(echo.remote({"obj": x_obj_ref}))
    assert in_dict == {"obj": x_obj_ref}
    in_list = ray.get(echo.remote([x_obj_ref]))
    assert in_list == [x_obj_ref]
    seen: list = []
    out = _output(capfd, f"current value of argument x: [ObjectRef({x_obj_ref.hex()})]", seen)
    assert re.search(r"^\(echo pid=\d+\) current value of argument x: \[0, 1, 2, 3, 4\]$", out, re.M)
    assert re.search(rf"^\(echo pid=\d+\) current value of argument x: "
                     rf"\{{'obj': ObjectRef\({x_obj_ref.hex()}\)\}}$", out, re.M)


def test_object_ref_basics(cluster):
    y = 1
    object_ref = ray.put(y)
    assert ray.get(object_ref) == 1
    assert ray.get([ray.put(i) for i in range(3)]) == [0, 1, 2]


def test_get_timeout_of_a_long_running_function(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    obj_ref = long_running_function.remote(go)
    with pytest.raises(GetTimeoutError):
        ray.get(obj_ref, timeout=0.5)
    with pytest.raises(TimeoutError):  # "You can capture the standard TimeoutError instead"
        ray.get(obj_ref, timeout=0.1)
    go.set()
    assert ray.get(obj_ref) == "finished"


def test_top_level_refs_are_passed_by_value(cluster, capfd):
    assert ray.get(echo3.remote(1, 2, 3)) == (1, 2, 3)
    a, b, c = ray.put(1), ray.put(2), ray.put(3)
    assert ray.get(echo3.remote(a, b, c)) == (1, 2, 3)
    out = _output(capfd, "1 2 3", [])
    assert re.search(r"^\(echo3 pid=\d+\) 1 2 3$", out, re.M)


def test_nested_refs_are_passed_by_reference(cluster, capfd):
    a, b, c = ray.put(1), ray.put(2), ray.put(3)
    assert ray.get(echo_and_get.remote([a, b, c])) == [1, 2, 3]
    out = _output(capfd, "values: [1, 2, 3]", [])
    assert re.search(rf"^\(echo_and_get pid=\d+\) args: \[ObjectRef\({a.hex()}\), "
                     rf"ObjectRef\({b.hex()}\), ObjectRef\({c.hex()}\)\]$", out, re.M)
    assert re.search(r"^\(echo_and_get pid=\d+\) values: \[1, 2, 3\]$", out, re.M)


def test_closure_capture(cluster, capfd):
    a, b, c = ray.put(1), ray.put(2), ray.put(3)

    @ray.remote
    def print_via_capture():
        print(ray.get([a, b, c]))

    ray.get(print_via_capture.remote())
    out = _output(capfd, "[1, 2, 3]", [])
    assert re.search(r"^\(print_via_capture pid=\d+\) \[1, 2, 3\]$", out, re.M)


def test_nested_objects(cluster):
    object_ref = ray.put(1)
    object_ref_2 = ray.put([object_ref])
    del object_ref
    (inner,) = ray.get(object_ref_2)
    assert ray.get(inner) == 1


def test_put_and_get_a_list(cluster):
    result_ids = [ray.put(i) for i in range(10)]
    assert ray.get(result_ids[0]) == 0
    assert ray.get(result_ids) == list(range(10))


def test_remote_arguments_by_value_or_by_ref(cluster):
    assert ray.get(add2.remote(1, 2)) == 3
    assert ray.get(add2.remote(1, ray.put(2))) == 3
    assert ray.get(add2.remote(ray.put(1), ray.put(2))) == 3


def test_parallel_tasks(cluster):
    assert len(ray.get([do_some_work.remote(i) for i in range(10)])) == 10


def test_num_return_vals_three(cluster):
    with pytest.warns(DeprecationWarning):
        @ray.remote(num_return_vals=3)
        def return_multiple():
            return 1, 2, 3

    a_id, b_id, c_id = return_multiple.remote()
    assert ray.get(a_id) == 1 and ray.get(b_id) == 2 and ray.get(c_id) == 3


def test_tree_reduction_with_aggregate_data(cluster):
    data = [generate_data.remote() for _ in range(100)]
    values = ray.get(data)
    assert len(values) == 100
    expected = np.sum(values, axis=0)
    while len(data) > 1:
        data.append(aggregate_data.remote(data.pop(0), data.pop(0)))
    (result,) = ray.get(data)
    assert result.shape == (1000,)
    np.testing.assert_allclose(result, expected)


def test_wait_loop(cluster):
    result_ids = [do_some_work.remote(x) for x in range(4)]
    total = 0
    while len(result_ids):
        done_id, result_ids = ray.wait(result_ids)
        assert len(done_id) == 1
        total += ray.get(done_id[0])
    assert total == 6
