"""Ids: Ray's lengths, unique task ids, lineage read off object ids, typed views."""

from __future__ import annotations

import pytest

from nbray.ids import (ACTOR_ID_SIZE, OBJECT_ID_SIZE, TASK_ID_SIZE, ActorID, IdGenerator, JobID,
                       TaskID, actor_creation_task_id, is_put_object, job_id_of, new_node_id,
                       object_id_for_return, return_index_of, task_id_of)


def test_sizes_are_rays():
    assert (TASK_ID_SIZE, OBJECT_ID_SIZE, ACTOR_ID_SIZE) == (24, 28, 16)
    assert len(new_node_id()) == 56


def test_task_ids_are_unique_and_differ_in_their_first_bytes():
    gen = IdGenerator(b"\x00\x00\x00\x07")
    made = [gen.task_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(t) == TASK_ID_SIZE for t in made)
    # The leading 8 bytes change from task to task, so shortened ids still tell tasks apart.
    assert len({t[:8] for t in made}) == len(made)
    assert {job_id_of(t) for t in made} == {b"\x00\x00\x00\x07"}


def test_two_processes_do_not_share_task_ids():
    a, b = IdGenerator(), IdGenerator()
    assert not {a.task_id() for _ in range(100)} & {b.task_id() for _ in range(100)}


def test_object_ids_lead_back_to_their_task():
    gen = IdGenerator()
    task = gen.task_id()
    oid = object_id_for_return(task, 3)
    assert len(oid) == OBJECT_ID_SIZE
    assert task_id_of(oid) == task and return_index_of(oid) == 3
    assert not is_put_object(oid) and is_put_object(gen.put_object_id())


def test_actor_ids_carry_the_job_and_name_their_creation_task():
    gen = IdGenerator(b"\x01\x02\x03\x04")
    actor = gen.actor_id()
    assert len(actor) == ACTOR_ID_SIZE and actor.endswith(b"\x01\x02\x03\x04")
    creation = actor_creation_task_id(actor)
    assert len(creation) == TASK_ID_SIZE and creation.endswith(actor)
    assert ActorID(actor).job_id() == JobID(b"\x01\x02\x03\x04")


def test_job_id_must_be_four_bytes():
    gen = IdGenerator()
    gen.set_job_id("0a0b0c0d")
    assert gen.job_id == bytes.fromhex("0a0b0c0d")
    with pytest.raises(ValueError, match="4 bytes"):
        gen.set_job_id(b"\x00")


def test_typed_ids_check_length_and_type():
    tid = TaskID(b"\x11" * 24)
    assert tid.hex() == "11" * 24 and TaskID.from_hex(tid.hex()) == tid
    assert repr(tid) == f"TaskID({tid.hex()})"
    assert TaskID.size() == 24 and TaskID.nil().is_nil() and not tid.is_nil()
    assert tid != JobID(b"\x11" * 4)
    with pytest.raises(ValueError, match="length 24"):
        TaskID(b"\x11" * 20)
    with pytest.raises(TypeError):
        TaskID("11" * 24)  # type: ignore[arg-type]
