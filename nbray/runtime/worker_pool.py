"""The worker processes of one node: start, watch, retire idle extras, reap, kill, stop.

Shared by the head's `Node` and a joined node's `NodeAgent`: both start workers on a
socketpair of their own (nothing listens), read them on their I/O thread, and must leave
no process behind.  How a worker's socket is watched differs (a selector in the node, the
network loop in the agent), so the owner passes `watch`, and stops watching a worker
itself before `forget`.  What a worker is doing
(its task, its actor, its resources) is the scheduler's business; the pool only keeps the
handle, which the scheduler annotates.

`workers` also holds the handles of workers the pool did not start (relayed workers of
other nodes, attached drivers): one table of every worker the owner talks to.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Deque, Dict, List, Optional, Set

from ..core.scheduler import WorkerState
from ..core.specs import TaskSpec
from ..transport.framing import ConnectionClosed
from ..transport.messages import Exit, Signal, wire
from .worker_process import start_worker_process

# Seconds a worker gets to exit after its socket closed (EOF) before it is killed.
EXIT_GRACE_S = 2.0


@dataclass(eq=False)
class WorkerHandle:
    worker_id: str
    proc: Optional["subprocess.Popen[bytes]"]   # None: a worker of another node, a driver
    conn: Any                          # MessageConnection, or a relay through its node
    state: WorkerState = "starting"    # see core.scheduler.WorkerState
    task: Optional[TaskSpec] = None
    held: Dict[str, float] = field(default_factory=dict)
    blocked: int = 0                   # nested get/wait calls in progress
    lent: Dict[str, float] = field(default_factory=dict)  # held, lent while blocked
    functions: Set[bytes] = field(default_factory=set)
    actor_id: Optional[bytes] = None
    idle_since: float = 0.0
    cancelled: Set[bytes] = field(default_factory=set)
    node_id: str = ""
    remote_pid: int = 0
    calls: Dict[bytes, int] = field(default_factory=dict)  # function id -> runs (max_calls)
    # Held by the one thread reading and handling its messages: the I/O thread, or a
    # driver thread that borrowed the connection while it waits (direct_poll.py).
    reader: threading.Lock = field(default_factory=threading.Lock)
    # Actor calls forwarded to it whose Done has not come back (actor_manager.py batches
    # the exec messages of calls behind one that runs).
    calls_out: int = 0
    # Another node's worker only: tasks sent behind `task`, and skipped runs still to report
    # (core.pipelining).
    pipelined: Deque[TaskSpec] = field(default_factory=collections.deque)
    revoked: Dict[bytes, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else self.remote_pid

    def signal(self, signum: int) -> None:
        """Send a signal to the worker process, wherever it runs."""
        if self.proc is not None:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass
        else:
            try:
                self.conn.node_send(wire(Signal(self.worker_id, int(signum))))
            except (ConnectionError, AttributeError):  # gone, or an attached driver
                pass


class WorkerPool:
    """Worker processes of the node `node_id`, sharing its arena `arena_fd`."""

    def __init__(self, node_id: str, arena_fd: int, capacity: int, env: Dict[str, str],
                 lock: ContextManager[Any], watch: Callable[[WorkerHandle], None],
                 stats: Optional["collections.Counter[str]"] = None) -> None:
        self.node_id = node_id
        self.arena_fd = arena_fd
        self.capacity = capacity
        self.env = env
        self.lock = lock            # the owner's lock: it guards `workers`
        self.watch = watch          # start reading a new worker's socket
        self.stats: "collections.Counter[str]" = stats if stats is not None else collections.Counter()
        self.workers: Dict[str, WorkerHandle] = {}
        # Workers asked for and not started yet (counts); started by the owner's I/O thread.
        self.spawn_requests: Deque[int] = collections.deque()
        self.closed = False
        self._seq = 0

    # -- starting ------------------------------------------------------------------
    def spawn(self) -> Optional[WorkerHandle]:
        """Start one worker process and watch its socket; None once the pool is shut down
        (a worker started meanwhile is stopped again, so none outlives the pool)."""
        with self.lock:
            if self.closed:
                return None
            self._seq += 1
            worker_id = f"{self.node_id[:8]}-w{self._seq}"
        # Outside the lock: starting a process takes milliseconds.
        proc, conn = start_worker_process(self.arena_fd, self.capacity, self.node_id,
                                          worker_id, self.env)
        worker = WorkerHandle(worker_id, proc, conn, idle_since=time.monotonic(),
                              node_id=self.node_id)
        with self.lock:
            closed = self.closed
            if not closed:
                self.workers[worker_id] = worker
        if closed:
            conn.close()
            _wait_or_kill(proc, EXIT_GRACE_S)
            return None
        self.watch(worker)
        self.stats["workers_started"] += 1
        return worker

    def add(self, worker: WorkerHandle) -> None:
        """Track a worker this pool did not start (relayed from another node, a driver)."""
        self.workers[worker.worker_id] = worker

    def request(self, n: int) -> None:
        """Ask for `n` more workers; the owner's I/O thread starts them (start_requested)."""
        self.spawn_requests.append(n)

    def start_requested(self, stopping: Callable[[], bool],
                        on_error: Callable[[str], None]) -> None:
        """Start the workers asked for, one at a time, until none is left or `stopping()`."""
        requests = self.spawn_requests
        while requests and not stopping():
            n = requests[0]
            try:
                self.spawn()
            except OSError as e:
                on_error(f"starting a worker failed: {e}")
            # Counted as requested until started, so the scheduler never asks twice.
            if n <= 1:
                requests.popleft()
            else:
                requests[0] = n - 1

    # -- the pool's size -------------------------------------------------------------
    def live_task_workers(self) -> List[WorkerHandle]:
        """Workers of this node that run tasks (not actors) and have not exited."""
        node_id = self.node_id
        return [w for w in self.workers.values() if w.state != "dead" and w.actor_id is None
                and w.node_id == node_id]

    def reap_idle(self, keep: int, idle_timeout_s: float, now: Optional[float] = None) -> None:
        """Ask task workers beyond `keep` that have been idle over `idle_timeout_s` to exit
        (workers started for nested gets); their exit is handled like any other.  `now`:
        the monotonic time, read only when there are extra workers (this runs on every turn
        of the node's I/O loop)."""
        live = self.live_task_workers()
        extra = len(live) - keep
        if extra <= 0:
            return
        if now is None:
            now = time.monotonic()
        for w in live:
            if extra <= 0:
                break
            if w.state == "idle" and now - w.idle_since > idle_timeout_s:
                w.state = "exiting"
                try:
                    w.conn.send(wire(Exit()))
                except ConnectionClosed:
                    pass
                extra -= 1

    # -- ending ------------------------------------------------------------------------
    def forget(self, worker: WorkerHandle, code: Optional[int]) -> Optional[int]:
        """The process half of a worker's exit (its socket closed): stop tracking it, close
        its socket, and reap the process; returns its exit code (`code` for a worker of
        another node, whose node reported it).  Call once per worker (its state is "dead"
        afterwards), after the owner stopped watching its socket."""
        with self.lock:
            worker.state = "dead"
            self.workers.pop(worker.worker_id, None)
        if worker.proc is None:
            if worker.conn is not None:
                worker.conn.close()  # an attached driver's socket; a relay's is a no-op
            return code
        worker.conn.close()
        return _wait_or_kill(worker.proc, EXIT_GRACE_S)

    def kill(self, worker: WorkerHandle) -> None:
        """SIGKILL the worker's process (its exit is then seen on its socket)."""
        worker.signal(signal.SIGKILL)

    def shutdown(self, grace_s: float = EXIT_GRACE_S) -> None:
        """Stop every worker: EOF on its socket (it exits at once), then SIGKILL for those
        still running after `grace_s`.  No worker is started after this."""
        with self.lock:
            self.closed = True
            workers = list(self.workers.values())
        for w in workers:
            try:
                w.conn.close()
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        for w in workers:
            if w.proc is not None:
                _wait_or_kill(w.proc, max(0.01, deadline - time.monotonic()))


def _wait_or_kill(proc: "subprocess.Popen[bytes]", timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


__all__ = ["WorkerHandle", "WorkerPool", "EXIT_GRACE_S"]
