"""Inspector refresh threads stay bounded in a real kernel: re-running a cell replaces
its inspector, at most MAX_LIVE refresh at once (older ones pause and say so), and an
inspector whose widget is closed (from Python or by the front end) or whose output is
cleared stops its thread.  The front end's side (a comm_close, the view count JupyterLab
sends when a view appears or goes) is sent over the shell channel as a front end would."""

from __future__ import annotations

from typing import Any, Dict, Optional

from nbray.jupyter import inspector_view as view

from ._kernel_session import KernelSession, poll_for

THREADS = "sum(t.name == 'nbray-inspector' for t in __import__('threading').enumerate())"
SAME_CELL = "insp = nbray.inspect(refresh_s=0.2)\n_made.append(insp)\ninsp"


def _send(kernel: KernelSession, msg_type: str, content: Dict[str, Any],
          metadata: Optional[Dict[str, Any]] = None) -> str:
    msg = kernel.kc.session.msg(msg_type, content=content, metadata=metadata or {})
    kernel.kc.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])


def _threads(kernel: KernelSession, expected: int) -> None:
    poll_for(lambda: kernel.value(THREADS) == expected, what=f"{expected} refresh threads")


def test_refresh_threads_stay_bounded_and_stop_with_their_widget(nbray_kernel: KernelSession):
    k = nbray_kernel
    k.execute("from nbray.jupyter.inspector import MAX_LIVE, PAUSED, live_inspectors\n_made = []")
    assert k.value("MAX_LIVE") == 3
    # The same cell run 5 times: each run replaces (closes) the inspector of the run before.
    for _ in range(5):
        k.execute(SAME_CELL)
    _threads(k, 1)
    assert k.value("[i.closed for i in _made]") == [True] * 4 + [False]
    # JupyterLab names the cell (metadata.cellId): a re-run with other code replaces too.
    for code in ("by_id = nbray.inspect(refresh_s=0.2)\nfirst = by_id",
                 "by_id = nbray.inspect(refresh_s=0.3)"):
        k.wait_idle(_send(k, "execute_request", {"code": code, "silent": False,
                                                 "store_history": True, "user_expressions": {},
                                                 "allow_stdin": False, "stop_on_error": True},
                          {"cellId": "cell-7"}))
    assert k.value("[first.closed, by_id.closed, by_id.refreshing]") == [True, False, True]
    _threads(k, 2)
    # Five more cells: only MAX_LIVE refresh; the oldest pause and say so.
    for i in range(5):
        k.execute(f"a{i} = nbray.inspect(refresh_s=0.2)")
    _threads(k, 3)
    assert k.value("[i is a2 or i is a3 or i is a4 for i in live_inspectors()]") == [True] * 3
    assert k.value("[insp.live.value, insp.state_label.value == PAUSED, by_id.refreshing]") == \
        [False, True, False]
    # Clicking live resumes a paused one and pauses the oldest still refreshing (a2).
    k.execute("a0.live.value = True")
    assert k.value("[a0.refreshing, a2.refreshing, a2.live.value, a2.state_label.value]") == \
        [True, False, False, "paused — click live to resume"]
    _threads(k, 3)
    # Closed from Python: its thread stops.
    k.execute("a4.widget.close()")
    _threads(k, 2)
    assert k.value("[a4.closed, a4.refreshing, len(live_inspectors())]") == [True, False, 2]
    # Closed by the front end (comm_close): the same.
    _send(k, "comm_close", {"comm_id": k.value("a3.widget.model_id"), "data": {}})
    _threads(k, 1)
    assert k.value("[a3.closed, [i is a0 for i in live_inspectors()]]") == [True, [True]]
    # Its output cleared: JupyterLab counts the model's views up as one is shown and down
    # as it goes; at 0 the inspector pauses (live resumes it).
    model = k.value("a0.widget.model_id")
    for count in (1, 0):
        _send(k, "comm_msg", {"comm_id": model, "data": {
            "method": "update", "state": {"_view_count": count}, "buffer_paths": []}})
    _threads(k, 0)
    assert k.value("[a0.live.value, a0.state_label.value]") == \
        [False, "paused: no longer shown — click live to resume"]
    # The node line names what each node is: here the kernel's own head.
    assert "head node " in k.value("a0.nodes_html.value")
    assert "(this kernel)" in k.value("a0.nodes_html.value")
    k.execute("a0.live.value = True")
    _threads(k, 1)
    k.execute("for i in live_inspectors(): i.close()")
    _threads(k, 0)


def test_node_rows_are_labelled_as_the_sidebar_labels_them():
    head = {"node_id": "aa" * 14, "hostname": "box", "is_head": True, "is_driver": False,
            "alive": True}
    node = dict(head, node_id="bb" * 14, is_head=False)
    me = dict(node, node_id="cc" * 14, is_driver=True)
    other = dict(me, node_id="dd" * 14, alive=False)
    labels = [view.node_label(n, this_node="cc" * 14, pid=4242) for n in (head, node, me, other)]
    assert labels == [f"head node {'aa' * 6} box", f"worker node {'bb' * 6} box",
                      "driver pid 4242 (this kernel)", f"driver {'dd' * 6} box (gone)"]
    assert view.node_label(head, this_node="aa" * 14) == f"head node {'aa' * 6} box (this kernel)"
    assert view.node_label(dict(node, alive=False)).endswith("(lost)")
    rows = [dict(n, store_used=0, store_capacity=2**20, objects=0) for n in (head, me)]
    page = view.nodes_html(rows, "cc" * 14, 4242)
    assert "nbray-node-head" in page and "nbray-node-driver" in page
    assert "driver pid 4242 (this kernel)" in page and f"title='{'aa' * 14}'" in page
