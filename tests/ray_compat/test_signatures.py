"""Arguments are checked against the signature at `.remote()`: a wrong call raises TypeError in
the caller at once (remote functions, actor constructors, actor methods), as in Ray."""

from __future__ import annotations

import pytest


def test_remote_function_checks_its_arguments_at_submission(ray):
    @ray.remote
    def combine(a, b=2, *, scale=1):
        return (a + b) * scale

    with pytest.raises(TypeError, match="too many positional arguments"):
        combine.remote(1, 2, 3)
    with pytest.raises(TypeError, match="missing a required argument: 'a'"):
        combine.remote()
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        combine.remote(1, c=3)
    with pytest.raises(TypeError):
        combine.remote(1, 2, 3)   # scale is keyword-only
    assert ray.get(combine.remote(1)) == 3
    assert ray.get(combine.remote(1, 3, scale=2)) == 8
    assert ray.get(combine.remote(b=1, a=1)) == 2


def test_options_are_not_taken_for_arguments(ray):
    @ray.remote
    def pair(x):
        return x, x + 1

    first, second = pair.options(num_returns=2).remote(10)
    assert ray.get([first, second]) == [10, 11]
    with pytest.raises(TypeError):
        pair.options(num_returns=2).remote()
    with pytest.raises(TypeError):
        pair.options(num_returns=2).remote(1, num_returns=2)   # an argument, not an option


def test_ref_arguments_count_like_the_values_they_stand_for(ray):
    @ray.remote
    def add(a, b):
        return a + b

    one = ray.put(1)
    assert ray.get(add.remote(one, b=one)) == 2
    with pytest.raises(TypeError):
        add.remote(one)


def test_variadic_functions_take_anything(ray):
    @ray.remote
    def count(*args, **kwargs):
        return len(args) + len(kwargs)

    assert ray.get(count.remote()) == 0
    assert ray.get(count.remote(1, 2, x=3)) == 3


def test_actor_constructor_checks_its_arguments(ray):
    @ray.remote
    class Account:
        def __init__(self, owner, balance=0):
            self.balance = balance

        def read(self):
            return self.balance

    @ray.remote
    class NoInit:
        def read(self):
            return 1

    with pytest.raises(TypeError, match="missing a required argument: 'owner'"):
        Account.remote()
    with pytest.raises(TypeError, match="too many positional arguments"):
        Account.remote("ann", 1, 2)
    with pytest.raises(TypeError):
        Account.options(name=None).remote(balance=3)
    with pytest.raises(TypeError):
        NoInit.remote(1)
    assert ray.get(Account.remote("ann", balance=5).read.remote()) == 5
    assert ray.get(NoInit.remote().read.remote()) == 1


def test_actor_methods_check_their_arguments(ray):
    @ray.remote
    class Calc:
        FACTOR = 10

        def add(self, x, y=1):
            return x + y

        @staticmethod
        def double(x):
            return 2 * x

        @classmethod
        def factor(cls):
            return cls.FACTOR

        def any_args(self, *args, **kwargs):
            return len(args) + len(kwargs)

    calc = Calc.remote()
    with pytest.raises(TypeError, match="missing a required argument: 'x'"):
        calc.add.remote()
    with pytest.raises(TypeError, match="too many positional arguments"):
        calc.add.remote(1, 2, 3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        calc.add.remote(1, z=2)
    with pytest.raises(TypeError):
        calc.double.remote()          # a static method has no self to fill the first slot
    with pytest.raises(TypeError):
        calc.factor.remote(1)         # cls is bound already
    with pytest.raises(TypeError):
        calc.add.options(num_returns=1).remote()
    assert ray.get([calc.add.remote(1), calc.add.remote(x=1, y=5), calc.double.remote(4),
                    calc.factor.remote(), calc.any_args.remote(1, a=2)]) == [2, 6, 8, 10, 2]


def test_handles_from_elsewhere_check_calls_too(ray):
    @ray.remote
    class Box:
        def put(self, value):
            self.value = value
            return value

    box = Box.options(name="signature-box").remote()
    found = ray.get_actor("signature-box")
    with pytest.raises(TypeError):
        found.put.remote()
    assert ray.get(found.put.remote(3)) == 3

    @ray.remote
    def misuse(handle):
        return handle.put.remote(1, 2)   # raises in the task, which fails with that error

    with pytest.raises(TypeError):
        ray.get(misuse.remote(box))
    ray.kill(box)


def test_remote_functions_used_inside_tasks_check_there_too(ray):
    @ray.remote
    def inner(a):
        return a

    @ray.remote
    def outer():
        try:
            inner.remote()
        except TypeError:
            return "refused at once"
        return "submitted"

    assert ray.get(outer.remote()) == "refused at once"


def test_a_coroutine_function_cannot_be_a_remote_task(ray):
    async def fetch():
        return 1

    with pytest.raises(ValueError):
        ray.remote(fetch)
