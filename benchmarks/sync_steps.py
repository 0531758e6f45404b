#!/usr/bin/env python3
"""Where the time of one synchronous task (or actor call) goes, step by step.

Runs `get(f.remote())` (or `get(actor.m.remote())`) N times on a local nbray cluster and
timestamps each step with time.perf_counter_ns(), which is CLOCK_MONOTONIC on Linux: one
clock for the driver and the worker process.  The driver's steps are timed by wrapping
`MessageConnection.send` and `Node.handle_batch`; the worker's by wrapping the same
`send`/`recv` and `worker_context.enter` inside the worker (the task function installs the
wrappers on its first run and returns the worker's timestamps).  The IPC floor (a bare
multiprocessing.Pipe ping-pong, benchmarks/ipc_floor.py) is measured in the same run.

The wrappers add about a microsecond per step: read the steps as shares, the total as a
little above what compare.py reports.  Only gets that blocked and handled the result
themselves (the common case, direct_poll.py) are counted; the rest are reported.

  python benchmarks/sync_steps.py [--mode task|actor] [-n 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))

STEPS = [
    ("submit", "driver: .remote() until the exec message is being sent"),
    ("send_exec", "driver: sendall() of the exec message (wakes the worker)"),
    ("to_worker", "exec sent -> the worker's reader thread has it"),
    ("handoff", "worker: reader thread -> main thread starts the task"),
    ("enter", "worker: task context set up -> function body runs"),
    ("returns", "worker: function returned -> Done being sent"),
    ("send_done", "worker: sendall() of Done (wakes the driver)"),
    ("to_driver", "Done sent -> driver starts handling it"),
    ("handle", "driver: Done handled (result stored, worker freed)"),
    ("get_rest", "driver: handled -> get() returns the value"),
]

# -- inside the worker ---------------------------------------------------------------------
_worker_marks: Dict[str, int] = {}
_last_send: Dict[str, int] = {}
_installed = False


def install_worker_timers() -> None:
    """Wrap the worker's framing and task entry (once per worker process)."""
    global _installed
    if _installed:
        return
    _installed = True
    from nbray.runtime import worker_context
    from nbray.transport import framing

    clock = time.perf_counter_ns
    recv, send, enter = (framing.MessageConnection.recv, framing.MessageConnection.send,
                         worker_context.enter)

    def timed_recv(conn: Any) -> Any:
        msg = recv(conn)
        _worker_marks["recv"] = clock()
        return msg

    def timed_send(conn: Any, msg: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            send(conn, msg)
            return
        t0 = clock()
        send(conn, msg)
        _last_send.update(send0=t0, send1=clock())

    def timed_enter(*args: Any, **kwargs: Any) -> Any:
        _worker_marks["enter"] = clock()
        return enter(*args, **kwargs)

    framing.MessageConnection.recv = timed_recv  # type: ignore[method-assign]
    framing.MessageConnection.send = timed_send  # type: ignore[method-assign]
    worker_context.enter = timed_enter


def worker_marks() -> tuple:
    """(recv, enter, now) of this run, and (send0, send1) of the previous run's Done."""
    now = time.perf_counter_ns()
    install_worker_timers()
    return (_worker_marks.get("recv", 0), _worker_marks.get("enter", 0), now,
            _last_send.get("send0", 0), _last_send.get("send1", 0))


# -- the driver ----------------------------------------------------------------------------
def measure(mode: str, n: int) -> Dict[str, Any]:
    import nbray
    from nbray.runtime import node as node_module
    from nbray.transport import framing

    sys.path.insert(0, HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    nbray.init(num_cpus=1)  # one task worker: its timestamps follow one another
    try:
        @nbray.remote
        def step_task() -> tuple:
            import sync_steps
            return sync_steps.worker_marks()

        @nbray.remote
        class StepActor:
            def m(self) -> tuple:
                import sync_steps
                return sync_steps.worker_marks()

        if mode == "task":
            call = step_task.remote
        else:
            actor = StepActor.remote()
            call = actor.m.remote
        for _ in range(300):  # warm-up: workers started, functions registered, wrappers in
            nbray.get(call())

        clock = time.perf_counter_ns
        marks: Dict[str, int] = {}
        send, handle_batch = framing.MessageConnection.send, node_module.Node.handle_batch
        main = threading.main_thread()

        def timed_send(conn: Any, msg: Any) -> None:
            if threading.current_thread() is main and "send0" not in marks:
                marks["send0"] = clock()
                send(conn, msg)
                marks["send1"] = clock()
            else:
                send(conn, msg)

        def timed_handle(node: Any, worker: Any, msgs: List[Any], handlers: Any) -> None:
            if threading.current_thread() is not main:
                handle_batch(node, worker, msgs, handlers)
                return
            marks["handle0"] = clock()
            handle_batch(node, worker, msgs, handlers)
            marks["handle1"] = clock()

        framing.MessageConnection.send = timed_send  # type: ignore[method-assign]
        node_module.Node.handle_batch = timed_handle  # type: ignore[method-assign]
        rows: List[tuple] = []
        try:
            for _ in range(n):
                marks.clear()
                t0 = clock()
                value = nbray.get(call())
                rows.append((t0, marks.get("send0"), marks.get("send1"), value,
                             marks.get("handle0"), marks.get("handle1"), clock()))
        finally:
            framing.MessageConnection.send = send  # type: ignore[method-assign]
            node_module.Node.handle_batch = handle_batch  # type: ignore[method-assign]
    finally:
        nbray.shutdown()

    per_step: Dict[str, List[float]] = {key: [] for key, _ in STEPS}
    totals: List[float] = []
    for row, following in zip(rows, rows[1:]):
        t0, send0, send1, value, handle0, handle1, t_end = row
        if None in (send0, send1, handle0, handle1):
            continue  # the I/O thread handled this result (get() did not block)
        recv, enter, body, done0, done1 = value[0], value[1], value[2], following[3][3], following[3][4]
        spans = [send0 - t0, send1 - send0, recv - send1, enter - recv, body - enter,
                 done0 - body, done1 - done0, handle0 - done1, handle1 - handle0, t_end - handle1]
        for (key, _), span in zip(STEPS, spans):
            per_step[key].append(span / 1000)
        totals.append((t_end - t0) / 1000)
    return {"mode": mode, "counted": len(totals), "runs": len(rows) - 1,
            "median_us": {key: statistics.median(v) for key, v in per_step.items() if v},
            "total_us": statistics.median(totals) if totals else float("nan")}


def floor_us(round_trips: int) -> Optional[float]:
    sys.path.insert(0, HERE)
    import ipc_floor

    with ipc_floor.Peer("pipe") as peer:
        return 1e6 / peer.round_trips_per_s(round_trips)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("task", "actor"), default="task")
    parser.add_argument("-n", type=int, default=3000)
    args = parser.parse_args(argv)
    before = floor_us(20000)
    result = measure(args.mode, args.n)
    after = floor_us(20000)
    print(f"sync {args.mode}: {result['counted']} of {result['runs']} gets handled their result "
          f"themselves; medians in microseconds")
    for key, label in STEPS:
        print(f"  {label:58s} {result['median_us'].get(key, float('nan')):7.1f}")
    print(f"  {'total (median of whole calls)':58s} {result['total_us']:7.1f}")
    floor = statistics.mean(x for x in (before, after) if x)
    print(f"  {'IPC floor: one Pipe round trip, same run (before/after)':58s} {floor:7.1f}"
          f"   ({before:.1f} / {after:.1f})")
    print(f"  total / floor: {result['total_us'] / floor:.2f} round trips' worth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
