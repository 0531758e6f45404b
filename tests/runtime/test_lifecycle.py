"""init / shutdown / re-init / is_initialized, and starting a cluster on first use."""

from __future__ import annotations

import psutil
import pytest

import nbray
from tests._support import FileEvent, pid_gone, poll_for

MiB = 2**20


@nbray.remote
def double(x):
    return 2 * x


@nbray.remote
def inside_task_state():
    return nbray.is_initialized()


@nbray.remote
def block_until(started, go):
    started.set()
    go.wait(120)
    return "done"


@pytest.fixture
def auto_shutdown():
    """For tests that start a cluster without the cluster fixtures."""
    assert not nbray.is_initialized()
    yield
    nbray.shutdown()


def test_not_initialized_before_init():
    assert not nbray.is_initialized()


def test_init_and_shutdown(make_cluster):
    c = make_cluster()
    assert nbray.is_initialized()
    assert c.context["node_id"] == c.node.node_id
    assert nbray.get(double.remote(21)) == 42
    nbray.shutdown()
    assert not nbray.is_initialized()


def test_init_starts_one_worker_process_per_cpu(make_cluster):
    c = make_cluster(num_cpus=2)
    pids = poll_for(lambda: len(c.worker_pids()) >= 2 and c.worker_pids())
    children = {p.pid for p in psutil.Process().children()}
    assert set(pids) <= children


def test_shutdown_stops_every_worker(make_cluster):
    c = make_cluster()
    assert nbray.get([double.remote(i) for i in range(4)]) == [0, 2, 4, 6]
    pids = c.worker_pids()
    assert pids
    nbray.shutdown()
    poll_for(lambda: all(pid_gone(p) for p in pids), msg="workers to exit")
    assert psutil.Process().children() == []


def test_shutdown_twice_is_harmless(make_cluster):
    make_cluster()
    nbray.shutdown()
    nbray.shutdown()
    assert not nbray.is_initialized()


def test_shutdown_without_init_is_harmless():
    nbray.shutdown()
    assert not nbray.is_initialized()


def test_shutdown_with_a_task_still_running(make_cluster, tmp_path):
    c = make_cluster()
    started, go = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "go")
    ref = block_until.remote(started, go)
    poll_for(started.is_set, msg="the task to start")
    pids = c.worker_pids()
    nbray.shutdown()
    poll_for(lambda: all(pid_gone(p) for p in pids), msg="workers to exit")
    del ref


def test_reinit_with_the_same_arguments_returns_the_running_cluster(make_cluster):
    c = make_cluster()
    ctx = nbray.init(**c.options)
    assert ctx["node_id"] == c.context["node_id"]
    assert nbray.runtime.context.current_driver().node is c.node


def test_reinit_without_arguments_returns_the_running_cluster(make_cluster):
    c = make_cluster()
    ctx = nbray.init()
    assert ctx["node_id"] == c.context["node_id"]
    assert nbray.cluster_resources()["CPU"] == 2


def test_reinit_with_other_arguments_raises(make_cluster):
    make_cluster(num_cpus=2)
    with pytest.raises(RuntimeError, match="ignore_reinit_error"):
        nbray.init(num_cpus=1)
    assert nbray.is_initialized()
    assert nbray.cluster_resources()["CPU"] == 2


def test_reinit_with_ignore_reinit_error_keeps_the_running_cluster(make_cluster):
    c = make_cluster(num_cpus=2)
    ctx = nbray.init(num_cpus=1, ignore_reinit_error=True)
    assert ctx["node_id"] == c.context["node_id"]
    assert nbray.cluster_resources()["CPU"] == 2


def test_init_after_shutdown_starts_a_new_cluster(make_cluster):
    first = make_cluster(num_cpus=2)
    first_node = first.node.node_id
    first_pids = set(first.worker_pids())
    nbray.shutdown()
    second = make_cluster(num_cpus=1)
    assert second.node.node_id != first_node
    assert nbray.cluster_resources()["CPU"] == 1
    assert nbray.get(double.remote(4)) == 8
    assert not set(second.worker_pids()) & first_pids


def test_init_arguments_show_in_cluster_resources(make_cluster):
    make_cluster(num_cpus=3, object_store_memory=64 * MiB, resources={"special": 2})
    res = nbray.cluster_resources()
    assert res["CPU"] == 3
    assert res["special"] == 2
    assert res["object_store_memory"] == 64 * MiB


def test_init_returns_a_context_manager_that_shuts_down(auto_shutdown):
    with nbray.init(num_cpus=1, object_store_memory=64 * MiB) as ctx:
        assert nbray.is_initialized()
        assert ctx["node_id"]
        assert nbray.get(double.remote(1)) == 2
    assert not nbray.is_initialized()


def test_put_starts_a_cluster_on_first_use(auto_shutdown):
    ref = nbray.put("hello")
    assert nbray.is_initialized()
    assert nbray.get(ref) == "hello"


def test_remote_call_starts_a_cluster_on_first_use(auto_shutdown):
    ref = double.remote(5)
    assert nbray.is_initialized()
    assert nbray.get(ref) == 10


def test_is_initialized_inside_a_task(cluster):
    assert nbray.get(inside_task_state.remote()) is True


@pytest.mark.parametrize("kwargs, error", [
    ({"num_cpus": -1}, ValueError),     # num_cpus=0 is allowed, as in Ray: a driver that only submits
    ({"num_cpus": 1.5}, ValueError),
    ({"object_store_memory": 1024}, ValueError),
    ({"not_an_option": 1}, TypeError),
])
def test_init_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        nbray.init(**kwargs)
    assert not nbray.is_initialized()


def test_shutdown_right_after_init_leaves_no_worker(make_cluster):
    # Workers are still being started when shutdown() runs: none may survive it.
    make_cluster(num_cpus=2)
    nbray.shutdown()
    poll_for(lambda: not psutil.Process().children(), timeout=5,
             msg="every worker to exit after shutdown()")
