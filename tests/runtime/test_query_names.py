"""The memory query reads the notebook's names for holders before it takes the node's lock
(walking a namespace of many refs takes tens of ms, which tasks would wait out), and the
rows still carry the right names; a provider that fails costs the names, not the query."""

from __future__ import annotations

import threading
from typing import Any, Dict, List

import nbray
from nbray.jupyter.naming import namespace_holders
from nbray.runtime import queries
from nbray.runtime.introspection import object_rows
from nbray.backends import current_port


@nbray.remote
def _one() -> int:
    return 1


def test_names_are_read_outside_the_lock_and_a_failing_provider_costs_only_the_names(
        cluster: Any) -> None:
    node = cluster.node
    keep = nbray.put("kept")
    objs = [nbray.put(i) for i in range(3)]
    ns: Dict[str, Any] = {"keep": keep, "objs": objs}
    while_named: List[bool] = []
    probe = [True]

    def provider() -> Any:
        # Another thread takes the node's lock while the names are built: it could not if
        # this thread held the lock (an RLock: this thread itself could).
        if not probe[0]:
            while_named.append(False)
            return namespace_holders(ns)
        got = threading.Event()

        def other() -> None:
            if node.lock.acquire(timeout=30):
                node.lock.release()
                got.set()

        t = threading.Thread(target=other)
        t.start()
        t.join()
        while_named.append(got.is_set())
        return namespace_holders(ns)

    port = current_port()
    port.name_holders(provider)
    try:
        page = nbray.memory(sort_by="held_by", descending=False, limit=10)
        assert while_named == [True]
        held = {row["object_id"]: row["held_by"] for row in page.objects}
        assert held[keep.hex()] == ["keep"]
        assert [held[r.hex()] for r in objs] == [["objs[0]"], ["objs[1]"], ["objs[2]"]]
        # The names filter and sort too, as before.
        page = nbray.memory(filter="objs[1", limit=10)
        assert [row["object_id"] for row in page.objects] == [objs[1].hex()]
        # A query other than memory does not read the namespace.
        assert queries.run(node, "summary", {})["objects"] >= 4
        assert len(while_named) == 2
        # Callers of object_rows without names still get the notebook's (the default),
        # read there, under their lock.
        probe[0] = False
        with node.lock:
            rows, _ = object_rows(node, filter=keep.hex(), limit=5)
        assert rows[0]["held_by"] == ["keep"] and len(while_named) == 3
        with node.lock:
            rows, _ = object_rows(node, filter=keep.hex(), limit=5, names=None)
        assert rows[0]["held_by"] == [] and len(while_named) == 3

        def broken() -> Any:
            raise RuntimeError("the namespace walk failed")

        port.name_holders(broken)
        page = nbray.memory(limit=10)
        assert page.total >= 4
        assert all(row["held_by"] == [] for row in page.objects)
        assert nbray.get(_one.remote()) == 1   # the node goes on
    finally:
        port.name_holders(None)
