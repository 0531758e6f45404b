"""`nbray.timeline(filename)` writes a Chrome trace that chrome://tracing and Perfetto open.

Tasks on two workers (each waits until the other has started, so two workers surely
ran them at the same time) and calls of an actor are exported to a file; the file is
checked as a Chrome trace in the JSON array format: "complete" events (`ph` "X") with
`ts`/`dur` in microseconds on the worker's row, and metadata events (`ph` "M") that name
every process and thread row the complete events use.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Dict, List

import nbray
from tests._support import FileEvent, poll_for


@nbray.remote
def meet(mine: FileEvent, theirs: FileEvent) -> Dict[str, str]:
    mine.set()
    assert theirs.wait(), "the other task never started"
    ctx = nbray.get_runtime_context()
    return {"task_id": ctx.get_task_id(), "worker_id": ctx.get_worker_id(),
            "node_id": ctx.get_node_id()}


@nbray.remote
class Tally:
    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> Dict[str, Any]:
        self.total += n
        ctx = nbray.get_runtime_context()
        return {"task_id": ctx.get_task_id(), "worker_id": ctx.get_worker_id(),
                "node_id": ctx.get_node_id(), "total": self.total}


def _no_constants(name: str) -> float:
    raise AssertionError(f"the trace holds {name}, which is not JSON")


def _load(path: Any) -> List[Dict[str, Any]]:
    with open(path) as f:
        events = json.load(f, parse_constant=_no_constants)
    assert isinstance(events, list) and events, events
    return events


def test_timeline_file_is_a_chrome_trace_of_both_workers_and_the_actor(make_cluster, tmp_path):
    make_cluster(num_cpus=2)
    started = time.time()
    a, b = FileEvent(tmp_path / "a-started"), FileEvent(tmp_path / "b-started")
    tasks = nbray.get([meet.remote(a, b), meet.remote(b, a)])
    tally = Tally.remote()
    calls = [nbray.get(tally.add.remote(n)) for n in (1, 2, 3)]
    assert [c["total"] for c in calls] == [1, 3, 6]
    assert len({t["worker_id"] for t in tasks}) == 2
    wanted = {r["task_id"] for r in tasks + calls}

    path = tmp_path / "trace.json"

    def exported() -> List[Dict[str, Any]]:
        assert nbray.timeline(str(path)) is None
        events = _load(path)
        ran = {(e.get("args") or {}).get("task_id") for e in events if e.get("ph") == "X"}
        return events if wanted <= ran else []

    events = poll_for(exported, timeout=60, msg="every run to reach the timeline")
    # Nothing ran since: the file holds what timeline() returns.
    assert json.loads(json.dumps(nbray.timeline())) == events

    complete = [e for e in events if e["ph"] == "X"]
    for e in events:
        assert isinstance(e["ph"], str) and e["ph"] in ("X", "M"), e
        assert isinstance(e["name"], str) and e["name"], e
        assert isinstance(e["pid"], (int, str)) and isinstance(e["tid"], (int, str)), e
    for e in complete:
        assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float)), e
        assert math.isfinite(e["ts"]) and e["dur"] >= 0, e
        assert started - 60 <= e["ts"] / 1e6 <= time.time() + 60, e   # microseconds
        assert isinstance(e["cat"], str) and isinstance(e["args"], dict), e

    # Metadata names every row the runs use, once: each node ("process") and each worker
    # ("thread"); without it a viewer labels the rows with the bare ids.
    meta = [e for e in events if e["ph"] == "M"]
    for e in meta:
        assert isinstance(e["args"], dict) and e["args"], e
    threads = [(e["pid"], e["tid"]) for e in meta if e["name"] == "thread_name"]
    processes = [e["pid"] for e in meta if e["name"] == "process_name"]
    assert len(threads) == len(set(threads)) and len(processes) == len(set(processes))
    assert {(e["pid"], e["tid"]) for e in complete} <= set(threads)
    assert {e["pid"] for e in complete} <= set(processes)
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    for run in tasks + calls:
        row = (f"node:{run['node_id'][:12]}", f"worker:{run['worker_id']}")
        assert run["worker_id"] in names[row], (row, names)

    by_task = {e["args"]["task_id"]: e for e in complete if e["args"].get("task_id") in wanted}
    # Each run is on the row of the worker that ran it, under its node.
    for run in tasks + calls:
        event = by_task[run["task_id"]]
        assert event["tid"] == f"worker:{run['worker_id']}", event
        assert event["args"]["worker_id"] == run["worker_id"], event
    task_events = [by_task[t["task_id"]] for t in tasks]
    assert {e["name"] for e in task_events} == {"meet"}
    assert {e["pid"] for e in task_events} == {f"node:{tasks[0]['node_id'][:12]}"}
    # The two tasks waited for each other: their bars overlap, on two rows.
    first, second = task_events
    assert first["ts"] < second["ts"] + second["dur"] and second["ts"] < first["ts"] + first["dur"]
    assert first["tid"] != second["tid"]
    # The actor's calls: one row, one after the other, named by class and method.
    call_events = [by_task[c["task_id"]] for c in calls]
    assert len({e["tid"] for e in call_events}) == 1
    assert all(e["name"].endswith("add") for e in call_events), [e["name"] for e in call_events]
    for earlier, later in zip(call_events, call_events[1:]):
        assert later["ts"] >= earlier["ts"] + earlier["dur"] - 1000, (earlier, later)
    nbray.kill(tally)
