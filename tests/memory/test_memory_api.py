"""nbray.memory(): one row per object (what, where, who keeps it alive, made where and by
what) plus per-node store and spill statistics, with paging, filtering and sorting."""

from __future__ import annotations

import inspect
import json
import os
import time

import numpy as np
import pytest

import nbray
from nbray.ids import TASK_ID_SIZE
from tests._support import FileEvent, poll_for

from ._helpers import MiB, counts, make_array, memory, node, row_of, store_stats

ROW_KEYS = {"object_id", "size", "type", "owner", "node_id", "locations", "where", "spill_url",
            "reference_types", "holders", "submitted_tasks", "contained_in", "contains",
            "captured", "mapped_by", "call_site", "created_by", "task_id", "is_error",
            "created_at", "last_access"}


def _here() -> str:
    """file:line of the caller's next line."""
    frame = inspect.currentframe().f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno + 1}"


def test_nbray_memory_is_the_function(make_cluster):
    """nbray.memory stays the public function after the nbray.memory module is imported."""
    make_cluster(object_store_memory=16 * MiB)
    assert callable(nbray.memory), f"nbray.memory is {nbray.memory!r}"
    first = nbray.memory()
    assert type(first).__name__ == "MemorySummary"
    assert callable(nbray.memory), f"after one call, nbray.memory became {nbray.memory!r}"
    assert type(nbray.memory()).__name__ == "MemorySummary"


def test_rows_of_put_objects(make_cluster):
    make_cluster(object_store_memory=32 * MiB)
    nid = node().node_id
    site_big = _here()
    big = nbray.put(np.zeros((300, 400), dtype=np.float32))
    site_small = _here()
    small = nbray.put({"a": 1})
    row = row_of(big)
    assert set(row) >= ROW_KEYS
    assert row["object_id"] == big.hex()
    assert row["size"] >= 300 * 400 * 4
    assert "ndarray" in row["type"] and "(300, 400)" in row["type"] and "float32" in row["type"]
    assert row["owner"] == {"process": "driver", "pid": os.getpid(), "node_id": nid}
    assert row["node_id"] == nid and row["locations"] == [nid]
    assert row["where"] == "shared_memory" and row["spill_url"] is None
    assert row["reference_types"] == ["LOCAL_REFERENCE"]
    assert row["holders"] == [{"process": "driver", "pid": os.getpid(), "refs": 1}]
    assert row["call_site"] == site_big
    assert row["created_by"] == "put" and row["task_id"] is None
    assert row["is_error"] is False
    assert row["created_at"] <= time.time()
    srow = row_of(small)
    assert srow["where"] == "inline" and srow["type"] == "dict"
    assert srow["call_site"] == site_small
    assert srow["size"] < 100 * 1024


def test_rows_of_task_results(make_cluster, tmp_path):
    make_cluster(object_store_memory=32 * MiB)
    gate = FileEvent(tmp_path / "go")

    @nbray.remote
    def make_matrix(ev):
        ev.wait(60)
        return np.ones((512, 256), dtype=np.int16)

    site = _here()
    ref = make_matrix.remote(gate)
    row = row_of(ref)
    assert row["where"] == "pending"
    assert row["created_by"] == "make_matrix"
    assert row["task_id"] == ref.hex()[:2 * TASK_ID_SIZE]
    assert row["call_site"] == site
    assert row["owner"]["process"] == "driver"
    assert "LOCAL_REFERENCE" in row["reference_types"]
    pending = memory(where="pending", limit=None)
    assert [r["object_id"] for r in pending.objects] == [ref.hex()]
    assert pending.nodes[0]["objects_pending"] == 1
    gate.set()
    nbray.get(ref, timeout=30)
    row = row_of(ref)
    assert row["where"] == "shared_memory"
    assert "ndarray" in row["type"] and "(512, 256)" in row["type"] and "int16" in row["type"]
    assert row["size"] >= 512 * 256 * 2
    assert row["created_by"] == "make_matrix" and row["call_site"] == site


def test_call_site_of_objects_put_inside_tasks(make_cluster):
    make_cluster(object_store_memory=32 * MiB)

    @nbray.remote
    def put_inside():
        frame = inspect.currentframe()
        site = f"{frame.f_code.co_filename}:{frame.f_lineno + 1}"
        inner = nbray.put(np.arange(200_000))
        return [inner], site

    [inner], site = nbray.get(put_inside.remote(), timeout=30)
    row = row_of(inner)
    assert row["created_by"] == "put"
    assert row["owner"]["process"] != "driver"        # owned by the worker that put it
    assert row["call_site"] == site, f"call site {row['call_site']!r}, expected {site!r}"


def test_rows_of_spilled_objects(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(8)]
    spilled = memory(where="spilled", limit=None).objects
    assert spilled
    st = memory(limit=0).nodes[0]
    for row in spilled:
        assert row["where"] == "spilled"
        assert row["spill_url"].startswith(st["spill_url"] + "/")
        assert row["spill_url"].endswith(row["object_id"])
        assert row["locations"] == []
    in_memory = memory(where="shared_memory", limit=None).objects
    assert {r["object_id"] for r in spilled} | {r["object_id"] for r in in_memory} == \
        {r.hex() for r in refs}


def test_reference_types_and_ref_type_filter(make_cluster, tmp_path):
    make_cluster(object_store_memory=32 * MiB)
    gate = FileEvent(tmp_path / "go")

    @nbray.remote
    def wait_for(ev, x):
        return ev.wait(60)

    @nbray.remote
    class Holder:
        def __init__(self):
            self.refs = []

        def hold(self, refs):
            self.refs.extend(refs)
            return True

    local = nbray.put(1)
    inner = nbray.put(np.arange(1000))
    outer = nbray.put([inner])
    task_arg = nbray.put(make_array(1, MiB))
    pending = wait_for.remote(gate, [task_arg])    # nested: the task does not map it
    captured = nbray.put("captured")

    @nbray.remote
    def uses_capture():
        return nbray.get(captured)

    assert nbray.get(uses_capture.remote(), timeout=30) == "captured"
    borrowed = nbray.put(2)
    holder = Holder.remote()
    assert nbray.get(holder.hold.remote([borrowed]), timeout=30)
    mapped_ref = nbray.put(make_array(2, MiB))
    mapped = nbray.get(mapped_ref)
    poll_for(lambda: counts()[borrowed.hex()]["borrowers"], timeout=30, msg="the borrow to show")

    expected = {
        "LOCAL_REFERENCE": local, "CAPTURED_IN_OBJECT": inner, "USED_BY_PENDING_TASK": task_arg,
        "CAPTURED_BY_CLOSURE": captured, "BORROWED": borrowed, "PINNED_IN_MEMORY": mapped_ref,
    }
    for ref_type, ref in expected.items():
        assert ref_type in row_of(ref)["reference_types"], (ref_type, row_of(ref))
        rows = memory(ref_type=ref_type, limit=None).objects
        assert ref.hex() in [r["object_id"] for r in rows], ref_type
        for r in rows:
            assert ref_type in r["reference_types"]
    assert memory(ref_type="USED_BY_PENDING_TASK", limit=None).total == 1
    assert memory(ref_type="PINNED_IN_MEMORY", limit=None).total == 1
    assert memory(ref_type="CAPTURED_IN_OBJECT", limit=None).total == 1
    row = row_of(mapped_ref)
    assert row["mapped_by"] == [{"process": "driver", "pid": os.getpid(), "views": 1}]
    row = row_of(task_arg)
    assert row["submitted_tasks"] == 1
    row = row_of(outer)
    assert row["contains"] == [inner.hex()]
    assert row_of(inner)["contained_in"] == 1
    assert row_of(captured)["captured"] is True
    gate.set()
    assert nbray.get(pending, timeout=30) is True
    del mapped
    nbray.kill(holder)


def test_paging_filter_and_sort(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    sizes = [1000 * (i + 1) for i in range(15)] + [200_000 + 10_000 * i for i in range(15)]
    order = np.random.default_rng(0).permutation(len(sizes))
    refs = {}
    for i in order:
        refs[int(i)] = nbray.put(np.zeros(sizes[i], dtype=np.uint8))
    text = nbray.put("some text")
    all_ids = {r.hex() for r in refs.values()} | {text.hex()}
    total = len(all_ids)

    # pages: disjoint, complete, in order
    pages = [memory(limit=7, offset=o) for o in range(0, total + 7, 7)]
    seen = [r["object_id"] for p in pages for r in p.objects]
    assert all(p.total == total for p in pages)
    assert len(seen) == total and set(seen) == all_ids
    assert [len(p.objects) for p in pages[:-1]][:4] == [7, 7, 7, 7]
    assert memory(limit=7, offset=total).objects == []
    assert memory(limit=None).total == total and len(memory(limit=None).objects) == total
    assert memory(limit=0).objects == [] and memory(limit=0).total == total

    # sort
    by_size = [r["size"] for r in memory(limit=None).objects]
    assert by_size == sorted(by_size, reverse=True)
    asc = [r["size"] for r in memory(limit=None, descending=False).objects]
    assert asc == sorted(by_size)
    created = [r["created_at"] for r in memory(sort_by="created", descending=False, limit=None).objects]
    assert created == sorted(created)
    ids = [r["object_id"] for r in memory(sort_by="object_id", descending=False, limit=None).objects]
    assert ids == sorted(ids)
    types = [r["type"] for r in memory(sort_by="type", descending=False, limit=None).objects]
    assert types == sorted(types)
    where = [r["where"] for r in memory(sort_by="where", limit=None).objects]
    assert sorted(where, key=where.index) == where      # grouped
    top3 = memory(limit=3).objects
    assert [r["size"] for r in top3] == sorted(by_size, reverse=True)[:3]

    # filter: by type, id, call site; where
    arrays = memory(filter="ndarray", limit=None)
    assert arrays.total == 30 and all("ndarray" in r["type"] for r in arrays.objects)
    one = next(iter(refs.values())).hex()
    assert [r["object_id"] for r in memory(filter=one, limit=None).objects] == [one]
    site = row_of(text)["call_site"]
    assert [r["object_id"] for r in memory(filter=site, limit=None).objects] == [text.hex()]
    assert memory(filter="no such thing anywhere", limit=None).total == 0
    inline = memory(where="inline", limit=None)
    assert inline.total == 16 and all(r["where"] == "inline" for r in inline.objects)
    shm = memory(where="shared_memory", limit=5, offset=5)
    assert shm.total == 15 and len(shm.objects) == 5
    combined = memory(where="shared_memory", filter="ndarray", sort_by="size", descending=False,
                      limit=3)
    assert [r["size"] for r in combined.objects] == sorted(
        r["size"] for r in memory(where="shared_memory", limit=None).objects)[:3]


@pytest.mark.parametrize("kwargs", [{"sort_by": "colour"}, {"where": "disk"},
                                    {"offset": -1}, {"limit": -5}])
def test_bad_memory_arguments(make_cluster, kwargs):
    make_cluster(object_store_memory=16 * MiB)
    with pytest.raises(ValueError) as info:
        memory(**kwargs)
    value = str(next(iter(kwargs.values())))
    assert value in str(info.value) or "offset" in str(info.value)


def test_node_stats(make_cluster):
    capacity = 16 * MiB
    make_cluster(object_store_memory=capacity)
    st = memory(limit=0).nodes
    assert len(st) == 1
    st = st[0]
    assert st["node_id"] == node().node_id
    assert st["store_capacity"] == capacity and st["store_used"] == 0
    assert st["spilled_objects"] == 0 and st["spilled_bytes"] == 0
    assert st["spill_throughput_bytes_per_s"] is None
    assert st["spill_url"].startswith("file://")
    small = [nbray.put(i) for i in range(5)]
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(8)]      # 24 MiB: spills
    st = memory(limit=0).nodes[0]
    stats = store_stats()
    assert st["store_used"] == stats["used"] <= capacity
    assert st["objects"] == 13
    assert st["inline_objects"] == 5
    assert st["shm_objects"] + st["spilled_objects"] == 8
    assert st["spilled_objects"] >= 2
    assert st["spilled_bytes"] >= st["spilled_objects"] * 3 * MiB
    assert st["spilled_objects_total"] >= st["spilled_objects"]
    assert st["spilled_bytes_total"] >= st["spilled_bytes"]
    assert st["spill_throughput_bytes_per_s"] > 0
    assert st["restore_throughput_bytes_per_s"] is None
    for i, r in enumerate(refs):
        assert np.array_equal(nbray.get(r), make_array(i, 3 * MiB))
    st = memory(limit=0).nodes[0]
    assert st["restored_objects_total"] >= 2
    assert st["restored_bytes_total"] >= 2 * 3 * MiB
    assert st["restore_throughput_bytes_per_s"] > 0
    assert st["store_largest_free"] <= capacity - st["store_used"]
    del small


def test_summary_renders_as_table_json_and_html(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(8)]
    summary = memory(limit=5)
    text = summary.table()
    nid = node().node_id
    lines = text.splitlines()
    assert lines[0].startswith(f"== node {nid[:12]}")
    assert "16.0 MiB" in lines[0]
    for row in summary.objects:
        assert row["object_id"] in text
    assert any(line.startswith("Showing 1-5 of 8 objects") for line in lines)
    assert "spilled" in text
    again = type(summary).from_dict(json.loads(summary.to_json()))
    assert again.objects == summary.objects and again.total == 8
    html = summary._repr_html_()
    assert refs[0].hex()[:16] in html or summary.objects[0]["object_id"][:16] in html
    assert str(summary) == text


def test_100k_small_objects(make_cluster):
    make_cluster(object_store_memory=64 * MiB)
    n = 100_000
    t0 = time.perf_counter()
    site = _here()
    refs = [nbray.put(i) for i in range(n)]
    put_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        page = memory(limit=50)
        times.append(time.perf_counter() - t0)
    print(f"\n100k puts: {put_s:.2f} s; memory(limit=50): "
          f"{', '.join(f'{t * 1000:.0f} ms' for t in times)}")
    assert page.total == n and len(page.objects) == 50
    # object_id order is put order: pages are exact slices of it
    ids = sorted(r.hex() for r in refs)
    for offset in (0, 50, 49_975, n - 20):
        t0 = time.perf_counter()
        page = memory(sort_by="object_id", descending=False, limit=50, offset=offset)
        took = time.perf_counter() - t0
        assert page.total == n
        assert [r["object_id"] for r in page.objects] == ids[offset:offset + 50], offset
    print(f"memory(limit=50, offset={offset}): {took * 1000:.0f} ms")
    t0 = time.perf_counter()
    by_site = memory(filter=site, limit=10)
    print(f"memory(filter=call site, limit=10): {(time.perf_counter() - t0) * 1000:.0f} ms")
    assert by_site.total == n and len(by_site.objects) == 10
    assert len(counts()) == n
    del refs
    poll_for(lambda: memory(limit=1).total == 0, timeout=30, msg="100k objects to be freed")
