"""Remote functions: options, several return values, nested tasks, retries after a crash or an
exception, resources, and the errors of calling a remote function wrongly."""

from __future__ import annotations

import os

import pytest


def count_attempts(path):
    """Append a line to `path` and return how many lines it has: the attempt number of a task
    (tasks run in other processes, so the count lives in a file)."""
    with open(path, "a") as f:
        f.write("x\n")
    with open(path) as f:
        return len(f.readlines())


def test_num_returns_gives_one_ref_per_value(ray):
    @ray.remote(num_returns=3)
    def three():
        return "a", "b", "c"

    refs = three.remote()
    assert isinstance(refs, list) and len(refs) == 3
    assert ray.get(refs) == ["a", "b", "c"]


def test_options_override_num_returns_per_call(ray):
    @ray.remote
    def pair():
        return 1, 2

    assert ray.get(pair.remote()) == (1, 2)
    first, second = pair.options(num_returns=2).remote()
    assert ray.get(second) == 2 and ray.get(first) == 1


def test_num_returns_mismatch_is_an_error_of_the_task(ray):
    @ray.remote(num_returns=2)
    def only_one():
        return 1

    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(only_one.remote()[0])


def test_options_returns_a_new_remote_function_and_leaves_the_original(ray):
    @ray.remote
    def ident(x):
        return x

    named = ident.options(name="renamed", num_cpus=1)
    assert ray.get(named.remote(3)) == 3
    assert ray.get(ident.remote(4)) == 4


def test_nested_tasks_submit_and_get_inside_a_task(ray):
    @ray.remote
    def leaf(x):
        return x + 1

    @ray.remote
    def middle(x):
        return sum(ray.get([leaf.remote(x), leaf.remote(x + 1)]))

    @ray.remote
    def top(x):
        return ray.get(middle.remote(x)) * 10

    assert ray.get(top.remote(1)) == 50


def test_recursive_remote_function(ray):
    @ray.remote
    def fib(n):
        if n < 2:
            return n
        return sum(ray.get([fib.remote(n - 1), fib.remote(n - 2)]))

    assert ray.get(fib.remote(7)) == 13


def test_task_can_return_the_ref_of_another_task(ray):
    @ray.remote
    def inner():
        return "deep"

    @ray.remote
    def outer():
        return inner.remote()

    inner_ref = ray.get(outer.remote())
    assert isinstance(inner_ref, ray.ObjectRef)
    assert ray.get(inner_ref) == "deep"


def test_failed_dependency_fails_the_dependent_task(ray):
    @ray.remote
    def fails():
        raise ZeroDivisionError("boom")

    @ray.remote
    def consume(x):
        return x

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(consume.remote(fails.remote()))
    assert isinstance(info.value, ZeroDivisionError)


def test_max_retries_reruns_a_task_whose_worker_died(ray, tmp_path):
    counter = str(tmp_path / "crash-count")

    @ray.remote(max_retries=3)
    def crash_twice(path):
        if count_attempts(path) <= 2:
            os._exit(1)
        return "survived"

    assert ray.get(crash_twice.remote(counter)) == "survived"
    assert count_attempts(counter) == 4   # three runs, plus this count


def test_max_retries_zero_surfaces_the_crash(ray):
    @ray.remote(max_retries=0)
    def crash():
        os._exit(1)

    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(crash.remote())


def test_application_exceptions_are_not_retried_by_default(ray, tmp_path):
    counter = str(tmp_path / "count")

    @ray.remote(max_retries=3)
    def raises(path):
        count_attempts(path)
        raise ValueError("no retry")

    with pytest.raises(ValueError):
        ray.get(raises.remote(counter))
    assert count_attempts(counter) == 2


def test_retry_exceptions_true_retries_until_success(ray, tmp_path):
    counter = str(tmp_path / "count")

    @ray.remote(max_retries=2, retry_exceptions=True)
    def flaky(path):
        if count_attempts(path) < 3:
            raise RuntimeError("flaky")
        return "ok"

    assert ray.get(flaky.remote(counter)) == "ok"


def test_retry_exceptions_list_retries_only_the_listed_classes(ray, tmp_path):
    listed, unlisted = str(tmp_path / "listed"), str(tmp_path / "unlisted")

    @ray.remote(max_retries=2, retry_exceptions=[KeyError])
    def fail_with(path, exc_type):
        count_attempts(path)
        raise exc_type("x")

    with pytest.raises(KeyError):
        ray.get(fail_with.remote(listed, KeyError))
    assert count_attempts(listed) == 4      # 1 run + 2 retries, plus this count
    with pytest.raises(IndexError):
        ray.get(fail_with.remote(unlisted, IndexError))
    assert count_attempts(unlisted) == 2


def test_retry_exceptions_gives_up_after_max_retries(ray, tmp_path):
    counter = str(tmp_path / "count")

    @ray.remote(max_retries=1, retry_exceptions=True)
    def always(path):
        count_attempts(path)
        raise RuntimeError("always")

    with pytest.raises(RuntimeError):
        ray.get(always.remote(counter))
    assert count_attempts(counter) == 3


@pytest.mark.init(num_cpus=2, resources={"widget": 2})
def test_custom_resources_are_reported_and_used(ray_fresh):
    ray = ray_fresh
    assert ray.cluster_resources()["widget"] == 2

    @ray.remote(resources={"widget": 1})
    def uses_widget():
        return ray.get_runtime_context().get_assigned_resources().get("widget")

    assert ray.get(uses_widget.remote()) == 1


def test_task_that_no_node_can_run(ray):
    @ray.remote(resources={"not-in-this-cluster": 1})
    def never():
        return 1

    ref = never.remote()
    if ray.__name__ == "nbray":
        # A documented difference: Ray keeps such a task pending forever (an autoscaler might
        # add a node); nbray fails it at once with Ray's TaskUnschedulableError, naming the
        # resource, so a notebook cell does not hang.
        with pytest.raises(ray.exceptions.TaskUnschedulableError, match="not-in-this-cluster"):
            ray.get(ref, timeout=60)
        return
    ready, rest = ray.wait([ref], timeout=0.5)
    assert ready == [] and rest == [ref]
    ray.cancel(ref)


def test_num_cpus_option_reserves_cpus_while_running(ray):
    @ray.remote(num_cpus=2)
    def reserved():
        return ray.get_runtime_context().get_assigned_resources()["CPU"]

    assert ray.get(reserved.remote()) == 2


def test_calling_a_remote_function_directly_is_a_type_error(ray):
    @ray.remote
    def f():
        return 1

    with pytest.raises(TypeError):
        f()


def test_remote_rejects_unknown_options(ray):
    with pytest.raises((TypeError, ValueError)):
        @ray.remote(not_an_option=1)
        def f():
            return 1


def test_varargs_and_kwargs_reach_the_task(ray):
    @ray.remote
    def collect(*args, **kwargs):
        return args, kwargs

    assert ray.get(collect.remote(1, 2, x=3)) == ((1, 2), {"x": 3})
    assert ray.get(collect.remote()) == ((), {})
