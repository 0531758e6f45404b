"""Every actor's built-in methods and the ways an actor ends, on nbray and on Ray.

`__ray_ready__`, `__ray_terminate__`, `__ray_call__`, `ray.actor.exit_actor()` and the
`__ray_shutdown__` hook: a graceful end (exit_actor, __ray_terminate__, last handle gone)
runs `__ray_shutdown__` and the actor's atexit handlers; `ray.kill` runs neither.
"""

from __future__ import annotations

import os

import psutil
import pytest

from tests._support import poll_for


class Recorder:
    """Writes a marker file from its __ray_shutdown__ hook and from an atexit handler."""

    def __init__(self, path):
        import atexit

        self.path = path
        atexit.register(lambda: open(path + ".atexit", "w").close())

    def __ray_shutdown__(self):
        open(self.path + ".shutdown", "w").close()

    def pid(self):
        return os.getpid()

    def echo(self, x):
        return x

    def leave(self, backend_name):
        import importlib

        importlib.import_module(backend_name).actor.exit_actor()
        return "not reached"


def _markers(path):
    return sorted(s for s in (".shutdown", ".atexit") if os.path.exists(path + s))


def _gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ray_ready_resolves_once_the_constructor_ran(ray):
    @ray.remote
    class Slow:
        def __init__(self):
            self.built = True

        def built_ok(self):
            return self.built

    a = Slow.remote()
    assert ray.get(a.__ray_ready__.remote(), timeout=60) is True
    assert ray.get(a.built_ok.remote()) is True


def test_ray_ready_of_an_actor_whose_constructor_raised_raises_actor_died(ray):
    @ray.remote
    class Broken:
        def __init__(self):
            raise ValueError("no")

    a = Broken.remote()
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.__ray_ready__.remote(), timeout=60)


def test_ray_call_runs_a_function_on_the_instance(ray):
    @ray.remote
    class Counter:
        def __init__(self):
            self.n = 5

    c = Counter.remote()
    assert ray.get(c.__ray_call__.remote(lambda self, k, add=0: self.n * k + add, 3, add=1)) == 16


def test_public_actor_module_names(ray):
    @ray.remote
    class A:
        def f(self):
            return 1

    a = A.remote()
    assert isinstance(A, ray.actor.ActorClass)
    assert isinstance(a, ray.actor.ActorHandle)
    assert isinstance(a.f, ray.actor.ActorMethod)
    assert callable(ray.actor.exit_actor)


def test_exit_actor_fails_its_call_and_every_later_one_and_never_restarts(ray):
    @ray.remote(max_restarts=2)
    class Quitter:
        def quit(self):
            ray.actor.exit_actor()
            return "not reached"

        def ping(self):
            return "pong"

    a = Quitter.remote()
    assert ray.get(a.ping.remote()) == "pong"
    quit_ref = a.quit.remote()
    queued = a.ping.remote()  # submitted before the exit happened
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(quit_ref, timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(queued, timeout=60)
    # max_restarts does not bring back an actor that left on purpose.
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.ping.remote(), timeout=60)


def test_exit_actor_is_not_swallowed_by_except_exception(ray):
    @ray.remote
    class Careless:
        def quit(self):
            try:
                ray.actor.exit_actor()
            except Exception:
                return "swallowed"

    a = Careless.remote()
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.quit.remote(), timeout=60)


def test_exit_actor_outside_an_actor_raises_type_error(ray):
    with pytest.raises(TypeError):
        ray.actor.exit_actor()

    @ray.remote
    def task():
        ray.actor.exit_actor()

    with pytest.raises(TypeError):
        ray.get(task.remote())
    # The worker that ran the task is fine: the next task runs.
    assert ray.get(ray.remote(lambda: 1).remote()) == 1


def test_exit_actor_in_an_async_actor(ray):
    @ray.remote
    class AsyncQuitter:
        async def quit(self):
            ray.actor.exit_actor()

        async def ping(self):
            return "pong"

    a = AsyncQuitter.remote()
    assert ray.get(a.ping.remote()) == "pong"
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.quit.remote(), timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.ping.remote(), timeout=60)


def test_exit_actor_in_a_threaded_actor(ray):
    @ray.remote(max_concurrency=2)
    class Threaded:
        def quit(self):
            ray.actor.exit_actor()

        def ping(self):
            return "pong"

    a = Threaded.remote()
    assert ray.get(a.ping.remote()) == "pong"
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.quit.remote(), timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.ping.remote(), timeout=60)


def test_exit_actor_runs_shutdown_hook_and_atexit_handlers(ray, tmp_path):
    path = str(tmp_path / "exit")
    a = ray.remote(Recorder).remote(path)
    pid = ray.get(a.pid.remote())
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.leave.remote(ray.__name__), timeout=60)
    poll_for(lambda: _markers(path) == [".atexit", ".shutdown"], timeout=30,
             msg="__ray_shutdown__ and the atexit handler after exit_actor()")
    poll_for(lambda: _gone(pid), timeout=30, msg="the actor's process to exit")


def test_terminate_lets_earlier_calls_finish_then_ends_the_actor(ray, tmp_path):
    path = str(tmp_path / "terminate")
    a = ray.remote(Recorder).remote(path)
    earlier = [a.echo.remote(i) for i in range(5)]
    done = a.__ray_terminate__.remote()
    later = a.echo.remote("late")
    assert ray.get(earlier, timeout=60) == list(range(5))
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(done, timeout=60)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(later, timeout=60)
    poll_for(lambda: _markers(path) == [".atexit", ".shutdown"], timeout=30,
             msg="__ray_shutdown__ and the atexit handler after __ray_terminate__")
    # ray.wait sees the terminate call as finished (it is how callers wait for the end).
    ready, _ = ray.wait([a.__ray_terminate__.remote()], timeout=60)
    assert len(ready) == 1


def test_last_handle_going_out_of_scope_runs_shutdown_hook(ray, tmp_path):
    path = str(tmp_path / "scope")
    a = ray.remote(Recorder).remote(path)
    pid = ray.get(a.pid.remote())
    del a
    poll_for(lambda: _markers(path) == [".atexit", ".shutdown"], timeout=30,
             msg="__ray_shutdown__ and the atexit handler once the last handle is gone")
    poll_for(lambda: _gone(pid), timeout=30, msg="the actor's process to exit")


def test_kill_runs_no_cleanup(ray, tmp_path):
    path = str(tmp_path / "kill")
    a = ray.remote(Recorder).remote(path)
    pid = ray.get(a.pid.remote())
    ray.kill(a)
    poll_for(lambda: _gone(pid), timeout=30, msg="the killed actor's process to exit")
    assert _markers(path) == []
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.echo.remote(1), timeout=60)


def test_a_failing_shutdown_hook_does_not_stop_the_exit(ray, tmp_path):
    @ray.remote
    class BadHook:
        def __init__(self, path):
            import atexit

            self.path = path
            atexit.register(lambda: open(path + ".atexit", "w").close())

        def __ray_shutdown__(self):
            raise RuntimeError("cleanup failed")

        def pid(self):
            return os.getpid()

    path = str(tmp_path / "badhook")
    a = BadHook.remote(path)
    pid = ray.get(a.pid.remote())
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.__ray_terminate__.remote(), timeout=60)
    poll_for(lambda: _gone(pid), timeout=30, msg="the actor's process to exit")
    assert _markers(path) == [".atexit"]

