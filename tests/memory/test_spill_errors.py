"""Bad spill targets fail clearly, early, and without losing what is already stored.

Malformed URLs raise ValueError at init naming the URL; a target that cannot be
written (nothing listening, read-only) raises at init; a target that fills up
raises at the spill that does not fit, and every object stored before is intact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import numpy as np
import pytest

import nbray
from nbray import exceptions as exc
from tests._support import poll_for

from ._helpers import MiB, counts, make_array, spill_files
from .conftest import free_port


@pytest.mark.parametrize("url", ["s3://", "s3:///no-bucket", "file://host/x", "file://",
                                 "nosuchscheme://x", ""])
def test_malformed_spill_url_is_a_value_error_at_init(url):
    with pytest.raises(ValueError) as info:
        nbray.init(num_cpus=1, object_store_memory=16 * MiB, spill_url=url)
    assert repr(url) in str(info.value), f"the error does not name {url!r}: {info.value}"
    assert not nbray.is_initialized()


def test_spill_url_that_is_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    with pytest.raises((exc.ObjectSpillError, ValueError)) as info:
        nbray.init(num_cpus=1, object_store_memory=16 * MiB, spill_url=str(path))
    assert str(path) in str(info.value)
    assert not nbray.is_initialized()


def test_unreachable_s3_endpoint_fails_at_init(aws_env):
    pytest.importorskip("s3fs")
    port = free_port()  # nothing listens there
    url = "s3://bucket/prefix"
    options = {"client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
               "key": "testing", "secret": "testing"}
    with pytest.raises(exc.ObjectSpillError) as info:
        nbray.init(num_cpus=1, object_store_memory=16 * MiB, spill_url=url, spill_options=options)
    assert url in str(info.value)
    assert not nbray.is_initialized()


def test_s3_target_lost_after_init_fails_the_spill_and_keeps_objects(make_cluster, s3_server):
    capacity = 16 * MiB
    # Fail fast once the server is gone (botocore retries a refused connection for seconds).
    options = {**s3_server.options, "config_kwargs": {"retries": {"max_attempts": 1}}}
    make_cluster(object_store_memory=capacity, spill_url=s3_server.url(), spill_options=options)
    refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(4)]     # fits: nothing spilled
    assert all(counts()[r.hex()]["where"] == "shm" for r in refs)
    # The S3 server goes away.
    server = [p for p in _children() if "moto.server" in " ".join(p.cmdline())]
    assert len(server) == 1
    server[0].terminate()
    server[0].wait(10)
    with pytest.raises(exc.ObjectSpillError) as info:
        nbray.put(make_array(99, 6 * MiB))                             # needs a spill
    assert s3_server.bucket in str(info.value)
    for i, r in enumerate(refs):
        assert counts()[r.hex()]["where"] == "shm"
        assert np.array_equal(nbray.get(r), make_array(i, 3 * MiB))
    small = nbray.put(b"still works")
    assert nbray.get(small) == b"still works"


def _children():
    import psutil

    return psutil.Process().children(recursive=True)


# -- local targets that cannot be written ------------------------------------------
@contextlib.contextmanager
def _mounted_tmpfs(path, options):
    """A tmpfs mounted at `path` (needs root and mount(8)); skips the test otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    os.makedirs(path, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "read-only"
    if os.geteuid() != 0:
        path.mkdir()
        path.chmod(0o500)
        try:
            yield path
        finally:
            path.chmod(0o700)
        return
    # root writes through chmod 0500; only a read-only mount stops it.
    with _mounted_tmpfs(path, "ro,size=1m") as p:
        yield p


def test_read_only_spill_directory_fails_at_init(read_only_dir):
    # OutOfDiskError (Ray's name) is also an ObjectSpillError.
    with pytest.raises(exc.OutOfDiskError) as info:
        nbray.init(num_cpus=1, object_store_memory=16 * MiB, spill_url=str(read_only_dir))
    assert str(read_only_dir) in str(info.value)
    assert not nbray.is_initialized()


def test_full_spill_target_fails_the_spill_and_keeps_objects(make_cluster, tmp_path):
    with _mounted_tmpfs(tmp_path / "small", "size=3m,mode=0700") as target:
        capacity = 16 * MiB
        make_cluster(object_store_memory=capacity, spill_url=str(target))
        refs, error = [], None
        for i in range(40):
            try:
                refs.append(nbray.put(make_array(i, MiB)))
            except exc.OutOfDiskError as e:     # Ray's name for "store and disk are full"
                error = e
                break
        assert error is not None, "40 MiB went into a 16 MiB store and a 3 MiB target"
        message = str(error)
        assert str(target) in message and "No space left" in message, message
        assert len(refs) >= 16
        # Everything stored before the failure is intact, in memory and on the target.
        assert not [n for n in spill_files() if n.endswith(".part")]
        for i, r in enumerate(refs):
            assert np.array_equal(nbray.get(r), make_array(i, MiB)), f"object {i} was damaged"
        assert nbray.get(nbray.put(b"small")) == b"small"
        # A task whose result needs a spill fails with the same error; objects stay intact.
        @nbray.remote(max_retries=0)
        def produce(seed):
            return np.random.default_rng(seed).integers(0, 256, 2 * MiB, dtype=np.uint8)

        with pytest.raises(exc.OutOfDiskError):
            nbray.get(produce.remote(7), timeout=60)
        for i, r in enumerate(refs):
            assert np.array_equal(nbray.get(r), make_array(i, MiB))
        # Freeing objects makes room again.
        spilled = {r.hex() for r in refs if counts()[r.hex()]["where"] == "spilled"}
        assert spilled and spilled <= set(spill_files())
        refs = [r for r in refs if r.hex() not in spilled]
        poll_for(lambda: not (spilled & set(spill_files())), timeout=30,
                 msg="the freed objects' spill files to go")
        more = [nbray.put(make_array(100 + i, MiB)) for i in range(len(spilled))]
        for i, r in enumerate(more):
            assert np.array_equal(nbray.get(r), make_array(100 + i, MiB))
        del refs, more
        nbray.shutdown()
        assert os.listdir(target) == []


def test_spill_target_turned_read_only_raises_out_of_disk_and_keeps_objects(make_cluster,
                                                                             tmp_path):
    with _mounted_tmpfs(tmp_path / "target", "size=64m,mode=0700") as target:
        capacity = 16 * MiB
        make_cluster(object_store_memory=capacity, spill_url=str(target))
        refs = [nbray.put(make_array(i, 3 * MiB)) for i in range(4)]     # fits: nothing spilled
        proc = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only here: {proc.stderr.strip()}")
        try:
            with pytest.raises(exc.OutOfDiskError) as info:
                nbray.put(make_array(99, 6 * MiB))                      # needs a spill
            assert isinstance(info.value, exc.RayError)
            assert not isinstance(info.value, exc.ObjectStoreFullError)   # as in Ray
            assert str(target) in str(info.value) and "Read-only" in str(info.value)
            # Nothing stored was lost, and what fits still goes in.
            for i, r in enumerate(refs):
                assert counts()[r.hex()]["where"] == "shm"
                assert np.array_equal(nbray.get(r), make_array(i, 3 * MiB))
            assert nbray.get(nbray.put(b"small")) == b"small"
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(target)], capture_output=True)
        del refs
        nbray.shutdown()
