"""Distributed reference counting: an object lives exactly as long as something needs it.

Something is: an ObjectRef in any process (the driver, a task, an actor), a pending
task taking it as an argument, a stored object containing a ref to it (nested refs,
seeds 002/004), or a remote function whose closure captured it (pinned for the job).
Freed means the table forgets it, its arena bytes go back to the store and its
spill file is deleted.  Zero-copy arrays from get() keep their block mapped.
"""

from __future__ import annotations

import gc
import os
import signal

import numpy as np
import pytest

import nbray
from nbray import exceptions as exc
from tests._support import FileEvent, pid_gone, poll_for

from ._helpers import MiB, counts, make_array, node, row_of, spill_files, store_stats, store_used, \
    wait_freed, wait_store_used

STORE = 64 * MiB


def _entry(ref_hex, **expected):
    """reference_counts() of one object, checked field by field against `expected`."""
    rc = counts()
    assert ref_hex in rc, f"object {ref_hex} was freed; expected it alive with {expected}"
    got = {k: rc[ref_hex][k] for k in expected}
    assert got == expected, f"counts of {ref_hex[:12]}: got {rc[ref_hex]}, expected {expected}"
    return rc[ref_hex]


# -- seed scenarios: exact counts ------------------------------------------------------
def test_put_counts_and_free_on_del(make_cluster):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    ref = nbray.put(make_array(1, 2 * MiB))
    h = ref.hex()
    _entry(h, local=1, borrowers=[], submitted=0, contained_in=0, captured=False, mapped=0,
           where="shm")
    assert store_used() >= base + 2 * MiB
    copy = ref  # a second Python reference to the same ObjectRef is not a second ref
    other = nbray.ObjectRef(ref.binary())  # a second ObjectRef instance is
    _entry(h, local=2)
    del copy
    _entry(h, local=2)
    del other
    _entry(h, local=1)
    del ref
    wait_freed(h)
    wait_store_used(base)


def test_nested_ref_keeps_inner_alive_until_outer_is_freed(make_cluster):
    """Seeds 002/004: object_ref_2 = put([object_ref]) keeps object_ref's object alive."""
    make_cluster(object_store_memory=STORE)
    base = store_used()
    object_ref = nbray.put(make_array(2, 3 * MiB))
    object_ref_2 = nbray.put([object_ref])
    inner, outer = object_ref.hex(), object_ref_2.hex()
    _entry(inner, local=1, submitted=0, contained_in=1, captured=False)
    _entry(outer, local=1, submitted=0, contained_in=0, captured=False, where="inline")
    del object_ref
    _entry(inner, local=0, contained_in=1)
    assert "CAPTURED_IN_OBJECT" in row_of(inner)["reference_types"]
    assert "LOCAL_REFERENCE" not in row_of(inner)["reference_types"]
    # The ref inside still works: get the outer, then the inner through it.
    [back] = nbray.get(object_ref_2)
    _entry(inner, local=1, contained_in=1)
    assert np.array_equal(nbray.get(back), make_array(2, 3 * MiB))
    del back
    _entry(inner, local=0, contained_in=1)
    assert store_used() >= base + 3 * MiB
    del object_ref_2
    wait_freed(inner, outer)
    wait_store_used(base)


def test_nested_chain_and_shared_inner(make_cluster):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    leaf = nbray.put(make_array(3, MiB))
    mid = nbray.put({"leaf": leaf})
    top = nbray.put([mid, mid])           # one container, whatever it holds
    other = nbray.put((leaf,))            # a second container of the leaf
    ids = [r.hex() for r in (leaf, mid, top, other)]
    _entry(ids[0], contained_in=2)
    _entry(ids[1], contained_in=1)
    del leaf, mid
    _entry(ids[0], local=0, contained_in=2)
    _entry(ids[1], local=0, contained_in=1)
    del top                                # mid goes; leaf is still inside `other`
    wait_freed(ids[1], ids[2])
    _entry(ids[0], local=0, contained_in=1)
    assert store_used() >= base + MiB
    del other
    wait_freed(*ids)
    wait_store_used(base)


def test_top_level_and_nested_args_of_pending_tasks(make_cluster, tmp_path):
    """Seed 002: refs passed to a pending task (top level or nested) keep objects alive."""
    make_cluster(object_store_memory=STORE)
    gate = FileEvent(tmp_path / "go")

    @nbray.remote
    def blocker(ev):
        return ev.wait(60)

    @nbray.remote
    def echo(a, b, c, dep):
        return (a, b, c)

    @nbray.remote
    def echo_and_get(x_list, dep):
        return [type(x).__name__ for x in x_list], nbray.get(x_list)

    base = store_used()
    a, b, c = nbray.put(1), nbray.put(2), nbray.put(make_array(4, 2 * MiB))
    ha, hb, hc = a.hex(), b.hex(), c.hex()
    g = blocker.remote(gate)
    r1 = echo.remote(a, b, c, g)              # waits for g: stays pending
    r2 = echo_and_get.remote([a, b, c], g)    # nested refs: passed as refs
    for h in (ha, hb, hc):
        _entry(h, local=1, submitted=2, contained_in=0)
    assert row_of(r1)["where"] == "pending"
    del a, b, c
    for h in (ha, hb, hc):
        _entry(h, local=0, submitted=2)
        assert row_of(h)["reference_types"] == ["USED_BY_PENDING_TASK"]
    gate.set()
    x, y, z = nbray.get(r1, timeout=30)
    assert (x, y) == (1, 2) and np.array_equal(z, make_array(4, 2 * MiB))
    types, values = nbray.get(r2, timeout=30)
    assert types == ["ObjectRef"] * 3
    assert values[:2] == [1, 2] and np.array_equal(values[2], make_array(4, 2 * MiB))
    del x, y, z, values, r1, r2, g
    wait_freed(ha, hb, hc)
    wait_store_used(base)


def _capturing(a, b, c):
    """A remote function closing over three refs (seed 002's print_via_capture)."""
    @nbray.remote
    def print_via_capture():
        return nbray.get([a, b, c])

    return print_via_capture


def test_closure_capture_pins_for_the_job(make_cluster):
    """Seed 002: a remote function closing over refs pins their objects until shutdown."""
    make_cluster(object_store_memory=STORE)
    refs = [nbray.put(1), nbray.put(2), nbray.put(make_array(5, 2 * MiB))]
    ids = [r.hex() for r in refs]
    print_via_capture = _capturing(*refs)
    out = nbray.get(print_via_capture.remote(), timeout=30)
    assert out[:2] == [1, 2] and np.array_equal(out[2], make_array(5, 2 * MiB))
    del out
    for h in ids:
        _entry(h, captured=True, submitted=0, contained_in=0)
        assert "CAPTURED_BY_CLOSURE" in row_of(h)["reference_types"]
    used = store_used()
    # Drop every ref the driver has: the refs and the function closing over them.
    del print_via_capture, refs
    gc.collect()
    poll_for(lambda: all(counts()[h]["local"] == 0 for h in ids), timeout=30,
             msg="the driver's refs to be dropped")
    for h in ids:
        _entry(h, local=0, captured=True)
        assert "CAPTURED_BY_CLOSURE" in row_of(h)["reference_types"]
    assert store_used() == used  # still pinned: bytes not reclaimed


def test_capture_pins_only_after_the_function_is_used(make_cluster):
    make_cluster(object_store_memory=STORE)
    a = nbray.put(7)
    h = a.hex()

    @nbray.remote
    def f():
        return nbray.get(a)

    _entry(h, captured=False)
    assert nbray.get(f.remote(), timeout=30) == 7
    _entry(h, captured=True)


# -- borrowers -------------------------------------------------------------------------
@nbray.remote
class Keeper:
    """An actor keeping refs (borrowed) or arrays (mapped) it was given."""

    def __init__(self):
        self.kept = []

    def keep(self, value):
        self.kept.append(value)
        return os.getpid()

    def drop(self):
        self.kept.clear()
        import gc as _gc
        _gc.collect()
        return True

    def read(self):
        return [nbray.get(v[0]).sum() if isinstance(v, list) else v.sum() for v in self.kept]


def _borrowed_by_someone(h):
    rc = counts().get(h)
    return rc is not None and rc["borrowers"] and rc


def test_actor_borrow_keeps_object_until_dropped(make_cluster):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    ref = nbray.put(make_array(6, 2 * MiB))
    h = ref.hex()
    keeper = Keeper.remote()
    nbray.get(keeper.keep.remote([ref]), timeout=30)    # nested: the actor keeps the ref
    rc = poll_for(lambda: _borrowed_by_someone(h), timeout=30, msg="the actor to borrow")
    assert len(rc["borrowers"]) == 1 and rc["local"] == 1 and rc["submitted"] == 0
    assert "BORROWED" in row_of(h)["reference_types"]
    del ref
    _entry(h, local=0, submitted=0, contained_in=0)
    assert store_used() >= base + 2 * MiB
    assert nbray.get(keeper.read.remote(), timeout=30) == [int(make_array(6, 2 * MiB).sum())]
    assert nbray.get(keeper.drop.remote(), timeout=30)
    wait_freed(h)
    # The actor (alive) still occupies nothing in the store.
    wait_store_used(base)
    nbray.kill(keeper)


@pytest.mark.parametrize("how", ["sigkill", "nbray.kill"])
def test_killed_actor_releases_borrowed_refs(make_cluster, how):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    ref = nbray.put(make_array(7, 2 * MiB))
    h = ref.hex()
    keeper = Keeper.remote()
    pid = nbray.get(keeper.keep.remote([ref]), timeout=30)
    poll_for(lambda: _borrowed_by_someone(h), timeout=30, msg="the actor to borrow")
    del ref
    _entry(h, local=0)
    if how == "sigkill":
        os.kill(pid, signal.SIGKILL)
    else:
        nbray.kill(keeper)
    poll_for(lambda: pid_gone(pid), timeout=30, msg="the actor process to exit")
    wait_freed(h)
    wait_store_used(base)


def test_killed_actor_releases_mapped_arrays(make_cluster):
    """An actor keeping a zero-copy array (top-level arg) maps the block; killing it
    releases the mapping, so the block is reclaimed once no ref is left."""
    make_cluster(object_store_memory=STORE)
    base = store_used()
    ref = nbray.put(make_array(8, 2 * MiB))
    h = ref.hex()
    keeper = Keeper.remote()
    pid = nbray.get(keeper.keep.remote(ref), timeout=30)   # by value: a view of the block
    rc = poll_for(lambda: counts()[h]["mapped"] >= 1 and counts()[h], timeout=30,
                  msg="the actor's mapping to show")
    assert rc["local"] == 1
    assert "PINNED_IN_MEMORY" in row_of(h)["reference_types"]
    del ref
    # No ref anywhere, but the actor still reads the block: its bytes stay in use.
    poll_for(lambda: h not in counts(), timeout=30, msg="the object to leave the table")
    assert store_stats()["zombies"] == 1
    assert store_used() >= base + 2 * MiB
    assert nbray.get(keeper.read.remote(), timeout=30) == [int(make_array(8, 2 * MiB).sum())]
    os.kill(pid, signal.SIGKILL)
    poll_for(lambda: pid_gone(pid), timeout=30, msg="the actor process to exit")
    poll_for(lambda: store_used() == base, timeout=30, msg="the block to be reclaimed")
    assert store_stats()["zombies"] == 0


def test_killed_task_worker_releases_its_borrow(make_cluster, tmp_path):
    """A task holding a nested ref is SIGKILLed mid-run: its borrow and its pending-task
    count go away, and the object is freed once the driver drops its ref."""
    make_cluster(object_store_memory=STORE)
    base = store_used()
    started, never = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "never")
    pidfile = tmp_path / "pid"

    @nbray.remote(max_retries=0)
    def borrow(refs, started, never, pidfile):
        kept = list(refs)
        with open(pidfile, "w") as f:
            f.write(str(os.getpid()))
        print("borrowing", len(kept))    # any message to the node carries the borrow
        started.set()
        never.wait(60)
        return len(kept)

    ref = nbray.put(make_array(9, 2 * MiB))
    h = ref.hex()
    r = borrow.remote([ref], started, never, str(pidfile))
    poll_for(started.is_set, timeout=30, msg="the task to start")
    rc = poll_for(lambda: _borrowed_by_someone(h), timeout=30, msg="the task to borrow")
    assert rc["submitted"] == 1 and rc["local"] == 1
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(exc.WorkerCrashedError):
        nbray.get(r, timeout=30)
    poll_for(lambda: pid_gone(pid), timeout=30, msg="the worker to exit")
    _entry(h, local=1, borrowers=[], submitted=0)
    del ref
    wait_freed(h)
    wait_store_used(base)


def test_task_return_containing_a_ref_made_in_the_task(make_cluster):
    """A ref created inside a task and returned nested stays alive after the task ends."""
    make_cluster(object_store_memory=STORE)
    base = store_used()

    @nbray.remote
    def make():
        inner = nbray.put(np.arange(300_000, dtype=np.int64))
        return {"inner": inner}

    outer = make.remote()
    inner = nbray.get(outer, timeout=30)["inner"]
    h = inner.hex()
    poll_for(lambda: counts()[h]["borrowers"] == [] and counts()[h], timeout=30,
             msg="the task's own ref to go")
    _entry(h, local=1, contained_in=1)
    del inner
    _entry(h, local=0, contained_in=1)
    assert np.array_equal(nbray.get(nbray.get(outer)["inner"]), np.arange(300_000))
    del outer
    wait_freed(h)
    wait_store_used(base)


# -- zero-copy arrays ------------------------------------------------------------------
def test_zero_copy_array_pins_its_block(make_cluster):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    data = make_array(10, 20 * MiB)
    ref = nbray.put(data)
    h = ref.hex()
    arr = nbray.get(ref)
    assert not arr.flags.writeable          # a read-only view of shared memory
    assert not arr.flags.owndata
    _entry(h, local=1, mapped=1)
    assert "PINNED_IN_MEMORY" in row_of(h)["reference_types"]
    arr2 = nbray.get(ref)
    _entry(h, mapped=2)
    del arr2
    _entry(h, mapped=1)
    del ref
    # No ref left, but the array still maps the block: it must not be reused.
    poll_for(lambda: h not in counts(), timeout=30, msg="the object to leave the table")
    assert store_stats()["zombies"] == 1
    held = store_used()
    assert held >= base + 20 * MiB
    # Put far more than the rest of the store: spilling and reuse happen, never of this block.
    others = [nbray.put(make_array(100 + i, 10 * MiB)) for i in range(8)]
    assert store_used() <= STORE
    assert np.array_equal(arr, data), "the block of a live array was reused"
    for i in range(len(others)):
        assert np.array_equal(nbray.get(others[i]), make_array(100 + i, 10 * MiB))
    del others
    poll_for(lambda: store_used() == held, timeout=30, msg="the other objects to be freed")
    del arr
    poll_for(lambda: store_used() == base, timeout=30, msg="the block to be returned")
    assert store_stats()["zombies"] == 0


def test_views_of_a_got_array_keep_it_pinned(make_cluster):
    make_cluster(object_store_memory=STORE)
    base = store_used()
    ref = nbray.put(np.arange(1_000_000, dtype=np.float64))
    h = ref.hex()
    arr = nbray.get(ref)
    view = arr[10:20]
    del arr
    gc.collect()
    _entry(h, mapped=1)
    del ref
    poll_for(lambda: h not in counts(), timeout=30, msg="the object to leave the table")
    assert store_used() > base
    filler = [nbray.put(np.full(1_000_000, -1.0)) for _ in range(10)]
    assert np.array_equal(view, np.arange(10, 20, dtype=np.float64))
    del filler, view
    poll_for(lambda: store_used() == base, timeout=30, msg="the block to be returned")


def test_get_of_spilled_then_restored_array_is_pinned(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(200 + i, 4 * MiB)) for i in range(8)]   # 2x the store
    first = refs[0].hex()
    poll_for(lambda: counts()[first]["where"] == "spilled", timeout=30,
             msg="the first object to be spilled")
    arr = nbray.get(refs[0])                      # restored into the arena, mapped
    _entry(first, mapped=1, where="shm")
    more = [nbray.put(make_array(300 + i, 4 * MiB)) for i in range(6)]
    assert np.array_equal(arr, make_array(200, 4 * MiB))
    _entry(first, mapped=1, where="shm")           # a mapped block is never spilled
    del arr
    _entry(first, mapped=0)
    for i, r in enumerate(refs + more):
        seed = 200 + i if i < 8 else 300 + i - 8
        assert np.array_equal(nbray.get(r), make_array(seed, 4 * MiB))


# -- no growth -------------------------------------------------------------------------
def test_no_growth_after_10000_put_free_cycles(make_cluster):
    make_cluster(object_store_memory=STORE)
    stats0 = store_stats()
    files0 = spill_files()
    rng = np.random.default_rng(0)
    small = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in (10, 1000, 50_000)]
    large = [make_array(400 + i, n) for i, n in enumerate((100 * 1024 + 1, 300_000, 2 * MiB))]
    window = []
    for i in range(10_000):
        value = small[i % 3] if i % 2 else large[(i // 2) % 3]
        ref = nbray.put(value)
        if i % 7 == 0:
            got = nbray.get(ref)
            assert len(got) == len(value)
            del got
        window.append(ref)
        if len(window) > 20:
            window.pop(0)
        del ref
    window.clear()
    poll_for(lambda: store_stats()["objects"] == stats0["objects"], timeout=30,
             msg="every object to be freed")
    stats = store_stats()
    assert stats["used"] == stats0["used"], stats
    assert stats["zombies"] == 0
    assert node().allocator.largest_free() == node().allocator.capacity - stats0["used"]
    assert spill_files() == files0
    assert node().stats["objects_freed"] >= 10_000


def test_no_growth_with_spilling_churn(make_cluster):
    """Objects spilled and freed again and again: store, table and spill directory
    return to where they started."""
    make_cluster(object_store_memory=16 * MiB)
    stats0 = store_stats()
    window = []
    for i in range(600):
        window.append(nbray.put(make_array(i, 256 * 1024 + (i % 5) * 100_000)))
        if len(window) > 60:                   # ~25 MiB alive: more than the store
            window.pop(0)
        if i % 50 == 0:
            j = max(0, len(window) - 55)        # an old one: spilled, restored on get
            got = nbray.get(window[j])
            assert got.nbytes >= 256 * 1024
            del got
    assert node().stats["spilled_objects"] > 0
    window.clear()
    poll_for(lambda: store_stats()["objects"] == stats0["objects"], timeout=30,
             msg="every object to be freed")
    assert store_stats()["used"] == stats0["used"]
    poll_for(lambda: spill_files() == [], timeout=30, msg="every spill file to be deleted")


def test_spill_file_removed_when_object_is_freed(make_cluster):
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(500 + i, 4 * MiB)) for i in range(6)]
    spilled = [r for r in refs if counts()[r.hex()]["where"] == "spilled"]
    assert spilled, "nothing was spilled"
    victim = spilled[0]
    h = victim.hex()
    name = h  # spill files are named by object id
    assert name in spill_files()
    refs.remove(victim)
    del victim, spilled
    wait_freed(h)
    poll_for(lambda: name not in spill_files(), timeout=30, msg="the spill file to go")
    for r in refs:
        assert r.hex() in counts()


def test_actor_constructor_and_method_args(make_cluster):
    """Seeds 002/004: by value (top level) and by reference (nested) into an actor's
    constructor and methods.  Constructor arguments live as long as the actor; method
    arguments until the call is done."""
    make_cluster(object_store_memory=STORE)
    base = store_used()

    @nbray.remote
    class Actor:
        def __init__(self, arg):
            self.kind = type(arg).__name__

        def method(self, arg):
            return type(arg).__name__

    by_value, by_ref = nbray.put(make_array(11, MiB)), nbray.put(make_array(12, MiB))
    hv, hr = by_value.hex(), by_ref.hex()
    a1 = Actor.remote(by_value)
    a2 = Actor.remote([by_ref])
    assert nbray.get(a1.method.remote(by_value), timeout=30) == "ndarray"
    assert nbray.get(a2.method.remote([by_ref]), timeout=30) == "list"
    # method calls are over: only the constructors (and our refs) count
    _entry(hv, local=1, submitted=1, contained_in=0)
    _entry(hr, local=1, submitted=1, contained_in=0)
    del by_value, by_ref
    _entry(hv, local=0, submitted=1)
    _entry(hr, local=0, submitted=1)
    nbray.kill(a1)
    nbray.kill(a2)
    wait_freed(hv, hr)
    wait_store_used(base)


def test_unheld_results_and_large_by_value_args_do_not_leak(make_cluster, tmp_path):
    """Results nobody keeps a ref to, and big values passed by value (stored as the
    task's arguments), are freed once the tasks are done."""
    make_cluster(object_store_memory=STORE)
    base = store_stats()
    done = tmp_path / "done"
    done.mkdir()

    @nbray.remote
    def work(i, payload, done_dir):
        open(os.path.join(done_dir, str(i)), "w").close()
        return np.full(300_000, i, dtype=np.int64)          # 2.4 MB result

    payload = make_array(13, 500_000)                        # > 100 KiB: goes via the store
    for i in range(60):
        work.remote(i, payload, str(done))                   # result ref dropped at once
    poll_for(lambda: len(os.listdir(done)) == 60, timeout=60, msg="all tasks to run")
    poll_for(lambda: not nbray.api._query("tasks"), timeout=60, msg="all tasks to finish")
    poll_for(lambda: store_stats()["objects"] == base["objects"], timeout=30,
             msg="results and argument objects to be freed")
    wait_store_used(base["used"])
    assert store_stats()["zombies"] == 0
