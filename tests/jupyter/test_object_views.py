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
