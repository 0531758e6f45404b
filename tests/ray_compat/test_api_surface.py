"""Names and ids a Ray program touches: ObjectRef's id methods, aliases, what init() returns."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import platform

import pytest

RAY_ADDRESS_INFO_KEYS = {
    "node_ip_address", "redis_address", "object_store_address", "raylet_socket_name",
    "webui_url", "session_dir", "metrics_export_port", "gcs_address", "address",
    "dashboard_agent_listen_port", "node_id",
}


def test_object_ref_ids_are_28_bytes_printed_as_56_hex_digits(ray):
    ref = ray.put("value")
    assert len(ref.binary()) == 28
    assert len(ref.hex()) == 56 and int(ref.hex(), 16) >= 0
    assert ref.hex() == ref.binary().hex()
    assert repr(ref) == f"ObjectRef({ref.hex()})"


def test_object_ref_size_is_the_id_length_not_the_object_size(ray):
    big = ray.put(b"x" * 1_000_000)
    assert big.size() == 28
    assert ray.ObjectRef.size() == 28


def test_return_refs_carry_the_id_of_the_task_that_makes_them(ray):
    @ray.remote(num_returns=2)
    def pair():
        return ray.get_runtime_context().get_task_id(), 2

    first, second = pair.remote()
    other, _ = pair.remote()
    assert first.task_id() == second.task_id()
    assert first.task_id() != other.task_id()
    assert first != second
    assert first.task_id().hex() == ray.get(first)
    assert len(first.task_id().binary()) == 24 and first.task_id().size() == 24
    assert first.hex().startswith(first.task_id().hex())


def test_object_ref_job_id_is_the_drivers_job(ray):
    ref = ray.put(1)
    job = ref.job_id()
    assert job.hex() == ray.get_runtime_context().get_job_id()
    assert len(job.binary()) == 4


def test_nil_ref(ray):
    nil = ray.ObjectRef.nil()
    assert nil.is_nil()
    assert nil.hex() == "f" * 56
    assert not ray.put(1).is_nil()


def test_a_ref_rebuilt_from_its_bytes_is_the_same_ref(ray):
    ref = ray.put([1, 2, 3])
    again = ray.ObjectRef.from_binary(ref.binary())
    assert again == ref and hash(again) == hash(ref)
    assert ray.ObjectRef(ref.binary()) == ref
    assert ray.get(again) == [1, 2, 3]


def test_object_ref_rejects_ids_of_the_wrong_kind(ray):
    with pytest.raises(ValueError, match="28"):
        ray.ObjectRef(b"short")
    with pytest.raises(TypeError):
        ray.ObjectRef("00" * 28)


def test_object_id_is_the_old_name_of_object_ref(ray):
    assert ray.ObjectID is ray.ObjectRef


def test_raylet_module_exports_object_ref_for_type_hints(ray):
    raylet = importlib.import_module(f"{ray.__name__}._raylet")
    assert raylet.ObjectRef is ray.ObjectRef
    assert isinstance(ray.put(1), raylet.ObjectRef)


def test_future_of_a_ref_is_a_concurrent_future(ray):
    @ray.remote
    def seven():
        return 7

    fut = seven.remote().future()
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=60) == 7


def test_failed_task_future_raises_the_task_error(ray):
    @ray.remote
    def boom():
        raise KeyError("missing")

    fut = boom.remote().future()
    with pytest.raises(KeyError):
        fut.result(timeout=60)


def test_as_future_is_awaitable_in_asyncio(ray):
    @ray.remote
    def eight():
        return 8

    ref = eight.remote()

    async def main():
        fut = ref.as_future()
        assert isinstance(fut, asyncio.Future)
        return await fut

    assert asyncio.run(main()) == 8


def test_node_and_job_ids_have_rays_lengths(ray):
    ctx = ray.get_runtime_context()
    assert len(ctx.get_node_id()) == 56
    assert len(ctx.get_job_id()) == 8
    assert [n["NodeID"] for n in ray.nodes()] == [ctx.get_node_id()]


def test_init_again_returns_the_running_clusters_context(ray):
    ctx = ray.init(ignore_reinit_error=True)
    assert set(ctx.address_info) == RAY_ADDRESS_INFO_KEYS
    assert ctx.address_info["node_id"] == ray.get_runtime_context().get_node_id()
    assert ctx.python_version == platform.python_version()
    assert isinstance(ctx.ray_version, str) and ctx.ray_version
    assert not ctx.dashboard_url   # no dashboard in these clusters
    assert dict(ctx.address_info) == {k: ctx.address_info[k] for k in RAY_ADDRESS_INFO_KEYS}


def test_get_gpu_ids_in_the_driver_is_empty(ray):
    assert ray.get_gpu_ids() == []


@pytest.mark.init(num_cpus=0)
def test_a_driver_with_no_cpus_runs_zero_cpu_work(ray_fresh):
    ray = ray_fresh
    assert "CPU" not in ray.cluster_resources()

    @ray.remote(num_cpus=0)
    def five():
        return 5

    @ray.remote(num_cpus=0)
    class Box:
        def get(self):
            return "boxed"

    assert ray.get(five.remote(), timeout=60) == 5
    assert ray.get(Box.remote().get.remote(), timeout=60) == "boxed"


@pytest.mark.init(labels={"team": "compat"}, _system_config={},
                  log_to_driver=True, configure_logging=True)
def test_init_accepts_rays_other_keywords(ray_fresh):
    ray = ray_fresh

    @ray.remote
    def ok():
        return "ok"

    assert ray.get(ok.remote(), timeout=60) == "ok"
