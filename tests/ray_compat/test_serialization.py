"""What survives the trip to a worker and back: closures (also over refs), classes defined in the
notebook, NumPy arrays of many layouts, dataclasses, large objects, self-referencing values and
objects whose pickling calls ray.get."""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools

import numpy as np
import pytest


def test_closure_over_a_ref_can_get_it_inside_the_task(ray):
    captured = ray.put({"weights": [1, 2, 3]})

    @ray.remote
    def use_capture():
        return sum(ray.get(captured)["weights"])

    assert ray.get(use_capture.remote()) == 6


def test_closure_over_a_ref_survives_deleting_the_driver_variable(ray):
    captured = ray.put(np.arange(10))

    @ray.remote
    def read():
        return int(ray.get(captured).sum())

    ref = read.remote()
    del captured
    assert ray.get(ref) == 45


def test_closure_over_local_values_and_helpers(ray):
    offset = 100
    table = {"a": 1}

    def helper(x):
        return x + offset

    @ray.remote
    def apply(key):
        return helper(table[key])

    assert ray.get(apply.remote("a")) == 101


def test_class_defined_in_the_test_round_trips_through_a_task(ray):
    class Vector:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __eq__(self, other):
            return (self.x, self.y) == (other.x, other.y)

        def norm2(self):
            return self.x ** 2 + self.y ** 2

    @ray.remote
    def scale(v, k):
        return Vector(v.x * k, v.y * k)

    out = ray.get(scale.remote(Vector(1, 2), 3))
    assert out == Vector(3, 6)
    assert out.norm2() == 45


def test_class_created_inside_a_task_comes_back(ray):
    @ray.remote
    def make():
        class Made:
            kind = "made-in-worker"

            def hello(self):
                return "hello"

        return Made()

    obj = ray.get(make.remote())
    assert obj.kind == "made-in-worker" and obj.hello() == "hello"


def test_dataclass_namedtuple_and_enum_round_trip(ray):
    @dataclasses.dataclass
    class Config:
        name: str
        layers: list = dataclasses.field(default_factory=list)

    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    Pair = collections.namedtuple("Pair", "left right")

    @ray.remote
    def echo(x):
        return x

    config = Config("net", [3, 4])
    back = ray.get(echo.remote(config))
    assert dataclasses.asdict(back) == {"name": "net", "layers": [3, 4]}
    assert ray.get(echo.remote(Pair(1, 2))) == (1, 2)
    assert ray.get(echo.remote(Pair(1, 2))).right == 2
    assert ray.get(echo.remote(Color.BLUE)).name == "BLUE"


def test_functions_lambdas_and_partials_are_values_too(ray):
    @ray.remote
    def call(fn, x):
        return fn(x)

    assert ray.get(call.remote(lambda v: v * 2, 21)) == 42
    assert ray.get(call.remote(functools.partial(pow, 2), 10)) == 1024

    @ray.remote
    def make_adder(n):
        return lambda v: v + n

    assert ray.get(make_adder.remote(5))(1) == 6


@pytest.mark.parametrize("make", [
    lambda: np.arange(24, dtype=np.int16).reshape(2, 3, 4),
    lambda: np.linspace(0, 1, 1_000_000),
    lambda: np.arange(100).reshape(10, 10).T,               # not C-contiguous
    lambda: np.arange(1000)[::3],                            # strided view
    lambda: np.array(["a", "bc", "def"]),
    lambda: np.array([{"k": 1}, None, [2]], dtype=object),
    lambda: np.zeros(3, dtype=[("x", "f4"), ("y", "i8")]),
    lambda: np.array([1 + 2j, 3 - 4j]),
    lambda: np.zeros((0, 5)),
    lambda: np.float64(2.5),
], ids=["int16-3d", "large-float", "transposed", "strided", "unicode", "object", "structured",
        "complex", "empty", "scalar"])
def test_numpy_values_round_trip_exactly(ray, make):
    value = make()

    @ray.remote
    def echo(x):
        return x

    for back in (ray.get(ray.put(value)), ray.get(echo.remote(value))):
        assert type(back) is type(value)
        if isinstance(value, np.ndarray):
            assert back.dtype == value.dtype and back.shape == value.shape
            if value.dtype == object:
                assert list(back) == list(value)
            else:
                np.testing.assert_array_equal(back, value)
        else:
            assert back == value


def test_array_returned_by_a_task_and_mutated_after_copy(ray):
    @ray.remote
    def ones(n):
        return np.ones(n)

    back = ray.get(ones.remote(500_000))
    mine = back.copy()
    mine[0] = 5
    assert mine[0] == 5 and back[0] == 1


def test_large_object_through_a_task_both_ways(ray):
    payload = {"blob": b"x" * (20 * 1024 * 1024), "array": np.ones(2_000_000)}

    @ray.remote
    def summarize(p):
        return len(p["blob"]), float(p["array"].sum()), {"echo": p["blob"][:10]}

    assert ray.get(summarize.remote(payload)) == (20 * 1024 * 1024, 2_000_000.0,
                                                  {"echo": b"x" * 10})


def test_self_referencing_values_round_trip(ray):
    loop = [1]
    loop.append(loop)
    back = ray.get(ray.put(loop))
    assert back[0] == 1 and back[1] is back

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    back = ray.get(ray.put(a))
    assert back.other.other is back


class _Unwraps:
    """An object whose unpickling calls ray.get on the ref it carries."""

    def __init__(self, ref):
        self.ref = ref

    def __reduce__(self):
        return _get_value, (self.ref,)


def _get_value(ref):
    # The driver unpickles this (in get()); the test puts the backend under test in sys.modules.
    import sys

    return sys.modules["ray_compat_backend"].get(ref)


def test_value_whose_unpickling_calls_get(ray):
    import sys

    sys.modules["ray_compat_backend"] = ray
    try:
        ref = ray.put(42)
        for _ in range(3):
            ref = ray.put(_Unwraps(ref))
        assert ray.get(ref) == 42
    finally:
        del sys.modules["ray_compat_backend"]


def test_unpicklable_value_fails_put_with_a_clear_error(ray):
    import threading

    with pytest.raises(Exception, match="lock"):
        ray.put(threading.Lock())


def test_exception_instances_are_values(ray):
    @ray.remote
    def give():
        return KeyError("as a value")

    value = ray.get(give.remote())
    assert isinstance(value, KeyError) and value.args == ("as a value",)


def test_ray_cloudpickle_round_trips_closures_and_refs(ray):
    factor = 3
    ref = ray.put("inside")

    def scale(x):
        return x * factor

    restored = ray.cloudpickle.loads(ray.cloudpickle.dumps(scale))
    assert restored(2) == 6
    assert ray.get(ray.cloudpickle.loads(ray.cloudpickle.dumps([ref]))[0]) == "inside"
