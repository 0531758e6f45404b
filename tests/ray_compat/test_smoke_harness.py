"""The harness itself: both backends start, run a task defined at module level and in a test."""

from __future__ import annotations

import pytest


def square(x):
    return x * x


def test_module_level_function_runs(ray):
    f = ray.remote(square)
    assert ray.get([f.remote(i) for i in range(4)]) == [0, 1, 4, 9]


def test_function_defined_in_the_test_runs(ray):
    @ray.remote
    def add(a, b):
        return a + b

    assert ray.get(add.remote(1, 2)) == 3


@pytest.mark.init(num_cpus=1)
def test_fresh_cluster_uses_its_init_arguments(ray_fresh):
    assert ray_fresh.cluster_resources()["CPU"] == 1
