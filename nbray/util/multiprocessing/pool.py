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
import itertools
import logging
import os
import threading
import traceback
from multiprocessing import TimeoutError
from multiprocessing.pool import RemoteTraceback
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from ... import api
from ... import exceptions as exc
from ...runtime import context

__all__ = ["AsyncResult", "IMapIterator", "Pool"]

logger = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the dispatcher notices chunks it started while it was waiting
_Batch = List[Tuple[tuple, dict]]


# =============================================================================
# inside the pool's actors
# =============================================================================
class _Failure:
    """A call that raised, returned in place of its value (so the rest of the chunk counts)."""

    def __init__(self, error: BaseException, traceback_text: str) -> None:
        self.error = error
        self.traceback_text = traceback_text

    def rebuild(self) -> BaseException:
        error = self.error
        error.__cause__ = RemoteTraceback(self.traceback_text)
        return error


def _failure_of(error: BaseException) -> _Failure:
    text = traceback.format_exc()
    from ...serialization import SerializationError, serialize

    try:
        serialize(error, context="exception", out_of_band=False)
    except SerializationError:
        error = RuntimeError(f"{type(error).__name__}: {error} (the exception could not be "
                             f"pickled, so this RuntimeError stands for it)")
    return _Failure(error, text)


class _PoolProcess:
    """One process of a Pool: runs the initializer once, then chunks of calls."""

    def __init__(self, initializer: Optional[Callable[..., Any]], initargs: tuple) -> None:
        if initializer is not None:
            initializer(*initargs)

    def pid(self) -> int:
        return os.getpid()

    def run_batch(self, func: Callable[..., Any], batch: _Batch) -> List[Any]:
        out: List[Any] = []
        for args, kwargs in batch:
            try:
                out.append(func(*args, **kwargs))
            except Exception as e:  # noqa: BLE001 - re-raised in the caller
                out.append(_failure_of(e))
        return out


# =============================================================================
# jobs: one map / apply / imap call, cut into chunks
# =============================================================================
class _Job:
    """Hands out the chunks of one call and collects their outcomes."""

    def __init__(self, func_ref: Any, iterator: Iterator[Any], chunksize: int,
                 star: bool, kwargs_items: bool = False) -> None:
        self.func_ref = func_ref
        self._iterator = iterator
        self._chunksize = chunksize
        self._star = star
        self._kwargs_items = kwargs_items
        self.exhausted = False
        self.submitted = 0
        self.completed = 0
        self._lookahead: List[Any] = []

    def next_batch(self) -> Optional[Tuple[int, _Batch]]:
        """The next chunk (index, calls), or None when the input is used up.

        Reads one item past the chunk, so `exhausted` is known as soon as the last chunk
        is handed out (and the job can finish when that chunk does).
        """
        if self.exhausted:
            return None
        try:
            items = self._lookahead + list(itertools.islice(
                self._iterator, self._chunksize - len(self._lookahead)))
            self._lookahead = list(itertools.islice(self._iterator, 1))
        except Exception as e:  # noqa: BLE001 - the caller's iterable raised
            self.exhausted = True
            self.on_input_error(e)
            return None
        if not self._lookahead:
            self.exhausted = True
        if not items:
            return None
        if self._kwargs_items:
            batch = [(tuple(a), dict(k)) for a, k in items]
        elif self._star:
            batch = [(tuple(a), {}) for a in items]
        else:
            batch = [((a,), {}) for a in items]
        index = self.submitted
        self.submitted += 1
        return index, batch

    @property
    def finished(self) -> bool:
        return self.exhausted and self.completed == self.submitted

    # Subclasses say what a chunk's outcome means to their caller.
    def on_chunk(self, index: int, outcome: Any) -> None:
        raise NotImplementedError

    def on_input_error(self, error: BaseException) -> None:
        raise NotImplementedError

    def on_abort(self, error: BaseException) -> None:
        raise NotImplementedError


class AsyncResult(_Job):
    """The result of `apply_async` / `map_async` / `starmap_async`, as in multiprocessing."""

    def __init__(self, func_ref: Any, iterator: Iterator[Any], chunksize: int, star: bool,
                 single: bool, callback: Optional[Callable[[Any], Any]],
                 error_callback: Optional[Callable[[BaseException], Any]],
                 kwargs_items: bool = False) -> None:
        super().__init__(func_ref, iterator, chunksize, star, kwargs_items)
        self._single = single
        self._callback = callback
        self._error_callback = error_callback
        self._chunks: Dict[int, List[Any]] = {}
        self._event = threading.Event()
        self._finishing = False
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def _finish(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        if self._event.is_set() or self._finishing:
            return
        self._finishing = True
        self._value, self._error = value, error
        try:
            # Before the result is ready, as in multiprocessing: get() returns after it ran.
            if error is None and self._callback is not None:
                self._callback(value)
            elif error is not None and self._error_callback is not None:
                self._error_callback(error)
        except Exception:  # noqa: BLE001 - as multiprocessing: a callback's error is logged
            logger.exception("a Pool result callback raised")
        finally:
            self._event.set()

    def on_chunk(self, index: int, outcome: Any) -> None:
        if isinstance(outcome, BaseException):  # the whole chunk failed (actor died...)
            self._finish(error=outcome)
            return
        for item in outcome:
            if isinstance(item, _Failure):
                # As multiprocessing: the first error makes the result ready at once.
                self._finish(error=item.rebuild())
                return
        self._chunks[index] = outcome
        if self.finished:
            values = [v for i in sorted(self._chunks) for v in self._chunks[i]]
            self._finish(values[0] if self._single else values)

    def on_input_error(self, error: BaseException) -> None:
        self._finish(error=error)

    def on_abort(self, error: BaseException) -> None:
        self._finish(error=error)

    def ready(self) -> bool:
        """True once the call has finished (successfully or not)."""
        return self._event.is_set()

    def successful(self) -> bool:
        """True if the call finished without raising.

        Raises:
            ValueError: the result is not ready yet.
        """
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._error is None

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait until the result is ready, or `timeout` seconds pass."""
        self._event.wait(timeout)

    def get(self, timeout: Optional[float] = None) -> Any:
        """The result, waiting up to `timeout` seconds; re-raises the function's error.

        Raises:
            multiprocessing.TimeoutError: not ready within `timeout`.
        """
        if not self._event.wait(timeout):
            raise TimeoutError(f"the pool's result was not ready within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value

    def __repr__(self) -> str:
        state = "ready" if self.ready() else "pending"
        return f"<nbray.util.multiprocessing.AsyncResult {state}>"


class IMapIterator(_Job):
    """The iterator `imap` / `imap_unordered` return; `next(timeout=)` as in multiprocessing."""

    def __init__(self, pool: "Pool", func_ref: Any, iterator: Iterator[Any], chunksize: int,
                 ordered: bool, star: bool = False) -> None:
        super().__init__(func_ref, iterator, chunksize, star)
        self._pool = pool
        self._ordered = ordered
        self._cond = threading.Condition()
        self._chunks: Dict[int, Any] = {}
        self._arrival: Deque[int] = collections.deque()
        self._next_chunk = 0
        self._items: Deque[Any] = collections.deque()
        self._input_error: Optional[BaseException] = None

    def on_chunk(self, index: int, outcome: Any) -> None:
        with self._cond:
            self._chunks[index] = outcome
            self._arrival.append(index)
            self._cond.notify_all()

    def on_input_error(self, error: BaseException) -> None:
        with self._cond:
            self._input_error = error
            self._cond.notify_all()

    def on_abort(self, error: BaseException) -> None:
        with self._cond:
            self._input_error = error
            self.exhausted = True
            self.completed = self.submitted
            self._cond.notify_all()

    def __iter__(self) -> "IMapIterator":
        return self

    def next(self, timeout: Optional[float] = None) -> Any:
        """The next result, waiting up to `timeout` seconds.

        Raises:
            multiprocessing.TimeoutError: no result within `timeout`.
            StopIteration: every result was returned.
            The function's own exception, at the position of the call that raised it.
        """
        with self._cond:
            while not self._items:
                index = self._take_chunk_locked()
                if index is not None:
                    outcome = self._chunks.pop(index)
                    if isinstance(outcome, BaseException):
                        self._items.append(_Failure(outcome, ""))
                    else:
                        self._items.extend(outcome)
                    continue
                if self._input_error is not None:
                    error, self._input_error = self._input_error, None
                    raise error
                if self.exhausted and self._next_chunk >= self.submitted:
                    raise StopIteration
                if not self._cond.wait(timeout):
                    raise TimeoutError(f"no result of imap within {timeout} s")
            item = self._items.popleft()
        if isinstance(item, _Failure):
            raise item.rebuild() if item.traceback_text else item.error
        return item

    __next__ = next  # type: ignore[assignment]

    def _take_chunk_locked(self) -> Optional[int]:
        if self._ordered:
            if self._next_chunk in self._chunks:
                self._next_chunk += 1
                return self._next_chunk - 1
            return None
        while self._arrival:
            index = self._arrival.popleft()
            if index in self._chunks:
                self._next_chunk += 1
                return index
        return None


# =============================================================================
# the pool
# =============================================================================
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
        self._actor_class = api.remote(_PoolProcess).options(**options)
        self._lock = threading.Lock()
        self._state = "running"        # -> "closed" -> (all work done) "done"; or "terminated"
        self._jobs: Deque[_Job] = collections.deque()
        self._running: Dict[Any, Tuple[_Job, int, _Slot]] = {}
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

    def _start(self, job: _Job) -> None:
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
        items = iterable if hasattr(iterable, "__len__") else list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(len(items))
        _check_chunksize(chunksize, allow_zero_when_empty=len(items) == 0)
        result = AsyncResult(self._func_ref(func), iter(items), max(chunksize, 1), star,
                             single=False, callback=callback, error_callback=error_callback)
        if len(items) == 0:
            result.exhausted = True
            result._finish([])
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
            client = context.current_client()
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
