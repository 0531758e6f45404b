"""Generator tasks across nodes: items yielded on a joined node, callers on another node,
and items rebuilt from lineage when the node that held them is lost.

The test process is the head (see conftest.py); nodes are NodeAgent processes.
"""

from __future__ import annotations

import os
import signal
import textwrap

import numpy as np

import nbray
from tests._support import FileEvent, poll_for, run_attached

MiB = 2**20


@nbray.remote(resources={"w": 1})
def arrays_on_w(n, event=None):
    for i in range(n):
        if event is not None and i == 1:
            event.wait()
        yield np.full(MiB, float(i))   # 8 MiB each: stored in the node's own arena


def test_items_yielded_on_a_joined_node_stream_to_the_head(head, tmp_path):
    agent = head.join(resources='{"w": 1}')
    event = FileEvent(tmp_path / "go")
    gen = arrays_on_w.remote(2, event)
    first = next(gen)
    assert float(nbray.get(first)[0]) == 0.0          # before the task could finish
    row = [o for o in nbray.memory(limit=None).objects if o["object_id"] == first.hex()][0]
    assert head.info_of(agent).node_id in row["locations"]
    event.set()
    assert float(nbray.get(next(gen))[1]) == 1.0
    assert list(gen) == []


def test_a_task_on_a_joined_node_consumes_a_generator_running_on_the_head(head):
    head.join(resources='{"w": 1}')
    on_head = {f"node:{head.node.node_id}": 0.01}

    @nbray.remote
    def counting(n):
        for i in range(n):
            yield np.full(MiB, float(i))

    @nbray.remote(resources={"w": 1})
    def consume(n):
        gen = counting.options(resources=on_head).remote(n)
        return [float(nbray.get(r)[0]) for r in gen], os.getppid()

    values, where = nbray.get(consume.remote(3), timeout=60)
    assert values == [0.0, 1.0, 2.0] and where != os.getpid()


def test_items_lost_with_their_node_are_rebuilt_from_lineage(head):
    first = head.join(resources='{"w": 1}')
    gen = arrays_on_w.remote(2)
    refs = list(gen)                                   # never pulled to the head
    assert nbray.get(gen.completed(), timeout=60) is None
    del gen
    os.kill(first.pid, signal.SIGKILL)
    poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30, msg="the node was declared lost")
    head.join(resources='{"w": 1}')
    assert [float(nbray.get(r, timeout=60)[0]) for r in refs] == [0.0, 1.0]
    assert head.node.stats["reconstructions"] >= 1


def test_an_attached_driver_streams_a_generator_and_frees_its_items(head):
    head.join(resources='{"w": 1}')
    driver = textwrap.dedent(f"""
        import gc, numpy as np, nbray
        nbray.init(address={head.server.address!r})

        @nbray.remote(resources={{"w": 1}})
        def arrays(n):
            for i in range(n):
                yield np.full(1 << 20, float(i))

        gen = arrays.remote(3)
        print("first", float(nbray.get(next(gen))[0]))
        nbray.get(gen.completed())
        del gen
        gc.collect()
        dyn = nbray.get(arrays.options(num_returns="dynamic").remote(2))
        print("dynamic", [float(nbray.get(r)[0]) for r in dyn])
        del dyn
        gc.collect()
        print("left", nbray.reference_counts())
        nbray.shutdown()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    assert "first 0.0" in out.stdout and "dynamic [0.0, 1.0]" in out.stdout, out.stdout
    assert "left {}" in out.stdout, out.stdout
    poll_for(lambda: not head.node.table.entries, msg="the head to forget every object")
