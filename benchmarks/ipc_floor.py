#!/usr/bin/env python3
"""The IPC floor: how many request/reply round trips two Python processes can make per second.

A driver that runs a task on a worker process sends the worker a message and waits for
one back; nothing built that way can beat two bare interpreters doing only that.  This
module measures it, for compare.py's reference rows:

  pipe   multiprocessing.Pipe(): send() of a small pickled tuple, recv() of the echo
         (a Unix socketpair plus pickling and length framing: the main floor)
  uds    a raw AF_UNIX stream socketpair, 64-byte messages (no pickling, no framing)

Each can be pinned: both processes on one CPU, or each on its own CPU.  Unpinned is what a
cluster gets by default; on a VM, waking an idle vCPU goes through the hypervisor, so the
pinned variants show what placement alone can change.

Run by itself: python benchmarks/ipc_floor.py [round trips]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection, Pipe
from typing import Optional, Set, Tuple

KINDS = ("pipe", "uds")
RAW_SIZE = 64
# What a pipe round trip carries: a small tuple, about the size of a compact task message.
MESSAGE = (1, "noop", b"0123456789abcdef", None)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = sock.recv(size)
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise EOFError("the peer closed the socket")
        data += more
    return data


def echo(kind: str, fd: int) -> None:
    """The peer's loop: send back every message until the other side closes."""
    if kind == "pipe":
        conn = Connection(fd)
        while True:
            try:
                conn.send(conn.recv())
            except EOFError:
                return
    sock = socket.socket(fileno=fd)
    while True:
        try:
            sock.sendall(_read_exactly(sock, RAW_SIZE))
        except (EOFError, ConnectionResetError):
            return


class Peer:
    """An echoing interpreter joined to this process by `kind`; `cpus` pins (ours, theirs)."""

    def __init__(self, kind: str, cpus: Optional[Tuple[int, int]] = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}: one of {KINDS}")
        self.kind = kind
        self.saved_affinity: Optional[Set[int]] = None
        if kind == "pipe":
            self.conn, theirs = Pipe(duplex=True)
            fd = theirs.fileno()
        else:
            self.sock, theirs_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            fd = theirs_sock.fileno()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--echo", kind,
                                      str(fd)], pass_fds=[fd])
        (theirs if kind == "pipe" else theirs_sock).close()
        if cpus is not None:
            self.saved_affinity = os.sched_getaffinity(0)
            try:
                os.sched_setaffinity(0, {cpus[0]})
                os.sched_setaffinity(self.proc.pid, {cpus[1]})
            except OSError:
                self.close()
                raise

    def round_trips_per_s(self, n: int) -> float:
        """n round trips; every reply is checked (a wrong echo raises)."""
        reply: object = None
        if self.kind == "pipe":
            send, recv, msg = self.conn.send, self.conn.recv, MESSAGE
            t0 = time.perf_counter()
            for _ in range(n):
                send(msg)
                reply = recv()
            elapsed = time.perf_counter() - t0
            sent: object = msg
        else:
            sock, raw = self.sock, bytes(range(RAW_SIZE))
            t0 = time.perf_counter()
            for _ in range(n):
                sock.sendall(raw)
                reply = _read_exactly(sock, RAW_SIZE)
            elapsed = time.perf_counter() - t0
            sent = raw
        if reply != sent:
            raise AssertionError(f"the {self.kind} peer echoed {reply!r}")
        return n / elapsed

    def close(self) -> None:
        """Closing our end ends the peer's loop; then it is waited for."""
        try:
            (self.conn if self.kind == "pipe" else self.sock).close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.saved_affinity is not None:
                os.sched_setaffinity(0, self.saved_affinity)

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pinnings() -> dict:
    """Placement name -> (our CPU, peer's CPU), for the CPUs this process may run on."""
    if not hasattr(os, "sched_setaffinity"):
        return {}
    cpus = sorted(os.sched_getaffinity(0))
    out = {"one_cpu": (cpus[0], cpus[0])}
    if len(cpus) > 1:
        out["two_cpus"] = (cpus[0], cpus[1])
    return out


def main(argv: list) -> int:
    if argv[:1] == ["--echo"]:
        echo(argv[1], int(argv[2]))
        return 0
    n = int(argv[0]) if argv else 20_000
    print(f"{'variant':<22}{'round trips/s':>14}")
    for kind in KINDS:
        for place, cpus in [("unpinned", None), *pinnings().items()]:
            with Peer(kind, cpus) as peer:
                peer.round_trips_per_s(n // 10)  # warm-up
                print(f"{kind + ' ' + place:<22}{peer.round_trips_per_s(n):>14,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
