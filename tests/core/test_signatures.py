"""nbray.core.signatures: the checks .remote() runs, without a cluster."""

from __future__ import annotations

import pickle
import threading

import pytest

from nbray.core.signatures import describe, method_params, rebuild, signature_of


def sample(a, b=2, *args, c, d=4, **kwargs):
    return a


def positional_only(a, b=1, /):
    return a


class Sample:
    def plain(self, x, y=1):
        return x

    @staticmethod
    def static(x):
        return x

    @classmethod
    def klass(cls, x, *, flag=False):
        return x

    def varargs(*args):
        return args


CASES = [
    ((1,), {"c": 3}, True),
    ((1, 2, 3, 4), {"c": 3, "zz": 1}, True),
    ((), {"c": 3}, False),            # a missing
    ((1,), {}, False),                # c missing (keyword-only, no default)
    ((1,), {"c": 3, "a": 1}, False),  # a twice
]


@pytest.mark.parametrize("args,kwargs,fits", CASES)
def test_real_and_rebuilt_signatures_accept_the_same_calls(args, kwargs, fits):
    for sig in (signature_of(sample), rebuild(describe(signature_of(sample)))):
        if fits:
            sig.check(args, kwargs, "sample.remote()")
        else:
            with pytest.raises(TypeError, match=r"sample\.remote\(\)"):
                sig.check(args, kwargs, "sample.remote()")


def test_the_positional_fast_path_agrees_with_bind():
    for sig in (signature_of(positional_only), rebuild(describe(signature_of(positional_only)))):
        sig.check((1,), {}, "f")
        sig.check((1, 2), {}, "f")
        for args, kwargs in (((), {}), ((1, 2, 3), {}), ((), {"a": 1})):
            with pytest.raises(TypeError):
                sig.check(args, kwargs, "f")


def test_descriptions_pickle_whatever_the_defaults_are():
    def with_lock(x, lock=threading.Lock()):
        return x

    params = describe(signature_of(with_lock))
    assert pickle.loads(pickle.dumps(params)) == params == (("x", 1, False), ("lock", 1, True))
    assert "lock=..." in str(rebuild(params).signature)


def test_method_parameters_leave_out_self_and_cls():
    def names(name):
        return [p[0] for p in method_params(Sample, name, getattr(Sample, name))]

    assert names("plain") == ["x", "y"]
    assert names("static") == ["x"]
    assert names("klass") == ["x", "flag"]
    assert names("varargs") == ["args"]


def test_callables_without_a_signature_are_not_checked():
    assert signature_of(max) is None        # a builtin inspect cannot read
    assert describe(None) is None
