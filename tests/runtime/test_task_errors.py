"""Errors raised by tasks: how get() re-raises them, and how they propagate."""

from __future__ import annotations

import pickle
import re
import threading

import pytest

import nbray
from nbray.exceptions import RayError, RayTaskError


class CustomError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code

    def __reduce__(self):
        return (CustomError, (self.args[0], self.code))


class UnpicklableError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


@nbray.remote
def raise_value_error(msg="boom"):
    raise ValueError(msg)


@nbray.remote
def raise_custom():
    raise CustomError("custom failure", code=42)


@nbray.remote
def raise_unpicklable():
    raise UnpicklableError("cannot travel")


@nbray.remote
def raise_keyboard_interrupt():
    raise KeyboardInterrupt


@nbray.remote
def raise_system_exit():
    raise SystemExit(3)


@nbray.remote
def consume(x):
    return x


@nbray.remote
def get_inside(ref_list):
    return nbray.get(ref_list[0])


@nbray.remote(num_returns=2)
def two_then_fail():
    raise RuntimeError("both returns fail")


def test_get_raises_a_ray_task_error_that_is_also_the_original_type(cluster):
    ref = raise_value_error.remote()
    with pytest.raises(RayTaskError) as info:
        nbray.get(ref)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, RayError)
    assert isinstance(err.cause, ValueError)
    assert "boom" in str(err)
    assert "raise_value_error" in str(err)


def test_original_exception_type_can_be_caught(cluster):
    with pytest.raises(ValueError, match="boom"):
        nbray.get(raise_value_error.remote())


def test_traceback_of_the_task_is_in_the_message(cluster):
    with pytest.raises(RayTaskError) as info:
        nbray.get(raise_value_error.remote("look here"))
    text = str(info.value)
    # As in Ray, the message opens with a header naming the task and its process in place
    # of "Traceback (most recent call last):"; the raw text keeps that line.
    assert re.match(r"ray::raise_value_error\(\) \(pid=\d+, ip=[^)]+\)\n  File ", text), text
    assert "Traceback" in info.value.traceback_str
    assert "raise ValueError(msg)" in text
    assert "look here" in text


def test_custom_exception_keeps_its_attributes(cluster):
    with pytest.raises(CustomError) as info:
        nbray.get(raise_custom.remote())
    assert info.value.code == 42
    assert info.value.cause.code == 42


def test_unpicklable_exception_still_reports_the_failure(cluster):
    with pytest.raises(RayTaskError) as info:
        nbray.get(raise_unpicklable.remote())
    assert "cannot travel" in str(info.value)
    assert "UnpicklableError" in str(info.value)


def test_get_raises_every_time(cluster):
    ref = raise_value_error.remote()
    for _ in range(3):
        with pytest.raises(ValueError):
            nbray.get(ref)


def test_error_in_a_list_get(cluster):
    refs = [consume.remote(1), raise_value_error.remote()]
    with pytest.raises(ValueError):
        nbray.get(refs)
    assert nbray.get(refs[0]) == 1


def test_error_propagates_through_a_dependency(cluster):
    # Ray raises a RayTaskError that carries the upstream failure (whether it is also
    # a ValueError is not specified: Ray's is not, nbray's is).
    failed = raise_value_error.remote("upstream")
    downstream = consume.remote(consume.remote(failed))
    with pytest.raises(RayTaskError, match="upstream"):
        nbray.get(downstream)


def test_error_propagates_through_a_nested_get(cluster):
    failed = raise_value_error.remote("nested upstream")
    with pytest.raises(RayTaskError, match="nested upstream"):
        nbray.get(get_inside.remote([failed]))


def test_every_return_of_a_failed_task_raises(cluster):
    a, b = two_then_fail.remote()
    for ref in (a, b):
        with pytest.raises(RuntimeError, match="both returns fail"):
            nbray.get(ref)


def test_keyboard_interrupt_raised_by_a_task_fails_it(cluster):
    # Ray turns a KeyboardInterrupt in a task into a cancellation error; either way
    # the task fails with a RayError and the worker keeps serving.
    with pytest.raises(RayError):
        nbray.get(raise_keyboard_interrupt.remote(), timeout=30)
    assert nbray.get(consume.remote("alive"), timeout=30) == "alive"


def test_system_exit_in_a_task_fails_it(cluster):
    with pytest.raises(RayError):
        nbray.get(raise_system_exit.remote(), timeout=30)
    assert nbray.get(consume.remote("alive"), timeout=30) == "alive"


def test_task_errors_are_not_retried_by_default(cluster, tmp_path):
    from tests._support import Counter

    attempts = Counter(tmp_path / "attempts")

    @nbray.remote(max_retries=3)
    def count_and_fail(c):
        c.hit()
        raise ValueError("application error")

    with pytest.raises(ValueError):
        nbray.get(count_and_fail.remote(attempts))
    assert attempts.value() == 1


def test_ray_task_error_pickles(cluster):
    with pytest.raises(RayTaskError) as info:
        nbray.get(raise_value_error.remote("pickled"))
    clone = pickle.loads(pickle.dumps(info.value))
    assert isinstance(clone, RayTaskError) and isinstance(clone, ValueError)
    assert "pickled" in str(clone)


def test_worker_survives_task_errors(cluster):
    before = set(cluster.worker_pids())
    for _ in range(5):
        with pytest.raises(ValueError):
            nbray.get(raise_value_error.remote())
    assert nbray.get(consume.remote(1)) == 1
    assert cluster.node.stats["workers_died"] == 0
    assert before <= set(cluster.worker_pids())


def test_public_exception_classes():
    exc = nbray.exceptions
    for name in ("RayError", "RayTaskError", "GetTimeoutError", "WorkerCrashedError",
                 "TaskCancelledError", "ObjectLostError", "ObjectStoreFullError",
                 "RayActorError", "ActorDiedError", "OwnerDiedError", "TaskUnschedulableError"):
        cls = getattr(exc, name)
        assert issubclass(cls, exc.RayError), name
    assert issubclass(exc.GetTimeoutError, TimeoutError)
    assert issubclass(exc.ObjectStoreFullError, MemoryError)
    assert issubclass(exc.OwnerDiedError, exc.ObjectLostError)


def test_traceback_names_the_file_and_line_of_code_pickled_by_value(cluster):
    # Functions defined in __main__ (or a notebook) travel by value; whatever cloudpickle
    # does with co_filename, the traceback names the real file and shows the failing line.
    import cloudpickle

    namespace = {"__name__": "__main__"}
    source = "def divide(x):\n    return x / 0  # the failing line\n"
    exec(compile(source, __file__, "exec"), namespace)   # a file that exists, like a script
    divide = namespace["divide"]
    assert cloudpickle.loads(cloudpickle.dumps(divide)).__code__ is not None
    with pytest.raises(ZeroDivisionError) as info:
        nbray.get(nbray.remote(divide).remote(1))
    text = str(info.value)
    assert f'File "{__file__}", line 2, in divide' in text
    assert "<dynamic-code>" not in text


def test_traceback_of_notebook_cell_code_shows_its_label_and_source(cluster):
    # A notebook cell's code has no file on disk: IPython keeps its source in linecache, and
    # the notebook layer labels it "In [n]".  The worker has neither, so both travel with it.
    import linecache

    from nbray.serialization import set_filename_labeler

    filename = "/nonexistent/ipykernel_0/cell-7.py"
    source = "def cell_task(x):\n    y = x + 1\n    return y / 0  # cell line 3\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    set_filename_labeler(lambda name: "In [7]" if name == filename else None)
    try:
        with pytest.raises(ZeroDivisionError) as info:
            nbray.get(nbray.remote(namespace["cell_task"]).remote(1))
    finally:
        set_filename_labeler(None)
        linecache.cache.pop(filename, None)
    text = str(info.value)
    assert 'File "In [7]", line 3, in cell_task' in text
    assert "return y / 0  # cell line 3" in text


def test_code_whose_file_has_a_lazy_linecache_entry_pickles():
    # Formatting a traceback leaves linecache a lazy 1-tuple entry for a module's file; the
    # pickler, looking for a cell's source, must not take it for a full 4-tuple entry.
    import linecache

    from nbray.serialization import deserialize, serialize

    filename = "/nonexistent/lazy_module.py"
    source = "def lazy_task(x):\n    return x + 1\n"
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (lambda: source,)
    try:
        fn = deserialize(serialize(namespace["lazy_task"]).meta)
    finally:
        linecache.cache.pop(filename, None)
    assert fn(1) == 2


# -- nbray-only behaviours (Ray hangs or differs here; see tests/ray_compat for the rest) ------
def test_ray_task_error_pickles_with_its_header_fields(cluster):
    @nbray.remote
    class Holder:
        def fail(self):
            raise LookupError("not here")

    with pytest.raises(LookupError) as info:
        nbray.get(Holder.remote().fail.remote())
    err = info.value
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert (clone.pid, clone.ip, clone.actor_id) == (err.pid, err.ip, err.actor_id)
    assert err.actor_id and err.pid
    assert str(clone) == str(err)
    assert repr(clone) == repr(err) == "RayTaskError(LookupError)(LookupError('not here'))"


def test_unserializable_exception_pickles(cluster):
    class NeedsTwo(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}-{b}")

    @nbray.remote
    def raises_needs_two():
        raise NeedsTwo(1, 2)

    with pytest.raises(nbray.exceptions.UnserializableException) as info:
        nbray.get(raises_needs_two.remote())
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)
    assert "ray::raises_needs_two()" in str(clone)


def test_system_exit_in_an_async_actor_kills_the_actor(cluster):
    # Ray 2.60 never answers this call (its event loop thread dies); nbray ends the actor.
    @nbray.remote
    class AsyncLeaving:
        async def leave(self):
            raise SystemExit(2)

        async def ping(self):
            return "pong"

    actor = AsyncLeaving.remote()
    assert nbray.get(actor.ping.remote(), timeout=30) == "pong"
    with pytest.raises(nbray.exceptions.ActorDiedError, match="exited with code 2"):
        nbray.get(actor.leave.remote(), timeout=30)
    with pytest.raises(nbray.exceptions.ActorDiedError):
        nbray.get(actor.ping.remote(), timeout=30)


def test_keyboard_interrupt_in_an_async_actor_is_a_cancellation(cluster):
    # Ray 2.60 never answers this call either; nbray fails just the call, like a task's.
    @nbray.remote
    class AsyncInterrupted:
        async def interrupted(self):
            raise KeyboardInterrupt

        async def ping(self):
            return "pong"

    actor = AsyncInterrupted.remote()
    with pytest.raises(nbray.exceptions.TaskCancelledError) as info:
        nbray.get(actor.interrupted.remote(), timeout=30)
    assert isinstance(info.value, RayTaskError)
    assert nbray.get(actor.ping.remote(), timeout=30) == "pong"


def test_output_printed_before_system_exit_reaches_the_driver(cluster, capsys):
    @nbray.remote(max_retries=0)
    def say_and_leave():
        print("last words")
        raise SystemExit(0)

    with pytest.raises(nbray.exceptions.WorkerCrashedError):
        nbray.get(say_and_leave.remote(), timeout=30)
    from tests._support import poll_for

    seen = []
    poll_for(lambda: seen.append(capsys.readouterr().out) or "last words" in "".join(seen),
             timeout=10, msg="the task's output")
