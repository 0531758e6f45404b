"""`Pool`: the standard library's `multiprocessing.Pool` API, run on nbray actors.

Each of the pool's processes is an actor (so `initializer` runs once per process, as in
multiprocessing).  Work is cut into chunks, and a chunk goes to an actor only when that
actor is idle: a slow chunk never holds others up behind it, and `imap` reads its input
only as fast as actors take it.  One dispatcher thread, alive while chunks are running,
waits for them and hands out the next; it also runs the `callback` / `error_callback`
of async results, as multiprocessing's result thread does.

An exception raised by the mapped function re-raises in the caller as itself (not wrapped),
with the remote traceback attached as its `__cause__` (multiprocessing's RemoteTraceback).
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sized, Tuple

from ... import api
from ... import exceptions as exc
from ...runtime import context
from .pool_process import PoolProcess
from .pool_results import AsyncResult, IMapIterator, Job

__all__ = ["AsyncResult", "IMapIterator", "Pool"]

logger = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the dispatcher notices chunks it started while it was waiting


class _Slot:
    """One of the pool's processes: its actor and how many chunks it ran."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.chunks = 0


class Pool:
    """A process pool with `multiprocessing.Pool`'s API, whose processes are nbray actors.

    Args:
        processes: how many processes (actors); default: the cluster's CPUs.  More than
            the cluster's CPUs is refused, as in Ray.
        initializer: called as `initializer(*initargs)` once in each process.
        initargs: the arguments for `initializer`.
        maxtasksperchild: replace a process after it ran this many chunks (default: never).
        context: accepted for compatibility and ignored (there is no start method).
        ray_address: the cluster to start or join if nbray is not initialized yet.
        ray_remote_args: options for the pool's actors (default `num_cpus=0`).
    """

    def __init__(self, processes: Optional[int] = None,
                 initializer: Optional[Callable[..., Any]] = None,
                 initargs: Optional[Iterable[Any]] = None,
                 maxtasksperchild: Optional[int] = None, context: Any = None,
                 ray_address: Optional[str] = None,
                 ray_remote_args: Optional[Dict[str, Any]] = None) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        if maxtasksperchild is not None and (isinstance(maxtasksperchild, bool) or not
                                             isinstance(maxtasksperchild, int) or
                                             maxtasksperchild < 1):
            raise ValueError(f"maxtasksperchild must be a positive int or None, got "
                             f"{maxtasksperchild!r}")
        if processes is not None and (isinstance(processes, bool) or
                                      not isinstance(processes, int)):
            raise TypeError(f"processes must be an int or None, got {processes!r}")
        if ray_remote_args is not None and not isinstance(ray_remote_args, dict):
            raise TypeError("ray_remote_args must be a dict of actor options")
        if context is not None:
            logger.warning("Pool(context=...) is ignored: nbray pool processes are actors")
        self._initializer = initializer
        self._initargs = tuple(initargs) if initargs is not None else ()
        self._maxtasksperchild = maxtasksperchild
        self._processes = self._check_processes(processes, ray_address)
        options = {"num_cpus": 0}
        options.update(ray_remote_args or {})
        self._actor_class = api.remote(PoolProcess).options(**options)
        self._lock = threading.Lock()
        self._state = "running"        # -> "closed" -> (all work done) "done"; or "terminated"
        self._jobs: Deque[Job] = collections.deque()
        self._running: Dict[Any, Tuple[Job, int, _Slot]] = {}
        self._idle: List[_Slot] = []
        self._ending: List[Any] = []   # refs of __ray_terminate__ calls of retired actors
        self._all_done = threading.Condition(self._lock)
        self._thread: Optional[threading.Thread] = None
        slots = [_Slot(self._new_actor()) for _ in range(self._processes)]
        # As Ray: the pool is ready (initializers ran) when the constructor returns, and an
        # initializer's error raises here.
        try:
            api.get([s.actor.pid.remote() for s in slots])
        except BaseException:
            for s in slots:
                api.kill(s.actor)
            raise
        self._idle = slots

    @staticmethod
    def _check_processes(processes: Optional[int], ray_address: Optional[str]) -> int:
        if not api.is_initialized():
            kwargs: Dict[str, Any] = {}
            if ray_address is not None:
                kwargs["address"] = ray_address
            elif processes is not None:
                kwargs["num_cpus"] = processes
            api.init(**kwargs)
        try:
            cpus = int(api.cluster_resources().get("CPU", 0))
        except RuntimeError:  # inside a worker process: no cluster view; trust the caller
            cpus = None
        if processes is None:
            processes = cpus or 1
        if processes <= 0:
            raise ValueError(f"Processes in the pool must be >0, got {processes}")
        if cpus is not None and processes > cpus:
            raise ValueError(f"Tried to start a pool with {processes} processes on a cluster "
                             f"that has only {cpus} CPUs")
        return processes

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self._initializer, self._initargs)

    def __repr__(self) -> str:
        return f"<nbray.util.multiprocessing.Pool state={self._state} " \
               f"processes={self._processes}>"

    # -- submitting ---------------------------------------------------------------
    def _check_running(self) -> None:
        if self._state != "running":
            raise ValueError("Pool not running")

    def _start(self, job: Job) -> None:
        with self._lock:
            self._check_running()
            self._jobs.append(job)
            self._pump_locked()
            self._retire_if_done_locked()

    def _func_ref(self, func: Callable[..., Any]) -> Any:
        if not callable(func):
            raise TypeError(f"the pool's function must be callable, got {type(func).__name__}")
        return api.put(func)  # pickled once per call, not once per chunk

    def _default_chunksize(self, n: int) -> int:
        chunksize, extra = divmod(n, self._processes * 4)
        return chunksize + 1 if extra else chunksize

    def _map_job(self, func: Callable[..., Any], iterable: Iterable[Any],
                 chunksize: Optional[int], star: bool, callback: Any,
                 error_callback: Any) -> AsyncResult:
        self._check_running()
        items = iterable if isinstance(iterable, Sized) else list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(len(items))
        _check_chunksize(chunksize, allow_zero_when_empty=len(items) == 0)
        result = AsyncResult(self._func_ref(func), iter(items), max(chunksize, 1), star,
                             single=False, callback=callback, error_callback=error_callback)
        if len(items) == 0:
            result.finish_empty()
            return result
        self._start(result)
        return result

    def apply(self, func: Callable[..., Any], args: Iterable[Any] = (),
              kwds: Optional[Dict[str, Any]] = None) -> Any:
        """`func(*args, **kwds)` in one of the pool's processes; waits for the result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable[..., Any], args: Iterable[Any] = (),
                    kwds: Optional[Dict[str, Any]] = None,
                    callback: Optional[Callable[[Any], Any]] = None,
                    error_callback: Optional[Callable[[BaseException], Any]] = None
                    ) -> AsyncResult:
        """`func(*args, **kwds)` in one of the pool's processes; an AsyncResult at once."""
        self._check_running()
        if kwds is not None and not isinstance(kwds, dict):
            raise TypeError(f"kwds must be a dict, got {type(kwds).__name__}")
        call = (tuple(args or ()), dict(kwds or {}))
        result = AsyncResult(self._func_ref(func), iter([call]), 1, star=True, single=True,
                             callback=callback, error_callback=error_callback,
                             kwargs_items=True)
        self._start(result)
        return result

    def map(self, func: Callable[..., Any], iterable: Iterable[Any],
            chunksize: Optional[int] = None) -> List[Any]:
        """`[func(x) for x in iterable]`, run in the pool; re-raises the first error."""
        return self._map_job(func, iterable, chunksize, False, None, None).get()

    def map_async(self, func: Callable[..., Any], iterable: Iterable[Any],
                  chunksize: Optional[int] = None,
                  callback: Optional[Callable[[Any], Any]] = None,
                  error_callback: Optional[Callable[[BaseException], Any]] = None
                  ) -> AsyncResult:
        """`map()` returning an AsyncResult at once."""
        return self._map_job(func, iterable, chunksize, False, callback, error_callback)

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                chunksize: Optional[int] = None) -> List[Any]:
        """`[func(*args) for args in iterable]`, run in the pool."""
        return self._map_job(func, iterable, chunksize, True, None, None).get()

    def starmap_async(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                      chunksize: Optional[int] = None,
                      callback: Optional[Callable[[Any], Any]] = None,
                      error_callback: Optional[Callable[[BaseException], Any]] = None
                      ) -> AsyncResult:
        """`starmap()` returning an AsyncResult at once."""
        return self._map_job(func, iterable, chunksize, True, callback, error_callback)

    def imap(self, func: Callable[..., Any], iterable: Iterable[Any],
             chunksize: int = 1) -> IMapIterator:
        """Results of `func` over `iterable`, in order, as they are ready.

        The input is read lazily, as processes become free, so it may be a long generator.
        """
        return self._imap(func, iterable, chunksize, ordered=True)

    def imap_unordered(self, func: Callable[..., Any], iterable: Iterable[Any],
                       chunksize: int = 1) -> IMapIterator:
        """As `imap()`, in the order results finish."""
        return self._imap(func, iterable, chunksize, ordered=False)

    def _imap(self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int,
              ordered: bool) -> IMapIterator:
        self._check_running()
        _check_chunksize(chunksize)
        it = IMapIterator(self, self._func_ref(func), iter(iterable), chunksize, ordered)
        self._start(it)
        return it

    # -- the dispatcher -------------------------------------------------------------
    def _pump_locked(self) -> None:
        """Give idle processes the next chunks, and make sure someone waits for them."""
        while self._idle and self._jobs:
            job = self._jobs[0]
            nxt = job.next_batch()
            if nxt is None:
                self._jobs.popleft()
                continue
            index, batch = nxt
            slot = self._idle.pop()
            slot.chunks += 1
            ref = slot.actor.run_batch.remote(job.func_ref, batch)
            self._running[ref] = (job, index, slot)
        if self._running and self._thread is None:
            self._thread = threading.Thread(target=self._dispatch, daemon=True,
                                            name="nbray-pool-dispatcher")
            self._thread.start()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    self._thread = None
                    return
                refs = list(self._running)
            # The client itself, not api.wait(): after a shutdown that would start a new
            # cluster from this thread.
            client: Any = context.current_client()  # Any: narrowing is lost in the loop below
            if client is None:  # the cluster is gone: nothing will finish
                self._abort(exc.RaySystemError("the cluster was shut down while the pool "
                                               "was running"))
                return
            try:
                ready_ids = client.wait([r._id for r in refs], 1, _POLL_S, True)
            except Exception as e:  # noqa: BLE001 - the cluster is going away
                self._abort(e)
                return
            for ref in (r for r in refs if r._id in ready_ids):
                try:
                    outcome: Any = client.get([ref._id], None)[0]
                except Exception as e:  # noqa: BLE001 - the chunk as a whole failed
                    outcome = e
                with self._lock:
                    entry = self._running.pop(ref, None)
                if entry is None:
                    continue
                job, index, slot = entry
                job.completed += 1
                job.on_chunk(index, outcome)   # callbacks run here, outside the lock
                if context.current_client() is not client:
                    # Shut down meanwhile: starting more work would start a new cluster.
                    self._abort(exc.RaySystemError("the cluster was shut down while the "
                                                   "pool was running"))
                    return
                with self._lock:
                    self._return_slot_locked(slot, dead=isinstance(outcome, exc.RayActorError))
                    self._pump_locked()
                    self._retire_if_done_locked()

    def _return_slot_locked(self, slot: _Slot, dead: bool) -> None:
        if self._state == "terminated":
            return
        if dead:
            slot.actor, slot.chunks = self._new_actor(), 0   # as multiprocessing: replaced
        elif self._maxtasksperchild is not None and slot.chunks >= self._maxtasksperchild:
            self._ending.append(slot.actor.__ray_terminate__.remote())
            slot.actor, slot.chunks = self._new_actor(), 0
        self._idle.append(slot)

    def _retire_if_done_locked(self) -> None:
        busy = self._running or any(not j.finished for j in self._jobs)
        if busy:
            return
        self._jobs.clear()
        if self._state == "closed":
            # close(): every process leaves once the work is done.
            for slot in self._idle:
                self._ending.append(slot.actor.__ray_terminate__.remote())
            self._idle = []
            self._state = "done"
        self._all_done.notify_all()

    def _abort(self, error: BaseException) -> None:
        with self._lock:
            jobs = {id(j): j for j, _, _ in self._running.values()}
            jobs.update({id(j): j for j in self._jobs})
            self._running.clear()
            self._jobs.clear()
            self._thread = None
            if self._state == "closed":
                self._state = "done"  # nothing more will finish: join() must not wait
            self._all_done.notify_all()
        for job in jobs.values():
            job.on_abort(error)

    # -- ending ---------------------------------------------------------------------
    def close(self) -> None:
        """Accept no more work; the processes leave once the submitted work is done."""
        with self._lock:
            if self._state == "running":
                self._state = "closed"
                self._retire_if_done_locked()

    def terminate(self) -> None:
        """Stop at once: kill the processes; unfinished results fail."""
        with self._lock:
            if self._state == "terminated":
                return
            self._state = "terminated"
            actors = [s.actor for s in self._idle] + [s.actor for _, _, s in
                                                       self._running.values()]
            self._idle = []
        for actor in actors:
            try:
                api.kill(actor)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass
        self._abort(ValueError("the Pool was terminated before this result was ready"))

    def join(self) -> None:
        """Wait for the processes to leave (call `close()` or `terminate()` first).

        Raises:
            ValueError: the pool is still running.
        """
        with self._lock:
            if self._state == "running":
                raise ValueError("Pool is still running")
            while self._state == "closed":
                self._all_done.wait()
            ending, self._ending = self._ending, []
        if ending and api.is_initialized():
            api.wait(ending, num_returns=len(ending))

    def __enter__(self) -> "Pool":
        self._check_running()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.terminate()


def _check_chunksize(chunksize: Any, allow_zero_when_empty: bool = False) -> None:
    if isinstance(chunksize, bool) or not isinstance(chunksize, int):
        raise TypeError(f"chunksize must be an int, got {chunksize!r}")
    if chunksize < 1 and not (allow_zero_when_empty and chunksize == 0):
        raise ValueError(f"Chunksize must be 1+, not {chunksize}")
