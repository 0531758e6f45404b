"""nbray.util and nbray.actor: mistakes a user can make, and the errors they get.

(What Ray does too is covered by tests/ray_compat; these are nbray's own checks, where Ray
fails later or with a less helpful error.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

import nbray
from nbray.util.actor_pool import ActorPool
from nbray.util.multiprocessing import Pool
from nbray.util.queue import Queue


@nbray.remote
class Echo:
    def echo(self, x):
        return x


def _raise_unpicklable(_):
    class Local(Exception):  # a class defined in a function: pickled by value, but it
        def __init__(self):  # holds a lock, which cannot be pickled
            super().__init__("local")
            self.lock = threading.Lock()

    raise Local()


def _fail_on_two(x):
    if x == 2:
        raise ArithmeticError("two")
    return x


def _bad_initializer():
    raise OSError("initializer failed")


def test_importing_nbray_gives_util_and_actor_without_joblib():
    code = textwrap.dedent("""
        import sys
        import nbray
        import nbray.util.queue, nbray.util.multiprocessing, nbray.util.joblib
        assert nbray.util.ActorPool and nbray.util.queue.Queue and nbray.actor.exit_actor
        assert nbray.util.multiprocessing.Pool
        assert "joblib" not in sys.modules, "importing nbray.util must not import joblib"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_register_ray_without_joblib_says_how_to_install_it(monkeypatch):
    from nbray.util.joblib import register_ray

    monkeypatch.setitem(sys.modules, "joblib", None)
    monkeypatch.setitem(sys.modules, "joblib.parallel", None)
    with pytest.raises(ImportError, match="pip install joblib"):
        register_ray()


def test_exit_actor_in_the_driver_says_where_it_can_be_called():
    with pytest.raises(TypeError, match="inside an actor method"):
        nbray.actor.exit_actor()


def test_ray_call_needs_a_callable(cluster):
    a = Echo.remote()
    with pytest.raises(TypeError, match="needs a callable"):
        nbray.get(a.__ray_call__.remote(42))
    assert nbray.get(a.echo.remote(1)) == 1  # the actor is fine


def test_queue_arguments_are_checked(cluster):
    with pytest.raises(TypeError, match="maxsize"):
        Queue(maxsize="10")
    with pytest.raises(TypeError, match="actor_options"):
        Queue(actor_options=["name"])
    q = Queue()
    with pytest.raises(TypeError, match="timeout"):
        q.get(timeout="soon")
    q.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        q.put(1)
    assert "shut down" in repr(q)


def test_actor_pool_checks_what_fn_returns(cluster):
    pool = ActorPool([Echo.remote()])
    with pytest.raises(TypeError, match="fn\\(actor, value\\)"):
        pool.submit("not a function", 1)
    with pytest.raises(TypeError, match="ObjectRef"):
        pool.submit(lambda a, v: v, 1)        # forgot .remote()
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda a, v: 1 / 0, 1)    # fn itself raised
    assert pool.has_free()                    # the actor went back each time
    pool.submit(lambda a, v: a.echo.remote(v), 7)
    assert pool.get_next() == 7


def test_pool_arguments_are_checked(cluster):
    with pytest.raises(TypeError, match="initializer"):
        Pool(1, initializer="setup")
    with pytest.raises(ValueError, match="maxtasksperchild"):
        Pool(1, maxtasksperchild=0)
    with pytest.raises(TypeError, match="processes"):
        Pool("2")
    with Pool(1) as pool:
        with pytest.raises(ValueError, match="Chunksize"):
            pool.imap(abs, [1], chunksize=0)
        with pytest.raises(TypeError, match="chunksize"):
            pool.map(abs, [1], chunksize="2")
        with pytest.raises(TypeError, match="kwds"):
            pool.apply_async(abs, (1,), kwds=[1])
        with pytest.raises(TypeError, match="callable"):
            pool.map(None, [1])


def test_an_initializer_error_raises_from_the_constructor(cluster):
    # As on Ray: the pool's actor died in its constructor, and the error says why.
    with pytest.raises(nbray.exceptions.ActorDiedError, match="initializer failed"):
        Pool(2, initializer=_bad_initializer)


def test_an_unpicklable_exception_arrives_as_a_runtime_error(cluster):
    with Pool(1) as pool:
        with pytest.raises(RuntimeError, match="could not be pickled"):
            pool.apply(_raise_unpicklable, (1,))


def test_imap_raises_at_the_failing_item_and_goes_on(cluster):
    # As multiprocessing's imap: the error comes at its position, later results follow.
    with Pool(2) as pool:
        out = []
        it = pool.imap(_fail_on_two, range(5))
        for _ in range(5):
            try:
                out.append(next(it))
            except ArithmeticError:
                out.append("error")
        assert out == [0, 1, "error", 3, 4]
        with pytest.raises(StopIteration):
            next(it)


def test_imap_reads_a_generator_lazily(cluster):
    taken = []

    def numbers():
        for i in range(1000):
            taken.append(i)
            yield i

    with Pool(2) as pool:
        it = pool.imap(abs, numbers())
        assert [next(it) for _ in range(3)] == [0, 1, 2]
        assert len(taken) < 1000   # not all read up front
        pool.terminate()
