"""What an actor class offers: class attributes and static methods through the class's name,
methods that instance attributes never hide, class methods, inheritance; restarts after
kill(no_restart=False); calls of one caller never held behind another caller's argument;
kill() / get_actor() with bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from tests._support import DEFAULT_TIMEOUT, driver_env, poll_for
from tests.ray_compat._helpers import Gate


class Log:
    def __init__(self):
        self.entries = []

    def add(self, entry):
        self.entries.append(entry)
        return entry

    def read(self):
        return list(self.entries)


class Shape:
    SIDES = 0

    def __init__(self, size):
        self.size = size

    def sides(self):
        return type(self).SIDES

    def describe(self):
        return f"{type(self).__name__} of size {self.size}"


class Square(Shape):
    SIDES = 4

    def __init__(self, size):
        super().__init__(size)

    def area(self):
        return self.size ** 2

    def describe(self):
        return "square: " + super().describe()


def test_class_attributes_and_static_methods_through_the_class_name(ray):
    @ray.remote
    class Counter:
        LIMIT = 3

        def __init__(self):
            self.count = 0

        @staticmethod
        def helper():
            return 10

        @classmethod
        def limit(cls):
            return cls.LIMIT

        def bump(self):
            if self.count >= Counter.LIMIT:
                raise ValueError("over the limit")
            self.count += 1
            return self.count + Counter.helper()

        def limit_via_name(self):
            return Counter.limit()

    counter = Counter.remote()
    assert ray.get([counter.bump.remote() for _ in range(3)]) == [11, 12, 13]
    with pytest.raises(ValueError, match="over the limit"):
        ray.get(counter.bump.remote())
    assert ray.get(counter.limit_via_name.remote()) == 3
    # The same names work on the driver, through the decorated class.
    assert Counter.LIMIT == 3
    assert Counter.helper() == 10
    assert Counter.limit() == 3


def test_an_instance_attribute_never_hides_a_method(ray):
    @ray.remote
    class Stepper:
        def __init__(self):
            self.step = 5          # same name as the method below

        def step(self):            # noqa: F811 - the point of the test
            return "method"

        def value(self):
            return self.__dict__["step"]

    stepper = Stepper.remote()
    assert ray.get(stepper.step.remote()) == "method"
    assert ray.get(stepper.value.remote()) == 5


def test_static_and_class_methods_are_callable_through_the_handle(ray):
    @ray.remote
    class Tools:
        BASE = 7

        @staticmethod
        def add(a, b):
            return a + b

        @classmethod
        def base(cls):
            return cls.BASE

    tools = Tools.remote()
    assert ray.get([tools.add.remote(1, 2), tools.base.remote()]) == [3, 7]


def test_properties_are_not_methods_of_the_handle(ray):
    @ray.remote
    class WithProperty:
        @property
        def answer(self):
            return 42

        def read(self):
            return self.answer

    actor = WithProperty.remote()
    assert ray.get(actor.read.remote()) == 42
    with pytest.raises(AttributeError):
        actor.answer


def test_inherited_methods_and_super_calls(ray):
    RemoteSquare = ray.remote(Square)
    square = RemoteSquare.remote(3)
    assert ray.get([square.area.remote(), square.sides.remote(), square.describe.remote()]) == \
        [9, 4, "square: Square of size 3"]

    @ray.remote
    class Triangle(Shape):
        SIDES = 3

    assert ray.get(Triangle.remote(2).sides.remote()) == 3


def test_a_remote_class_cannot_be_subclassed(ray):
    @ray.remote
    class Base:
        def ping(self):
            return 1

    with pytest.raises(TypeError):
        class Child(Base):   # noqa: F841 - raises at definition
            pass


MAIN_SCRIPT = """
import sys
import {module} as ray

ray.init(**{init})

@ray.remote
class Limits:
    MAX = 3

    @staticmethod
    def helper():
        return 10

    def __init__(self):
        self.total = 0

    def total_with_bonus(self):
        self.total += Limits.MAX
        return self.total + Limits.helper()

limits = Limits.remote()
print("RESULT", ray.get([limits.total_with_bonus.remote() for _ in range(2)]))
ray.shutdown()
"""


def test_class_name_lookups_work_for_a_class_defined_in_main(backend):
    """Defined in __main__, so pickled by value on both systems."""
    with tempfile.TemporaryDirectory(prefix="nbray-compat-main-") as tmp:
        if backend == "nbray":
            init = {"num_cpus": 1}
            env = driver_env()
        else:
            init = {"num_cpus": 1, "include_dashboard": False, "_temp_dir": tmp}
            env = driver_env({"RAY_TMPDIR": tmp, "RAY_USAGE_STATS_ENABLED": "0"})
        script = MAIN_SCRIPT.format(module=backend, init=repr(init))
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                                capture_output=True, text=True, timeout=4 * DEFAULT_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RESULT [13, 16]" in result.stdout, result.stdout[-2000:]


# ---------------------------------------------------------------------------------------
# restarts
# ---------------------------------------------------------------------------------------
def _wait_for_new_process(ray, method, old_pid):
    """Poll an actor's pid method until a new process answers.  kill() is asynchronous in
    Ray: a call made right after it may still reach the old process, or fail while the actor
    restarts (nbray holds such calls until the restart: tests/actors/test_kill_restart.py)."""

    def answered():
        try:
            pid = ray.get(method.remote(), timeout=DEFAULT_TIMEOUT)
        except ray.exceptions.RayActorError:
            return None
        return pid if pid != old_pid else None

    return poll_for(answered, msg="the restarted actor to answer")


def test_kill_with_restarts_left_restarts_the_actor(ray):
    @ray.remote(max_restarts=1)
    class Service:
        def __init__(self):
            self.calls = 0

        def pid(self):
            return os.getpid()

        def call(self):
            self.calls += 1
            return self.calls

        def reconstructed(self):
            return ray.get_runtime_context().was_current_actor_reconstructed

    service = Service.remote()
    first_pid = ray.get(service.pid.remote())
    assert ray.get([service.call.remote(), service.call.remote()]) == [1, 2]
    assert ray.get(service.reconstructed.remote()) is False
    ray.kill(service, no_restart=False)
    _wait_for_new_process(ray, service.pid, first_pid)
    assert ray.get(service.call.remote()) == 1   # a fresh instance
    assert ray.get(service.reconstructed.remote()) is True
    # No restart left: the next kill is final.
    ray.kill(service, no_restart=False)
    with pytest.raises(ray.exceptions.RayActorError):
        poll_for(lambda: ray.get(service.call.remote(), timeout=DEFAULT_TIMEOUT) is None,
                 msg="calls to fail once the actor is dead")


def test_a_restarted_actor_knows_it_in_its_constructor(ray):
    @ray.remote(max_restarts=2)
    class Restartable:
        def __init__(self):
            self.reconstructed_at_init = ray.get_runtime_context().was_current_actor_reconstructed

        def pid(self):
            return os.getpid()

        def at_init(self):
            return self.reconstructed_at_init

    actor = Restartable.remote()
    assert ray.get(actor.at_init.remote()) is False
    first_pid = ray.get(actor.pid.remote())
    ray.kill(actor, no_restart=False)
    _wait_for_new_process(ray, actor.pid, first_pid)
    assert ray.get(actor.at_init.remote()) is True


def test_kill_without_restarts_left_ends_the_actor(ray):
    @ray.remote
    class Once:
        def ping(self):
            return "pong"

    once = Once.remote()
    assert ray.get(once.ping.remote()) == "pong"
    ray.kill(once, no_restart=False)   # max_restarts=0: nothing to restart
    with pytest.raises(ray.exceptions.RayActorError):
        poll_for(lambda: ray.get(once.ping.remote(), timeout=DEFAULT_TIMEOUT) is None,
                 msg="calls to fail once the actor is dead")


# ---------------------------------------------------------------------------------------
# ordering is per caller
# ---------------------------------------------------------------------------------------
def test_a_call_is_not_held_behind_another_callers_unready_argument(ray):
    gate = ray.remote(Gate).remote()
    log = ray.remote(Log).options(num_cpus=0).remote()

    @ray.remote(num_cpus=1)
    def slow_value(gate):
        ray.get(gate.wait.remote())
        return "slow"

    @ray.remote(num_cpus=0)
    def caller_b(log, n):
        # Another process: another caller, with an ordering of its own.
        added = ray.get([log.add.remote(f"b{i}") for i in range(n)])
        return added, ray.get(log.read.remote())

    slow = slow_value.remote(gate)
    a_first = log.add.remote(slow)          # caller A (this driver): argument not ready
    a_second = log.add.remote("a-after")    # A's next call waits for A's first
    # Caller B's calls run now, while A's argument is still being computed.
    added, seen = ray.get(caller_b.remote(log, 3), timeout=DEFAULT_TIMEOUT)
    assert added == ["b0", "b1", "b2"] and seen == ["b0", "b1", "b2"]
    ray.get(gate.open.remote())
    assert ray.get([a_first, a_second], timeout=DEFAULT_TIMEOUT) == ["slow", "a-after"]
    assert ray.get(log.read.remote()) == ["b0", "b1", "b2", "slow", "a-after"]


def test_one_callers_calls_keep_their_order_around_unready_arguments(ray):
    gate = ray.remote(Gate).remote()
    log = ray.remote(Log).options(num_cpus=0).remote()

    @ray.remote(num_cpus=1)
    def gated(gate, value):
        ray.get(gate.wait.remote())
        return value

    late = gated.remote(gate, "late")
    refs = [log.add.remote(1), log.add.remote(late)] + [log.add.remote(i) for i in range(2, 5)]
    ray.get(gate.open.remote())
    assert ray.get(refs, timeout=DEFAULT_TIMEOUT) == [1, "late", 2, 3, 4]
    assert ray.get(log.read.remote()) == [1, "late", 2, 3, 4]


# ---------------------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------------------
def test_kill_of_something_else_than_a_handle_raises_value_error(ray):
    @ray.remote
    def task():
        return 1

    with pytest.raises(ValueError):
        ray.kill("x")
    with pytest.raises(ValueError):
        ray.kill(task.remote())


def test_get_actor_without_a_name_raises_value_error(ray):
    for name in (None, ""):
        with pytest.raises(ValueError):
            ray.get_actor(name)
    with pytest.raises(ValueError):
        ray.get_actor("no-actor-has-this-name")
