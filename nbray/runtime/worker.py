"""Worker process: runs tasks sent by its node, and sends back results and output.

Started by the node as `python -m nbray.runtime.worker SOCK_FD ARENA_FD CAPACITY
NODE_ID WORKER_ID PARENT_PID`.  A reader thread receives messages; the main thread
runs tasks one at a time.  The worker exits as soon as its node's socket closes
(the driver exited or was killed), and the kernel also kills it if the parent
dies (PR_SET_PDEATHSIG), so no worker outlives its cluster.

This module is the task loop; around it, `worker_results` turns values and errors into
result records, `worker_generators` streams a generator's items, `worker_context` keeps
what the runtime context reads, and `worker_output` carries what tasks print.
"""

from __future__ import annotations

import atexit
import inspect
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, Coroutine, Dict, List, Optional, Tuple, cast

from .. import exceptions as exc
from ..config import INLINE_THRESHOLD
from ..core.specs import ActorStart, TaskSpec
from ..ids import JOB_ID_SIZE, ids
from ..serialization import deserialize
from ..store.shm import Arena
from ..transport.dispatch import Handlers, ProtocolError, dispatch
from ..transport.framing import ConnectionClosed, MessageConnection
from ..transport.fast_wire import wire_done  # wire(Done(...)), without the record: per task
from ..transport.messages import (CancelRunning, DescriptorTuple, Exec, Exit, ExitActor, Log, Ready,
                                  Reply, wire)
from . import context, worker_context, worker_generators
from .actor import BUILTIN_METHODS, ActorExit, bound_method
from .client import WorkerClient
from .task_args import unpack_args
from .worker_output import TaskOutput
from .worker_results import TaskResults, should_retry


def _die_with_parent(parent_pid: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class Worker:
    """The task loop of a worker process: receives work from its node, runs it, reports it."""

    def __init__(self, conn: MessageConnection, arena: Arena, node_id: str, worker_id: str) -> None:
        self.conn = conn
        self.arena = arena
        self.worker_id = worker_id
        self.node_id = node_id
        self.client = WorkerClient(conn, arena.view, worker_id, node_id,
                                   int(os.environ.get("NBRAY_INLINE_THRESHOLD", INLINE_THRESHOLD)))
        # (spec, function blob, dependencies) of a task, or _EXIT
        self.tasks: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.results = TaskResults(self.client)
        self.functions: Dict[bytes, Any] = {}
        self.cancelled: set = set()
        self.client.cancelled = self.cancelled  # the runtime context's is_canceled() reads it
        self.running_task_id: Optional[bytes] = None  # the task on the main thread
        self.actor: Any = None
        self._executor: Any = None      # thread pool of a threaded actor
        self._loop: Any = None          # event loop of an async actor
        self._semaphore: Any = None

    @property
    def current(self) -> Optional[TaskSpec]:
        return self.client.current_task

    # -- I/O ------------------------------------------------------------------
    def node_handlers(self) -> Handlers[MessageConnection]:
        """What this worker takes from its node: record -> handler(conn, *fields)."""
        return Handlers({Exec: self._on_exec, Reply: self._on_reply,
                         CancelRunning: self._on_cancel, Exit: self._on_exit})

    def reader(self) -> None:
        handlers = self.node_handlers()
        try:
            while True:
                msg = self.conn.recv()
                try:
                    dispatch(handlers, self.conn, msg)
                except ProtocolError:
                    # A message this worker cannot take (a bug, or mixed versions): say so
                    # and go on; before the protocol was defined it was ignored silently.
                    traceback.print_exc()
        except (ConnectionClosed, _Leave):
            pass
        except BaseException:
            traceback.print_exc()
        os._exit(0)  # node gone or asked us to leave: nothing else to do

    # -- node -> worker messages (handlers of `reader`'s table) ----------------------------
    def _on_exec(self, conn: MessageConnection, spec: TaskSpec, blob: Optional[bytes],
                 deps: List[Tuple[bytes, DescriptorTuple]]) -> None:
        self.tasks.put((spec, blob, deps))

    def _on_reply(self, conn: MessageConnection, req: int, ok: bool, value: Any) -> None:
        self.client.on_reply(req, ok, value)

    def _on_cancel(self, conn: MessageConnection, task_id: bytes, interrupt: bool = True) -> None:
        self.cancelled.add(task_id)
        # interrupt False: an actor call, never interrupted once running (as in Ray)
        if task_id == self.running_task_id and interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # a real signal also ends a sleep

    def _on_exit(self, conn: MessageConnection) -> None:
        if self.actor is None:
            raise _Leave
        # An actor ends gracefully on its main thread; the reader keeps serving replies,
        # since __ray_shutdown__ may still use the cluster.
        self.tasks.put(_EXIT)

    def send_output(self, stream: str, text: str) -> None:
        spec = self.current
        name = (spec.log_name or spec.name) if spec is not None else "worker"
        try:
            self.client.send(wire(Log(stream, text, name, spec.task_id if spec else None)))
        except ConnectionError:
            pass

    # -- running tasks --------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGINT, self._on_sigint)
        self.client.send(wire(Ready(os.getpid())))
        while True:
            try:
                item = self.tasks.get(timeout=0.05) if self.client.has_pending_events() \
                    else self.tasks.get()
            except queue.Empty:
                self.client.flush()
                continue
            except KeyboardInterrupt:
                continue
            if item is _EXIT:
                self._exit_gracefully()
            spec = item[0]
            if spec.kind == "actor-call" and self._loop is not None:
                self._run_async(*item)
            elif spec.kind == "actor-call" and self._executor is not None:
                self._executor.submit(self.execute, *item)
            else:
                self.execute(*item)

    # -- actors -------------------------------------------------------------------
    def _become_actor(self, spec: TaskSpec, instance: Any) -> None:
        self.actor = self.results.actor = instance
        start = spec.actor or ActorStart()
        concurrency = start.max_concurrency
        if start.is_async:
            import asyncio

            self._loop = asyncio.new_event_loop()
            self._semaphore = None
            self._concurrency = concurrency
            threading.Thread(target=self._loop.run_forever, name="nbray-actor-loop",
                             daemon=True).start()
        elif concurrency > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="nbray-actor")

    def _run_async(self, spec: TaskSpec, blob: Optional[bytes], deps: list) -> None:
        import asyncio

        async def run() -> None:
            if self._semaphore is None:
                self._semaphore = asyncio.Semaphore(self._concurrency)
            async with self._semaphore:
                self.client.current_task = spec
                start, _ = worker_context.enter(self.client, spec)
                retry = False
                try:
                    value = self._call(spec, blob, deps)
                    # Not asyncio.iscoroutine: before 3.12 it says yes to plain generators.
                    if inspect.isawaitable(value) and not inspect.isgenerator(value):
                        value = await value
                    if spec.generator or inspect.isasyncgen(value):
                        results, retry = await worker_generators.returns_async(self.results, spec, value)
                    else:
                        results, retry = self._returns(spec, value)
                except _DependencyError as dep:
                    results = self.results.error_results(spec, self.results.dependency_error(spec, dep.error))
                except ActorExit as e:
                    self._request_exit(spec, e)
                    return
                except SystemExit as e:
                    if e.code == 0:   # as in Ray: an intended exit, no restart
                        self._request_exit(spec, ActorExit("sys.exit() was called"))
                        return
                    _exit_worker(e)
                except KeyboardInterrupt:
                    results = self.results.error_results(spec, self.results.cancelled_error(spec))
                except BaseException as e:  # noqa: BLE001 - re-raised on get
                    retry = should_retry(spec.retry_exceptions, e)
                    results = self.results.error_results(spec, self.results.task_error(spec))
                self.client.send(wire_done(spec.task_id, results, retry, (start, time.time())))

        asyncio.run_coroutine_threadsafe(run(), self._loop)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        spec = self.current
        if spec is not None and spec.task_id in self.cancelled:
            raise KeyboardInterrupt("task cancelled")

    def execute(self, spec: TaskSpec, blob: Optional[bytes], deps: list) -> None:
        self.client.current_task = spec
        start, saved = worker_context.enter(self.client, spec)
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            self.running_task_id = spec.task_id
        retry = False
        try:
            try:
                if spec.task_id in self.cancelled:
                    self.client.release_unread(deps)   # its arguments are never read
                    raise KeyboardInterrupt  # cancelled while it waited in this worker
                value = self._call(spec, blob, deps)
                results, retry = self._returns(spec, value)
            except KeyboardInterrupt:
                # Cancelled, or the task raised KeyboardInterrupt itself: either way the
                # caller gets TaskCancelledError (as in Ray), never a KeyboardInterrupt of
                # its own.
                results = self.results.error_results(spec, self.results.cancelled_error(spec))
            except _DependencyError as dep:
                results = self.results.error_results(spec, self.results.dependency_error(spec, dep.error))
            except ActorExit as e:
                if spec.kind == "actor-call":
                    self._request_exit(spec, e)
                    return
                # exit_actor() refuses to raise this elsewhere; if user code does, it is
                # an ordinary error of the task.
                results = self.results.error_results(spec, self.results.task_error(spec))
            except SystemExit as e:
                if spec.kind == "actor-call" and e.code == 0:
                    # As in Ray: sys.exit(0) in an actor method is an intended exit (no
                    # restart); another code is a crash, and max_restarts applies.
                    self._request_exit(spec, ActorExit("sys.exit() was called"))
                    return
                _exit_worker(e)
            except BaseException as e:  # the task's own error, re-raised on get
                retry = should_retry(spec.retry_exceptions, e)
                results = self.results.error_results(spec, self.results.task_error(spec))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            self.client.current_task = None
            self.cancelled.discard(spec.task_id)
            self.client.send(wire_done(spec.task_id, results, retry, (start, time.time())))
        finally:
            worker_context.leave(self.client, spec, saved)
            self.client.current_task = None
            if on_main:
                self.running_task_id = None

    def _call(self, spec: TaskSpec, blob: Optional[bytes], deps: list) -> Any:
        fn: Any = self.functions.get(spec.function_id) if spec.function_id else None
        values: Dict[bytes, Any] = {}
        if fn is None and spec.function_id:
            try:
                if blob is None:
                    raise exc.NbrayInternalError(f"function of {spec.name} was never sent to this worker")
                fn = self.functions[spec.function_id] = deserialize(blob)
            except BaseException:
                self.client.release_unread(deps)   # its arguments are never read
                raise
        try:
            for oid, desc in deps:
                values[oid] = self.client.decode(oid, desc)
        except BaseException as e:
            self.client.release_unread(deps[len(values) + 1:])  # (deps has no duplicate)
            if isinstance(e, exc.NbrayError):
                raise _DependencyError(e)
            raise
        args_ref = spec.args_ref
        packed = values.pop(args_ref) if args_ref is not None else deserialize(*spec.args)
        args, kwargs = unpack_args(packed, values)
        del values
        if spec.kind == "actor-call":
            if self.actor is None:
                raise exc.NbrayInternalError("actor call before the actor was created")
            if spec.method in BUILTIN_METHODS:
                return self._call_builtin(spec.method, args, kwargs)
            return bound_method(self.actor, spec.method)(*args, **kwargs)
        if spec.kind == "actor-create":
            # How often this actor was restarted: was_current_actor_reconstructed reads it.
            self.client.actor_restart_count = spec.actor.restarts if spec.actor else 0
            self._become_actor(spec, fn(*args, **kwargs))
            return None
        return fn(*args, **kwargs)

    def _call_builtin(self, method: str, args: tuple, kwargs: Dict[str, Any]) -> Any:
        if method == "__ray_ready__":
            return True
        if method == "__ray_terminate__":
            raise ActorExit("__ray_terminate__() was called")
        if not args or not callable(args[0]):
            raise TypeError("__ray_call__.remote(fn, *args, **kwargs) needs a callable first "
                            "argument; it runs fn(actor_instance, *args, **kwargs) in the actor")
        return args[0](self.actor, *args[1:], **kwargs)

    def _returns(self, spec: TaskSpec, value: Any) -> Tuple[List[Tuple], bool]:
        """The results of a call's value, and whether to retry; generators go item by item."""
        if spec.generator or inspect.isgenerator(value) or inspect.isasyncgen(value):
            return worker_generators.returns(self.results, spec, value)
        return self.results.encode_returns(spec, value), False

    # -- ending an actor gracefully -------------------------------------------------
    def _request_exit(self, spec: TaskSpec, request: ActorExit) -> None:
        """exit_actor() or __ray_terminate__ ran in `spec`: the node marks the actor dead (the
        call and every queued one fail with ActorDiedError, as in Ray), then it ends here."""
        self.client.current_task = None
        self.client.send(wire(ExitActor(spec.task_id, str(request) or "exit_actor() was called")))
        if threading.current_thread() is threading.main_thread():
            self._exit_gracefully()
        self.tasks.put(_EXIT)  # from a pool thread or the event loop: the main thread ends it

    def _exit_gracefully(self) -> None:
        """Run `__ray_shutdown__`, then the atexit handlers, then leave (never returns).

        Not reached by nbray.kill(), which kills the process: as in Ray, a forced kill runs
        no cleanup.  A hook that hangs is cut short after GRACEFUL_EXIT_TIMEOUT_S.
        """
        watchdog = threading.Timer(GRACEFUL_EXIT_TIMEOUT_S, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()
        if self._executor is not None:  # let running calls finish; queued ones were failed
            self._executor.shutdown(wait=True, cancel_futures=True)
        hook = getattr(self.actor, "__ray_shutdown__", None)
        if callable(hook):
            try:
                result = hook()
                if inspect.isawaitable(result):
                    import asyncio

                    # Both check at run time that it is a coroutine (an error, reported below).
                    coroutine = cast("Coroutine[Any, Any, Any]", result)
                    if self._loop is not None:
                        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
                    else:
                        asyncio.run(coroutine)
            except BaseException:  # noqa: BLE001 - reported, the exit goes on
                sys.stderr.write("nbray: the actor's __ray_shutdown__() raised:\n"
                                 + traceback.format_exc())
        try:
            # The handlers a normal interpreter exit would run, then os._exit: a real exit
            # (SystemExit out of main) would also join every non-daemon thread a task left
            # behind and tear the interpreter down, and can hang where an actor must leave.
            # No documented call runs the handlers without exiting, and wrapping
            # atexit.register in the worker would miss those registered before it (logging,
            # libraries imported at start), so this uses CPython's own function, the one
            # Py_Finalize calls; like os._exit, a library call, not a reach-in.
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            self.client.flush()
        except BaseException:  # noqa: BLE001 - the node may be gone already
            pass
        os._exit(0)


def _exit_worker(error: SystemExit) -> None:
    """sys.exit() in a task or actor method ends this worker, as in Ray: the node sees the
    process exit (WorkerCrashedError for a task, ActorDiedError for an actor), and the
    driver never receives a SystemExit it would obey."""
    code = error.code
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))


# On the task queue: end this actor gracefully on the main thread (a sentinel, not a message).
_EXIT = object()
GRACEFUL_EXIT_TIMEOUT_S = 30.0  # __ray_shutdown__ and atexit handlers get this long


class _Leave(Exception):
    """Raised by the Exit handler of a task worker: the reader ends, and so does the process."""


class _DependencyError(Exception):
    """An argument's object holds an error: the task fails with that error, unrun."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def main(argv: List[str]) -> None:
    sock_fd, arena_fd, capacity, node_id, worker_id, parent_pid = argv
    _die_with_parent(int(parent_pid))
    conn = MessageConnection(socket.socket(fileno=int(sock_fd)))
    from .worker_process import receive_secrets

    receive_secrets(conn)  # spill credentials: over the socket, never the environment
    arena = Arena(int(arena_fd), int(capacity))
    worker = Worker(conn, arena, node_id, worker_id)
    if len(os.environ.get("NBRAY_JOB_ID", "")) == 2 * JOB_ID_SIZE:
        ids.set_job_id(os.environ["NBRAY_JOB_ID"])  # ids made here name the driver's job
    context.set_client(worker.client)
    sys.stdout = TaskOutput(worker.send_output, "stdout")
    sys.stderr = TaskOutput(worker.send_output, "stderr")
    threading.Thread(target=worker.reader, name="nbray-worker-reader", daemon=True).start()
    worker.run()


if __name__ == "__main__":
    main(sys.argv[1:])
