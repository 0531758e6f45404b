"""nodes(), cluster_resources(), available_resources(), get_runtime_context()."""

from __future__ import annotations

import os

import pytest

import nbray
from tests._support import FileEvent, poll_for

MiB = 2**20


@nbray.remote
def task_context():
    ctx = nbray.get_runtime_context()
    return {"node": ctx.get_node_id(), "task": ctx.get_task_id(), "worker": ctx.get_worker_id(),
            "job": ctx.get_job_id(), "pid": os.getpid()}


@nbray.remote
def hold(started, go):
    started.set()
    go.wait(120)
    return "done"


@nbray.remote(num_cpus=0.5)
def hold_half(started, go):
    started.set()
    go.wait(120)
    return "half"


def test_nodes_describes_the_one_local_node(cluster):
    (node,) = nbray.nodes()
    assert node["Alive"] is True
    assert node["NodeID"] == cluster.node.node_id
    assert node["NodeID"] == nbray.get_runtime_context().get_node_id()
    assert node["Resources"]["CPU"] == 2
    assert node["Resources"]["object_store_memory"] == 256 * MiB


def test_cluster_resources(make_cluster):
    make_cluster(num_cpus=2, resources={"special": 3}, object_store_memory=64 * MiB)
    res = nbray.cluster_resources()
    assert res["CPU"] == 2.0
    assert res["special"] == 3.0
    assert res["object_store_memory"] == 64 * MiB
    assert "GPU" not in res


def test_num_gpus_shows_in_cluster_resources(make_cluster):
    make_cluster(num_gpus=2)
    assert nbray.cluster_resources()["GPU"] == 2.0


def test_available_resources_when_idle(cluster):
    poll_for(lambda: nbray.available_resources().get("CPU") == 2.0, msg="both CPUs free")
    avail = nbray.available_resources()
    assert 0 < avail["object_store_memory"] <= 256 * MiB


def test_available_resources_while_tasks_run(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    s1, s2 = FileEvent(tmp_path / "s1"), FileEvent(tmp_path / "s2")
    first = hold.remote(s1, go)
    poll_for(s1.is_set)
    assert nbray.available_resources().get("CPU", 0.0) == 1.0
    second = hold_half.remote(s2, go)
    poll_for(s2.is_set)
    assert nbray.available_resources().get("CPU", 0.0) == 0.5
    go.set()
    assert nbray.get([first, second], timeout=30) == ["done", "half"]
    poll_for(lambda: nbray.available_resources().get("CPU") == 2.0, msg="CPUs to be released")


def test_available_store_memory_shrinks_with_puts(cluster):
    import numpy as np

    before = nbray.available_resources()["object_store_memory"]
    ref = nbray.put(np.zeros(2_000_000))  # 16 MB
    after = nbray.available_resources()["object_store_memory"]
    assert before - after >= 16_000_000
    del ref


def test_runtime_context_in_the_driver(cluster):
    ctx = nbray.get_runtime_context()
    assert ctx.get_task_id() is None
    assert ctx.get_node_id() == cluster.node.node_id
    assert isinstance(ctx.get_job_id(), str) and ctx.get_job_id()
    assert isinstance(ctx.get_worker_id(), str)


def test_runtime_context_in_a_task(cluster):
    driver = nbray.get_runtime_context()
    ref = task_context.remote()
    inside = nbray.get(ref)
    assert inside["node"] == driver.get_node_id()
    assert inside["job"] == driver.get_job_id()
    assert inside["task"] is not None
    assert inside["task"] == ref.task_id().hex()
    assert inside["worker"] and inside["worker"] != driver.get_worker_id()


def test_each_task_has_its_own_task_id(cluster):
    ids = [c["task"] for c in nbray.get([task_context.remote() for _ in range(5)])]
    assert len(set(ids)) == 5


def test_tasks_in_different_workers_report_different_worker_ids(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")

    @nbray.remote
    def context_when_both_run(started, go):
        started.set()
        go.wait(120)
        ctx = nbray.get_runtime_context()
        return ctx.get_worker_id(), os.getpid()

    s1, s2 = FileEvent(tmp_path / "s1"), FileEvent(tmp_path / "s2")
    refs = [context_when_both_run.remote(s1, go), context_when_both_run.remote(s2, go)]
    poll_for(lambda: s1.is_set() and s2.is_set(), msg="both tasks to run at once")
    go.set()
    (w1, p1), (w2, p2) = nbray.get(refs, timeout=30)
    assert p1 != p2
    assert w1 != w2


def test_cluster_info_needs_a_cluster():
    # Ray raises RaySystemError("Ray has not been started yet ... ray.init()").
    not_started = (RuntimeError, nbray.exceptions.RaySystemError)
    with pytest.raises(not_started, match="init"):
        nbray.nodes()
    with pytest.raises(not_started, match="init"):
        nbray.cluster_resources()
