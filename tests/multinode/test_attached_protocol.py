"""An attached driver's side of the wire protocol: the table it dispatches its node's
messages through (replies to its requests, and the output of the tasks it started).

The test process is the head (see conftest.py); the driver is a process of its own.
"""

from __future__ import annotations

import textwrap
from tests._support import run_attached


def test_an_attached_drivers_handlers_take_their_records_fields(head):
    driver = textwrap.dedent(f"""
        import os
        from nbray.runtime.attach import AttachedDriver
        from nbray.transport.dispatch import check_handlers

        attached = AttachedDriver({head.server.address!r}, os.environ["NBRAY_TOKEN"])
        try:
            table = attached.node_handlers()
            check_handlers(table)
            print("handled", sorted(record.__name__ for record in table))
        finally:
            attached.close()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    assert "handled ['Output', 'Reply']" in out.stdout, out.stdout


def test_an_attached_driver_cancels_a_cells_tasks_lists_by_sent_ids_and_draws_progress(
        head, tmp_path):
    """`cancel-tagged` cancels the tasks of one notebook cell of the sender (and refuses
    another driver's tag); a listing with `ids` filters and sorts by a remote notebook's
    names; a long get draws a progress bar that stops at the first error."""
    driver = textwrap.dedent(f"""
        import os, time, nbray
        from nbray.cluster_info import query
        from nbray.runtime import context, progress
        from nbray.backends import current_port
        from nbray.transport.messages import CancelTagged, wire

        nbray.init(address={head.server.address!r})
        FLAGS = {str(tmp_path)!r}
        closed = []

        class Bar:
            def __init__(self, total, label):
                self.label = label
            def update(self, state):  # the bar is up: let the failing task fail
                open(os.path.join(FLAGS, "bar"), "w").close()
            def close(self, state):
                closed.append((self.label, state.outcome, state.done, state.failed))

        progress.set_progress_renderer(Bar)

        def catch(ref):
            try:
                return nbray.get(ref, timeout=60)
            except Exception as e:
                return e

        @nbray.remote
        def hold(name):
            open(os.path.join(FLAGS, "started-" + name), "w").close()
            while not os.path.exists(os.path.join(FLAGS, "release")):
                time.sleep(0.01)
            return name

        @nbray.remote
        def fail_once_drawn():
            while not os.path.exists(os.path.join(FLAGS, "bar")):
                time.sleep(0.01)
            raise ValueError("boom")

        # listings with a remote notebook's names, as ids
        a, b = nbray.put("a"), nbray.put("b")
        got = query("memory", filter="no such text", ids={{"matching": [a.binary()]}})
        print("matched", [o["object_id"] for o in got["objects"]] == [a.hex()], got["total"])
        got = query("memory", sort_by="held_by", descending=False, limit=2,
                    ids={{"named": [b.binary(), a.binary()]}})
        print("ordered", [o["object_id"] for o in got["objects"]] == [b.hex(), a.hex()])
        got = query("memory", sort_by="held_by", descending=True, limit=2,
                    ids={{"named": [b.binary(), a.binary()]}})
        print("reversed", [o["object_id"] for o in got["objects"]] == [a.hex(), b.hex()])

        # a long get: its bar, stopped by the first error (the other object never comes)
        failing, held = fail_once_drawn.remote(), hold.remote("x")
        try:
            nbray.get([failing, held])
        except ValueError as e:
            print("raised", "boom" in str(e))
        print("bar", closed)

        # the tasks of one cell, cancelled by its tag; another cell's task runs on
        cell = ["cell-7"]
        current_port().route_output(lambda record: None, lambda: cell[0])
        refs = [hold.remote("c%d" % i) for i in range(3)]
        cell[0] = "cell-8"
        other = hold.remote("other")
        client = context.current_driver().attached.client
        ok, err = client.request(lambda req: wire(CancelTagged(req, "attached:else#cell-7", False)))
        print("forged", ok, type(err).__name__)
        print("cancelled", client.cancel_cell("cell-7"))
        kinds = []
        for r in refs:
            try:
                nbray.get(r, timeout=60)
                kinds.append("finished")
            except nbray.exceptions.TaskCancelledError:
                kinds.append("cancelled")
        print("kinds", kinds)
        # many tasks cancelled at once (an interrupted get of many refs): one round trip
        from nbray.ids import task_id_of
        more = [hold.remote("d%d" % i) for i in range(3)]
        client.cancel_tasks([task_id_of(r.binary()) for r in more], False, True)
        print("more", nbray.wait(more, num_returns=3, timeout=60)[0] == more,
              [type(catch(r)).__name__ for r in more])
        open(os.path.join(FLAGS, "release"), "w").close()
        print("other", nbray.get(other, timeout=60), nbray.get(held, timeout=60))
        nbray.shutdown()
    """)
    out = run_attached(driver, head.server.token)
    assert out.returncode == 0, out.stderr
    lines = out.stdout
    assert "matched True 1" in lines and "ordered True" in lines and "reversed True" in lines, lines
    assert "raised True" in lines, lines
    assert "bar [('get 2 objects', 'failed', 1, 1)]" in lines, lines
    assert "forged False ValueError" in lines, lines
    assert "cancelled 3" in lines and "kinds ['cancelled', 'cancelled', 'cancelled']" in lines, lines
    assert "more True ['TaskCancelledError', 'TaskCancelledError', 'TaskCancelledError']" \
        in lines, lines
    assert "other other x" in lines, lines
    assert not list(tmp_path.glob("started-[cd]*")), "a cancelled task ran"
