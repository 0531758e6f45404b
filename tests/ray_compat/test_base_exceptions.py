"""BaseExceptions and exception groups raised by tasks and actors, as Ray hands them back:
a KeyboardInterrupt becomes a cancellation, SystemExit ends the worker (never the driver),
other BaseExceptions keep their type, and exception groups stay exception groups."""

from __future__ import annotations

import os
import sys

import pytest

needs_groups = pytest.mark.skipif(sys.version_info < (3, 11),
                                  reason="exception groups need Python 3.11")


class Interrupt(BaseException):
    """A BaseException of the program's own, as some libraries define."""


def test_base_exception_keeps_its_type(ray):
    @ray.remote
    def task():
        raise Interrupt("from a task")

    @ray.remote
    class Actor:
        def method(self):
            raise Interrupt("from an actor")

    with pytest.raises(Interrupt) as info:
        ray.get(task.remote())
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert "from a task" in str(info.value)
    with pytest.raises(Interrupt) as info:
        ray.get(Actor.remote().method.remote())
    assert isinstance(info.value, ray.exceptions.RayTaskError)


def test_keyboard_interrupt_in_a_task_is_a_cancellation_for_the_caller(ray):
    @ray.remote
    def interrupted():
        raise KeyboardInterrupt("stop")

    @ray.remote
    def alive():
        return "alive"

    # The driver gets TaskCancelledError, not a KeyboardInterrupt of its own.
    with pytest.raises(ray.exceptions.TaskCancelledError) as info:
        ray.get(interrupted.remote(), timeout=60)
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert isinstance(info.value.cause, ray.exceptions.TaskCancelledError)
    assert 'raise KeyboardInterrupt("stop")' in str(info.value)
    assert ray.get(alive.remote(), timeout=60) == "alive"


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "sys.exit(1)", "sys.exit('bye')",
                                       "raise SystemExit"])
def test_system_exit_in_a_task_ends_its_worker_not_the_driver(ray, exit_call):
    source = f"def leaves():\n    import sys\n    {exit_call}\n"
    namespace: dict = {}
    exec(source, namespace)
    leaves = ray.remote(max_retries=0)(namespace["leaves"])

    @ray.remote
    def alive():
        return "alive"

    with pytest.raises(ray.exceptions.WorkerCrashedError) as info:
        ray.get(leaves.remote(), timeout=60)
    assert not isinstance(info.value, ray.exceptions.RayTaskError)
    assert not isinstance(info.value, SystemExit)
    assert ray.get(alive.remote(), timeout=60) == "alive"


def test_system_exit_in_a_task_is_retried_like_a_crash(ray, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote(max_retries=2)
    def leaves(path):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        sys.exit(3)

    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(leaves.remote(attempts), timeout=120)
    with open(attempts) as f:
        pids = f.read().split()
    assert len(pids) == 3                   # the first try and two retries
    assert len(set(pids)) == 3              # each in a worker of its own


@pytest.mark.parametrize("code", [0, 1])
def test_system_exit_in_an_actor_kills_the_actor(ray, code):
    @ray.remote
    class Leaving:
        def leave(self, code):
            sys.exit(code)

        def ping(self):
            return "pong"

    actor = Leaving.remote()
    assert ray.get(actor.ping.remote(), timeout=60) == "pong"
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(actor.leave.remote(code), timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(actor.ping.remote(), timeout=60)


def test_system_exit_in_a_threaded_actor_kills_the_actor(ray):
    @ray.remote(max_concurrency=2)
    class Leaving:
        def leave(self):
            sys.exit(1)

        def ping(self):
            return "pong"

    actor = Leaving.remote()
    assert ray.get(actor.ping.remote(), timeout=60) == "pong"
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(actor.leave.remote(), timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(actor.ping.remote(), timeout=60)


@needs_groups
def test_exception_group_comes_back_as_a_group(ray):
    @ray.remote
    def task():
        raise ExceptionGroup("several", [ValueError("v"), TypeError("t")])  # noqa: F821

    @ray.remote
    class Actor:
        def method(self):
            raise ExceptionGroup("several", [ValueError("v"), TypeError("t")])  # noqa: F821

    for ref in (task.remote(), Actor.remote().method.remote()):
        with pytest.raises(ExceptionGroup) as info:  # noqa: F821
            ray.get(ref)
        err = info.value
        assert isinstance(err, ray.exceptions.RayTaskError)
        assert type(err).__name__ == "RayTaskError(ExceptionGroup)"
        assert err.message == "several"
        assert [type(e) for e in err.exceptions] == [ValueError, TypeError]
        assert [str(e) for e in err.exceptions] == ["v", "t"]
        assert isinstance(err.cause, ExceptionGroup)  # noqa: F821
        assert "ExceptionGroup: several (2 sub-exceptions)" in str(err)


@needs_groups
def test_except_star_splits_a_remote_group(ray):
    from ._except_star import split_by_except_star

    @ray.remote
    def task():
        raise ExceptionGroup("several", [ValueError("v"), TypeError("t")])  # noqa: F821

    caught = split_by_except_star(lambda: ray.get(task.remote()))
    assert [(kind, [str(e) for e in group.exceptions]) for kind, group in caught] == \
        [("ValueError", ["v"]), ("TypeError", ["t"])]


@needs_groups
def test_except_star_catches_a_plain_task_error(ray):
    from ._except_star import split_by_except_star

    @ray.remote
    def task():
        raise ValueError("alone")

    caught = split_by_except_star(lambda: ray.get(task.remote()))
    assert [kind for kind, _ in caught] == ["ValueError"]
    [inner] = caught[0][1].exceptions
    assert isinstance(inner, ray.exceptions.RayTaskError) and isinstance(inner, ValueError)


@needs_groups
def test_base_exception_group_is_a_plain_task_error(ray):
    @ray.remote
    def task():
        raise BaseExceptionGroup("base", [Interrupt("i")])  # noqa: F821

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(task.remote())
    err = info.value
    # A RayTaskError is an Exception, so it cannot also be a group holding BaseExceptions:
    # the group is the cause.
    assert not isinstance(err, BaseExceptionGroup)  # noqa: F821
    assert isinstance(err.cause, BaseExceptionGroup)  # noqa: F821
    assert [type(e) for e in err.cause.exceptions] == [Interrupt]
    assert "BaseExceptionGroup: base (1 sub-exception)" in str(err)

    @ray.remote
    def only_exceptions():
        raise BaseExceptionGroup("becomes a group", [ValueError("v")])  # noqa: F821

    # Python makes this an ExceptionGroup, and so it comes back as one.
    with pytest.raises(ExceptionGroup):  # noqa: F821
        ray.get(only_exceptions.remote())


def test_base_exception_in_an_actor_constructor_kills_the_actor(ray):
    @ray.remote
    class Broken:
        def __init__(self):
            raise Interrupt("in the constructor")

        def ping(self):
            return "pong"

    with pytest.raises(ray.exceptions.ActorDiedError) as info:
        ray.get(Broken.remote().ping.remote(), timeout=60)
    assert "Interrupt" in str(info.value)
