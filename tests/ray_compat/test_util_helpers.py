"""The smaller `ray.util` helpers on nbray and on Ray: `as_completed`, `map_unordered`,
`list_named_actors`, `get_node_ip_address` and `inspect_serializability`."""

from __future__ import annotations

import io
import ipaddress
import threading

import pytest


def test_as_completed_yields_every_value(ray):
    @ray.remote
    def square(x):
        return x * x

    refs = [square.remote(i) for i in range(25)]
    assert sorted(ray.util.as_completed(refs, chunk_size=4)) == [i * i for i in range(25)]
    got_refs = list(ray.util.as_completed(refs, yield_obj_refs=True))
    assert sorted(ray.get(got_refs)) == [i * i for i in range(25)]
    with pytest.raises(ValueError):
        list(ray.util.as_completed(refs, chunk_size=0))


def test_map_unordered_runs_a_remote_function_over_items(ray):
    @ray.remote
    def double(x):
        return 2 * x

    out = ray.util.map_unordered(double, iter(range(30)), backpressure_size=4, chunk_size=2)
    assert sorted(out) == [2 * i for i in range(30)]
    with pytest.raises(ValueError):
        list(ray.util.map_unordered(double, [1], backpressure_size=0))


def test_list_named_actors(ray):
    @ray.remote
    class Named:
        def ping(self):
            return 1

    a = Named.options(name="util-helpers-a").remote()
    b = Named.options(name="util-helpers-b", namespace="util-helpers-other").remote()
    ray.get([a.ping.remote(), b.ping.remote()])
    names = ray.util.list_named_actors()
    assert "util-helpers-a" in names and "util-helpers-b" not in names
    everywhere = ray.util.list_named_actors(all_namespaces=True)
    assert {"name": "util-helpers-b", "namespace": "util-helpers-other"} in everywhere
    ray.kill(a)
    ray.kill(b)


def test_get_node_ip_address_is_an_ip(ray):
    ipaddress.ip_address(ray.util.get_node_ip_address())


def test_inspect_serializability_names_the_culprit(ray):
    lock = threading.Lock()

    def uses_lock():
        return lock.locked()

    report = io.StringIO()
    ok, failures = ray.util.inspect_serializability(uses_lock, name="uses_lock",
                                                    print_file=report)
    assert ok is False
    assert any(f.obj is lock for f in failures)
    assert "lock" in report.getvalue()

    ok, failures = ray.util.inspect_serializability([1, "two", {"three": 3}],
                                                    print_file=io.StringIO())
    assert ok is True and not failures
