"""ObjectRef identity: hex, binary, hash, equality, repr, pickling, futures.

These tests only read from the cluster, so they share one module-scoped cluster.
"""

from __future__ import annotations

import asyncio
import copy
import pickle

import cloudpickle
import pytest

import nbray


@nbray.remote
def identity(x):
    return x


@nbray.remote
def get_inner(refs):
    return nbray.get(refs[0])


@nbray.remote(num_returns=3)
def three():
    return 1, 2, 3


def test_put_returns_an_object_ref(shared_cluster):
    assert isinstance(nbray.put(1), nbray.ObjectRef)


def test_remote_returns_an_object_ref(shared_cluster):
    ref = identity.remote(1)
    assert isinstance(ref, nbray.ObjectRef)
    assert nbray.get(ref) == 1


def test_hex_and_binary_agree(shared_cluster):
    ref = nbray.put("x")
    assert isinstance(ref.binary(), bytes)
    assert isinstance(ref.hex(), str)
    assert bytes.fromhex(ref.hex()) == ref.binary()
    assert len(ref.hex()) == 2 * len(ref.binary())


def test_repr_shows_the_hex_id(shared_cluster):
    ref = nbray.put("x")
    assert repr(ref) == f"ObjectRef({ref.hex()})"


def test_every_put_gets_a_new_id(shared_cluster):
    refs = [nbray.put(0) for _ in range(100)]
    assert len({r.hex() for r in refs}) == 100


def test_every_task_return_gets_a_new_id(shared_cluster):
    refs = [identity.remote(0) for _ in range(20)] + list(three.remote())
    assert len({r.binary() for r in refs}) == len(refs)


def test_refs_to_the_same_object_are_equal_and_hash_alike(shared_cluster):
    ref = nbray.put("x")
    same = nbray.ObjectRef(ref.binary())
    other = nbray.put("x")
    assert ref == same and hash(ref) == hash(same)
    assert ref != other
    assert not (ref != same)
    assert len({ref, same, other}) == 2
    assert {ref: 1}[same] == 1


def test_ref_is_not_equal_to_other_types(shared_cluster):
    ref = nbray.put("x")
    assert ref != ref.hex()
    assert ref != ref.binary()
    assert ref is not None


def test_returns_of_one_task_share_its_task_id(shared_cluster):
    a, b, c = three.remote()
    assert a.task_id() == b.task_id() == c.task_id()
    assert nbray.get([a, b, c]) == [1, 2, 3]


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_ref_survives_pickling(shared_cluster, dumps):
    ref = nbray.put({"v": 1})
    clone = pickle.loads(dumps(ref))
    assert clone == ref
    assert nbray.get(clone) == {"v": 1}


def test_ref_survives_copy_and_deepcopy(shared_cluster):
    ref = nbray.put([1])
    assert copy.copy(ref) == ref
    assert copy.deepcopy(ref) == ref
    assert nbray.get(copy.deepcopy({"r": ref})["r"]) == [1]


def test_nested_ref_travels_to_a_task_and_back_unchanged(shared_cluster):
    ref = nbray.put("inner")
    (back,) = nbray.get(identity.remote([ref]))
    assert back == ref
    assert nbray.get(back) == "inner"
    assert nbray.get(get_inner.remote([ref])) == "inner"


def test_ref_inside_a_stored_object_comes_back_as_a_ref(shared_cluster):
    inner = nbray.put(5)
    outer = nbray.put({"inner": inner})
    got = nbray.get(outer)["inner"]
    assert isinstance(got, nbray.ObjectRef)
    assert got == inner
    assert nbray.get(got) == 5


def test_put_of_a_ref_is_refused(shared_cluster):
    ref = nbray.put(1)
    with pytest.raises(TypeError):
        nbray.put(ref)


def test_result_and_future(shared_cluster):
    ref = identity.remote("value")
    assert ref.result(timeout=30) == "value"
    assert ref.future().result(timeout=30) == "value"


def test_await_a_ref(shared_cluster):
    async def main():
        return await identity.remote("awaited")

    assert asyncio.run(main()) == "awaited"


def test_future_of_a_failed_task_raises(shared_cluster):
    @nbray.remote
    def fail():
        raise KeyError("nope")

    with pytest.raises(KeyError):
        fail.remote().future().result(timeout=30)
