"""Generator tasks as Ray runs them: streaming (the default), num_returns="dynamic", and
num_returns=N filled from a generator, for remote functions and actor methods.

Tasks that must stay in the middle of their stream wait for a file the test creates
(`_wait_for`), so "the caller sees the first value before the task finishes" is shown by
state, never by timing.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time

import pytest

from tests._support import poll_for


def _wait_for(path, timeout=30.0):
    """Inside a task: True once `path` exists, False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _touch(path):
    with open(path, "w"):
        pass


def count_up(n):
    for i in range(n):
        yield i


def yield_then_raise(n):
    for i in range(n):
        yield i * 10
    raise ValueError(f"failed after {n} values")


# -- streaming: the default for generator functions --------------------------------------
def test_generator_function_returns_an_object_ref_generator(ray):
    gen = ray.remote(count_up).remote(3)
    assert isinstance(gen, ray.ObjectRefGenerator)
    assert ray._raylet.ObjectRefGenerator is ray.ObjectRefGenerator
    assert ray._raylet.ObjectRef is ray.ObjectRef
    refs = list(gen)
    assert all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == [0, 1, 2]


def test_caller_gets_first_value_while_the_task_is_still_running(ray, tmp_path):
    flag = str(tmp_path / "go")

    @ray.remote
    def two_steps(path):
        yield "first"
        yield _wait_for(path)   # the caller sets the flag only after it got "first"

    gen = two_steps.remote(flag)
    assert ray.get(next(gen)) == "first"
    _touch(flag)
    assert ray.get(next(gen)) is True
    with pytest.raises(StopIteration):
        next(gen)


def test_next_and_stop_iteration_repeats_after_the_end(ray):
    gen = ray.remote(count_up).remote(2)
    assert ray.get(next(gen)) == 0
    assert ray.get(next(gen)) == 1
    with pytest.raises(StopIteration):
        next(gen)
    with pytest.raises(StopIteration):
        next(gen)


def test_explicit_streaming_option_and_options_override(ray):
    f = ray.remote(num_returns="streaming")(count_up)
    assert [ray.get(r) for r in f.remote(3)] == [0, 1, 2]
    g = ray.remote(count_up).options(num_returns="streaming")
    assert [ray.get(r) for r in g.remote(2)] == [0, 1]


def test_streaming_on_a_plain_function_is_refused(ray):
    def plain():
        return 1

    with pytest.raises(ValueError, match="generator"):
        ray.remote(num_returns="streaming")(plain)
    with pytest.raises(ValueError, match="generator"):
        ray.remote(plain).options(num_returns="streaming")


def test_get_of_a_generator_returns_it(ray):
    gen = ray.remote(count_up).remote(1)
    assert ray.get(gen) is gen
    assert [ray.get(r) for r in gen] == [0]


def test_completed_ref_is_none_once_the_task_ended(ray):
    gen = ray.remote(count_up).remote(2)
    assert ray.get(gen.completed()) is None
    assert [ray.get(r) for r in gen] == [0, 1]
    assert gen.is_finished()


def test_next_ready_and_is_finished_follow_the_stream(ray, tmp_path):
    flag = str(tmp_path / "go")

    @ray.remote
    def gated(path):
        _wait_for(path)
        yield 1

    gen = gated.remote(flag)
    assert not gen.next_ready()
    assert not gen.is_finished()
    _touch(flag)

    poll_for(gen.next_ready, msg="the first item to be ready")
    assert ray.get(next(gen)) == 1
    with pytest.raises(StopIteration):
        next(gen)
    assert gen.is_finished()
    assert not gen.next_ready()


# -- errors ---------------------------------------------------------------------------------
def test_exception_mid_stream_keeps_earlier_values_then_raises_then_stops(ray):
    gen = ray.remote(yield_then_raise).remote(2)
    assert ray.get(next(gen)) == 0
    assert ray.get(next(gen)) == 10
    bad = next(gen)
    with pytest.raises(ValueError, match="failed after 2 values") as info:
        ray.get(bad)
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    with pytest.raises(StopIteration):
        next(gen)
    assert ray.get(gen.completed()) is None


def test_exception_before_the_first_value(ray):
    @ray.remote
    def fails_at_once():
        raise KeyError("nothing yielded")
        yield 1  # noqa: unreachable - makes it a generator

    gen = fails_at_once.remote()
    ref = next(gen)  # the error arrives as a ref, not from next()
    with pytest.raises(KeyError):
        ray.get(ref)
    with pytest.raises(StopIteration):
        next(gen)


def test_worker_dying_mid_stream_surfaces_as_worker_crashed(ray):
    @ray.remote(max_retries=0)
    def dies_after_one():
        yield 1
        os._exit(1)

    gen = dies_after_one.remote()
    assert ray.get(next(gen)) == 1
    last = next(gen)
    assert last == gen.completed()
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(last)
    with pytest.raises(StopIteration):
        next(gen)


def test_cancel_a_running_streaming_task(ray, tmp_path):
    never = str(tmp_path / "never-created")

    @ray.remote
    def blocks_after_one(path):
        yield "before"
        _wait_for(path, timeout=60)
        yield "after"

    gen = blocks_after_one.remote(never)
    assert ray.get(next(gen)) == "before"
    ray.cancel(gen)
    last = next(gen)
    assert last == gen.completed()       # the task's own return object holds the error
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(last)
    with pytest.raises(StopIteration):
        next(gen)


def test_a_generator_cannot_be_passed_to_a_task_or_pickled(ray):
    gen = ray.remote(count_up).remote(1)

    @ray.remote
    def takes(g):
        return 1

    with pytest.raises(TypeError):
        takes.remote(gen)
    with pytest.raises(TypeError):
        pickle.dumps(gen)
    assert [ray.get(r) for r in gen] == [0]


# -- async iteration and wait ----------------------------------------------------------------
def test_async_iteration(ray):
    f = ray.remote(count_up)

    async def consume():
        seen = []
        async for ref in f.remote(3):
            seen.append(await ref)
        gen = f.remote(1)
        seen.append(await (await gen.__anext__()))
        with pytest.raises(StopAsyncIteration):
            await gen.__anext__()
        return seen

    assert asyncio.run(consume()) == [0, 1, 2, 0]


def test_wait_on_generators_and_refs(ray, tmp_path):
    flag = str(tmp_path / "go")

    @ray.remote
    def gated(path):
        _wait_for(path)
        yield "x"

    gen = gated.remote(flag)
    ready, not_ready = ray.wait([gen], timeout=0)
    assert ready == [] and not_ready == [gen]
    done = ray.put(1)
    ready, not_ready = ray.wait([gen, done], num_returns=1, timeout=0)
    assert ready == [done] and not_ready == [gen]
    _touch(flag)
    ready, not_ready = ray.wait([gen, done], num_returns=2, timeout=30)
    assert ready == [gen, done] and not_ready == []
    assert ray.get(next(gen)) == "x"
    with pytest.raises(StopIteration):
        next(gen)
    ready, _ = ray.wait([gen], timeout=30)   # finished: next() would not block
    assert ready == [gen]


def test_generator_consumed_inside_a_task(ray):
    f = ray.remote(count_up)

    @ray.remote
    def outer(n):
        return [ray.get(r) for r in f.remote(n)]

    assert ray.get(outer.remote(3), timeout=60) == [0, 1, 2]


# -- num_returns=N and num_returns="dynamic" -------------------------------------------------
def test_fixed_num_returns_filled_from_a_generator(ray):
    f = ray.remote(num_returns=3)(count_up)
    assert ray.get(f.remote(3)) == [0, 1, 2]
    # More values than returns: the first N are kept (Ray only logs the extra one).
    assert ray.get(f.remote(4)) == [0, 1, 2]
    # Fewer: the returns that got a value keep it, the missing one raises.
    a, b, c = f.remote(2)
    assert ray.get([a, b]) == [0, 1]
    with pytest.raises(ValueError) as info:
        ray.get(c)
    assert isinstance(info.value, ray.exceptions.RayTaskError)


def test_fixed_num_returns_keeps_values_yielded_before_an_exception(ray):
    f = ray.remote(num_returns=3)(yield_then_raise)
    a, b, c = f.remote(1)
    assert ray.get(a) == 0
    for ref in (b, c):
        with pytest.raises(ValueError, match="failed after 1 values"):
            ray.get(ref)


def test_num_returns_one_takes_the_first_value(ray):
    @ray.remote(num_returns=1)
    def one():
        yield "only"

    assert ray.get(one.remote()) == "only"


def test_dynamic_returns_one_ref_to_all_the_refs(ray):
    f = ray.remote(num_returns="dynamic")(count_up)
    ref = f.remote(3)
    assert isinstance(ref, ray.ObjectRef)
    dyn = ray.get(ref)
    assert isinstance(dyn, ray.DynamicObjectRefGenerator)
    assert len(dyn) == 3
    refs = list(dyn)
    assert ray.get(refs) == [0, 1, 2]


def test_dynamic_with_an_exception_ends_with_an_error_ref(ray):
    f = ray.remote(num_returns="dynamic")(yield_then_raise)
    refs = list(ray.get(f.remote(2)))
    assert len(refs) == 3
    assert ray.get(refs[:2]) == [0, 10]
    with pytest.raises(ValueError, match="failed after 2 values"):
        ray.get(refs[2])


# -- actor methods ------------------------------------------------------------------------
def test_actor_generator_methods_stream(ray):
    @ray.remote
    class Source:
        def __init__(self):
            self.base = 100

        def items(self, n):
            for i in range(n):
                yield self.base + i

        @ray.method(num_returns=2)
        def pair(self):
            yield "a"
            yield "b"

        def fails(self):
            yield 1
            raise RuntimeError("actor generator failed")

    s = Source.remote()
    gen = s.items.remote(3)
    assert isinstance(gen, ray.ObjectRefGenerator)
    assert [ray.get(r) for r in gen] == [100, 101, 102]
    assert ray.get(s.pair.remote()) == ["a", "b"]
    dyn = ray.get(s.items.options(num_returns="dynamic").remote(2))
    assert ray.get(list(dyn)) == [100, 101]
    gen = s.fails.remote()
    assert ray.get(next(gen)) == 1
    with pytest.raises(RuntimeError, match="actor generator failed"):
        ray.get(next(gen))
    with pytest.raises(StopIteration):
        next(gen)
    ray.kill(s)


def test_async_actor_generator_methods_stream(ray, tmp_path):
    flag = str(tmp_path / "go")

    @ray.remote
    class AsyncSource:
        async def items(self, n):
            for i in range(n):
                await asyncio.sleep(0)
                yield i

        async def gated(self, path):
            yield "first"
            while not os.path.exists(path):
                await asyncio.sleep(0.005)
            yield "second"

        def plain_items(self, n):
            for i in range(n):
                yield -i

    a = AsyncSource.remote()
    assert [ray.get(r) for r in a.items.remote(3)] == [0, 1, 2]
    assert [ray.get(r) for r in a.plain_items.remote(2)] == [0, -1]
    gen = a.gated.remote(flag)
    assert ray.get(next(gen)) == "first"
    # The actor's loop is free while the generator waits: other calls still run.
    assert [ray.get(r) for r in a.items.remote(1)] == [0]
    _touch(flag)
    assert ray.get(next(gen)) == "second"
    ray.kill(a)


def test_threaded_actor_generator_method(ray):
    @ray.remote(max_concurrency=2)
    class Threaded:
        def items(self, n):
            for i in range(n):
                yield i * i

    t = Threaded.remote()
    gens = [t.items.remote(3), t.items.remote(2)]
    assert [[ray.get(r) for r in g] for g in gens] == [[0, 1, 4], [0, 1]]
    ray.kill(t)


# -- retries --------------------------------------------------------------------------------
def _attempt(path):
    """Inside a task: count this attempt in a file; returns the attempt number (1, 2, ...)."""
    with open(path, "a") as f:
        f.write("x")
    return os.path.getsize(path)


def test_streaming_task_retried_after_its_worker_died_yields_each_value_once(ray, tmp_path):
    @ray.remote(max_retries=1)
    def dies_on_first_attempt(path):
        first = _attempt(path) == 1
        for i in range(4):
            if first and i == 2:
                os._exit(1)
            yield i

    assert [ray.get(r) for r in dies_on_first_attempt.remote(str(tmp_path / "n"))] == [0, 1, 2, 3]


def test_streaming_task_retried_for_an_exception(ray, tmp_path):
    @ray.remote(max_retries=1, retry_exceptions=True)
    def raises_on_first_attempt(path):
        first = _attempt(path) == 1
        for i in range(4):
            if first and i == 2:
                raise ValueError("first attempt")
            yield i

    gen = raises_on_first_attempt.remote(str(tmp_path / "n"))
    assert [ray.get(r) for r in gen] == [0, 1, 2, 3]


def test_dynamic_task_retried_after_its_worker_died(ray, tmp_path):
    @ray.remote(max_retries=1, num_returns="dynamic")
    def dies_on_first_attempt(path):
        first = _attempt(path) == 1
        for i in range(4):
            if first and i == 2:
                os._exit(1)
            yield i

    refs = list(ray.get(dies_on_first_attempt.remote(str(tmp_path / "n"))))
    assert ray.get(refs) == [0, 1, 2, 3]


@pytest.mark.init(num_cpus=1)
def test_generator_consumed_inside_a_task_on_a_one_cpu_cluster(ray_fresh):
    ray = ray_fresh
    f = ray.remote(count_up)

    @ray.remote
    def outer(n):
        return [ray.get(r) for r in f.remote(n)]

    assert ray.get(outer.remote(3), timeout=60) == [0, 1, 2]


def test_killing_an_actor_mid_stream_ends_its_generator_with_an_actor_error(ray, tmp_path):
    never = str(tmp_path / "never-created")

    @ray.remote
    class Source:
        def items(self, path):
            yield "before"
            _wait_for(path, timeout=60)
            yield "after"

    s = Source.remote()
    gen = s.items.remote(never)
    assert ray.get(next(gen)) == "before"
    ray.kill(s)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(next(gen))
    with pytest.raises(StopIteration):
        next(gen)


def test_dropping_an_unfinished_generator_leaves_the_cluster_usable(ray, tmp_path):
    flag = str(tmp_path / "go")

    @ray.remote
    def gated(path, n):
        _wait_for(path)
        for i in range(n):
            yield i

    gen = gated.remote(flag, 3)
    del gen
    _touch(flag)
    assert [ray.get(r) for r in ray.remote(count_up).remote(2)] == [0, 1]
