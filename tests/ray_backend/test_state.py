"""Ray's state rows -> nbray's rows (nbray/ray_backend/state.py, cluster_rows.py): pure, no
process, no Ray.  The input rows are shaped as Ray 2.60's `ray.util.state` answers them
(one list_objects row per object and referencing process)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, AbstractSet, Dict, List, Set

import pytest

from nbray.core.object_table import ObjectEntry
from nbray.dashboard import models
from nbray.memory_summary import MemorySummary
from nbray.runtime import introspection, queries
from nbray.runtime.metrics_history import MetricsHistory, node_label
from nbray.ray_backend import cluster_rows as cr
from nbray.ray_backend.state import (INLINE_LIMIT, Cluster, aggregate_objects, is_put,
                                     node_ids_by_ip, object_page, short_call_site)

DRIVER_TASK = "ff" * 20 + "01000000"          # a driver's task id (24 bytes, hex)
KERNEL = ("10.0.0.1", 100)
N1, N2, N3 = "a1" * 28, "b2" * 28, "c3" * 28


def oid(task: str, index: int) -> str:
    return task + index.to_bytes(4, "little").hex()


PUT_BIG = oid(DRIVER_TASK, 100_000_001)
PUT_SMALL = oid(DRIVER_TASK, 100_000_002)
TASK_A = "aa" * 20 + "01000000"
RET_SMALL = oid(TASK_A, 1)
TASK_B = "bb" * 20 + "01000000"
RET_PENDING = oid(TASK_B, 1)
TASK_C = "cc" * 20 + "01000000"
RET_SPILLED = oid(TASK_C, 1)
ACTOR = oid("ff" * 8 + "12" * 12 + "01000000", 1)
SITE = "(put object)  | ray/client_mode_hook.py:wrapper:134 | cells/99.py:<module>:3"


def row(object_id: str, size: int, status: str, ref: str, ip: str, pid: int,
        site: str = "disabled", kind: str = "DRIVER") -> Dict[str, Any]:
    return {"object_id": object_id, "object_size": size, "task_status": status,
            "attempt_number": 1, "reference_type": ref, "call_site": site, "type": kind,
            "pid": pid, "ip": ip}


ROWS = [
    # owner (the kernel, with the task status) and a borrowing worker on another node
    row(PUT_BIG, 2_400_253, "FINISHED", "LOCAL_REFERENCE", *KERNEL, site=SITE),
    row(PUT_BIG, 2_400_253, "NIL", "PINNED_IN_MEMORY", "10.0.0.2", 7,
        site="(deserialize task arg) f", kind="WORKER"),
    row(PUT_SMALL, 15, "FINISHED", "LOCAL_REFERENCE", *KERNEL),
    row(RET_SMALL, 15, "FINISHED", "LOCAL_REFERENCE", *KERNEL),
    row(RET_PENDING, -1, "SUBMITTED_TO_WORKER", "LOCAL_REFERENCE", *KERNEL),
    row(RET_SPILLED, 5_000_000, "FINISHED", "USED_BY_PENDING_TASK", *KERNEL),
    row(ACTOR, -1, "NIL", "ACTOR_HANDLE", *KERNEL),
]
LOCATIONS = {
    PUT_BIG: {"node_ids": [N1, N2], "object_size": 2_400_253, "did_spill": False},
    PUT_SMALL: {"node_ids": [], "object_size": 15, "did_spill": False},
    RET_SMALL: {"node_ids": [], "object_size": 15, "did_spill": False},
    RET_PENDING: {"node_ids": [], "object_size": None, "did_spill": False},
    # Ray 2.60 keeps listing the node that spilled it
    RET_SPILLED: {"node_ids": [N2], "object_size": 5_000_000, "did_spill": True},
}
NODES = [
    {"node_id": N1, "node_ip": "10.0.0.1", "is_head_node": True, "state": "ALIVE",
     "state_message": None, "node_name": "10.0.0.1",
     "resources_total": {"CPU": 2.0, "object_store_memory": 1000.0}, "end_time_ms": 0},
    {"node_id": N2, "node_ip": "10.0.0.2", "is_head_node": False, "state": "ALIVE",
     "state_message": None, "node_name": "10.0.0.2",
     "resources_total": {"object_store_memory": 500.0}, "end_time_ms": 0},
    {"node_id": N3, "node_ip": "10.0.0.3", "is_head_node": False, "state": "DEAD",
     "state_message": "raylet died", "node_name": "10.0.0.3",
     "resources_total": {"object_store_memory": 500.0}, "end_time_ms": 1_700_000_000_000},
]
HOSTS = {N1: "head-host", N2: "w1"}
WORKERS = [{"worker_id": "d" * 56, "is_alive": True, "worker_type": "DRIVER", "node_id": N1,
            "ip": "10.0.0.1", "pid": 100},
           {"worker_id": "e" * 56, "is_alive": True, "worker_type": "WORKER", "node_id": N2,
            "ip": "10.0.0.2", "pid": 7},
           {"worker_id": "f" * 56, "is_alive": True, "worker_type": "WORKER", "node_id": N2,
            "ip": "10.0.0.2", "pid": 8}]


def cluster() -> Cluster:
    return Cluster(KERNEL, node_ids_by_ip(NODES),
                   {(w["ip"], w["pid"]): (w["worker_id"], w["node_id"]) for w in WORKERS},
                   {TASK_A: ("small", N2), TASK_B: ("slow", None), TASK_C: ("big", N2)},
                   ("ray/",))


class Names:
    """A notebook's HolderNames: `keep_me` holds PUT_SMALL, `Out[3]` holds RET_SMALL."""

    def __init__(self) -> None:
        self.by_id = {bytes.fromhex(PUT_SMALL): ["keep_me"], bytes.fromhex(RET_SMALL): ["Out[3]"]}

    def names(self, object_id: bytes) -> List[str]:
        return self.by_id.get(object_id, [])

    def matching(self, text: str) -> Set[bytes]:
        return {i for i, ns in self.by_id.items() if any(text in n.lower() for n in ns)}

    def named(self) -> AbstractSet[bytes]:
        return self.by_id.keys()

    def sort_key(self, object_id: bytes) -> Any:
        return self.by_id[object_id][0]


def label(site: str) -> str:
    return site.replace("cells/99.py:", "In [3] line ")


def by_id(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {r["object_id"]: r for r in rows}


def test_one_row_per_object_with_owner_holders_where_and_names() -> None:
    objects = aggregate_objects(ROWS, cluster(), LOCATIONS)
    assert len(objects) == 6   # seven Ray rows, six objects
    rows, total = object_page(objects, limit=None, names=Names(), label=label)
    assert total == 6
    r = by_id(rows)
    big = r[PUT_BIG]
    assert big["size"] == 2_400_253 and big["where"] == "shared_memory"
    assert big["locations"] == [N1, N2] and big["node_id"] == N1
    assert big["owner"] == {"process": "driver", "pid": 100, "node_id": N1}
    assert big["holders"] == [{"process": "driver", "pid": 100, "refs": None},
                              {"process": "e" * 56, "pid": 7, "refs": None}]
    assert big["reference_types"] == ["LOCAL_REFERENCE", "BORROWED", "PINNED_IN_MEMORY"]
    assert big["call_site"] == "In [3] line 3" and big["created_by"] == "put"
    assert big["task_id"] is None and big["held_by"] == []
    # a put is in a store even when small: no node copy is "" (unknown), never "inline"
    assert r[PUT_SMALL]["where"] == "" and r[PUT_SMALL]["held_by"] == ["keep_me"]
    small = r[RET_SMALL]
    assert small["where"] == "inline" and small["created_by"] == "small"
    assert small["task_id"] == TASK_A and small["node_id"] == N2 and small["call_site"] == ""
    assert small["held_by"] == ["Out[3]"]
    assert r[RET_PENDING]["where"] == "pending" and r[RET_PENDING]["size"] == 0
    assert r[RET_PENDING]["node_id"] == ""        # Ray has not said where it runs
    assert r[RET_SPILLED]["where"] == "spilled" and r[RET_SPILLED]["locations"] == []
    assert r[RET_SPILLED]["reference_types"] == ["USED_BY_PENDING_TASK"]
    actor = r[ACTOR]
    assert actor["type"] == "actor handle" and actor["where"] == ""
    assert actor["owner"] == {"process": "", "pid": None, "node_id": None}   # not invented
    # exactly the keys of nbray's own object rows
    node = SimpleNamespace(actors=SimpleNamespace(by_creation_object={}), node_id=N1)
    nbray_row = introspection.object_row(node, ObjectEntry(b"\1" * 28), {})
    assert all(set(x) == set(nbray_row) for x in rows)
    assert set(models.ObjectModel.__annotations__) <= set(nbray_row)
    assert all(type(big[k]) is type(nbray_row[k]) for k in nbray_row
               if nbray_row[k] is not None and big[k] is not None)


def test_unlisted_lookups_and_ambiguous_ips_stay_unknown() -> None:
    twin = [dict(NODES[0]), {**NODES[1], "node_ip": "10.0.0.1"}]
    assert node_ids_by_ip(twin) == {}
    assert node_ids_by_ip(NODES) == {"10.0.0.1": N1, "10.0.0.2": N2}   # the dead one: no
    c = Cluster(KERNEL, node_ids_by_ip(twin), {}, {})
    objects = aggregate_objects(ROWS, c, {})   # no location looked up
    r = by_id(object_page(objects, limit=None)[0])
    assert r[PUT_BIG]["owner"]["node_id"] is None and r[PUT_BIG]["node_id"] == ""
    assert r[PUT_BIG]["where"] == "" and r[PUT_BIG]["locations"] == []
    assert r[RET_SMALL]["created_by"] == "" and r[RET_SMALL]["where"] == ""
    assert r[RET_PENDING]["where"] == "pending"          # from the owner's task status
    assert r[PUT_BIG]["holders"][1]["process"] == "pid 7 at 10.0.0.2"
    # two nodes on one host (ray.cluster_utils.Cluster): Ray's workers say which node
    same_host = Cluster(KERNEL, node_ids_by_ip(twin), {KERNEL: ("d" * 56, N2)}, {})
    owner = object_page(aggregate_objects(ROWS, same_host, {}), limit=None)[0]
    assert {o["object_id"]: o["owner"]["node_id"] for o in owner}[PUT_BIG] == N2
    # an owner found by its creation call site when no row carries a task status
    lone = [row(RET_SMALL, 15, "NIL", "LOCAL_REFERENCE", "10.0.0.2", 7,
                site="(task call)  | /x/y.py:<module>:12", kind="WORKER")]
    o = object_page(aggregate_objects(lone, cluster(), {}))[0][0]
    assert o["owner"]["process"] == "e" * 56 and o["call_site"] == "/x/y.py:12"
    failed = [row(RET_SMALL, 15, "FAILED", "LOCAL_REFERENCE", *KERNEL)]
    assert object_page(aggregate_objects(failed, cluster(), {}))[0][0]["is_error"] is True
    assert is_put(PUT_SMALL) and not is_put(RET_SMALL) and not is_put("ab")
    assert short_call_site("disabled") == "" and short_call_site("<unknown>") == ""
    assert short_call_site("(deserialize task arg) f") == ""
    # Ray lists frames innermost first, its own wrappers included; runners' frames follow
    site = "(task call)  | /r/ray/remote_function.py:_remote:9 | /nb/c.py:f:4 | /p/runner.py:x:1"
    assert short_call_site(site, ("/r/ray/",)) == "/nb/c.py:4"
    assert short_call_site(site) == "/r/ray/remote_function.py:9"
    # only Ray's frames recorded (the user's was past the few Ray keeps): no call site, not
    # a file of Ray's (the submission record names the cell instead)
    assert short_call_site("(put object)  | /r/ray/w.py:put:3", ("/r/ray/",)) == ""
    assert INLINE_LIMIT == 100 * 1024


def test_sorts_filters_pages_and_errors_as_nbray() -> None:
    objects = aggregate_objects(ROWS, cluster(), LOCATIONS)
    names = Names()

    def ids(**kw: Any) -> List[str]:
        rows, _ = object_page(objects, names=names, label=label, **kw)
        return [r["object_id"] for r in rows]

    assert ids(limit=2) == [RET_SPILLED, PUT_BIG]
    assert ids(offset=1, limit=1) == [PUT_BIG]
    assert ids(sort_by="size", descending=False, limit=4) == [RET_PENDING, ACTOR, PUT_SMALL,
                                                              RET_SMALL]   # ties: Ray's order
    assert ids(sort_by="object_id", descending=False, limit=None) == sorted(
        o for o in {r["object_id"] for r in ROWS})
    assert ids(sort_by="held_by", descending=False, limit=2) == [RET_SMALL, PUT_SMALL]
    assert ids(sort_by="held_by", limit=2) == [PUT_SMALL, RET_SMALL]
    assert ids(filter="keep", limit=None) == [PUT_SMALL]          # a notebook name
    assert ids(filter="in [3]", limit=None) == [PUT_BIG]           # the labelled call site
    assert ids(filter="small", limit=None) == [RET_SMALL]         # created_by
    assert ids(filter=PUT_BIG[-10:], limit=None) == [PUT_BIG]      # the id
    assert set(ids(where="inline", limit=None)) == {RET_SMALL}
    assert ids(where="spilled") == [RET_SPILLED]
    assert ids(ref_type="BORROWED") == [PUT_BIG]
    assert object_page(objects, filter="nothing like it")[1] == 0
    # the same checks and messages as nbray's own listing (which checks before the node)
    for bad in ({"sort_by": "colour"}, {"where": "moon"}, {"offset": -1}):
        with pytest.raises(ValueError) as nbray_error:
            introspection.object_rows(None, **bad)
        with pytest.raises(ValueError) as ray_error:
            object_page(objects, **bad)
        assert str(ray_error.value) == str(nbray_error.value)


def fake_nbray_node() -> Any:
    """Just enough of a head node for nbray's own node_stats / _summary (their keys)."""
    zero = {"inline": 0, "shm": 0, "spilled": 0, "pending": 0}
    table = SimpleNamespace(totals=lambda: (zero, zero), entries={}, zombies={})
    return SimpleNamespace(
        node_id=N1, table=table, stats={}, workers={}, cluster_nodes={},
        allocator=SimpleNamespace(capacity=1, used=0, largest_free=lambda: 1),
        spill=SimpleNamespace(url=None), actors=SimpleNamespace(actors={}))


def test_node_rows_summary_and_view() -> None:
    objects = aggregate_objects(ROWS, cluster(), LOCATIONS)
    actors = [{"actor_id": "1" * 32, "state": "ALIVE", "node_id": N2},
              {"actor_id": "2" * 32, "state": "DEAD", "node_id": N2}]
    store = {N1: {"store_used": 300, "store_capacity": 1000, "spilled_bytes_total": 50,
                  "spilled_objects_total": 1, "restored_bytes_total": 20}}
    stats = cr.node_stats_rows(NODES, HOSTS, objects, WORKERS, actors, store)
    head, worker, dead = stats
    nbray_keys = set(introspection.node_stats(fake_nbray_node()))
    assert all(set(r) == nbray_keys for r in stats)
    assert head["hostname"] == "head-host" and head["is_head"] and head["alive"]
    assert head["store_used"] == 300 and head["spilled_bytes_total"] == 50
    assert head["restored_bytes_total"] == 20 and head["spill_throughput_bytes_per_s"] is None
    assert worker["store_used"] == 0 and worker["store_capacity"] == 500   # figure missing
    assert worker["hostname"] == "w1" and worker["workers"] == 2 and worker["actors"] == 1
    assert head["workers"] == 0                                  # the driver is no worker
    # PUT_BIG has copies on N1 and N2; RET_SMALL (inline), RET_SPILLED made on N2
    assert (head["objects"], head["shm_objects"], head["shm_bytes"]) == (2, 1, 2_400_253)
    assert worker["shm_objects"] == 1 and worker["inline_objects"] == 1
    assert worker["spilled_objects"] == 1 and worker["spilled_bytes"] == 5_000_000
    assert dead["alive"] is False and dead["hostname"] == "10.0.0.3"
    # without Ray's internal figures, one live node takes the cluster's store use
    solo = cr.node_stats_rows(NODES[:1], HOSTS, objects, WORKERS, actors, None, 4242)
    assert solo[0]["store_used"] == 4242
    assert cr.node_stats_rows(NODES[:2], HOSTS, objects, WORKERS, actors, None, 4242)[0][
        "store_used"] == 0                                       # two nodes: cannot tell

    # `%nbray memory`'s table shows every row: those Ray places nowhere in a group of their own
    page, total = object_page(objects, limit=None)
    text = MemorySummary(stats, page, total).table(width=200)
    assert all(r["object_id"] in text for r in page)
    unplaced = text.split("== on no known node ==")[1]
    assert RET_PENDING in unplaced and ACTOR in unplaced and PUT_BIG not in unplaced

    view = cr.node_view_rows(stats, NODES, HOSTS, objects, node_label)
    assert [v["role"] for v in view] == ["head", "node", "node"]
    assert view[0]["label"] == "head-host (head)" and view[1]["label"] == f"w1 {N2[:8]}"
    assert view[2]["lost_reason"] == "raylet died" and view[2]["lost_at"] == 1_700_000_000.0
    assert view[0]["lost_reason"] is None and view[0]["objects_left"] is None
    assert view[2]["objects_left"] == 0 and view[0]["pid"] is None
    assert set(models.NodeModel.__annotations__) <= set(view[0])

    summary = cr.summary_row(N1, stats, {"CPU": 2.0, "node:10.0.0.1": 1.0},
                             {"CPU": 1.0}, len(objects), "10.0.0.1:6379")
    nbray_summary = queries._summary(fake_nbray_node(), None, "driver")
    assert set(summary) == set(nbray_summary) | {"attached_to", "driver_node_id", "backend"}
    assert summary["resources"] == {"CPU": 2.0} and summary["available"] == {"CPU": 1.0}
    assert summary["nodes"] == 2 and summary["workers"] == 2 and summary["objects"] == 6
    assert summary["store_used"] == 300 and summary["store_capacity"] == 1500
    assert summary["attached_to"] == "10.0.0.1:6379" and summary["backend"] == "ray"
    assert summary["driver_node_id"] is None and summary["drivers"] == 0


def task(task_id: str, name: str, state: str, kind: str = "NORMAL_TASK",
         **extra: Any) -> Dict[str, Any]:
    base = {"task_id": task_id, "attempt_number": 0, "name": name, "state": state,
            "actor_id": None, "type": kind, "node_id": N2, "worker_id": None,
            "worker_pid": None, "required_resources": {"CPU": 1.0}, "start_time_ms": None,
            "end_time_ms": None, "call_site": None}
    base.update(extra)
    return base


def test_tasks_workers_actors_timeline_and_metrics() -> None:
    tasks = [
        task("01", "f", "RUNNING", worker_id="e" * 56, worker_pid=7),
        task("02", "g", "RUNNING_IN_RAY_GET", worker_id="f" * 56, worker_pid=8),
        task("03", "h", "PENDING_ARGS_AVAIL"),
        task("04", "h", "PENDING_NODE_ASSIGNMENT"),
        task("05", "A.m", "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY", "ACTOR_TASK",
             actor_id="1" * 32),
        task("06", "done", "FINISHED", start_time_ms=1_000, end_time_ms=3_500,
             worker_id="e" * 56, worker_pid=7),
        task("07", "A.m", "FINISHED", "ACTOR_TASK", actor_id="1" * 32, start_time_ms=5_000,
             end_time_ms=6_000, worker_id="f" * 56),
        task("08", "driver", "NIL", "DRIVER_TASK"),
    ]
    rows = cr.task_rows(tasks)
    assert [(r["task_id"], r["state"], r["kind"]) for r in rows] == [
        ("01", "RUNNING", "task"), ("02", "RUNNING", "task"), ("03", "WAITING_FOR_ARGS", "task"),
        ("04", "QUEUED", "task"), ("05", "SUBMITTED_TO_ACTOR", "actor-call")]
    assert set(rows[0]) == set(models.TaskModel.__annotations__)
    assert rows[0]["pid"] == 7 and rows[0]["resources"] == {"CPU": 1.0}
    assert rows[0]["call_site"] == ""
    assert len(cr.task_rows(tasks, limit=2)) == 2

    actors = [{"actor_id": "1" * 32, "class_name": "A", "state": "ALIVE", "name": "",
               "node_id": N2, "pid": 9, "ray_namespace": "ns", "death_cause": None,
               "is_detached": False, "num_restarts": 1},
              {"actor_id": "2" * 32, "class_name": "B", "state": "DEPENDENCIES_UNREADY",
               "name": "b", "node_id": None, "pid": 0, "ray_namespace": "ns",
               "death_cause": None, "is_detached": True, "num_restarts": 0},
              {"actor_id": "3" * 32, "class_name": "C", "state": "DEAD", "name": "",
               "node_id": N2, "pid": 10, "ray_namespace": "ns", "is_detached": False,
               "death_cause": {"actor_died_error_context": {"error_message": " killed \n"}},
               "num_restarts": 0}]
    arows = cr.actor_rows(actors, tasks)
    assert set(arows[0]) == set(models.ActorModel.__annotations__)
    assert [(a["state"], a["pending_calls"], a["name"], a["pid"]) for a in arows] == [
        ("ALIVE", 1, None, 9), ("PENDING_CREATION", 0, "b", None), ("DEAD", 0, None, 10)]
    assert arows[2]["death_cause"] == "killed" and arows[1]["detached"] is True

    workers = WORKERS + [{"worker_id": "9" * 56, "is_alive": True, "worker_type": "WORKER",
                          "node_id": N2, "ip": "10.0.0.2", "pid": 9},
                         {"worker_id": "8" * 56, "is_alive": True, "worker_type": "WORKER",
                          "node_id": N2, "ip": "10.0.0.2", "pid": 11}]
    wrows = {w["pid"]: w for w in cr.worker_rows(workers, tasks, actors)}
    assert set(wrows[7]) == set(models.WorkerModel.__annotations__)
    assert wrows[100]["state"] == "driver"
    assert (wrows[7]["state"], wrows[7]["task"], wrows[7]["blocked"]) == ("busy", "f", False)
    assert (wrows[8]["task_id"], wrows[8]["blocked"]) == ("02", True)   # in ray.get
    assert (wrows[9]["state"], wrows[9]["actor_id"]) == ("actor", "1" * 32)
    assert wrows[11]["state"] == "idle"

    events = cr.timeline_events(tasks)
    assert [e["name"] for e in events] == ["done", "A.m"]
    done = events[0]
    assert (done["ts"], done["dur"], done["ph"]) == (1_000_000.0, 2_500_000.0, "X")
    assert done["pid"] == f"node:{N2[:12]}" and done["tid"] == "worker:" + "e" * 56
    assert done["args"]["task_id"] == "06" and events[1]["args"]["actor_id"] == "1" * 32
    assert [e["name"] for e in cr.timeline_events(tasks, since=4.0)] == ["A.m"]
    assert [e["name"] for e in cr.timeline_events(tasks, limit=1)] == ["A.m"]

    summary = {"cluster": {"summary": {
        "f": {"state_counts": {"FINISHED": 3, "RUNNING": 1}},
        "g": {"state_counts": {"FAILED": 1, "RUNNING_IN_RAY_GET": 2, "PENDING_ARGS_AVAIL": 4}}}}}
    assert cr.task_counts(summary) == (4, 3) and cr.task_counts({}) == (0, 0)
    objects = aggregate_objects(ROWS, cluster(), LOCATIONS)
    stats = cr.node_stats_rows(NODES, HOSTS, objects, WORKERS, [], None, None)
    labels = {i.node_id: node_label(i) for i in cr.node_infos(NODES, HOSTS)}
    history = MetricsHistory()
    assert history.offer(10.0, lambda: cr.metrics_reading(stats, labels, (4, 3)))
    assert not history.offer(10.5, lambda: cr.metrics_reading(stats, labels, (5, 3)))
    (sample,) = history.rows()
    assert set(sample) == set(models.SampleModel.__annotations__)
    assert set(sample["nodes"][0]) == set(models.NodeSampleModel.__annotations__)
    assert [n["label"] for n in sample["nodes"]] == ["head-host (head)", f"w1 {N2[:8]}"]
    assert (sample["tasks_done"], sample["tasks_running"], sample["busy_s"]) == (4, 3, 0.0)
