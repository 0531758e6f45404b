#!/usr/bin/env python3
"""Cross-node transfer: nbray between two nodes on this machine against a raw loopback socket.

Usage: python benchmarks/cross_node.py [--mib 1024] [--reps 3]

  raw socket     one process sends --mib over a loopback TCP socket to another, which
                 receives into a preallocated buffer (the ceiling for any transfer)
  head -> node   a task on a joined node gets a ref made on the head (pulled over HTTP
                 into the node's shared memory)
  node -> head   the driver gets an array a task made on the joined node
Ratios > 1 mean nbray is faster.  Ray with two nodes is not run by this script yet.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

MiB = 2**20
GB = 1e9


def raw_socket_gbps(nbytes: int) -> float:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    sender = subprocess.Popen([sys.executable, "-c", (
        "import socket,sys\n"
        f"s=socket.create_connection(('127.0.0.1',{port}))\n"
        f"buf=bytearray({4 * MiB})\n"
        f"left={nbytes}\n"
        "while left>0:\n"
        "    n=min(left,len(buf)); s.sendall(memoryview(buf)[:n]); left-=n\n"
        "s.close()\n")])
    conn, _ = srv.accept()
    buf = bytearray(nbytes)
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


def nbray_gbps(nbytes: int, reps: int) -> tuple:
    import nbray
    from nbray.runtime.head_server import HeadServer

    nbray.init(num_cpus=1, object_store_memory=3 * nbytes)
    node = nbray.api._state.node
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

        @nbray.remote(resources={"w": 1})
        def first(x):
            return float(x[0])

        @nbray.remote(resources={"w": 1})
        def make(n):
            return np.ones(n)

        to_node, to_head = [], []
        for _ in range(reps + 1):  # the first round touches fresh pages: discarded
            ref = nbray.put(np.ones(nbytes // 8))
            t0 = time.perf_counter()
            nbray.get(first.remote(ref))
            to_node.append(nbytes / (time.perf_counter() - t0) / GB)
            del ref
            made = make.remote(nbytes // 8)
            nbray.wait([made])
            t0 = time.perf_counter()
            arr = nbray.get(made)
            to_head.append(nbytes / (time.perf_counter() - t0) / GB)
            del arr, made
        return statistics.median(to_node[1:]), statistics.median(to_head[1:])
    finally:
        nbray.shutdown()
        server.close()
        agent.terminate()
        agent.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    nbytes = args.mib * MiB
    raw = statistics.median(raw_socket_gbps(nbytes) for _ in range(args.reps))
    to_node, to_head = nbray_gbps(nbytes, args.reps)
    print(f"transfer of {args.mib} MiB between two nodes on this machine (GB/s, medians of {args.reps})")
    print(f"{'raw loopback TCP socket':<28}{raw:>8.2f}")
    print(f"{'nbray head -> node':<28}{to_node:>8.2f}   nbray/raw {to_node / raw:.2f}")
    print(f"{'nbray node -> head':<28}{to_head:>8.2f}   nbray/raw {to_head / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
