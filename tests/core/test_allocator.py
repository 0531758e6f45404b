"""Allocator: first-fit placement of byte ranges in the arena (pure, no I/O)."""

from __future__ import annotations

import random

import pytest

from nbray.store.allocator import ALIGNMENT, Allocator, align


def test_align_rounds_up_to_the_alignment():
    assert align(0) == 0
    assert align(1) == ALIGNMENT
    assert align(ALIGNMENT) == ALIGNMENT
    assert align(ALIGNMENT + 1) == 2 * ALIGNMENT


def test_new_allocator_is_all_free():
    a = Allocator(4096)
    assert a.capacity == 4096
    assert a.used == 0
    assert a.free_bytes == 4096
    assert a.largest_free() == 4096


def test_allocations_are_aligned_and_do_not_overlap():
    a = Allocator(64 * 1024)
    blocks = []
    for size in (1, 63, 64, 65, 100, 1000, 4096):
        off = a.allocate(size)
        assert off is not None
        assert off % ALIGNMENT == 0
        blocks.append((off, align(size)))
    blocks.sort()
    for (o1, s1), (o2, _) in zip(blocks, blocks[1:]):
        assert o1 + s1 <= o2
    assert a.used == sum(s for _, s in blocks)


def test_zero_size_allocation_takes_one_aligned_unit():
    a = Allocator(1024)
    assert a.allocate(0) == 0
    assert a.used == ALIGNMENT


def test_first_fit_starts_at_the_lowest_address():
    a = Allocator(1024)
    assert a.allocate(64) == 0
    assert a.allocate(64) == 64
    assert a.allocate(64) == 128


def test_allocate_returns_none_when_nothing_fits():
    a = Allocator(256)
    assert a.allocate(256) == 0
    assert a.allocate(1) is None
    assert a.free_bytes == 0


def test_allocation_larger_than_capacity_fails():
    a = Allocator(256)
    assert a.allocate(257) is None
    assert a.used == 0


def test_freed_block_is_reused_first():
    a = Allocator(1024)
    first = a.allocate(128)
    a.allocate(128)
    a.free(first, 128)
    assert a.allocate(64) == first


def test_fragmented_space_cannot_hold_a_large_block_until_neighbours_merge():
    a = Allocator(64 * 4)
    offs = [a.allocate(64) for _ in range(4)]
    a.free(offs[0], 64)
    a.free(offs[2], 64)
    assert a.free_bytes == 128
    assert a.largest_free() == 64
    assert a.allocate(128) is None
    a.free(offs[1], 64)  # merges with both neighbours
    assert a.largest_free() == 192
    assert a.allocate(192) == 0


@pytest.mark.parametrize("order", ["forward", "backward", "middle-first"])
def test_freeing_everything_coalesces_back_to_one_block(order):
    a = Allocator(64 * 8)
    offs = [a.allocate(64) for _ in range(8)]
    if order == "backward":
        offs.reverse()
    elif order == "middle-first":
        offs = offs[3:5] + offs[:3] + offs[5:]
    for off in offs:
        a.free(off, 64)
    assert a.used == 0
    assert a.largest_free() == a.capacity
    assert a.allocate(a.capacity) == 0


def test_random_workload_keeps_accounting_consistent():
    rng = random.Random(1234)
    a = Allocator(1 << 20)
    live = {}
    for _ in range(2000):
        if live and rng.random() < 0.45:
            off = rng.choice(list(live))
            a.free(off, live.pop(off))
        else:
            size = rng.randint(1, 20000)
            off = a.allocate(size)
            if off is None:
                assert a.largest_free() < align(size)
                continue
            assert off not in live
            live[off] = size
        assert a.used == sum(align(s) for s in live.values())
    spans = sorted((o, o + align(s)) for o, s in live.items())
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start
    assert all(end <= a.capacity for _, end in spans)
    for off, size in list(live.items()):
        a.free(off, size)
    assert a.used == 0
    assert a.largest_free() == a.capacity
