"""What nbray's notebook layer costs Ray: task throughput side by side, layer off and on.

The layer on Ray adds: the submission wrappers (task id -> cell), the worker-side output
markers (exact routing), the `ray.get` / `ray.wait` wrappers (progress, interrupt) and
routing each output batch to a cell.  Phases alternate, in one process on one machine, a
fresh plain Ray and a fresh Ray with the layer attached before `ray.init()` (as `%load_ext
nbray` then `ray.init()` does: exact routing, with the worker hook).  Prints JSON figures (medians of every timed run
per side); nothing asserts a speed.

    python benchmarks/ray_notebook_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable, Dict, List


def _rate(n: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def _phase(layer: bool, tasks: int, reps: int) -> Dict[str, List[float]]:
    """One Ray instance, with the layer attached before ray.init() (as %load_ext nbray
    before ray.init() does) or not at all; each case warmed once, then timed `reps` times."""
    import ray

    from nbray.backends import select_port

    port = None
    if layer:
        port = select_port("ray")
        port.route_output(lambda record: None, lambda: "cell")
    ray.init(num_cpus=2, include_dashboard=True)
    try:
        @ray.remote
        def noop() -> None:
            return None

        @ray.remote
        def chatty(i: int) -> int:
            print("line", i)
            return i

        @ray.remote
        class Counter:
            def __init__(self) -> None:
                self.n = 0

            def add(self) -> int:
                self.n += 1
                return self.n

        counter = Counter.remote()
        sync_n = tasks // 5
        cases: Dict[str, Any] = {
            "noop tasks, submit all then ray.get": (tasks, lambda: ray.get(
                [noop.remote() for _ in range(tasks)])),
            "printing tasks, submit all then ray.get": (tasks, lambda: ray.get(
                [chatty.remote(i) for i in range(tasks)])),
            "sync noop tasks, one ray.get each": (sync_n, lambda: [ray.get(noop.remote())
                                                                  for _ in range(sync_n)]),
            "actor calls, submit all then ray.get": (tasks, lambda: ray.get(
                [counter.add.remote() for _ in range(tasks)])),
        }
        out: Dict[str, List[float]] = {}
        for name, (n, run) in cases.items():
            run()
            out[name] = [_rate(n, run) for _ in range(reps)]
        out["_mode"] = [port.routing.mode] if port is not None else []  # type: ignore[list-item]
        return out
    finally:
        ray.shutdown()
        if port is not None:
            port.release()
            select_port("nbray")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer phases and tasks")
    args = parser.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:  # `make bench` runs every script; this one needs Ray
        print(json.dumps({"skipped": "Ray is not installed: pip install \"nbray[ray]\""}))
        return
    phases, tasks, reps = (1, 500, 2) if args.quick else (2, 2000, 3)
    runs: Dict[bool, Dict[str, List[float]]] = {False: {}, True: {}}
    mode = ""
    for _ in range(phases):
        for layer in (False, True):
            for name, rates in _phase(layer, tasks, reps).items():
                if name == "_mode":
                    mode = str(rates[0]) if rates else mode
                    continue
                runs[layer].setdefault(name, []).extend(rates)
    import ray

    cases = {}
    for name in runs[False]:
        off, on = statistics.median(runs[False][name]), statistics.median(runs[True][name])
        cases[name] = {"layer_off_per_s": round(off), "layer_on_per_s": round(on),
                       "on_over_off": round(on / off, 3)}
    print(json.dumps({"ray": ray.__version__, "phases": phases, "tasks": tasks,
                      "timed_runs_per_phase": reps, "routing_mode": mode, "cases": cases},
                     indent=2))


if __name__ == "__main__":
    main()
