"""retry_exceptions with exception classes defined where they cannot be imported (inside a
function, as in a notebook cell): the task is retried for them and only for them."""

from __future__ import annotations

import pytest


def test_retry_exceptions_with_a_class_defined_in_a_function(ray, tmp_path):
    class Flaky(Exception):
        pass

    class Fatal(Exception):
        pass

    counter = tmp_path / "attempts"

    @ray.remote(max_retries=3, retry_exceptions=[Flaky])
    def flaky_then_fine(path):
        import os

        n = len(os.listdir(path))
        with open(os.path.join(path, f"attempt-{n}"), "w"):
            pass
        if n < 2:
            raise Flaky(f"attempt {n}")
        return n

    counter.mkdir()
    assert ray.get(flaky_then_fine.remote(str(counter))) == 2

    @ray.remote(max_retries=3, retry_exceptions=[Flaky])
    def fatal():
        raise Fatal("not retried")

    with pytest.raises(Fatal):
        ray.get(fatal.remote())
