"""Spilling: a store smaller than the data spills to disk or S3, and loses nothing.

Each scenario writes ten times the store's capacity in a mix of sizes (inline,
medium, several MiB), keeps every ref, and reads everything back bit-exact, in
the driver and in tasks.  Spill files are private (0700 directory, 0600 files)
and go away when their object is freed and when the cluster shuts down.  The S3
target is moto in server mode on a local port, reached over real HTTP.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time

import numpy as np
import pytest

import nbray
from nbray import exceptions as exc
from tests._support import poll_for

from ._helpers import MiB, counts, make_array, memory, node, row_of, spill_dir, spill_files, \
    store_used, wait_freed, wait_store_used


def _sizes(total: int, seed: int = 0):
    """Sizes of a mix of objects adding up to at least `total` bytes."""
    rng = np.random.default_rng(seed)
    sizes, acc = [], 0
    while acc < total:
        r = rng.random()
        if r < 0.3:
            n = int(rng.integers(1_000, 90_000))           # inline (<= 100 KiB)
        elif r < 0.8:
            n = int(rng.integers(150_000, 2 * MiB))        # shared memory, small
        else:
            n = int(rng.integers(4 * MiB, 10 * MiB))       # shared memory, large
        sizes.append(n)
        acc += n
    return sizes


def _sha(a) -> str:
    return hashlib.sha256(memoryview(a).cast("B")).hexdigest()


@nbray.remote
def digest(x):
    return hashlib.sha256(memoryview(x).cast("B")).hexdigest(), x.nbytes


@nbray.remote
def produce(seed, n):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _spill_and_read_back(capacity: int):
    """Put 10x the store (mixed sizes, some made by tasks); check everything comes back.

    Returns (refs, seeds, sizes) with every ref still alive.
    """
    sizes = _sizes(10 * capacity)
    seeds = list(range(len(sizes)))
    t0 = time.perf_counter()
    refs = []
    for i, n in enumerate(sizes):
        if i % 5 == 4 and n > 100 * 1024:
            refs.append(produce.remote(i, n))        # made by a task while the store is full
        else:
            refs.append(nbray.put(make_array(i, n)))
    nbray.wait(refs, num_returns=len(refs), timeout=120)
    put_s = time.perf_counter() - t0
    total = sum(sizes)
    st = memory(limit=0).nodes[0]
    assert st["store_used"] <= capacity
    shm_total = sum(n for n in sizes if n > 100 * 1024)
    assert st["spilled_bytes_total"] >= shm_total - capacity
    assert st["spilled_objects"] > 0
    assert st["spill_throughput_bytes_per_s"] and st["spill_throughput_bytes_per_s"] > 0
    spilled = memory(where="spilled", limit=None).objects
    assert len(spilled) == st["spilled_objects"]
    for row in spilled:
        assert row["spill_url"] and row["spill_url"].startswith(st["spill_url"] + "/"), row
        assert row["locations"] == []
    # Read everything back, in a shuffled order, bit-exact.
    t0 = time.perf_counter()
    order = np.random.default_rng(1).permutation(len(refs))
    for i in order:
        got = nbray.get(refs[i], timeout=60)
        assert got.nbytes == sizes[i] and np.array_equal(got, make_array(i, sizes[i])), \
            f"object {i} ({sizes[i]} bytes) came back different"
        del got
    get_s = time.perf_counter() - t0
    st = memory(limit=0).nodes[0]
    assert st["restored_objects_total"] > 0
    assert st["restore_throughput_bytes_per_s"] and st["restore_throughput_bytes_per_s"] > 0
    print(f"\n{total / MiB:.0f} MiB in {len(refs)} objects through a {capacity / MiB:.0f} MiB "
          f"store: put {put_s:.2f} s, read back {get_s:.2f} s; spilled "
          f"{st['spilled_bytes_total'] / MiB:.0f} MiB at "
          f"{st['spill_throughput_bytes_per_s'] / 1e9:.2f} GB/s, restored "
          f"{st['restored_bytes_total'] / MiB:.0f} MiB at "
          f"{st['restore_throughput_bytes_per_s'] / 1e9:.2f} GB/s")
    # Tasks taking spilled objects as arguments get them restored.
    spilled_now = [r["object_id"] for r in memory(where="spilled", limit=None).objects]
    assert spilled_now, "nothing is spilled after reading back"
    index = {r.hex(): i for i, r in enumerate(refs)}
    picks = [index[h] for h in spilled_now[:12]]
    out = nbray.get([digest.remote(refs[i]) for i in picks], timeout=120)
    for i, (sha, nbytes) in zip(picks, out):
        assert nbytes == sizes[i] and sha == _sha(make_array(i, sizes[i])), f"task got object {i} wrong"
    return refs, seeds, sizes


def test_spill_10x_to_default_local_dir(make_cluster):
    capacity = 64 * MiB
    make_cluster(object_store_memory=capacity)
    d = spill_dir()
    assert node().spill.url == "file://" + d
    refs, _, _ = _spill_and_read_back(capacity)
    spilled = memory(where="spilled", limit=None).objects
    names = spill_files()
    # one file per object with a spilled copy (restored objects keep theirs)
    assert {r["object_id"] for r in spilled} <= set(names)
    assert not [n for n in names if n.endswith(".part")]
    assert _mode(d) == 0o700
    for n in names:
        assert _mode(os.path.join(d, n)) == 0o600, n
    del refs, spilled
    poll_for(lambda: spill_files() == [], timeout=30, msg="spill files to go with their objects")
    wait_store_used(0)
    nbray.shutdown()
    assert not os.path.exists(d)


def test_spill_10x_to_explicit_directory(make_cluster, tmp_path):
    capacity = 64 * MiB
    target = tmp_path / "spill here"           # a space in the path, for good measure
    make_cluster(object_store_memory=capacity, spill_url=str(target))
    d = spill_dir()
    assert os.path.dirname(d) == str(target)
    refs, _, _ = _spill_and_read_back(capacity)
    assert _mode(d) == 0o700
    names = spill_files()
    assert names
    for n in names:
        assert _mode(os.path.join(d, n)) == 0o600
    one = next(r for r in refs if counts()[r.hex()]["where"] == "spilled")
    h = one.hex()
    assert h in spill_files()
    refs.remove(one)
    del one
    wait_freed(h)
    poll_for(lambda: h not in spill_files(), timeout=30, msg="the freed object's spill file to go")
    nbray.shutdown()
    assert not os.path.exists(d)
    assert target.is_dir()        # the directory given is the user's: only ours is removed


def test_spill_file_url_and_private_modes_under_permissive_umask(make_cluster, tmp_path):
    old = os.umask(0)
    try:
        make_cluster(object_store_memory=16 * MiB, spill_url="file://" + str(tmp_path))
        refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(12)]
    finally:
        os.umask(old)
    d = spill_dir()
    assert _mode(d) == 0o700
    names = spill_files()
    assert len(names) >= 6
    for n in names:
        assert _mode(os.path.join(d, n)) == 0o600
    for i, r in enumerate(refs):
        assert np.array_equal(nbray.get(r), make_array(i, 3 * MiB))


def test_spill_10x_to_s3(make_cluster, s3_server):
    capacity = 32 * MiB
    url = s3_server.url("runs/spill")
    make_cluster(object_store_memory=capacity, spill_url=url, spill_options=s3_server.options)
    base = node().spill.url
    assert base.startswith(url + "/")
    prefix = base[len(f"s3://{s3_server.bucket}/"):]
    refs, _, _ = _spill_and_read_back(capacity)
    spilled = memory(where="spilled", limit=None).objects
    keys = set(s3_server.keys(prefix))
    for row in spilled:
        assert row["spill_url"][len("s3://"):].split("/", 1)[1] in keys
    del refs, spilled
    poll_for(lambda: s3_server.keys(prefix) == [], timeout=60,
             msg="spilled objects to be deleted from S3 with their objects")
    nbray.put(1)  # the cluster still works
    refs = [nbray.put(make_array(i, 4 * MiB)) for i in range(12)]
    assert s3_server.keys(prefix)
    nbray.shutdown()
    assert s3_server.keys(prefix) == [], "spilled objects left in S3 after shutdown"
    del refs


@pytest.mark.parametrize("target", ["default", "s3"])
def test_object_larger_than_the_store(make_cluster, tmp_path, request, target):
    capacity = 16 * MiB
    s3 = None
    if target == "s3":
        s3 = request.getfixturevalue("s3_server")
        make_cluster(object_store_memory=capacity, spill_url=s3.url(), spill_options=s3.options)
    else:
        make_cluster(object_store_memory=capacity)
    n = capacity + capacity // 2
    data = make_array(1, n)
    ref = nbray.put(data)
    h = ref.hex()
    rc = counts()[h]
    assert rc["where"] == "spilled" and rc["local"] == 1
    assert store_used() == 0, "a too-large object must not take arena space"
    row = row_of(h)
    assert row["where"] == "spilled" and row["spill_url"] and row["size"] >= n
    assert np.array_equal(nbray.get(ref), data)
    # as a task argument
    assert nbray.get(digest.remote(ref), timeout=60) == (_sha(data), n)
    # as a task's return value
    made = produce.remote(1, n)
    got = nbray.get(made, timeout=60)
    assert np.array_equal(got, data)
    del got
    assert counts()[made.hex()]["where"] == "spilled"
    # a small object still fits next to them
    small = nbray.put(make_array(2, MiB))
    assert np.array_equal(nbray.get(small), make_array(2, MiB))
    if target == "default":
        assert h in spill_files() and made.hex() in spill_files()
    else:
        assert len(s3.keys()) == 2
    del ref, made
    wait_freed(h)
    if target == "default":
        poll_for(lambda: spill_files() == [], timeout=30, msg="the spill files to go")
    else:
        poll_for(lambda: s3.keys() == [], timeout=30, msg="the spilled objects to go")
    nbray.shutdown()   # while the S3 server still runs (it stops first at teardown)


def test_store_full_with_everything_pinned(make_cluster):
    capacity = 16 * MiB
    make_cluster(object_store_memory=capacity)
    refs = [nbray.put(make_array(i, 4 * MiB)) for i in range(3)]
    arrays = [nbray.get(r) for r in refs]          # zero-copy: every block is mapped
    pinned = [r.hex() for r in refs]
    small = nbray.put(b"x" * 100)                   # inline objects need no arena space
    with pytest.raises(exc.ObjectStoreFullError) as info:
        nbray.put(make_array(9, 6 * MiB))
    message = str(info.value)
    assert isinstance(info.value, MemoryError)
    assert "pinned" in message or "cannot be spilled" in message
    # Nothing stored was lost.
    for i, (r, a) in enumerate(zip(refs, arrays)):
        assert np.array_equal(a, make_array(i, 4 * MiB))
        assert np.array_equal(nbray.get(r), make_array(i, 4 * MiB))
    assert nbray.get(small) == b"x" * 100
    # Once the arrays go, the same put succeeds (by spilling).
    del arrays, a
    poll_for(lambda: all(counts()[h]["mapped"] == 0 for h in pinned), timeout=30,
             msg="the arrays' mappings to be released")
    big = nbray.put(make_array(9, 6 * MiB))
    assert np.array_equal(nbray.get(big), make_array(9, 6 * MiB))
    for i, r in enumerate(refs):
        assert np.array_equal(nbray.get(r), make_array(i, 4 * MiB))


def test_get_of_many_spilled_objects_at_once(make_cluster):
    """get() of a list larger than the store: every value comes back (some read
    straight from the spill target when the arena cannot hold them all)."""
    capacity = 16 * MiB
    make_cluster(object_store_memory=capacity)
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(10)]    # 30 MiB
    values = nbray.get(refs, timeout=60)
    for i, v in enumerate(values):
        assert np.array_equal(v, make_array(i, 3 * MiB))
    assert store_used() <= capacity
    del values
    out = nbray.get([digest.remote(r) for r in refs], timeout=120)
    assert out == [(_sha(make_array(i, 3 * MiB)), 3 * MiB) for i in range(10)]


def test_store_full_error_names_the_pinned_objects(make_cluster):
    """The error says which objects hold the store: their ids or where they were made."""
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(i, 4 * MiB)) for i in range(3)]
    arrays = [nbray.get(r) for r in refs]
    with pytest.raises(exc.ObjectStoreFullError) as info:
        nbray.put(make_array(9, 6 * MiB))
    message = str(info.value)
    named = [r.hex() for r in refs
             if r.hex() in message or row_of(r)["call_site"] in message]
    assert len(named) == len(refs), \
        f"the error names {len(named)} of the {len(refs)} pinned objects: {message}"
    del arrays


def test_task_returning_into_a_full_store_raises_store_full(make_cluster):
    """A task whose return value cannot be stored fails with ObjectStoreFullError on get."""
    make_cluster(object_store_memory=16 * MiB)
    refs = [nbray.put(make_array(i, 4 * MiB)) for i in range(3)]
    arrays = [nbray.get(r) for r in refs]
    with pytest.raises(exc.ObjectStoreFullError):
        nbray.get(produce.options(max_retries=0).remote(9, 6 * MiB), timeout=60)
    for i, a in enumerate(arrays):
        assert np.array_equal(a, make_array(i, 4 * MiB))
    del arrays, a
