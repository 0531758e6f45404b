"""One view of objects from a real kernel: what its state socket answers (the sidebar's
and `nbray memory`'s rows) names the variables holding each object and the cell that
made it, also for objects in large containers and for `%%remote` cells, the filter finds
objects by variable name, and `%nbray memory` prints one line per object."""

from __future__ import annotations

import os
import re

from nbray.runtime.state_server import query, sessions_dir

from ._kernel_session import strip_ansi

MAKE = """import numpy as np
keep_me = nbray.put(np.arange(1000))
objs = {f"o{i}": nbray.put(i) for i in range(200)}
big = [nbray.put(i) for i in range(100_000)]
dup = [keep_me] * 3"""


def _cell_number(cell) -> int:
    """The cell's n in In [n], as the kernel's execute_reply says."""
    return int(cell.reply["content"]["execution_count"])


def test_rows_name_holders_cells_and_remote_cells(nbray_kernel):
    k = nbray_kernel
    made = _cell_number(k.execute(MAKE))
    out_n = _cell_number(k.execute("keep_me"))       # Out[n] holds it too
    assert out_n > made
    sock = os.path.join(sessions_dir(), f"{k.pid}.sock")

    def rows(**args):
        return query(sock, "memory", timeout=60, **args)

    # a variable, a container holding it three times, Out[n]; the cell as call site
    page = rows(filter="keep_me", limit=10)
    assert page["total"] == 1, page
    row = page["objects"][0]
    assert row["held_by"] == ["keep_me", "dup[0] (and 2 more)", f"Out[{out_n}]"], row
    assert row["call_site"] == f"In [{made}] line 2", row
    # one element of a dict, by its name
    page = rows(filter="objs['o137']", limit=10)
    assert page["total"] == 1 and page["objects"][0]["held_by"] == ["objs['o137']"], page
    assert page["objects"][0]["call_site"] == f"In [{made}] line 3"
    # a list of 100,000 refs still names its elements (the old walk skipped it)
    page = rows(filter="big", sort_by="created", descending=True, limit=3)
    assert page["total"] == 100_000, page["total"]
    assert [r["held_by"] for r in page["objects"]] == [["big[99999]"], ["big[99998]"],
                                                        ["big[99997]"]]
    # sorted by the names holding them: elements by index, then by key
    page = rows(sort_by="held_by", descending=False, limit=3)
    assert [r["held_by"][0] for r in page["objects"]] == ["big[0]", "big[1]", "big[2]"]
    page = rows(sort_by="held_by", descending=True, limit=2)
    assert [r["held_by"][0] for r in page["objects"]] == ["objs['o99']", "objs['o98']"]
    # the cell label is searchable as the rows show it
    assert rows(filter=f"In [{made}] line 2", limit=1)["total"] == 1
    # freed names are gone at the next listing
    k.execute("del objs['o137']")
    assert rows(filter="objs['o137']", limit=10)["total"] == 0

    # %%remote: the value's call site is the cell, not IPython's magic machinery
    k.execute("%%remote -o r\n41 + 1")
    assert k.value("nbray.get(r, timeout=60)") == 42
    page = rows(filter="remote-cell", limit=10)
    mine = [o for o in page["objects"] if o["held_by"] == ["r"]]
    assert len(mine) == 1, page["objects"]
    site = re.fullmatch(r"In \[(\d+)\] line 1", mine[0]["call_site"])
    assert site and made < int(site.group(1)) < made + 10, mine

    # %nbray memory: one line per object within 100 columns, names and cells in it
    text = strip_ansi(k.execute("%nbray memory --filter keep_me").stdout)
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= 100, text
    [obj] = [line for line in lines if "keep_me" in line]
    assert f"In [{made}] line 2" in obj and "KiB" in obj, obj
    assert row["object_id"][:8] in obj and row["object_id"] not in obj
    text = strip_ansi(k.execute("%nbray memory --filter big --limit 30").stdout)
    body = [line for line in text.splitlines() if "big[" in line]
    assert len(body) == 30 and all(len(line) <= 100 for line in text.splitlines()), text


def test_holder_index_names_scale_and_stay_bounded():
    """The naming walk on its own (no kernel needed: refs made from ids)."""
    from nbray.api import ObjectRef
    from nbray.jupyter.naming import HolderIndex, namespace_holders

    refs = [ObjectRef.from_random() for _ in range(30_000)]
    one = refs[7]
    ns = {"refs": refs, "one": one, "pair": (one, one), "by_key": {"k": one, 3: refs[8]},
          "_private": refs, "In": [], "Out": {5: one, 6: [one]}, "other": 3}
    index = namespace_holders(ns)
    assert index.names(one.binary()) == ["refs[7]", "one", "pair[0] (and 1 more)",
                                         "by_key['k']", "(and 2 more)"]
    assert index.names(one.binary(), shown=10)[-2:] == ["Out[5]", "Out[6][0]"]
    assert index[refs[8].hex()] == ["refs[8]", "by_key[3]"]
    assert index.get(ObjectRef.from_random().hex(), []) == [] and "zz" not in index
    assert len(index) == 30_000 and refs[29_999].hex() in index
    assert index.matching("REFS") == {r.binary() for r in refs}
    assert index.matching("by_key[3") == {refs[8].binary()}
    assert index.matching("nothing") == set() and index.skipped == []
    # the walk stops after `limit` elements in all and says which containers it left
    small = HolderIndex(ns, limit=20_000)
    assert small.skipped == ["refs"] and small.names(refs[9].binary()) == []
    assert small.names(refs[8].binary()) == ["by_key[3]"]


def test_text_table_fits_its_width():
    from nbray.memory_summary import MemorySummary, short_ids

    assert short_ids(["abcdef0123", "abcdef0124", "ffff000011"]) == [
        "abcdef0123", "abcdef0124", "ffff0000…"]
    assert short_ids(["0123456789ab" * 4, "0123456789ac" * 4]) == [
        "0123456789ab…", "0123456789ac…"]
    node = {"node_id": "ab" * 14, "store_used": 2**20, "store_capacity": 2**26, "objects": 2,
            "spilled_bytes": 0, "spilled_objects": 0, "spill_throughput_bytes_per_s": None,
            "restore_throughput_bytes_per_s": None}
    rows = [{"object_id": f"{i:02x}" * 28, "size": 3 * 2**20, "where": "shared_memory",
             "spill_url": None, "reference_types": ["LOCAL_REFERENCE"], "held_by": held,
             "type": "ndarray(1000, 1000, 3) float64", "locations": [node["node_id"]],
             "node_id": node["node_id"], "created_by": "put",
             "call_site": "/a/very/long/path/to/some/module/of/the/user/analysis.py:123"}
            for i, held in ((1, ["keep_me", "objs['o137'] (and 3 more)"]), (2, []))]
    summary = MemorySummary([node], rows, 2)
    text = summary.table(width=100)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100, text
    first = next(line for line in lines if line.lstrip().startswith("01010101…"))
    assert "3.0 MiB" in first and "shm" in first and "keep_me, objs" in first
    assert first.endswith("/user/analysis.py:123") and " …" in first, first
    assert "refs: local" in next(line for line in lines if "02020202…" in line)
    wide = summary.table(width=200)
    assert rows[0]["object_id"] in wide and max(map(len, wide.splitlines())) <= 200
