"""What the notebook views cost at scale: the sidebar's `summary` / `node_stats` with 1M
objects on a head plus a second node, and the latency of synchronous no-op tasks while
the sidebar's memory query polls with 100k refs named by the notebook.

Prints JSON figures only (nothing asserts a speed).  For a before/after comparison run it
alternately against two checkouts (PYTHONPATH picks the `nbray` package), e.g.

    for i in 1 2 3; do PYTHONPATH=../before python benchmarks/view_costs.py stats
                       PYTHONPATH=. python benchmarks/view_costs.py stats; done
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

import nbray

MiB = 2**20


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stats_case(objects: int = 1_000_000, rounds: int = 15) -> Dict[str, Any]:
    """node_stats and summary (the sidebar header's queries) with `objects` live objects,
    a tenth of them with a copy on a second node."""
    from nbray.runtime import queries
    from nbray.runtime.head_server import HeadServer

    nbray.init(num_cpus=1, object_store_memory=512 * MiB)
    node = nbray.runtime.context.current_driver().node
    server = HeadServer(node, write_address=False)
    env = dict(os.environ, NBRAY_TOKEN=server.token)
    agent = subprocess.Popen([sys.executable, "-m", "nbray.runtime.node_agent", server.address,
                              "1", '{"far": 1}', str(256 * MiB), "127.0.0.1"], env=env,
                             stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while sum(1 for n in nbray.nodes() if n["Alive"]) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the second node did not join")
            time.sleep(0.1)
        refs = [nbray.put(i) for i in range(objects)]

        @nbray.remote(resources={"far": 1})
        def there(n: int) -> List[bytes]:
            return [nbray.put(bytes(200_000)) for _ in range(n)]  # arena copies on that node

        held = nbray.get(there.remote(20))
        timings: Dict[str, List[float]] = {"node_stats": [], "summary": []}
        for _ in range(rounds):
            for op in timings:
                t0 = time.perf_counter()
                answer = queries.run(node, op, {})
                timings[op].append(time.perf_counter() - t0)
        rows = queries.run(node, "node_stats", {})
        del refs, held
        return {"case": "stats", "objects": objects,
                **{f"{op}_ms_median": round(statistics.median(v) * 1e3, 3)
                   for op, v in timings.items()},
                "rows": [(r["is_head"], r["objects"]) for r in rows],
                "summary_objects": answer["objects"]}
    finally:
        nbray.shutdown()
        server.close()
        agent.terminate()
        agent.wait(timeout=30)


def names_case(refs_held: int = 100_000, seconds: float = 8.0,
               poll_s: float = 0.25) -> Dict[str, Any]:
    """Latency of a sync no-op task loop while a thread asks the sidebar's memory query
    every `poll_s`, with `refs_held` refs in one list that the notebook's names cover."""
    from nbray.jupyter.naming import namespace_holders
    from nbray.runtime.notebook_port import current_port

    nbray.init(num_cpus=1, object_store_memory=512 * MiB)
    try:
        ns: Dict[str, Any] = {"objs": [nbray.put(i) for i in range(refs_held)]}
        current_port().name_holders(lambda: namespace_holders(ns))

        @nbray.remote
        def noop() -> None:
            return None

        for _ in range(200):
            nbray.get(noop.remote())
        stop = threading.Event()
        query_s: List[float] = []

        def poll() -> None:
            while not stop.wait(poll_s):
                t0 = time.perf_counter()
                page = nbray.memory(limit=50)
                query_s.append(time.perf_counter() - t0)
                assert any(row["held_by"] for row in page.objects), "the rows are named"

        poller = threading.Thread(target=poll)
        poller.start()
        latencies: List[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            nbray.get(noop.remote())
            latencies.append(time.perf_counter() - t0)
        stop.set()
        poller.join()
        current_port().name_holders(None)
        return {"case": "names", "refs": refs_held, "tasks": len(latencies),
                "queries": len(query_s),
                "query_ms_median": round(statistics.median(query_s) * 1e3, 2),
                "task_us_median": round(statistics.median(latencies) * 1e6, 1),
                "task_us_p99": round(_percentile(latencies, 0.99) * 1e6, 1),
                "task_ms_max": round(max(latencies) * 1e3, 2),
                "tasks_over_10ms": sum(1 for t in latencies if t > 0.01)}
    finally:
        nbray.shutdown()


def _worker_loop(seconds: float) -> List[float]:
    """On a worker: latencies of sync no-op tasks it submits for `seconds`."""
    @nbray.remote
    def noop() -> None:
        return None

    latencies: List[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        nbray.get(noop.remote())
        latencies.append(time.perf_counter() - t0)
    return latencies


def names_worker_case(refs_held: int = 100_000, seconds: float = 8.0,
                      poll_s: float = 0.25) -> Dict[str, Any]:
    """As names_case, but the task loop runs on a worker (a cell's work running while
    the sidebar polls): only the head's I/O thread shares the kernel's interpreter."""
    from nbray.jupyter.naming import namespace_holders
    from nbray.runtime.notebook_port import current_port

    nbray.init(num_cpus=2, object_store_memory=512 * MiB)
    try:
        ns: Dict[str, Any] = {"objs": [nbray.put(i) for i in range(refs_held)]}
        current_port().name_holders(lambda: namespace_holders(ns))
        loop = nbray.remote(_worker_loop)
        nbray.get(loop.remote(1.0))
        running = loop.remote(seconds)
        query_s: List[float] = []
        while not nbray.wait([running], timeout=poll_s)[0]:
            t0 = time.perf_counter()
            page = nbray.memory(limit=50)
            query_s.append(time.perf_counter() - t0)
            assert any(row["held_by"] for row in page.objects), "the rows are named"
        latencies = nbray.get(running)
        current_port().name_holders(None)
        return {"case": "names_worker", "refs": refs_held, "tasks": len(latencies),
                "queries": len(query_s),
                "query_ms_median": round(statistics.median(query_s) * 1e3, 2),
                "task_us_median": round(statistics.median(latencies) * 1e6, 1),
                "task_us_p99": round(_percentile(latencies, 0.99) * 1e6, 1),
                "task_ms_max": round(max(latencies) * 1e3, 2),
                "tasks_over_10ms": sum(1 for t in latencies if t > 0.01)}
    finally:
        nbray.shutdown()


CASES = {"stats": stats_case, "names": names_case, "names_worker": names_worker_case}

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "stats"
    result = CASES[which]()
    result["nbray"] = os.path.dirname(nbray.__file__)
    print(json.dumps(result))
