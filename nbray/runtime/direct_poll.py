"""A driver thread that blocks in get()/wait() reads its producers' sockets itself.

Without this, a local driver waiting for a task's result sleeps until the node's I/O thread
has read the worker's message and woken it: two thread hand-offs (an epoll wake-up of the
I/O thread, then a futex wake-up of the driver) on top of the worker's own round trip.  On a
VM each wake-up of another CPU is expensive, and a synchronous task paid three of them
where two are unavoidable (driver -> worker, worker -> driver).

So the waiting thread borrows, for the length of its wait, the connections of the node's
worker processes that are computing what it waits for: it takes them out of the I/O
thread's selector, polls them itself, and handles their messages exactly as the I/O thread
would (the same dispatch, under the same node lock, in the same order).  Objects completed
some other way (by a worker it did not borrow, a failure, another node) still count its
latch down; a latch counted down from another thread also writes to the waiting thread's
wake pipe, which it polls along with the borrowed sockets.

A borrowed connection has one reader at a time: `WorkerHandle.reader` is held by whoever
reads and handles its messages (the I/O thread takes it with a try-lock too), so messages
of one worker are handled in order and never by two threads at once.

KeyboardInterrupt: in the main thread, a signal handler may raise between any two
bytecodes.  Node state must never be left half-updated, so while the main thread handles
messages its SIGINT handler only records the interrupt, which is raised once the handling
is done.  While it merely waits in poll(), Ctrl-C / Kernel > Interrupt works at once.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional

from ..ids import TASK_ID_SIZE
from ..transport.framing import ConnectionClosed
from .latch import Latch

try:
    # The C functions under `signal`: its Python wrappers convert handlers to and from
    # enums (a failed enum lookup per call), measured at 9 us per blocking get against 1 us.
    import _signal  # type: ignore[import-not-found]
    _sig: Any = _signal
except ImportError:  # pragma: no cover - other Pythons
    _sig = signal

if TYPE_CHECKING:
    from .node import Node
    from .worker_pool import WorkerHandle

# Borrowing a connection costs two epoll_ctl calls; past a few producers the I/O thread
# serves a wait as cheaply (and a long wait list is not scanned twice).
MAX_BORROWED = 4
MAX_SCANNED = 64
_SIGINT = int(signal.SIGINT)
_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL


class PollLatch(Latch):
    """A latch whose last count-down, from a thread other than its waiter, also writes to
    the waiter's wake pipe (the waiter may be sleeping in poll(), not on the lock)."""

    __slots__ = ("wake_fd", "waiter")

    def __init__(self, count: int, wake_fd: int) -> None:
        super().__init__(count)
        self.wake_fd = wake_fd
        self.waiter = threading.get_ident()

    def count_down(self, *_: Any) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._lock.release()
            if threading.get_ident() != self.waiter:
                try:
                    os.write(self.wake_fd, b"x")
                except OSError:  # full (a wake-up is pending anyway) or closed
                    pass

    __call__ = count_down

    @property
    def done(self) -> bool:
        return self.remaining <= 0


class InterruptGuard:
    """The main thread's SIGINT handler while it borrows connections: defers the
    interrupt while node messages are being handled, raises it at once otherwise."""

    def __init__(self) -> None:
        self.previous: Any = None
        self.handling = False
        self.deferred: Optional[Any] = None

    def arm(self, previous: Callable[[int, Any], Any]) -> None:
        self.previous, self.handling, self.deferred = previous, False, None

    def __call__(self, signum: int, frame: Any) -> None:
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        if self.handling:
            self.deferred = (signum, frame)
            return
        self.previous(signum, frame)

    def raise_deferred(self) -> None:
        pending, self.deferred = self.deferred, None
        if pending is not None:
            self.previous(*pending)


class DirectPoll:
    """The node's waits of driver threads: borrow producers' connections, or sleep."""

    def __init__(self, node: "Node") -> None:
        self.node = node
        self._local = threading.local()
        self._pipes: List[int] = []
        self._pipes_lock = threading.Lock()
        self._guard = InterruptGuard()
        self._main_ident = threading.main_thread().ident

    # -- latches ------------------------------------------------------------------------
    def latch(self, count: int) -> PollLatch:
        return PollLatch(count, self._wake_fds()[1])

    def _wake_fds(self) -> List[int]:
        try:
            fds: List[int] = self._local.fds
        except AttributeError:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            fds = [r, w]
            self._local.fds = fds
            with self._pipes_lock:
                self._pipes += fds
        return fds

    # -- waiting ------------------------------------------------------------------------
    def wait(self, latch: Latch, timeout: Optional[float], object_ids: Iterable[bytes]) -> bool:
        """Wait until `latch` is counted down (True) or `timeout` passes (False).  Call
        without the node lock; `object_ids` are what the latch waits for."""
        __tracebackhide__ = True
        if not isinstance(latch, PollLatch) or latch.remaining <= 0:
            return latch.wait(timeout)
        guard = None
        if threading.get_ident() == self._main_ident:
            previous = _sig.getsignal(_SIGINT)
            if previous is None or previous is self._guard:
                # A handler set from C (node code must not run under it), or a wait inside
                # another one's handling (a callback of a message): the I/O thread serves it.
                return latch.wait(timeout)
            if callable(previous):  # (SIG_IGN and SIG_DFL cannot raise in Python)
                # Armed before anything is borrowed, and deferring while connections are
                # borrowed and given back: an interrupt between the two would leave a
                # worker unread for good.
                guard = self._guard
                guard.arm(previous)
                guard.handling = True
                _sig.signal(_SIGINT, guard)
        borrowed: List["WorkerHandle"] = []
        try:
            node = self.node
            with node.lock:
                if not node.closed:
                    for worker in self._producers(object_ids):
                        if self._borrow(worker):
                            borrowed.append(worker)
            if guard is not None:
                guard.handling = False
                guard.raise_deferred()
            if not borrowed:
                return latch.wait(timeout)
            return self._poll(latch, timeout, borrowed, guard)
        finally:
            if guard is not None:
                guard.handling = True
            if borrowed:
                self._return(borrowed)
            if guard is not None:
                _sig.signal(_SIGINT, guard.previous)
                guard.handling = False
                guard.raise_deferred()

    def _producers(self, object_ids: Iterable[bytes]) -> List["WorkerHandle"]:
        """This node's worker processes running the tasks (or the actors of the calls)
        that make the pending objects among `object_ids` (the first MAX_SCANNED)."""
        node = self.node
        entries = node.table.entries
        by_id = node.tasks.by_id
        task_ids = set()
        actor_ids = set()
        for n, oid in enumerate(object_ids):
            if n == MAX_SCANNED:
                break
            entry = entries.get(oid)
            if entry is None or entry.state != "pending":
                continue
            spec = by_id.get(oid[:TASK_ID_SIZE])
            if spec is None:
                continue
            if spec.actor_id is not None and spec.kind == "actor-call":
                actor_ids.add(spec.actor_id)
            else:
                task_ids.add(spec.task_id)
        found: List["WorkerHandle"] = []
        for w in node.workers.values():
            if w.proc is None or w.state == "dead":
                continue
            if (w.actor_id is not None and w.actor_id in actor_ids) or \
                    (w.task is not None and w.task.task_id in task_ids):
                found.append(w)
                if len(found) == MAX_BORROWED:
                    break
        return found

    def _borrow(self, worker: "WorkerHandle") -> bool:
        if not worker.reader.acquire(False):  # the I/O thread is handling its messages
            return False
        if not self.node.stop_watching(worker):
            worker.reader.release()
            return False
        return True

    def _return(self, borrowed: List["WorkerHandle"]) -> None:
        node = self.node
        for worker in borrowed:
            # Released first: until it is watched again nobody else can read it anyway.
            worker.reader.release()
            if worker.state != "dead" and not worker.conn.closed:
                node.watch_again(worker)

    def _poll(self, latch: PollLatch, timeout: Optional[float], borrowed: List["WorkerHandle"],
              guard: Optional[InterruptGuard]) -> bool:
        __tracebackhide__ = True
        node = self.node
        wake_r = self._wake_fds()[0]
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        by_fd: Dict[int, "WorkerHandle"] = {}
        for w in borrowed:
            fd = w.conn.fd
            by_fd[fd] = w
            poller.register(fd, _READABLE)
        deadline = None if timeout is None else time.monotonic() + timeout
        handlers = node.handlers
        while latch.remaining > 0:
            if node.closed or not by_fd:
                # Nothing left to read here (the node stops, or every borrowed worker
                # died): the rest comes through the I/O thread.
                return latch.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is None:
                ms = None
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return latch.remaining <= 0
                ms = max(1, int(left * 1000))
            for fd, _ in poller.poll(ms):
                if fd == wake_r:
                    _drain(wake_r)
                    continue
                worker = by_fd[fd]
                if guard is not None:
                    guard.handling = True
                try:
                    self._handle(worker, handlers)
                except ConnectionClosed:
                    poller.unregister(fd)
                    del by_fd[fd]
                    node.on_worker_exit(worker)
                finally:
                    if guard is not None:
                        guard.handling = False
                if guard is not None and guard.deferred is not None:
                    guard.raise_deferred()
        return True

    def _handle(self, worker: "WorkerHandle", handlers: Any) -> None:
        msgs = worker.conn.recv_available()
        if msgs:
            self.node.handle_batch(worker, msgs, handlers)

    def close(self) -> None:
        """Close every thread's wake pipe (the node shut down)."""
        with self._pipes_lock:
            pipes, self._pipes = self._pipes, []
        for fd in pipes:
            try:
                os.close(fd)
            except OSError:
                pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:  # empty (non-blocking) or closed
        pass


__all__ = ["DirectPoll", "PollLatch", "MAX_BORROWED"]
