"""GpuSlots: concrete GPU ids behind the scheduler's GPU amounts."""

from __future__ import annotations

from nbray.runtime.gpu_ids import GpuSlots


def test_whole_gpus_take_the_lowest_free_ids_and_come_back():
    slots = GpuSlots()
    assert slots.assign("n", 4, "w1", 2) == [0, 1]
    assert slots.assign("n", 4, "w2", 1) == [2]
    slots.release("w1")
    assert slots.assign("n", 4, "w3", 2) == [0, 1]
    assert slots.assign("n", 4, "w4", 1) == [3]


def test_fractions_pack_onto_one_gpu_before_using_another():
    slots = GpuSlots()
    assert slots.assign("n", 2, "a", 0.5) == [0]
    assert slots.assign("n", 2, "b", 0.5) == [0]
    assert slots.assign("n", 2, "c", 1) == [1]
    assert slots.assign("n", 2, "d", 0.25) == []   # nothing left
    slots.release("a")
    assert slots.assign("n", 2, "e", 0.25) == [0]


def test_nodes_are_counted_apart_and_a_worker_holds_one_assignment():
    slots = GpuSlots()
    assert slots.assign("n1", 1, "w1", 1) == [0]
    assert slots.assign("n2", 1, "w2", 1) == [0]
    assert slots.assign("n1", 1, "w1", 1) == [0]   # re-assigning first gives back the old one
    assert slots.assign("n1", 1, "w3", 0) == []
