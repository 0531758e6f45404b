"""`nbray memory` and `nbray status`, run as separate processes against a cluster
running in this test process (they reach it over its private JSON Unix socket)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np

import nbray
from nbray.runtime import context
from tests._support import driver_env

from ._helpers import MiB, make_array, memory, node


def _nbray(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbray", *args], capture_output=True, text=True,
                          env=driver_env(), timeout=timeout)


def _socket() -> str:
    server = context.current_driver().state_server
    assert server is not None, "the cluster has no state socket"
    return server.path


def _objects(capacity=16 * MiB):
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(8)]      # some spill
    refs += [nbray.put(f"small {i}") for i in range(4)]
    refs.append(nbray.put(np.zeros((10, 20), dtype=np.float64)))
    return refs


def test_state_socket_is_private(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    path = _socket()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_memory_json(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = _objects()
    proc = _nbray("memory", "--json", "--limit", "5", "--address", _socket())
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["total"] == len(refs)
    assert len(data["objects"]) == 5 and data["limit"] == 5 and data["offset"] == 0
    assert data["sort_by"] == "size"
    expected = memory(limit=5).objects
    assert [r["object_id"] for r in data["objects"]] == [r["object_id"] for r in expected]
    sizes = [r["size"] for r in data["objects"]]
    assert sizes == sorted(sizes, reverse=True)
    row = data["objects"][0]
    for key in ("object_id", "size", "type", "owner", "locations", "where", "spill_url",
                "reference_types", "call_site", "created_by", "task_id"):
        assert key in row
    assert row["call_site"].startswith(__file__.rstrip("c") + ":")
    [st] = data["nodes"]
    assert st["node_id"] == node().node_id
    assert st["store_capacity"] == 16 * MiB
    assert st["spilled_objects"] >= 1 and st["spill_throughput_bytes_per_s"] > 0


def test_memory_json_paging_filter_sort(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = _objects()
    sock = _socket()

    def run(*args):
        proc = _nbray("memory", "--json", "--address", sock, *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    page2 = run("--limit", "5", "--offset", "5")
    page1 = run("--limit", "5")
    assert not {r["object_id"] for r in page1["objects"]} & {r["object_id"] for r in page2["objects"]}
    assert page2["offset"] == 5
    asc = run("--sort-by", "created", "--ascending", "--limit", "100")
    created = [r["created_at"] for r in asc["objects"]]
    assert created == sorted(created) and len(created) == len(refs)
    target = refs[3].hex()
    only = run("--filter", target)
    assert [r["object_id"] for r in only["objects"]] == [target]
    spilled = run("--where", "spilled", "--limit", "100")
    assert spilled["total"] >= 1 and all(r["where"] == "spilled" for r in spilled["objects"])
    inline = run("--where", "inline", "--limit", "100")
    assert inline["total"] == 5
    local = run("--ref-type", "LOCAL_REFERENCE", "--limit", "100")
    assert local["total"] == len(refs)
    typed = run("--filter", "float64", "--limit", "100")
    assert [r["object_id"] for r in typed["objects"]] == [refs[-1].hex()]


def test_memory_table_groups_by_node_with_a_summary_footer(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = _objects()
    proc = _nbray("memory", "--limit", "6", "--address", _socket())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    nid = node().node_id
    assert lines[0].startswith(f"== node {nid[:12]}"), lines[0]
    assert "16.0 MiB" in lines[0] and f"{len(refs)} objects" in lines[0]
    assert "object id" in lines[1] and "size" in lines[1] and "call site" in lines[1]
    shown = memory(limit=6).objects
    body = "\n".join(lines[2:])
    for row in shown:
        if row["locations"] or row["node_id"] == nid:
            assert row["object_id"] in body
    footer = [l for l in lines if l.startswith("Showing ")]
    assert footer and footer[0].startswith(f"Showing 1-6 of {len(refs)} objects (sorted by size)")
    assert "Store:" in footer[0] and "spilled:" in footer[0]
    assert any(l.startswith("refs:") for l in lines)


def test_status(make_cluster):
    make_cluster(object_store_memory=16 * MiB, num_cpus=2)
    refs = _objects()
    nid = node().node_id
    proc = _nbray("status", "--address", _socket())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"cluster {nid[:12]}" in out and "1 node(s)" in out
    assert "/2 free" in out and f"{len(refs)} objects" in out
    assert "16.0 MiB" in out
    assert f"node {nid[:12]} head alive" in out
    # Without --address it lists every running cluster of this user, this one included.
    proc = _nbray("status")
    assert proc.returncode == 0, proc.stderr
    assert f"cluster {nid[:12]}" in proc.stdout


def test_cli_against_no_cluster(tmp_path):
    missing = str(tmp_path / "nothing.sock")
    proc = _nbray("memory", "--address", missing)
    assert proc.returncode == 1
    assert "cannot reach the cluster" in proc.stderr
    proc = _nbray("memory", "--where", "disk")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
