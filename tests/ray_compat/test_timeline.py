"""timeline(): Chrome trace events of the tasks and actor calls that ran."""

from __future__ import annotations

import json
import time

from tests._support import poll_for


def _events_for(ray, task_ids):
    """Wait until the timeline has an event for every task id (Ray reports them in batches)."""
    found = {}

    def all_there():
        for ev in ray.timeline():
            tid = (ev.get("args") or {}).get("task_id")
            if tid in task_ids and ev.get("ph") == "X":
                found[tid] = ev
        return set(found) == set(task_ids)

    poll_for(all_there, timeout=60, interval=0.2, msg="the runs to reach the timeline")
    return found


def test_tasks_and_actor_calls_appear_with_worker_and_timing(ray):
    @ray.remote
    def traced_task():
        ctx = ray.get_runtime_context()
        return ctx.get_task_id(), ctx.get_worker_id()

    @ray.remote
    class TracedActor:
        def traced_method(self):
            ctx = ray.get_runtime_context()
            return ctx.get_task_id(), ctx.get_worker_id()

    before = time.time()
    runs = {"traced_task": ray.get([traced_task.remote() for _ in range(3)])}
    actor = TracedActor.remote()
    runs["traced_method"] = [ray.get(actor.traced_method.remote()) for _ in range(2)]
    events = _events_for(ray, [tid for rs in runs.values() for tid, _ in rs])

    for name, rs in runs.items():
        for task_id, worker_id in rs:
            ev = events[task_id]
            assert ev["name"].split(".")[-1] == name
            assert name in ev["cat"]
            assert ev["tid"] == f"worker:{worker_id}"
            assert before - 60 <= ev["ts"] / 1e6 <= time.time() + 60   # microseconds
            assert 0 <= ev["dur"] < 60e6
    pids = {ev["pid"] for ev in events.values()}
    assert len(pids) == 1   # one node
    first, second = (events[tid] for tid, _ in runs["traced_method"])
    # Calls of one actor ran one after the other, on one worker.
    assert first["tid"] == second["tid"]
    assert second["ts"] >= first["ts"] + first["dur"] - 1000
    ray.kill(actor)


def test_timeline_with_a_filename_writes_json_and_returns_none(ray, tmp_path):
    @ray.remote
    def written():
        return ray.get_runtime_context().get_task_id()

    task_id = ray.get(written.remote())
    _events_for(ray, [task_id])
    path = tmp_path / "timeline.json"
    assert ray.timeline(filename=str(path)) is None
    events = json.loads(path.read_text())
    assert isinstance(events, list)
    assert any((ev.get("args") or {}).get("task_id") == task_id for ev in events)
