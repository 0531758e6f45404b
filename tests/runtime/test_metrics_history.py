"""The dashboard's chart data: the head's metrics ring, the metrics and timeline endpoints,
and nbray.timeline() as a Chrome trace.

The ring's tests are pure (made-up clocks and nodes, no process); the rest ask a real
cluster, in process and over the head's HTTP server, bad input included.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

import nbray
from nbray.dashboard.routes import BadRequest, answer
from nbray.runtime import queries
from nbray.runtime.metrics_history import MetricsHistory, node_label, sample_node
from tests._support import poll_for

# -- the ring, pure ---------------------------------------------------------------------------

NODES = ((("n1", "host (head)", 10, 100, 5),), 3, 1, 0.5)


def test_a_sample_is_taken_once_an_interval_has_passed():
    history = MetricsHistory(interval_s=1.0, maxlen=10)
    taken = []

    def take():
        taken.append(1)
        return NODES

    assert history.offer(100.0, take)             # the first one, at once
    assert not history.offer(100.4, take)         # too soon: not even read
    assert not history.offer(100.99, take)
    assert history.offer(101.0, take)
    assert history.offer(50.0, take)              # the clock was set back: start over from there
    assert not history.offer(50.5, take)
    assert len(taken) == 3
    assert [row["t"] for row in history.rows()] == [100.0, 101.0, 50.0]


def test_the_ring_keeps_the_newest_samples_and_answers_those_after_since():
    history = MetricsHistory(interval_s=1.0, maxlen=3)
    for t in range(5):
        history.offer(float(t), lambda t=t: ((("n1", "h (head)", t, 100, 0),), t * 10, t % 2, t / 2))
    rows = history.rows()
    assert [r["t"] for r in rows] == [2.0, 3.0, 4.0]
    assert rows[-1] == {"t": 4.0, "tasks_done": 40, "tasks_running": 0, "busy_s": 2.0,
                        "nodes": [{"node_id": "n1", "label": "h (head)", "store_used": 4,
                                   "store_capacity": 100, "spilled_bytes": 0}]}
    assert [r["t"] for r in history.rows(since=3.0)] == [4.0]
    assert history.rows(since=4.0) == []
    json.dumps(rows)  # JSON as it is


def _info(node_id, **kw):
    base = dict(node_id=node_id, hostname="box", alive=True, is_head=False, is_driver=False,
                pid=0, store_used=7, store_capacity=70, spilled_bytes=0, spilled_objects=0)
    base.update(kw)
    return SimpleNamespace(**base)


def test_a_sample_reads_each_live_node_and_the_busy_workers():
    infos = {"head": _info("head", is_head=True), "worker-node": _info("worker-node"),
             "driver": _info("driver", is_driver=True, pid=42),
             "lost": _info("lost", alive=False)}
    node = SimpleNamespace(
        cluster_nodes=infos,
        table=SimpleNamespace(totals=lambda: ({"spilled": 2}, {"spilled": 300})),
        allocator=SimpleNamespace(used=11, capacity=110),
        workers={"a": SimpleNamespace(task=object(), calls_out=0),
                 "b": SimpleNamespace(task=None, calls_out=2),      # an actor answering calls
                 "c": SimpleNamespace(task=None, calls_out=0)},
        timeline=SimpleNamespace(total=9, busy_s=4.5))
    nodes, done, running, busy = sample_node(node)
    assert nodes == (("head", "box (head)", 11, 110, 300), ("worker-node", "box worker-n", 7, 70, 0),
                     ("driver", "box (driver pid 42)", 7, 70, 0))
    assert (done, running, busy) == (9, 2, 4.5)
    # A node's spilled bytes are its reports; the head's table knows those objects too,
    # so the head's own are what is left.
    infos["worker-node"].spilled_bytes, infos["worker-node"].spilled_objects = 100, 1
    nodes = sample_node(node)[0]
    assert [n[4] for n in nodes] == [200, 100, 0]
    assert node_label(_info("abcdef0123456789", hostname="")) == "? abcdef01"


# -- the endpoints, on a real cluster ---------------------------------------------------------

@nbray.remote
def charted(i):
    return i


@nbray.remote
def other(i):
    return -i


def _run_query(op, args):
    return nbray.cluster_info.query(op, **args)


def test_metrics_and_timeline_endpoints_answer_contract_b(make_cluster):
    make_cluster(num_cpus=2)
    before = time.time()
    assert nbray.get([charted.remote(i) for i in range(8)] + [other.remote(1)]) == \
        list(range(8)) + [-1]

    metrics = poll_for(lambda: (lambda m: m if m["samples"] and m["samples"][-1]["tasks_done"] >= 9
                                else None)(answer("metrics", {}, _run_query)),
                       timeout=30, msg="a sample counting the 9 runs")
    assert metrics["interval_s"] == 1.0 and abs(metrics["now"] - time.time()) < 60
    sample = metrics["samples"][-1]
    assert set(sample) >= {"t", "nodes", "tasks_done", "tasks_running"}
    (head,) = sample["nodes"]
    assert head["label"].endswith("(head)") and head["store_capacity"] == 256 * 2**20
    assert set(head) == {"node_id", "label", "store_used", "store_capacity", "spilled_bytes"}
    # since: only what came after
    assert answer("metrics", {"since": [str(sample["t"])]}, _run_query)["samples"] == []

    timeline = answer("timeline", {"since": [str(before)]}, _run_query)
    assert set(timeline) == {"events", "dropped", "now"} and timeline["dropped"] == 0
    names = [e["name"] for e in timeline["events"]]
    assert names.count("charted") == 8 and names.count("other") == 1
    # the same runs nbray.timeline() exports, as the same events
    exported = [e for e in nbray.timeline() if e["ph"] == "X"]
    assert timeline["events"] == [e for e in exported if (e["ts"] + e["dur"]) / 1e6 >= before]
    newest = answer("timeline", {"since": [str(before)], "limit": ["2"]}, _run_query)["events"]
    assert newest == timeline["events"][-2:]
    later = answer("timeline", {"since": [str(time.time() + 3600)]}, _run_query)
    assert later["events"] == []

    for name, params, word in [
            ("metrics", {"since": ["yesterday"]}, "since"),
            ("metrics", {"since": ["nan"]}, "since"),
            ("timeline", {"since": ["-1"]}, "since"),
            ("timeline", {"since": ["inf"]}, "since"),
            ("timeline", {"limit": ["0"]}, "limit"),
            ("timeline", {"limit": ["ten"]}, "limit"),
            ("timeline", {"limit": ["1000001"]}, "limit")]:
        with pytest.raises(BadRequest, match=word):
            answer(name, params, _run_query)


def test_the_head_serves_metrics_timeline_and_the_charts_page(make_cluster):
    from nbray.runtime.head_server import HeadServer

    make_cluster(num_cpus=1)
    head = HeadServer(nbray.runtime.context.current_driver().node, write_address=False)
    try:
        nbray.get(charted.remote(1))

        def get(path, token=True):
            headers = {"Authorization": f"Bearer {head.token}"} if token else {}
            req = urllib.request.Request(head.object_url + path, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.headers.get("Content-Type"), r.read()
            except urllib.error.HTTPError as e:
                with e:
                    return e.code, e.headers.get("Content-Type"), e.read()

        status, _, body = get("/api/timeline?limit=1")
        assert status == 200 and json.loads(body)["events"][0]["name"] == "charted"
        status, _, body = get("/api/metrics")
        assert status == 200 and "samples" in json.loads(body)
        status, _, body = get("/api/metrics?since=soon")
        assert status == 400 and "since" in json.loads(body)["error"]
        status, _, body = get("/api/timeline?limit=-5")
        assert status == 400 and "limit" in json.loads(body)["error"]
        # The charts page and its files, only to a logged-in browser or the token.
        status, kind, body = get("/static/charts.html")
        assert status == 200 and kind.startswith("text/html") and b"data-nbray-charts" in body
        status, kind, body = get("/static/vendor/chart.umd.min.js")
        assert status == 200 and kind.startswith("text/javascript") and b"Chart.js v4" in body[:200]
        assert get("/static/charts.js", token=False)[0] == 401
        assert get("/static/vendor/README.md")[0] == 404       # only the listed files
        assert get("/static/../server.py")[0] in (400, 403, 404)
    finally:
        nbray.shutdown()
        head.close()


def test_timeline_file_is_a_chrome_trace_with_named_rows(make_cluster, tmp_path):
    make_cluster(num_cpus=2)

    @nbray.remote
    class Traced:
        def call(self):
            return 1

    actor = Traced.remote()
    nbray.get([charted.remote(i) for i in range(4)] + [actor.call.remote()])
    path = tmp_path / "trace.json"
    poll_for(lambda: nbray.timeline(filename=str(path)) is None and
             sum(e["ph"] == "X" for e in json.loads(path.read_text())) >= 6,
             timeout=30, msg="the runs in the trace file")
    events = json.loads(path.read_text())   # valid JSON: a list of trace events
    assert isinstance(events, list) and {e["ph"] for e in events} == {"M", "X"}
    runs = [e for e in events if e["ph"] == "X"]
    for e in runs:
        assert isinstance(e["ts"], float) and isinstance(e["dur"], float) and e["dur"] >= 0
        assert isinstance(e["name"], str) and e["pid"] and e["tid"]
    meta = [e for e in events if e["ph"] == "M"]
    assert events[:len(meta)] == meta   # names first, as viewers read them
    processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    node_id = nbray.get_runtime_context().get_node_id()
    assert set(processes) == {e["pid"] for e in runs}
    assert processes[runs[0]["pid"]] == f"node {node_id[:12]} {nbray.nodes()[0]['NodeManagerHostname']} (head)"
    assert set(threads) == {(e["pid"], e["tid"]) for e in runs}
    for (pid, tid), name in threads.items():
        worker = tid.split(":", 1)[1]
        assert name.startswith(f"worker {worker} (pid ") and name.endswith(")")
    nbray.kill(actor)
