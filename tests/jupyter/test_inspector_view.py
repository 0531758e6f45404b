"""The inspector's rendering of a page of rows: short ids, size bars, holders, snapshot forms.

Pure functions of row dicts shaped like nbray.memory()'s, so no kernel is needed.
"""

from __future__ import annotations

import re

from nbray.jupyter import inspector_view as view

TASK_A = "2a56e55b7f8e52534c05b829acda3c3a650030335cd95af5"
PUT = "ffffffff"


def _row(oid, size, **extra):
    row = {"object_id": oid, "size": size, "type": "ndarray(8,) float64", "where": "shared_memory",
           "reference_types": ["LOCAL_REFERENCE"], "held_by": [], "call_site": "In [3] line 1",
           "created_by": "put", "owner": {"process": "driver", "pid": 7}, "locations": ["ab" * 14],
           "spill_url": None, "task_id": None}
    row.update(extra)
    return row


def test_short_ids_tell_the_page_apart():
    ids = ["ccbc7a07fdedde12" + TASK_A[16:] + PUT, "ccbc7a07aaaade12" + TASK_A[16:] + PUT,
           TASK_A + "00000000", TASK_A + "00000001", "9f00aa11" * 6 + PUT]
    short = view.short_ids(ids)
    assert len(set(short.values())) == len(ids)
    for oid, s in short.items():
        assert oid.startswith(s.split("…")[0]) and len(s) <= 16, (oid, s)
    assert short[TASK_A + "00000001"].endswith("…#1")       # returns of one task: their index
    assert "…" not in short["9f00aa11" * 6 + PUT]           # a put has no index to show
    assert view.short_ids([TASK_A + PUT]) == {TASK_A + PUT: TASK_A[:8]}


def test_table_snapshot_and_text_show_one_line_per_object():
    rows = [_row("a1" * 24 + PUT, 4 * 2**20, held_by=["big", "Out[4]"]),
            _row("b2" * 24 + PUT, 2**20, where="spilled", spill_url="file:///spill/b2"),
            _row("c3" * 24 + PUT, 0, where="pending", reference_types=["USED_BY_PENDING_TASK"],
                 call_site="", created_by="square")]
    table = view.table_html(rows)
    assert re.findall(r"<tr class='nbray-object' data-object-id='([0-9a-f]+)'>", table) == \
        [r["object_id"] for r in rows]
    # bars proportional to the size, relative to the largest row
    assert re.findall(r"<span style='width:([\d.]+)%", table) == ["100.0", "25.0", "0.0"]
    assert "title='held by big, Out[4]" in table and ">big, Out[4]</td>" in table
    assert ">a pending task</td>" in table and "square</td>" in table   # no name: why it lives
    assert "file:///spill/b2" in table and "4,194,304 bytes" in table  # on hover
    assert "<script" not in table and "#fff" not in table.lower()     # theme colours only
    assert "var(--jp-ui-font-color1" in table

    snapshot = view.snapshot_html([{"node_id": "ab" * 14, "store_used": 2**20,
                                    "store_capacity": 2**22, "objects": 3, "spilled_bytes": 2**20,
                                    "spilled_objects": 1}], rows, "1-3 of 3 objects, page 1/1")
    assert table in snapshot and "25.0%" in snapshot and "1-3 of 3 objects" in snapshot
    text = view.snapshot_text(rows, "1-3 of 3 objects, page 1/1").splitlines()
    assert len(text) == 2 + len(rows)
    assert "4.0 MiB" in text[2] and "big, Out[4]" in text[2] and "spilled" in text[3]
    assert "<" not in "".join(text)
    empty = view.table_html([])
    assert "no objects" in empty and "nbray-object'" not in empty


def test_nbconvert_html_shows_the_snapshot_of_a_saved_inspector():
    """A notebook saved without widget state (JupyterLab's default) converts to the table."""
    import nbconvert
    import nbformat

    rows = [_row("a1" * 24 + PUT, 2**20, held_by=["keep"])]
    bundle = {"application/vnd.jupyter.widget-view+json":
              {"version_major": 2, "version_minor": 0, "model_id": "0" * 32},
              "text/html": view.snapshot_html([], rows, "1-1 of 1 objects, page 1/1"),
              "text/plain": view.snapshot_text(rows, "1-1 of 1 objects, page 1/1")}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("nbray.inspect()", outputs=[
        nbformat.v4.new_output("execute_result", data=bundle, execution_count=1)])]
    page, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    # (nbconvert re-serialises the HTML: quotes may change)
    assert re.findall(r"<tr class=.nbray-object. data-object-id=.([0-9a-f]+)", page) == \
        ["a1" * 24 + PUT]
    assert "widget-view+json\">" not in page and "keep</td>" in page and "<style>" in page
