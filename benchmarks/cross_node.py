#!/usr/bin/env python3
"""Cross-node transfer and task rate: nbray and Ray, each with two nodes on this machine, against a raw loopback socket.

Usage: python benchmarks/cross_node.py [--mib 1024] [--reps 3] [--ray-mib N] [--tasks 2000]
       [--skip-nbray] [--skip-ray]

  raw socket     one process sends --mib over a loopback TCP socket to another, which
                 receives into a preallocated, touched buffer (the ceiling for any transfer)
  head -> node   a task on a joined node gets a ref made on the head (nbray: pulled over
                 a websocket into the node's shared memory; Ray: pulled by its object manager)
  node -> head   the driver gets an array a task made on the joined node
  tasks/s        --tasks no-op tasks submitted at once, then one get of the list: pinned to
                 the head ("local"), then to the joined node ("remote"); rounds interleaved
Ray runs as a head plus a second node started with `ray start` on 127.0.0.1, its driver
in a child process (nbray and Ray never share a process), and is stopped with
`ray stop --force` afterwards; that stops every Ray cluster of this user on the machine.
Both Ray object stores (3x the transfer each) live in /dev/shm at once: lower --ray-mib
if they do not fit.  The first round is a warm-up and is discarded.
Ratios > 1 mean nbray is faster.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Optional

import numpy as np

MiB = 2**20
SMALL = 0.001  # a share of a node's custom resource: pins a task there, limits nothing
GB = 1e9
TAG = "CROSS_NODE_RAY_RESULT "


def raw_socket_gbps(nbytes: int) -> float:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    sender = subprocess.Popen([sys.executable, "-c", (
        "import socket,sys\n"
        f"s=socket.create_connection(('127.0.0.1',{port}))\n"
        f"buf=bytearray(b'\\1')*{4 * MiB}\n"  # touched, like an arena block
        f"left={nbytes}\n"
        "while left>0:\n"
        "    n=min(left,len(buf)); s.sendall(memoryview(buf)[:n]); left-=n\n"
        "s.close()\n")])
    conn, _ = srv.accept()
    # Touched up front: a fresh bytearray is lazily mapped zero pages, and page faults
    # would make the ceiling noisy and low (PERFORMANCE.md).
    buf = bytearray(b"\1") * nbytes
    view = memoryview(buf)
    t0 = time.perf_counter()
    got = 0
    while got < nbytes:
        n = conn.recv_into(view[got:], min(4 * MiB, nbytes - got))
        if not n:
            break
        got += n
    dt = time.perf_counter() - t0
    conn.close()
    srv.close()
    sender.wait()
    return got / dt / GB


def read_first(x) -> float:
    return float(x[0])


def make_ones(n):
    return np.ones(n)


def noop() -> None:
    return None


def task_rates(mod, n: int, reps: int) -> tuple:
    """No-op tasks/s pinned to the head and to the joined node (medians of `reps` rounds,
    interleaved, after one warm-up round each); the same code for nbray and Ray."""
    here = mod.remote(resources={"node_head": SMALL})(noop)
    there = mod.remote(resources={"w": SMALL})(noop)

    def rate(f) -> float:
        t0 = time.perf_counter()
        mod.get([f.remote() for _ in range(n)])
        return n / (time.perf_counter() - t0)

    rate(here), rate(there)
    local, remote = [], []
    for _ in range(reps):
        local.append(rate(here))
        remote.append(rate(there))
    return statistics.median(local), statistics.median(remote)


def measure_rounds(mod, nbytes: int, reps: int) -> tuple:
    """The same rounds for nbray and Ray (`mod`); the tasks run on the node with resource w."""
    first = mod.remote(resources={"w": 1})(read_first)
    make = mod.remote(resources={"w": 1})(make_ones)
    to_node, to_head = [], []
    for _ in range(reps + 1):  # the first round touches fresh pages: discarded
        ref = mod.put(np.ones(nbytes // 8))
        t0 = time.perf_counter()
        mod.get(first.remote(ref))
        to_node.append(nbytes / (time.perf_counter() - t0) / GB)
        del ref
        made = make.remote(nbytes // 8)
        # Ray's wait pulls the object to the driver's node by default; nbray's does not.
        # Without fetch_local=False Ray's transfer would happen here, outside the timing.
        mod.wait([made], fetch_local=False)
        t0 = time.perf_counter()
        arr = mod.get(made)
        to_head.append(nbytes / (time.perf_counter() - t0) / GB)
        del arr, made
    return statistics.median(to_node[1:]), statistics.median(to_head[1:])


def nbray_gbps(nbytes: int, reps: int, tasks: int) -> tuple:
    """(head -> node, node -> head, local tasks/s, remote tasks/s); rates None if tasks=0."""
    import nbray
    from nbray.runtime.head_server import HeadServer

    nbray.init(num_cpus=1, object_store_memory=3 * nbytes, resources={"node_head": 1})
    node = nbray.runtime.context.current_driver().node
    server = HeadServer(node, write_address=False)
    env = dict(os.environ, NBRAY_TOKEN=server.token)
    agent = subprocess.Popen([sys.executable, "-m", "nbray.runtime.node_agent", server.address, "1",
                              '{"w": 1}', str(3 * nbytes), "127.0.0.1"], env=env,
                             stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while sum(1 for w in node.workers.values() if w.state == "idle") < 2:
            if time.time() > deadline:
                raise RuntimeError("the node did not join")
            time.sleep(0.05)

        rates = task_rates(nbray, tasks, reps) if tasks else (None, None)
        return (*measure_rounds(nbray, nbytes, reps), *rates)
    finally:
        nbray.shutdown()
        server.close()
        agent.terminate()
        agent.wait()


def ray_driver(address: str, nbytes: int, reps: int, tasks: int) -> None:
    """Runs in the child process: connects to the running cluster and prints one TAG line."""
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        # `ray start` of the second node returns before the GCS may list its resources.
        deadline = time.time() + 60
        while ray.cluster_resources().get("w", 0) < 1:
            if time.time() > deadline:
                raise RuntimeError("the second Ray node did not join")
            time.sleep(0.1)
        # Ray picks the head's raylet for a driver when several share a host; make sure,
        # or "head -> node" would not cross nodes.
        here = ray.get_runtime_context().get_node_id()
        if not any(n["NodeID"] == here and "node_head" in n["Resources"] for n in ray.nodes()):
            raise RuntimeError("the Ray driver is not attached to the head node")

        local, remote = task_rates(ray, tasks, reps) if tasks else (None, None)
        to_node, to_head = measure_rounds(ray, nbytes, reps)
    finally:
        ray.shutdown()
    print(TAG + json.dumps({"to_node": to_node, "to_head": to_head, "local": local,
                            "remote": remote}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli() -> str:
    # The `ray` next to this interpreter (a venv's bin/) even when the venv is not activated.
    here = os.path.join(os.path.dirname(sys.executable), "ray")
    return here if os.path.exists(here) else (shutil.which("ray") or "ray")


def ray_gbps(nbytes: int, reps: int, tasks: int) -> tuple:
    """Starts a two-node Ray cluster, measures in a child driver, always stops Ray.

    Returns (head -> node, node -> head, local tasks/s, remote tasks/s, seconds the two
    `ray start` took).
    """
    store = max(3 * nbytes, 128 * MiB)  # Ray refuses stores below ~75 MiB
    shm_free = shutil.disk_usage("/dev/shm").free if os.path.isdir("/dev/shm") else 0
    if 2 * store > shm_free:
        # Ray would quietly fall back to a store on disk, which is not what we mean to measure.
        raise RuntimeError(f"two Ray stores of {store / MiB:.0f} MiB do not fit in /dev/shm "
                           f"({shm_free / MiB:.0f} MiB free): lower --ray-mib")
    if subprocess.run(["pgrep", "-f", "raylet"], capture_output=True).returncode == 0:
        print("warning: a Ray cluster is already running here; `ray stop --force` at the end "
              "stops it too", file=sys.stderr)
    ray = ray_cli()
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", f"--object-store-memory={store}",
              "--disable-usage-stats", "--log-style=record"]
    # Two raylets on one host: each needs its own agent port (the default is a fixed one).
    head = [ray, "start", "--head", f"--port={port}", "--include-dashboard=false",
            f"--dashboard-agent-listen-port={free_port()}", '--resources={"node_head": 1}', *common]
    worker = [ray, "start", f"--address={address}", f"--dashboard-agent-listen-port={free_port()}",
              '--resources={"w": 1}', *common]
    try:
        t0 = time.perf_counter()
        for cmd in (head, worker):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
            if proc.returncode:
                raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n"
                                   f"{(proc.stdout + proc.stderr)[-2000:]}")
        start_s = time.perf_counter() - t0
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_ray-driver", address,
                               "--mib", str(nbytes // MiB), "--reps", str(reps),
                               "--tasks", str(tasks)],
                              stdout=subprocess.PIPE, text=True, timeout=1800)
        for line in proc.stdout.splitlines():
            if line.startswith(TAG):
                res = json.loads(line[len(TAG):])
                return res["to_node"], res["to_head"], res["local"], res["remote"], start_s
        raise RuntimeError(f"the Ray driver failed ({proc.returncode}); see its stderr above")
    finally:
        # Not to be cut short by a second Ctrl-C (`ray stop` inherits the ignore too).
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
        finally:
            signal.signal(signal.SIGINT, old)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--ray-mib", type=int, help="transfer size for Ray (default: --mib)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=2000, help="no-op tasks per rate round (0: skip)")
    ap.add_argument("--skip-nbray", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--_ray-driver", dest="ray_driver", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ray_driver:
        ray_driver(args.ray_driver, args.mib * MiB, args.reps, args.tasks)
        return 0
    # A plain kill should clean up like Ctrl-C does (the finally blocks stop both runtimes).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nbytes = args.mib * MiB
    ray_mib = args.ray_mib or args.mib
    # The raw copy is cheap and noisy on a shared machine: more repetitions than the rest.
    raw = statistics.median(raw_socket_gbps(nbytes) for _ in range(max(5, args.reps)))
    nb_all = None if args.skip_nbray else nbray_gbps(nbytes, args.reps, args.tasks)
    nb, nb_rates = (nb_all[:2], nb_all[2:]) if nb_all else (None, None)
    ray, ray_rates, note, rc = None, None, None, 0
    if args.skip_ray:
        pass
    elif importlib.util.find_spec("ray") is None:  # probed without importing it next to nbray
        note = "ray not installed: skipped"
    else:
        try:
            *ray_all, start_s = ray_gbps(ray_mib * MiB, args.reps, args.tasks)
            ray, ray_rates = ray_all[:2], ray_all[2:]
            note = f"ray cluster start (head + node, two `ray start`): {start_s:.1f} s"
        except Exception as e:  # still print the rows we have
            note, rc = f"ray failed: {e}", 1

    sizes = f"{args.mib} MiB" + (f" (ray {ray_mib} MiB)" if ray and ray_mib != args.mib else "")
    print(f"transfer of {sizes} between two nodes on this machine (GB/s, medians of {args.reps})")
    print(f"{'':<28}{'GB/s':>8}" + (f"{'nbray/raw':>12}" if nb else "")
          + (f"{'nbray/ray':>12}" if nb and ray else ""))
    print(f"{'raw loopback TCP socket':<28}{raw:>8.2f}")
    directions = ("head -> node", "node -> head")
    if nb:
        for direction, v, r in zip(directions, nb, ray or (None, None)):
            vs_ray = f"{v / r:>12.2f}" if r else ""
            print(f"{'nbray ' + direction:<28}{v:>8.2f}{v / raw:>12.2f}{vs_ray}")
    if ray:
        for direction, r in zip(directions, ray):
            print(f"{'ray ' + direction:<28}{r:>8.2f}")
    print_rates(args.tasks, args.reps, nb_rates, ray_rates)
    if note:
        print(note)
    return rc


def print_rates(tasks: int, reps: int, nb: Optional[tuple], ray: Optional[tuple]) -> None:
    """The task-rate table: local and remote no-op tasks/s and remote / local, per module."""
    cols = [(name, r) for name, r in (("nbray", nb), ("ray", ray)) if r and r[0] is not None]
    if not tasks or not cols:
        return
    depth = ""
    if nb and nb[0] is not None:
        from nbray.config import Config

        depth = f"; nbray remote_pipeline_depth {Config.from_env().remote_pipeline_depth}"
    print(f"\nno-op tasks/s, {tasks} at once then one get (medians of {reps}{depth})")
    print(f"{'':<28}" + "".join(f"{name:>10}" for name, _ in cols)
          + (f"{'nbray/ray':>12}" if len(cols) == 2 else ""))
    rows = (("local (pinned to the head)", 0), ("remote (on the joined node)", 1))
    for label, i in rows:
        vs = f"{cols[0][1][i] / cols[1][1][i]:>12.2f}" if len(cols) == 2 else ""
        print(f"{label:<28}" + "".join(f"{r[i]:>10.0f}" for _, r in cols) + vs)
    print(f"{'remote / local':<28}" + "".join(f"{r[1] / r[0]:>10.2f}" for _, r in cols))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have cleaned up by now
        sys.exit(130)
