"""RayState against a real local Ray cluster (one `ray.init` for the module): objects
listed with sizes, where they are, holders and the notebook's names; node rows, summary;
every state-socket handler answers JSON (or says why Ray cannot)."""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, AbstractSet, Dict, Iterator, List, Set

import pytest

from tests._support import poll_for

ray = pytest.importorskip("ray", reason="Ray is not installed here (the test extra installs it)")

from nbray.ray_backend.state_reader import UNANSWERED, RayState  # noqa: E402

from .conftest import local_ray  # noqa: E402

MiB = 2**20
STORE = 96 * MiB     # small, so that a few puts spill (Ray's minimum is 75 MB)
RAY_TIMEOUT = 60.0   # Ray's state is reported every second or so; a loaded machine is slower


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A 2-CPU Ray cluster with the dashboard (the state API needs it), recording where
    refs were made (Ray reads that setting once, at ray.init)."""
    with local_ray({"RAY_record_ref_creation_sites": "1"}, num_cpus=2,
                   include_dashboard=True, object_store_memory=STORE) as started:
        yield started


class Names:
    """The notebook's names: `keep_me` holds one object."""

    def __init__(self, ids: Dict[bytes, str]) -> None:
        self.ids = ids

    def names(self, object_id: bytes) -> List[str]:
        return [self.ids[object_id]] if object_id in self.ids else []

    def matching(self, text: str) -> Set[bytes]:
        return {i for i, n in self.ids.items() if text in n.lower()}

    def named(self) -> AbstractSet[bytes]:
        return self.ids.keys()

    def sort_key(self, object_id: bytes) -> Any:
        return self.ids[object_id]


def test_objects_listed_with_sizes_where_holders_and_names(ray_cluster: Any) -> None:
    np = pytest.importorskip("numpy")

    @ray.remote
    def small() -> int:
        return 3

    @ray.remote
    def big(n: int) -> Any:
        return np.ones(n)

    @ray.remote
    class Keeper:
        def keep(self, refs: List[Any]) -> int:
            self.refs = refs
            return os.getpid()

    keep_me = ray.put(np.zeros(300_000))          # 2.4 MB: the store
    tiny = small.remote()                         # 15 bytes: inline in the owner
    made, line = big.remote(200_000), inspect.currentframe().f_lineno   # 1.6 MB: the store
    keeper = Keeper.remote()
    keeper_pid = ray.get(keeper.keep.remote([keep_me]))   # a borrower in another process
    ray.get([tiny, made])
    names = Names({keep_me.binary(): "keep_me"})
    here = __file__ + ":"   # this file stands for a notebook cell: its lines are labelled
    state = RayState(os.getpid(), lambda: names, lambda s: s.replace(here, "In [7] line "))

    def listing() -> Dict[str, Dict[str, Any]]:
        # a fresh reader each time, so task names are read again (Ray reports tasks late)
        page = RayState(os.getpid(), lambda: names, state.label_call_site).memory(limit=None)
        return {o["object_id"]: o for o in page["objects"]}

    rows = poll_for(lambda: (lambda r: r if r.get(made.hex(), {}).get("created_by") == "big"
                             and r.get(tiny.hex(), {}).get("created_by") == "small" else None)(
        listing()), timeout=RAY_TIMEOUT, msg="Ray's listing with task names")
    kept, inline, returned = rows[keep_me.hex()], rows[tiny.hex()], rows[made.hex()]
    assert kept["size"] >= 2_400_000 and kept["where"] == "shared_memory"
    assert kept["created_by"] == "put" and kept["held_by"] == ["keep_me"]
    assert kept["owner"]["process"] == "driver" and kept["owner"]["pid"] == os.getpid()
    assert kept["locations"] == [ray.get_runtime_context().get_node_id()]
    holders = {h["pid"]: h["process"] for h in kept["holders"]}
    assert holders[os.getpid()] == "driver" and keeper_pid in holders
    assert "LOCAL_REFERENCE" in kept["reference_types"] and "BORROWED" in kept["reference_types"]
    assert returned["size"] >= 1_600_000 and returned["where"] == "shared_memory"
    assert returned["task_id"] == made.task_id().hex()
    assert kept["call_site"].startswith("In [7] line ")
    assert returned["call_site"] == f"In [7] line {line}"   # the line that called .remote()
    assert inline["where"] == "inline" and 0 < inline["size"] < 100 * 1024
    assert json.loads(json.dumps(rows)) == rows

    page = state.memory(sort_by="held_by", limit=1)
    assert page["objects"][0]["object_id"] == keep_me.hex() and page["total"] >= 3
    assert set(page) == {"nodes", "objects", "total", "offset", "limit", "sort_by", "taken_at"}
    found = state.memory(filter="keep_me")
    assert [o["object_id"] for o in found["objects"]] == [keep_me.hex()] and found["total"] == 1
    assert {o["object_id"] for o in state.memory(where="inline", limit=None)["objects"]} >= {
        tiny.hex()}
    assert state.memory(limit=1)["objects"][0]["size"] >= 2_400_000   # the largest first

    # 120 MiB into a 96 MiB store: Ray spills some, and says so per object (did_spill)
    spilling = [ray.put(np.ones(30 * MiB // 8)) for _ in range(4)]
    spilled = poll_for(lambda: state.memory(where="spilled", limit=None)["objects"],
                       timeout=RAY_TIMEOUT, msg="spilled objects listed")
    # the oldest go first: keep_me and made may be among them, the 15-byte one never
    assert {o["object_id"] for o in spilled} <= {r.hex() for r in [*spilling, keep_me, made]}
    assert all(o["locations"] == [] and o["size"] >= 1_600_000 for o in spilled)
    node = state.memory(limit=0)["nodes"][0]
    assert node["spilled_objects"] >= len(spilled)
    assert node["spilled_bytes"] >= sum(o["size"] for o in spilled)
    with pytest.raises(ValueError, match="sort_by must be one of size"):
        state.memory(sort_by="colour")
    with pytest.raises(ValueError, match="where must be one of inline"):
        state.memory(where="moon")


def test_node_rows_summary_and_every_handler(ray_cluster: Any) -> None:
    @ray.remote
    class Gate:
        async def wait(self) -> int:
            import asyncio

            if not hasattr(self, "event"):
                self.event = asyncio.Event()
            await self.event.wait()
            return 1

        async def open(self) -> None:
            import asyncio

            if not hasattr(self, "event"):
                self.event = asyncio.Event()
            self.event.set()

    @ray.remote
    def blocked(gate: Any) -> int:
        return ray.get(gate.wait.remote())

    gate = Gate.remote()
    held = ray.put(b"x" * 1_000_000)
    waiting = blocked.remote(gate)
    state = RayState(os.getpid(), lambda: None, str)
    node_id = ray.get_runtime_context().get_node_id()
    try:
        tasks = poll_for(lambda: [t for t in state.tasks() if t["name"] == "blocked"
                                  and t["state"] == "RUNNING"], timeout=RAY_TIMEOUT,
                         msg="the blocked task listed as running")
        assert tasks[0]["kind"] == "task" and tasks[0]["node_id"] == node_id
        workers = poll_for(lambda: [w for w in state.workers() if w["task"] == "blocked"],
                           timeout=RAY_TIMEOUT, msg="its worker busy")
        assert workers[0]["state"] == "busy" and workers[0]["pid"] == tasks[0]["pid"]
        assert workers[0]["task_id"] == tasks[0]["task_id"]
        # Ray names a class by its qualified name; its running call counts as pending
        actor = poll_for(lambda: [a for a in state.actors() if a["class_name"].endswith("Gate")
                                  and a["state"] == "ALIVE" and a["pending_calls"] == 1],
                         timeout=RAY_TIMEOUT, msg="the gate alive, its call listed")
        assert actor[0]["pid"] and actor[0]["name"] is None and actor[0]["node_id"] == node_id
    finally:
        ray.get(gate.open.remote())
    assert ray.get(waiting) == 1

    (node,) = state.node_stats()
    assert node["node_id"] == node_id and node["is_head"] and node["alive"]
    assert node["store_capacity"] == STORE and node["store_used"] >= 1_000_000
    assert node["shm_objects"] >= 1 and node["actors"] >= 1
    assert held.hex() in {o["object_id"] for o in state.memory(limit=None)["objects"]}
    (view,) = state.node_view()
    assert view["role"] == "head" and view["label"].endswith("(head)") and view["pid"] is None
    summary = state.summary()
    assert summary["backend"] == "ray" and summary["driver_node_id"] is None
    assert summary["attached_to"] == ray.get_runtime_context().gcs_address
    assert summary["nodes"] == 1 and summary["node_id"] == node_id
    assert summary["resources"]["CPU"] == 2.0 and summary["objects"] >= 1
    events = poll_for(lambda: [e for e in state.timeline_window()["events"]
                               if e["name"] == "blocked"], timeout=RAY_TIMEOUT,
                      msg="the finished task in the timeline")
    assert events[0]["ph"] == "X" and events[0]["dur"] > 0
    samples = state.metrics()["samples"]
    assert samples and samples[-1]["nodes"][0]["store_capacity"] == STORE
    assert state.nodes()[0]["NodeID"] == node_id

    handlers = state.handlers()
    assert set(handlers) == {"summary", "memory", "node_stats", "node_view", "workers", "tasks",
                             "actors", "metrics", "timeline_window", "nodes", *UNANSWERED}
    for op, handler in handlers.items():
        if op in UNANSWERED:
            with pytest.raises(RuntimeError, match=f"{op} is not available on Ray"):
                handler()
        else:
            json.dumps(handler())   # what the state socket sends
