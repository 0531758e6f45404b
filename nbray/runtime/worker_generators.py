"""How a worker runs a task whose body is a generator: values sent as they are yielded.

num_returns="streaming" (Ray's default for generator functions) and "dynamic": each
value goes to the node the moment it is yielded, as item i (1, 2, ...) of the task
(a `Yield` message).  An exception the generator raises becomes the next item, so the values
before it stay good and the caller's next ref raises it (unless the task is to be
retried for it); a cancellation or a crash ends the stream with the error in the task's
return object instead.  The return object itself holds None, or for "dynamic" a
DynamicObjectRefGenerator of every item.

num_returns=N with a generator fills the N returns with the first N values.  Values
yielded before an exception are kept and the other returns hold the error; too few
values is an error for the missing returns, and extra values are dropped with a
warning on the task's stderr (as Ray does).

Generators and async generators both work, in plain workers, threaded actors and async
actors (where an async generator runs on the actor's event loop).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from typing import Any, Iterator, List, Optional, Tuple

from .. import exceptions as exc
from ..core.specs import TaskSpec
from ..ids import object_id_for_return
from ..transport.messages import ResultTuple, StreamRoom, Yield, wire
from .worker_results import TaskResults, should_retry

Results = Tuple[List[ResultTuple], bool]   # (results for the task's return ids, retry?)


def returns(results: TaskResults, spec: TaskSpec, value: Any) -> Results:
    """Run a generator's body in this thread (not an event loop's)."""
    if inspect.isasyncgen(value):
        value = _iterate_async(value)
    if spec.generator:
        if not inspect.isgenerator(value):
            raise TypeError(f"{spec.name}() was called with num_returns={spec.generator!r} but "
                            f"returned {type(value).__name__}, not a generator: only functions "
                            f"that use 'yield' can stream their results")
        count = 0
        try:
            for item in value:
                count += 1
                _send_item(results, spec, count, item)
                _wait_for_room(results, spec, count)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - becomes the stream's last item
            count = _failed(results, spec, count, e)
        return _end(results, spec, count), False
    return _fixed(results, spec, value)


async def returns_async(results: TaskResults, spec: TaskSpec, value: Any) -> Results:
    """The same on an async actor's event loop."""
    if not spec.generator:
        # num_returns=N with an async generator: take its values here, then hand them
        # (and an exception, at the point it came) to the synchronous path.
        values: List[Any] = []
        error: Optional[BaseException] = None
        try:
            async for item in value:
                values.append(item)
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except BaseException as e:  # noqa: BLE001 - re-raised where it happened
            error = e
        return _fixed(results, spec, _replay(values, error))
    if not (inspect.isasyncgen(value) or inspect.isgenerator(value)):
        return returns(results, spec, value)   # raises the "not a generator" error
    count = 0
    try:
        loop = asyncio.get_running_loop()
        if inspect.isasyncgen(value):
            async for item in value:
                count += 1
                _send_item(results, spec, count, item)
                if _must_wait_for_room(spec, count):  # off the loop: other calls go on
                    await loop.run_in_executor(None, _wait_for_room, results, spec, count)
        else:
            for item in value:
                count += 1
                _send_item(results, spec, count, item)
                if _must_wait_for_room(spec, count):
                    await loop.run_in_executor(None, _wait_for_room, results, spec, count)
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise
    except BaseException as e:  # noqa: BLE001 - becomes the stream's last item
        count = _failed(results, spec, count, e)
    return _end(results, spec, count), False


def _send_item(results: TaskResults, spec: TaskSpec, index: int, value: Any) -> None:
    oid = object_id_for_return(spec.task_id, index)
    results.client.send(wire(Yield(spec.task_id, index, results.encode_value(spec, oid, value))))


def _must_wait_for_room(spec: TaskSpec, index: int) -> bool:
    limit = spec.backpressure
    return spec.generator == "streaming" and 0 < limit <= index


def _wait_for_room(results: TaskResults, spec: TaskSpec, index: int) -> None:
    """_generator_backpressure_num_objects=N: after item `index`, go on only once the caller
    has taken all but N-1 of the items so far (N=1: one item per next(), like a generator)."""
    if _must_wait_for_room(spec, index):
        need = index - spec.backpressure + 1
        results.client.request(lambda req: wire(StreamRoom(req, spec.task_id, need)))


def _failed(results: TaskResults, spec: TaskSpec, count: int, error: BaseException) -> int:
    """Called in the except block: the error becomes item count+1; returns the new count.
    An error the task is to be retried for is raised on, so the task fails and re-runs."""
    if should_retry(spec.retry_exceptions, error):
        raise error
    count += 1
    oid = object_id_for_return(spec.task_id, count)
    results.client.send(wire(Yield(spec.task_id, count,
                                   results.error_result(spec, oid, results.task_error(spec)))))
    return count


def _end(results: TaskResults, spec: TaskSpec, count: int) -> List[ResultTuple]:
    """The task's own return: None, or for "dynamic" the refs of all its items."""
    if spec.generator == "dynamic":
        from .generators import DynamicObjectRefGenerator
        from .object_ref import ObjectRef

        refs = [ObjectRef(object_id_for_return(spec.task_id, i)) for i in range(1, count + 1)]
        return results.encode_returns(spec, DynamicObjectRefGenerator(refs))
    return results.encode_returns(spec, None)


def _fixed(results: TaskResults, spec: TaskSpec, gen: Iterator[Any]) -> Results:
    """num_returns=N: the first N values fill the returns, in order."""
    n = len(spec.return_ids)
    records: List[ResultTuple] = []
    if n == 0:
        return records, False
    retry = False
    try:
        for item in gen:
            if len(records) == n:
                sys.stderr.write(f"{spec.name}() yielded more than num_returns={n} values; "
                                 f"the values after the first {n} are dropped\n")
                break
            records.append(results.encode_value(spec, spec.return_ids[len(records)], item))
        if len(records) < n:
            raise ValueError(f"{spec.name}() yielded {len(records)} value(s), but "
                             f"num_returns={n}")
    except BaseException as e:  # noqa: BLE001 - the returns not filled hold the error
        if isinstance(e, KeyboardInterrupt) and spec.task_id in results.client.cancelled:
            error: BaseException = exc.TaskCancelledError(spec.task_id.hex())
        else:
            error = results.task_error(spec)
            retry = not isinstance(e, KeyboardInterrupt) and should_retry(
                spec.retry_exceptions, e)
        records += [results.error_result(spec, oid, error)
                    for oid in spec.return_ids[len(records):]]
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()
    return records, retry


def _replay(values: List[Any], error: Optional[BaseException]) -> Iterator[Any]:
    yield from values
    if error is not None:
        raise error


def _iterate_async(agen: Any) -> Iterator[Any]:
    """An async generator stepped on a private event loop, for a thread that has none."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                item = loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            loop.run_until_complete(agen.aclose())
        finally:
            loop.close()


__all__ = ["returns", "returns_async"]
