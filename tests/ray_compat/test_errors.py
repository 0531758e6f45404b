"""Task and actor errors as a Ray program sees them: types through nested `get`, the message
header, cancellation through chains, errors that cannot travel, and the exception names."""

from __future__ import annotations

import builtins
import os
import re

import cloudpickle
import pytest

from tests._support import poll_for

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(error: BaseException) -> str:
    """str(error) without terminal colours (Ray colours the task name in its header)."""
    return ANSI.sub("", str(error))


def test_nested_get_keeps_the_type_of_the_innermost_error(ray):
    @ray.remote
    def inner():
        return 1 / 0

    @ray.remote
    def middle():
        return ray.get(inner.remote())

    @ray.remote
    def outer():
        return ray.get(middle.remote())

    for ref in (middle.remote(), outer.remote()):
        with pytest.raises(ZeroDivisionError) as info:
            ray.get(ref)
        err = info.value
        assert isinstance(err, ray.exceptions.RayTaskError)
        assert type(err.cause) is ZeroDivisionError
        assert type(err).__name__ == "RayTaskError(ZeroDivisionError)"
        text = plain(err)
        assert text.endswith("ZeroDivisionError: division by zero"), text
        # Every task of the chain is named, outermost first.
        names = re.findall(r"ray::(\w+)\(\) \(pid=", text)
        assert names == (["middle", "inner"] if names[0] == "middle" else
                         ["outer", "middle", "inner"]), text
        assert "return 1 / 0" in text


def test_error_message_header_names_the_task_process_and_node(ray):
    @ray.remote
    def fails(x):
        raise ValueError(f"bad value {x}")

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(fails.remote(7))
    err = info.value
    text = plain(err)
    assert re.match(r"ray::fails\(\) \(pid=\d+, ip=[^,)]+\)\n", text), text
    assert '  File "' in text and ", in fails\n" in text
    assert text.endswith("ValueError: bad value 7")
    assert repr(err) == f"RayTaskError(ValueError)({err.cause!r})"
    assert repr(err.cause) == "ValueError('bad value 7')"


def test_actor_error_header_names_the_actor(ray):
    @ray.remote
    class Account:
        def pid(self):
            return os.getpid()

        def withdraw(self, amount):
            raise RuntimeError(f"cannot withdraw {amount}")

    account = Account.remote()
    pid = ray.get(account.pid.remote())
    with pytest.raises(RuntimeError) as info:
        ray.get(account.withdraw.remote(5))
    err = info.value
    assert isinstance(err, ray.exceptions.RayTaskError)
    text = plain(err)
    header = re.match(r"ray::Account\.withdraw\(\) \(pid=(\d+), ip=[^,]+, actor_id=([0-9a-f]+)",
                      text)
    assert header, text
    assert int(header.group(1)) == pid
    assert text.endswith("RuntimeError: cannot withdraw 5")


def test_error_in_an_actor_constructor_names_it(ray):
    @ray.remote
    class Broken:
        def __init__(self):
            raise ValueError("constructor failed")

        def ping(self):
            return "pong"

    broken = Broken.remote()
    with pytest.raises(ray.exceptions.ActorDiedError) as info:
        ray.get(broken.ping.remote())
    text = plain(info.value)
    assert "Broken.__init__()" in text
    assert "ValueError: constructor failed" in text
    assert isinstance(info.value, ray.exceptions.RayActorError)
    assert not isinstance(info.value, ray.exceptions.RayTaskError)


def test_error_pickles_with_cloudpickle(ray):
    @ray.remote
    def fails():
        raise KeyError("missing")

    with pytest.raises(KeyError) as info:
        ray.get(fails.remote())
    err = info.value
    clone = cloudpickle.loads(cloudpickle.dumps(err))
    assert type(clone).__name__ == "RayTaskError(KeyError)"
    assert isinstance(clone, KeyError) and isinstance(clone, ray.exceptions.RayTaskError)
    assert str(clone) == str(err)
    assert repr(clone.cause) == repr(err.cause) == "KeyError('missing')"


def _started_and_waits_for_release(started_path, release_path):
    """A task body: say it started, then wait (bounded) until the test releases it."""
    import time

    open(started_path, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(release_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released"


def test_cancelling_the_inner_task_fails_the_waiting_outer_task(ray, tmp_path):
    started, release = str(tmp_path / "started"), str(tmp_path / "release")
    blocker = ray.remote(_started_and_waits_for_release)

    @ray.remote
    def waits_on(refs):
        return ray.get(refs[0])

    inner = blocker.remote(started, release)
    outer = waits_on.remote([inner])
    try:
        poll_for(lambda: os.path.exists(started), timeout=60, msg="the inner task to start")
        ray.cancel(inner)
        with pytest.raises(ray.exceptions.TaskCancelledError) as info:
            ray.get(outer, timeout=60)
    finally:
        open(release, "w").close()
    err = info.value
    assert isinstance(err, ray.exceptions.RayTaskError)
    assert isinstance(err.cause, ray.exceptions.TaskCancelledError)
    text = plain(err)
    assert text.startswith("ray::waits_on()"), text
    assert "ray::_started_and_waits_for_release()" in text
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(inner, timeout=60)


def test_cancelling_a_task_blocked_in_get_raises_task_cancelled(ray, tmp_path):
    started, release = str(tmp_path / "started"), str(tmp_path / "release")
    blocker = ray.remote(_started_and_waits_for_release)

    @ray.remote
    def waits_on(started, release):
        return ray.get(blocker.remote(started, release))

    outer = waits_on.remote(started, release)
    try:
        poll_for(lambda: os.path.exists(started), timeout=60, msg="the inner task to start")
        ray.cancel(outer)
        with pytest.raises(ray.exceptions.TaskCancelledError) as info:
            ray.get(outer, timeout=60)
    finally:
        open(release, "w").close()
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert plain(info.value).startswith("ray::waits_on()")


def test_exception_whose_class_cannot_be_rebuilt_on_the_caller(ray):
    class NeedsTwo(Exception):
        def __init__(self, a, b):        # unpickling calls NeedsTwo("1-2"): a TypeError
            super().__init__(f"{a}-{b}")

    @ray.remote
    def raises_needs_two():
        raise NeedsTwo(1, 2)

    @ray.remote
    def waits():
        return ray.get(raises_needs_two.remote())

    with pytest.raises(ray.exceptions.UnserializableException) as info:
        ray.get(raises_needs_two.remote())
    err = info.value
    assert not isinstance(err, ray.exceptions.RayTaskError)
    assert isinstance(err, ray.exceptions.RayError)
    text = plain(err)
    assert "ray::raises_needs_two() (pid=" in text
    assert "raise NeedsTwo(1, 2)" in text
    assert "NeedsTwo: 1-2" in text

    # One level up, the waiting task failed with that error: a RayTaskError of it.
    with pytest.raises(ray.exceptions.UnserializableException) as info:
        ray.get(waits.remote())
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert "NeedsTwo: 1-2" in plain(info.value)


def test_exception_that_cannot_be_pickled_still_reports_the_failure(ray):
    import threading

    class HoldsALock(Exception):
        def __init__(self):
            super().__init__("holds a lock")
            self.lock = threading.Lock()

    @ray.remote
    def raises_it():
        raise HoldsALock()

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(raises_it.remote())
    err = info.value
    assert not isinstance(err, HoldsALock)
    assert isinstance(err.cause, ray.exceptions.RayError)
    assert "HoldsALock" in str(err.cause)
    assert "HoldsALock: holds a lock" in plain(err)


def test_failed_argument_fails_the_task_with_the_upstream_error(ray):
    @ray.remote
    def fails():
        raise ValueError("upstream")

    @ray.remote
    def consume(x):
        return x

    with pytest.raises(ValueError) as info:
        ray.get(consume.remote(fails.remote()))
    err = info.value
    assert isinstance(err, ray.exceptions.RayTaskError)
    assert type(err.cause) is ValueError
    text = plain(err)
    # The failed task is named first, then the argument's error with its own header.
    assert text.startswith("ray::consume() (pid="), text
    assert "At least one of the input arguments for this task could not be computed" in text
    assert "ray::fails() (pid=" in text
    assert text.endswith("ValueError: upstream")


# name -> the classes it must derive from, as in Ray, so `except` clauses port over.
EXCEPTION_BASES = {
    "RayError": ["Exception"],
    "RayTaskError": ["RayError"],
    "RayActorError": ["RayError"],
    "ActorDiedError": ["RayActorError"],
    "ActorUnavailableError": ["RayActorError"],
    "ActorUnschedulableError": ["RayError"],
    "TaskUnschedulableError": ["RayError"],
    "TaskCancelledError": ["RayError"],
    "GetTimeoutError": ["RayError", "TimeoutError"],
    "WorkerCrashedError": ["RayError"],
    "ObjectLostError": ["RayError"],
    "ObjectFetchTimedOutError": ["ObjectLostError"],
    "ObjectFreedError": ["ObjectLostError"],
    "OwnerDiedError": ["ObjectLostError"],
    "ReferenceCountingAssertionError": ["ObjectLostError", "AssertionError"],
    "ObjectReconstructionFailedError": ["ObjectLostError"],
    "ObjectStoreFullError": ["RayError"],
    "OutOfDiskError": ["RayError"],
    "OutOfMemoryError": ["RayError"],
    "NodeDiedError": ["RayError"],
    "LocalRayletDiedError": ["RayError"],
    "RaySystemError": ["RayError"],
    "RuntimeEnvSetupError": ["RayError"],
    "PendingCallsLimitExceeded": ["RayError"],
    "AsyncioActorExit": ["RayError"],
    "CrossLanguageError": ["RayError"],
    "TaskPlacementGroupRemoved": ["RayError"],
    "ActorPlacementGroupRemoved": ["RayError"],
    "PlasmaObjectNotAvailable": ["RayError"],
    "UnserializableException": ["RayError"],
    "ObjectRefStreamEndOfStreamError": ["RayError"],
    "ActorAlreadyExistsError": ["RayError", "ValueError"],
    "ActorHandleNotFoundError": ["RayError", "ValueError"],
    "RayChannelError": ["RaySystemError"],
    "RayChannelTimeoutError": ["RayChannelError", "TimeoutError"],
    "AuthenticationError": ["RayError"],
}


def test_exception_names_and_bases(ray):
    exceptions = ray.exceptions
    missing = [name for name in EXCEPTION_BASES if not hasattr(exceptions, name)]
    assert not missing, missing
    for name, bases in EXCEPTION_BASES.items():
        cls = getattr(exceptions, name)
        for base_name in bases:
            base = getattr(exceptions, base_name, None) or getattr(builtins, base_name)
            assert issubclass(cls, base), f"{name} is not a subclass of {base_name}"
    # Not related in Ray, so not related here: an `except` for one never catches the other.
    assert not issubclass(exceptions.OutOfDiskError, exceptions.ObjectStoreFullError)
    assert not issubclass(exceptions.ObjectLostError, exceptions.RayTaskError)
    assert not issubclass(exceptions.RayActorError, exceptions.RayTaskError)
