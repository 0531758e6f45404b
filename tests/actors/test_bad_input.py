"""Mistakes a user can make with actors, and the errors they get."""

from __future__ import annotations

import gc
import os
import threading

import pytest

import nbray
from nbray.serialization import SerializationError
from tests._support import Counter
from tests.actors._helpers import actor_ids, wait_for_state


@nbray.remote
class Tally:
    def __init__(self, start=0, births=None):
        self.value = start
        if births is not None:
            births.hit()

    def add(self, n=1):
        self.value += n
        return self.value

    def read(self):
        return self.value

    def pid(self):
        return os.getpid()


# -- methods that do not exist ---------------------------------------------------------------
def test_unknown_method_raises_attribute_error_naming_the_class(cluster):
    counter = Tally.remote()
    with pytest.raises(AttributeError, match=r"Tally.*no method 'increment'") as info:
        counter.increment
    assert "add" in str(info.value)  # the message lists the real methods
    assert not hasattr(counter, "incremnt")
    assert nbray.get(counter.add.remote()) == 1


def test_private_attributes_of_the_instance_are_not_methods(cluster):
    counter = Tally.remote()
    with pytest.raises(AttributeError, match="Tally"):
        counter.value
    with pytest.raises(AttributeError):
        counter.__init__.remote  # noqa: B018 - dunders are not callable remotely


# -- arguments that cannot be pickled ----------------------------------------------------------
def test_unpicklable_constructor_argument_raises_and_leaves_no_actor(cluster):
    before = actor_ids()
    with pytest.raises(SerializationError) as info:
        Tally.remote(threading.Lock())
    assert isinstance(info.value, TypeError)
    assert "Tally.__init__" in str(info.value) and "lock" in str(info.value).lower()
    with pytest.raises(TypeError):
        Tally.remote(start=threading.Lock())
    assert actor_ids() == before
    # The class still works.
    assert nbray.get(Tally.remote(1).read.remote()) == 1


def test_unpicklable_named_constructor_argument_leaves_the_name_free(cluster):
    with pytest.raises(SerializationError):
        Tally.options(name="fragile").remote(threading.Lock())
    assert nbray.list_actors() == []
    with pytest.raises(ValueError):
        nbray.get_actor("fragile")
    actor = Tally.options(name="fragile").remote(2)
    assert nbray.get(actor.read.remote()) == 2


def test_unpicklable_method_argument_raises_and_the_actor_lives_on(cluster):
    counter = Tally.remote()
    with pytest.raises(SerializationError) as info:
        counter.add.remote(threading.Lock())
    assert "Tally.add" in str(info.value)
    assert nbray.get(counter.add.remote(2)) == 2
    wait_for_state(counter, "ALIVE")


def test_unpicklable_return_value_raises_on_get(cluster):
    @nbray.remote
    class ReturnsLock:
        def make(self):
            return threading.Lock()

        def ok(self):
            return "ok"

    actor = ReturnsLock.remote()
    with pytest.raises(TypeError, match="ReturnsLock.make"):
        nbray.get(actor.make.remote())
    assert nbray.get(actor.ok.remote()) == "ok"


# -- names -----------------------------------------------------------------------------------
def test_taken_name_raises_value_error(cluster, tmp_path):
    births = Counter(tmp_path / "births")
    first = Tally.options(name="unique").remote(1, births)
    assert nbray.get(first.read.remote()) == 1
    before = actor_ids()
    with pytest.raises(ValueError, match="unique"):
        Tally.options(name="unique").remote(2, births)
    assert actor_ids() == before
    assert births.value() == 1
    # Another namespace is another name.
    other = Tally.options(name="unique", namespace="elsewhere").remote(3)
    assert nbray.get(other.read.remote()) == 3


def test_get_if_exists_returns_the_existing_actor(cluster, tmp_path):
    births = Counter(tmp_path / "births")
    first = Tally.options(name="singleton", get_if_exists=True).remote(1, births)
    assert nbray.get(first.add.remote(1)) == 2
    again = Tally.options(name="singleton", get_if_exists=True).remote(100, births)
    assert again == first
    assert nbray.get(again.add.remote(1)) == 3  # same state: the constructor did not run again
    assert births.value() == 1
    assert len(nbray.list_actors()) == 1
    # The handle from get_if_exists keeps the actor alive on its own.
    pid = nbray.get(again.pid.remote())
    del first
    gc.collect()
    assert nbray.get(again.read.remote()) == 3
    assert nbray.get(again.pid.remote()) == pid


def test_get_if_exists_creates_when_the_name_is_free(cluster):
    actor = Tally.options(name="fresh", get_if_exists=True).remote(5)
    assert nbray.get(actor.read.remote()) == 5
    assert nbray.get_actor("fresh") == actor


def test_wrong_arguments_to_a_method_raise_on_get(cluster):
    counter = Tally.remote()
    with pytest.raises(TypeError, match="add"):
        nbray.get(counter.add.remote(1, 2, 3))
    assert nbray.get(counter.read.remote()) == 0


def test_wrong_arguments_to_the_constructor_raise_at_once(cluster):
    # Checked against the signature at .remote(), as in Ray: no actor is created.
    with pytest.raises(TypeError, match=r"Tally\.remote\(\).*too many positional"):
        Tally.remote(1, 2, 3, 4)


def test_a_constructor_that_raises_kills_the_actor(cluster):
    counter = Tally.remote(1, births=object())   # births.hit() raises AttributeError
    with pytest.raises(nbray.exceptions.ActorDiedError, match="__init__"):
        nbray.get(counter.read.remote(), timeout=30)
