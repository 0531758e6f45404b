"""The widget progress bar of a long get, %nbray status|nodes|memory|objects, and the
inspector widget as a front end sees it (comm messages on IOPub)."""

from __future__ import annotations

import re

from ._kernel_session import TIMEOUT, poll_for

ROW = re.compile(r"<tr class='nbray-object' data-object-id='([0-9a-f]+)'>")

SLOW = """
@nbray.remote
def gated(i, go):
    import os, time
    while not os.path.exists(go):
        time.sleep(0.01)
    return i
"""


def test_long_get_of_many_refs_shows_a_progress_bar(nbray_kernel, tmp_path):
    k = nbray_kernel
    go = tmp_path / "go"
    k.execute(SLOW)
    msg_id = k.submit(f"total = sum(nbray.get([gated.remote(i, {str(go)!r}) for i in range(40)]))\n"
                      "total")
    bar = k.wait_for_message(
        lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "comm_open"
                   and m["content"]["data"]["state"].get("_model_name") == "IntProgressModel"),
        TIMEOUT, "an IntProgress widget")
    state = bar["content"]["data"]["state"]
    assert state["max"] == 40 and state["value"] == 0
    shown = k.wait_for_message(
        lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "display_data"
                   and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]),
        TIMEOUT, "the progress widget's display_data")
    box_id = shown["content"]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    go.touch()
    cell = k.wait_idle(msg_id, TIMEOUT * 2)
    assert cell.result == str(sum(range(40)))
    values = [m["content"]["data"]["state"]["value"] for m in cell.of_type("comm_msg")
              if m["content"]["comm_id"] == bar["content"]["comm_id"]
              and "value" in m["content"]["data"].get("state", {})]
    assert values and values[-1] == 40 and values == sorted(values)
    # a finished bar goes away
    assert any(m["content"]["comm_id"] == box_id for m in cell.of_type("comm_close"))


def _bar_and_label(cell):
    """(IntProgress state, its HTML label's text) as the front end holds them."""
    models = cell.comm_models()
    bar = next(s for s in models.values() if s.get("_model_name") == "IntProgressModel")
    label = next(s for s in models.values() if s.get("_model_name") == "HTMLModel")
    return bar, re.sub(r"<[^>]+>", "", label["value"])


def test_a_failed_task_leaves_the_bar_in_the_error_colour(nbray_kernel, tmp_path):
    k = nbray_kernel
    go = tmp_path / "go"
    k.execute(SLOW + "@nbray.remote\ndef fails(go):\n    import os, time\n"
              "    while not os.path.exists(go):\n        time.sleep(0.01)\n"
              "    raise ValueError('one bad apple')\n")
    msg_id = k.submit(f"nbray.get([fails.remote({str(go)!r})]"
                      f" + [gated.remote(i, {str(go)!r}) for i in range(5)])")
    k.wait_for_message(
        lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "comm_msg"
                   and str(m["content"]["data"].get("state", {}).get("value", "")).startswith(
                       "get ")), TIMEOUT, "the progress bar to tick")
    go.touch()
    cell = k.wait_idle(msg_id, allow_errors=True)
    assert "one bad apple" in cell.error["evalue"]
    bar, text = _bar_and_label(cell)
    assert bar["bar_style"] == "danger" and bar["description"] == "failed", bar
    assert re.fullmatch(r"get 6 objects: [1-6]/6, 1 failed \(\d+\.\d s\)", text), text


def test_get_of_ready_refs_shows_no_progress_bar(nbray_kernel):
    cell = nbray_kernel.execute("vals = nbray.get([nbray.put(i) for i in range(200)])\nsum(vals)")
    assert cell.result == str(sum(range(200)))
    assert not cell.of_type("comm_open")


def test_status_and_nodes(nbray_kernel):
    k = nbray_kernel
    status = k.execute("%nbray status")
    assert status.result.startswith("nbray cluster ")
    assert "2 CPUs" in status.result
    assert "nbray-cluster" in status.of_type("execute_result")[0]["content"]["data"]["text/html"]
    assert k.execute("%nbray").result.startswith("nbray cluster ")
    nodes = k.execute("n = %nbray nodes\n[(row['Alive'], row['Resources']['CPU']) for row in n]")
    assert nodes.result == "[(True, 2.0)]"
    bad = k.execute("%nbray frobnicate", allow_errors=True)
    assert bad.error["ename"] == "ValueError" and "frobnicate" in bad.error["evalue"]


def test_memory_magic_lists_the_objects(nbray_kernel):
    k = nbray_kernel
    k.execute("import numpy as np\nbig = nbray.put(np.zeros(2**17))\nsmall = nbray.put('tiny')")
    ids = k.value("[big.hex(), small.hex()]")
    cell = k.execute("%nbray memory --width 200")   # wide enough for whole ids
    text = cell.stdout
    assert cell.result is None
    for oid in ids:
        assert oid in text, text
    narrow = k.execute("%nbray memory").stdout      # 100 columns: ids cut to 8+ digits
    assert max(map(len, narrow.splitlines())) <= 100, narrow
    for oid in ids:
        assert f"{oid[:8]}…" in narrow or f"{oid[:9]}…" in narrow, narrow
    assert "1.0 MiB" in text and "ndarray" in text
    assert "Showing 1-2 of 2 objects" in text
    only_big = k.execute("%nbray memory --filter ndarray --limit 5 --width 200").stdout
    assert ids[0] in only_big and ids[1] not in only_big
    k.execute("del big")
    poll_for(lambda: ids[0] not in k.execute("%nbray memory --width 200").stdout, TIMEOUT,
             "the freed object to leave %nbray memory")


def test_objects_magic_is_the_live_inspector(nbray_kernel):
    k = nbray_kernel
    k.execute("import numpy as np\nkeep = nbray.put(np.ones(2**16))\n"
              "drop = nbray.put(np.zeros(2**16))\nrefs = [nbray.put(i) for i in range(3)]")
    ids = k.value("[keep.hex(), drop.hex()] + [r.hex() for r in refs]")
    expected = set(k.value("[o['object_id'] for o in nbray.memory(limit=None).objects]"))
    assert set(ids) <= expected
    cell = k.execute("insp = %nbray objects\ninsp")
    models = cell.comm_models()
    boxes = [s for s in models.values() if "nbray-inspector" in s.get("_dom_classes", [])]
    assert len(boxes) == 1
    tables = {cid: s for cid, s in models.items()
              if s.get("_model_name") == "HTMLModel" and "nbray-objects" in s.get("value", "")}
    assert len(tables) == 1
    (table_id, table), = tables.items()
    assert set(ROW.findall(table["value"])) == expected
    # who holds what: variables and list items
    assert "held by keep" in table["value"] and "held by refs[2]" in table["value"]
    widget = [d for d in cell.displays()] + [m["content"] for m in cell.of_type("execute_result")]
    assert any("application/vnd.jupyter.widget-view+json" in d["data"] for d in widget)

    # live: a freed object leaves the table and a new one joins it, with no new cell output
    start = len(k.iopub)
    k.execute("del drop\nnew = nbray.put('new object')")
    new_id = k.value("new.hex()")

    def latest_rows():
        rows = None
        for m in k.iopub[start:]:
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == table_id:
                value = m["content"]["data"].get("state", {}).get("value")
                if value is not None:
                    rows = set(ROW.findall(value))
        return rows

    def updated():
        k.pump(0.2)
        rows = latest_rows()
        return rows is not None and ids[1] not in rows and new_id in rows

    poll_for(updated, TIMEOUT, "the inspector to drop the freed object and show the new one")
    assert latest_rows() == set(k.value("[o['object_id'] for o in nbray.memory(limit=None).objects]"))
    k.execute("insp.close()")
