"""get_runtime_context(): ids, the current actor and assigned resources, in the driver, tasks
and actors; cluster queries and GPU ids from inside tasks."""

from __future__ import annotations

import importlib
import os

import pytest

from tests._support import FileEvent, poll_for


def test_runtime_context_module_has_the_class_and_the_function(ray):
    module = importlib.import_module(f"{ray.__name__}.runtime_context")
    ctx = ray.get_runtime_context()
    assert isinstance(ctx, module.RuntimeContext)
    assert isinstance(module.get_runtime_context(), module.RuntimeContext)


def test_driver_context(ray):
    ctx = ray.get_runtime_context()
    assert ctx.get_task_id() is None
    assert ctx.get_actor_id() is None
    assert isinstance(ctx.namespace, str) and ctx.namespace
    with pytest.raises(RuntimeError, match="actor"):
        ctx.current_actor


def test_task_context(ray):
    @ray.remote
    def where():
        ctx = ray.get_runtime_context()
        try:
            ctx.current_actor
            outside = "no error"
        except RuntimeError as e:
            outside = str(e)
        return {"task": ctx.get_task_id(), "actor": ctx.get_actor_id(),
                "job": ctx.get_job_id(), "node": ctx.get_node_id(),
                "resources": ctx.get_assigned_resources(),
                "gpus": ctx.get_accelerator_ids()["GPU"], "canceled": ctx.is_canceled(),
                "current_actor": outside}

    ref = where.remote()
    got = ray.get(ref)
    driver = ray.get_runtime_context()
    assert got["task"] == ref.task_id().hex() and len(got["task"]) == 48
    assert got["actor"] is None
    assert got["job"] == driver.get_job_id()
    assert got["node"] == driver.get_node_id()
    assert got["resources"] == {"CPU": 1.0}
    assert got["gpus"] == []
    assert got["canceled"] is False
    assert "actor" in got["current_actor"]


def test_assigned_resources_follow_the_tasks_options(ray):
    @ray.remote
    def assigned():
        return ray.get_runtime_context().get_assigned_resources()

    assert ray.get(assigned.options(num_cpus=2).remote()) == {"CPU": 2.0}
    assert ray.get(assigned.options(num_cpus=0).remote()) == {}


def test_actor_context(ray):
    @ray.remote
    class Probe:
        def __init__(self):
            self.created_in = ray.get_runtime_context().get_actor_id()

        def where(self):
            ctx = ray.get_runtime_context()
            return {"actor": ctx.get_actor_id(), "created_in": self.created_in,
                    "task": ctx.get_task_id(), "name": ctx.get_actor_name(),
                    "restarted": ctx.was_current_actor_reconstructed,
                    "resources": ctx.get_assigned_resources()}

        def me(self):
            return ray.get_runtime_context().current_actor

    named = Probe.options(name="context-probe", num_cpus=1).remote()
    plain = Probe.remote()
    ref = named.where.remote()
    a = ray.get(ref)
    b = ray.get(plain.where.remote())
    assert a["actor"] == a["created_in"] and len(a["actor"]) == 32
    assert a["actor"] != b["actor"]
    assert a["task"] == ref.task_id().hex()
    assert a["name"] == "context-probe"
    assert a["restarted"] is False
    assert a["resources"] == {"CPU": 1.0}
    assert b["resources"] == {}
    me = ray.get(named.me.remote())
    assert ray.get(me.where.remote())["actor"] == a["actor"]
    ray.kill(named)
    ray.kill(plain)


def test_cluster_queries_work_inside_tasks_and_actors(ray):
    @ray.remote
    def look():
        return (ray.cluster_resources()["CPU"], [n["NodeID"] for n in ray.nodes()],
                "CPU" in ray.cluster_resources(), isinstance(ray.available_resources(), dict))

    @ray.remote
    class Looker:
        def look(self):
            return [n["NodeID"] for n in ray.nodes()], ray.cluster_resources()["CPU"]

    node = ray.get_runtime_context().get_node_id()
    cpus, nodes, has_cpu, avail = ray.get(look.remote())
    assert cpus == 2 and nodes == [node] and has_cpu and avail
    looker = Looker.remote()
    assert ray.get(looker.look.remote()) == ([node], 2)
    ray.kill(looker)


@pytest.mark.init(num_gpus=2)
def test_gpu_ids_and_cuda_visible_devices(ray_fresh, tmp_path):
    ray = ray_fresh

    @ray.remote
    def report(started=None, go=None):
        if started is not None:
            started.set()
            go.wait(60)
        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"), \
            ray.get_runtime_context().get_accelerator_ids()["GPU"]

    ids, env, acc = ray.get(report.options(num_gpus=2).remote())
    assert sorted(ids) == [0, 1]
    assert sorted(env.split(",")) == ["0", "1"]
    assert sorted(acc) == ["0", "1"]
    ids, env, acc = ray.get(report.options(num_gpus=1).remote())
    assert len(ids) == 1 and env == str(ids[0]) and acc == [str(ids[0])]
    assert ray.get(report.remote())[0] == []

    # Two one-GPU tasks running at once get different GPUs.
    s1, s2, go = FileEvent(tmp_path / "s1"), FileEvent(tmp_path / "s2"), FileEvent(tmp_path / "go")
    refs = [report.options(num_gpus=1).remote(s1, go), report.options(num_gpus=1).remote(s2, go)]
    poll_for(lambda: s1.is_set() and s2.is_set(), msg="both GPU tasks to run")
    go.set()
    (ids1, _, _), (ids2, _, _) = ray.get(refs, timeout=60)
    assert sorted(ids1 + ids2) == [0, 1]

    # Half a GPU each: both tasks share one.
    halves = ray.get([report.options(num_gpus=0.5).remote() for _ in range(2)])
    assert all(len(h[0]) == 1 for h in halves)

    @ray.remote(num_gpus=1)
    class OnGpu:
        def report(self):
            return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"), \
                ray.get_runtime_context().get_assigned_resources()

    actor = OnGpu.remote()
    ids, env, assigned = ray.get(actor.report.remote())
    # An actor that asks for a GPU also holds a CPU unless it says num_cpus (Ray's rule).
    assert len(ids) == 1 and env == str(ids[0]) and assigned == {"CPU": 1.0, "GPU": 1.0}
    assert ray.get(actor.report.remote())[0] == ids   # the actor keeps its GPU between calls


def test_a_restarted_actor_knows_it_was_reconstructed(ray):
    @ray.remote(max_restarts=1)
    class Phoenix:
        def reconstructed(self):
            return ray.get_runtime_context().was_current_actor_reconstructed

        def die(self):
            os._exit(1)

    actor = Phoenix.remote()
    assert ray.get(actor.reconstructed.remote()) is False
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.die.remote(), timeout=60)
    seen = []

    def answered_after_restart():
        try:
            seen.append(ray.get(actor.reconstructed.remote(), timeout=60))
        except ray.exceptions.RayActorError:
            return False   # still restarting
        return True

    poll_for(answered_after_restart, timeout=60, msg="the actor to restart")
    assert seen[-1] is True
    ray.kill(actor)
