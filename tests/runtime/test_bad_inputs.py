"""Bad input gets a clear error at the call that made it, naming what was wrong."""

from __future__ import annotations

import threading

import pytest

import nbray
from nbray.serialization import SerializationError


@nbray.remote
def echo(x):
    return x


@nbray.remote
def returns_a_lock():
    return threading.Lock()


def plain(x):
    return x


# -- values that cannot be pickled ------------------------------------------------
def test_serialization_error_is_a_type_error():
    assert issubclass(SerializationError, TypeError)


def test_put_of_an_unpicklable_value(shared_cluster):
    with pytest.raises(SerializationError) as info:
        nbray.put(threading.Lock())
    assert "lock" in str(info.value)
    assert "put" in str(info.value)


def test_unpicklable_argument_is_refused_at_remote_time(shared_cluster):
    with pytest.raises(TypeError) as info:
        echo.remote(threading.Lock())
    assert "lock" in str(info.value)
    assert "echo" in str(info.value)


def test_unpicklable_keyword_argument(shared_cluster):
    with pytest.raises(TypeError, match="echo"):
        echo.remote(x=threading.Lock())


def test_unpicklable_return_value(shared_cluster):
    with pytest.raises(TypeError) as info:
        nbray.get(returns_a_lock.remote(), timeout=30)
    assert isinstance(info.value, nbray.exceptions.RayTaskError)
    assert "returns_a_lock" in str(info.value)
    assert "lock" in str(info.value)


def test_unpicklable_closure_is_refused(shared_cluster):
    lock = threading.Lock()

    @nbray.remote
    def uses_lock():
        with lock:
            return 1

    with pytest.raises(TypeError):
        uses_lock.remote()


# -- get / wait / cancel of things that are not refs -------------------------------------
@pytest.mark.parametrize("value", [1, "ref", None, {"a": 1}])
def test_get_of_a_non_ref(shared_cluster, value):
    with pytest.raises(TypeError):
        nbray.get(value)


def test_get_of_a_list_with_a_non_ref(shared_cluster):
    with pytest.raises(TypeError, match="item 1"):
        nbray.get([nbray.put(1), 2])


def test_get_of_a_remote_function_hints_at_remote(shared_cluster):
    with pytest.raises(TypeError, match=r"\.remote\(\)"):
        nbray.get(echo)


def test_wait_of_a_single_ref(shared_cluster):
    with pytest.raises(TypeError):
        nbray.wait(nbray.put(1))


def test_wait_of_a_list_with_a_non_ref(shared_cluster):
    with pytest.raises(TypeError):
        nbray.wait([nbray.put(1), "x"])


@pytest.mark.parametrize("timeout", [-1, -0.001])
def test_negative_timeout(shared_cluster, timeout):
    ref = nbray.put(1)
    with pytest.raises(ValueError):
        nbray.get(ref, timeout=timeout)
    with pytest.raises(ValueError):
        nbray.wait([ref], timeout=timeout)


def test_timeout_must_be_a_number(shared_cluster):
    ref = nbray.put(1)
    with pytest.raises(TypeError):
        nbray.get(ref, timeout="5")
    with pytest.raises(TypeError):
        nbray.wait([ref], timeout="5")


def test_wait_with_duplicate_refs(shared_cluster):
    ref = nbray.put(1)
    with pytest.raises(ValueError):
        nbray.wait([ref, ref])


def test_wait_num_returns_larger_than_the_list(shared_cluster):
    with pytest.raises(ValueError):
        nbray.wait([nbray.put(1)], num_returns=2)


@pytest.mark.parametrize("n", [0, -1])
def test_wait_num_returns_must_be_positive(shared_cluster, n):
    with pytest.raises(ValueError):
        nbray.wait([nbray.put(1)], num_returns=n)


# -- options ---------------------------------------------------------------------------------
def test_unknown_option_in_the_decorator():
    with pytest.raises(ValueError, match="not_an_option"):
        nbray.remote(not_an_option=1)(plain)


def test_unknown_option_in_options():
    with pytest.raises(ValueError, match="not_an_option"):
        echo.options(not_an_option=1)


@pytest.mark.parametrize("options", [
    {"num_returns": -1}, {"num_cpus": -1}, {"num_gpus": -2}, {"max_retries": -2},
])
def test_out_of_range_option_values(options):
    with pytest.raises(ValueError):
        nbray.remote(**options)(plain)
    with pytest.raises(ValueError):
        echo.options(**options)


@pytest.mark.parametrize("options", [{"num_returns": 1.5}, {"max_retries": "3"},
                                     {"num_cpus": "1"}])
def test_option_values_of_the_wrong_type(options):
    # Ray raises TypeError for these; a ValueError is as clear.
    with pytest.raises((TypeError, ValueError)):
        nbray.remote(**options)(plain)
    with pytest.raises((TypeError, ValueError)):
        echo.options(**options)


def test_invalid_retry_exceptions():
    with pytest.raises(TypeError):
        nbray.remote(retry_exceptions="yes")(plain)
    with pytest.raises(TypeError):
        nbray.remote(retry_exceptions=[42])(plain)


def test_remote_needs_a_callable():
    with pytest.raises(TypeError):
        nbray.remote(42)


def test_remote_with_positional_arguments_and_options():
    with pytest.raises(TypeError):
        nbray.remote(plain, num_cpus=1)
