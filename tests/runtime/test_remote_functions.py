"""@remote functions: calling, options, multiple returns, arguments, nesting."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nbray
from tests._support import FileEvent, poll_for


@nbray.remote
def add(a, b=10):
    return a + b


@nbray.remote
def echo(x):
    return x


@nbray.remote
def pid():
    return os.getpid()


@nbray.remote(num_returns=2)
def divmod_remote(a, b):
    return divmod(a, b)


@nbray.remote(num_returns=0)
def returns_nothing(started):
    started.set()


@nbray.remote
def kinds(*args, **kwargs):
    return [type(a).__name__ for a in args], {k: type(v).__name__ for k, v in kwargs.items()}


@nbray.remote
def inner(i):
    return i * i


@nbray.remote
def outer(n):
    return sum(nbray.get([inner.remote(i) for i in range(n)]))


@nbray.remote
def depth(n):
    return 0 if n == 0 else 1 + nbray.get(depth.remote(n - 1))


@nbray.remote
def wait_inside(n):
    refs = [inner.remote(i) for i in range(n)]
    ready, not_ready = nbray.wait(refs, num_returns=n, timeout=60)
    return len(ready), len(not_ready)


@nbray.remote
def hold(started, go):
    started.set()
    go.wait(120)
    return os.getpid()


@nbray.remote(num_cpus=2)
def hold_two_cpus(started, go):
    started.set()
    go.wait(120)
    return "two"


@nbray.remote(resources={"special": 1})
def special(started, go):
    started.set()
    go.wait(120)
    return "special"


def test_remote_call_returns_a_ref_to_the_result(cluster):
    ref = add.remote(1, 2)
    assert isinstance(ref, nbray.ObjectRef)
    assert nbray.get(ref) == 3


def test_keyword_and_default_arguments(cluster):
    assert nbray.get(add.remote(1)) == 11
    assert nbray.get(add.remote(1, b=5)) == 6
    assert nbray.get(add.remote(a=2, b=3)) == 5


def test_calling_a_remote_function_directly_raises(cluster):
    with pytest.raises(TypeError, match=r"\.remote\(\)"):
        add(1, 2)


def test_tasks_run_in_worker_processes(cluster):
    pids = set(nbray.get([pid.remote() for _ in range(10)]))
    assert os.getpid() not in pids
    assert pids <= set(cluster.worker_pids())


def test_many_tasks_results_in_order(cluster):
    refs = [add.remote(i, i) for i in range(300)]
    assert nbray.get(refs) == [2 * i for i in range(300)]


def test_lambda_and_closure(cluster):
    offset = 7
    f = nbray.remote(lambda x: x + offset)
    assert nbray.get(f.remote(1)) == 8


def test_function_defined_inside_a_test(cluster):
    def local_helper(x):
        return x * 3

    @nbray.remote
    def local(x):
        return local_helper(x)

    assert nbray.get(local.remote(3)) == 9


# -- multiple returns -------------------------------------------------------------
def test_num_returns_gives_one_ref_per_value(cluster):
    refs = divmod_remote.remote(17, 5)
    assert isinstance(refs, (list, tuple)) and len(refs) == 2
    assert all(isinstance(r, nbray.ObjectRef) for r in refs)
    q, r = refs
    assert nbray.get(q) == 3 and nbray.get(r) == 2


def test_num_returns_zero_returns_none(cluster, tmp_path):
    started = FileEvent(tmp_path / "ran")
    assert returns_nothing.remote(started) is None
    poll_for(started.is_set, msg="the task to run")


def test_options_num_returns(cluster):
    a, b, c = echo.options(num_returns=3).remote([1, 2, 3])
    assert nbray.get([a, b, c]) == [1, 2, 3]
    # the original function keeps its own options
    assert nbray.get(echo.remote([1, 2, 3])) == [1, 2, 3]


def test_num_return_vals_is_a_deprecated_alias(cluster):
    with pytest.warns(DeprecationWarning, match="num_returns"):
        @nbray.remote(num_return_vals=3)
        def three():
            return 1, 2, 3

    a, b, c = three.remote()
    assert nbray.get([a, b, c]) == [1, 2, 3]


def test_wrong_number_of_returned_values_is_an_error(cluster):
    a, b = echo.options(num_returns=2).remote([1, 2, 3])
    with pytest.raises(nbray.exceptions.RayTaskError):
        nbray.get(a)
    with pytest.raises(nbray.exceptions.RayTaskError):
        nbray.get(b)


def test_options_returns_a_new_remote_function(cluster):
    renamed = add.options(num_cpus=1, max_retries=0)
    assert renamed is not add
    assert nbray.get(renamed.remote(1, 1)) == 2


# -- arguments ----------------------------------------------------------------------
def test_top_level_ref_arguments_are_resolved(cluster):
    a, b = nbray.put(1), nbray.put(2)
    assert nbray.get(add.remote(a, b)) == 3
    assert nbray.get(add.remote(1, b=b)) == 3
    assert nbray.get(kinds.remote(a, x=b)) == (["int"], {"x": "int"})


def test_nested_ref_arguments_are_passed_as_refs(cluster):
    a = nbray.put(1)
    assert nbray.get(kinds.remote([a], {"k": a}, x=[a])) == (["list", "dict"], {"x": "list"})
    got = nbray.get(echo.remote({"obj": a}))
    assert isinstance(got["obj"], nbray.ObjectRef) and got["obj"] == a


def test_result_of_one_task_feeds_another(cluster):
    x = add.remote(1, 2)
    y = add.remote(x, x)
    z = add.remote(y, b=add.remote(x, 0))
    assert nbray.get(z) == 9


def test_task_waits_for_its_argument(cluster, tmp_path):
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    slow = hold.remote(started, go)
    dependent = echo.remote(slow)
    poll_for(started.is_set)
    ready, _ = nbray.wait([dependent], timeout=0.2)
    assert ready == []
    go.set()
    assert nbray.get(dependent, timeout=30) == nbray.get(slow)


def test_large_argument_by_value(cluster):
    a = np.arange(1_000_000)
    assert nbray.get(echo.remote(a)).sum() == a.sum()


def test_same_ref_twice_as_argument(cluster):
    a = nbray.put(21)
    assert nbray.get(add.remote(a, a)) == 42


def test_closure_captured_ref(cluster):
    captured = nbray.put(41)

    @nbray.remote
    def uses_capture():
        return nbray.get(captured) + 1

    assert nbray.get(uses_capture.remote()) == 42


def test_closure_captured_ref_stays_alive_after_the_driver_drops_it(cluster):
    captured = nbray.put(np.full(200_000, 2.0))
    oid = captured.binary()

    @nbray.remote
    def uses_capture():
        return float(nbray.get(captured).sum())

    assert nbray.get(uses_capture.remote()) == 400_000.0
    refs = [captured]
    del captured
    refs.clear()
    assert cluster.node.table.entries[oid].captured
    assert nbray.get(uses_capture.remote()) == 400_000.0


# -- nested tasks ---------------------------------------------------------------------
def test_task_submits_tasks_and_gets_their_results(cluster):
    assert nbray.get(outer.remote(4)) == 0 + 1 + 4 + 9


@pytest.mark.parametrize("num_cpus", [1, 2])
def test_nested_tasks_do_not_deadlock_a_full_pool(make_cluster, num_cpus):
    # 6 outer tasks each blocked on inner tasks fill the pool: blocked workers must
    # lend their CPU, or nothing could ever finish.
    make_cluster(num_cpus=num_cpus)
    refs = [outer.remote(3) for _ in range(6)]
    assert nbray.get(refs, timeout=60) == [5] * 6


def test_recursive_tasks(cluster):
    assert nbray.get(depth.remote(5), timeout=60) == 5


def test_wait_inside_a_task(cluster):
    assert nbray.get(wait_inside.remote(4), timeout=60) == (4, 0)


def test_task_returns_refs_made_by_nested_tasks(cluster):
    @nbray.remote
    def spawn(n):
        return [inner.remote(i) for i in range(n)]

    refs = nbray.get(spawn.remote(3))
    assert nbray.get(refs) == [0, 1, 4]


# -- resources -------------------------------------------------------------------------
def test_num_cpus_limits_concurrency(cluster, tmp_path):
    s1, go = FileEvent(tmp_path / "s1"), FileEvent(tmp_path / "go")
    s2 = FileEvent(tmp_path / "s2")
    big = hold_two_cpus.remote(s1, go)
    poll_for(s1.is_set, msg="the 2-CPU task to start")
    small = hold.remote(s2, go)
    ready, _ = nbray.wait([small], timeout=0.5)
    assert ready == [] and not s2.is_set(), "a 1-CPU task ran while both CPUs were taken"
    go.set()
    assert nbray.get(big, timeout=30) == "two"
    assert isinstance(nbray.get(small, timeout=30), int)
    assert s2.is_set()


def test_custom_resources(make_cluster, tmp_path):
    make_cluster(resources={"special": 1})
    s1, s2, go = FileEvent(tmp_path / "s1"), FileEvent(tmp_path / "s2"), FileEvent(tmp_path / "go")
    first = special.remote(s1, go)
    poll_for(s1.is_set, msg="the first task to start")
    second = special.remote(s2, go)
    ready, _ = nbray.wait([second], timeout=0.5)
    assert ready == [] and not s2.is_set(), "two tasks held the single 'special' resource"
    go.set()
    assert nbray.get([first, second], timeout=30) == ["special", "special"]
