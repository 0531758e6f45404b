"""Issue 13, items 1 and 5: another local user must not be able to plant or read nbray's files.

Running as root, a directory or file chowned to uid 65534 (nobody) stands in for one made by
another user.  Every case must be refused with an error naming the path, and nothing planted
may ever be unpickled (a planted pickle would create `marker`).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import nbray
from nbray.serialization import serialize
from nbray.store.layout import layout_chunks

from ._helpers import MiB, memory, spill_dir

OTHER_UID = 65534
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another uid needs root")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temp dir of this test's own as $TMPDIR; the per-user dir goes inside it."""
    base = tmp_path / "tmp"
    base.mkdir(mode=0o1777)
    os.chmod(base, 0o1777)  # like /tmp: everyone may create entries
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.setenv("TMPDIR", str(base))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("NBRAY_STATE_DIR", raising=False)
    return base


def _user_dir(base) -> str:
    return os.path.join(str(base), f"nbray-{os.getuid()}")


class Planted:
    """Unpickling this creates the marker file: the proof that a planted pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted_block(marker: str, size: int) -> bytes:
    """A valid spilled block holding a planted pickle, padded to the size the victim expects."""
    ser = serialize(Planted(marker))
    data = b"".join(bytes(memoryview(c).cast("B")) for c in layout_chunks(ser.meta, ser.buffers))
    return data + b"\0" * (size - len(data))


@needs_root
@pytest.mark.parametrize("mode", [0o777, 0o700])
def test_a_state_dir_another_user_created_first_is_refused(private_tmp, mode):
    victim = _user_dir(private_tmp)
    os.mkdir(victim)
    os.chown(victim, OTHER_UID, OTHER_UID)
    os.chmod(victim, mode)
    with pytest.raises(PermissionError, match="nbray-") as info:
        nbray.init(num_cpus=1, object_store_memory=64 * MiB)
    assert victim in str(info.value) and "uid 65534" in str(info.value)
    assert "NBRAY_STATE_DIR" in str(info.value)           # and says how to fix it
    assert not nbray.is_initialized()
    assert os.stat(victim).st_uid == OTHER_UID and not os.listdir(victim)  # nothing written


def test_a_group_or_world_accessible_state_dir_of_ours_is_refused(private_tmp):
    victim = _user_dir(private_tmp)
    os.mkdir(victim)
    os.chmod(victim, 0o755)
    with pytest.raises(PermissionError, match="0755"):
        nbray.init(num_cpus=1, object_store_memory=64 * MiB)
    assert not nbray.is_initialized()
    assert os.stat(victim).st_mode & 0o777 == 0o755      # not silently "fixed"


def test_a_symlinked_state_dir_is_refused(private_tmp, tmp_path):
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    os.symlink(str(elsewhere), _user_dir(private_tmp))
    with pytest.raises(PermissionError, match="symbolic link"):
        nbray.init(num_cpus=1, object_store_memory=64 * MiB)
    assert not nbray.is_initialized()
    assert not os.listdir(elsewhere)


def test_the_cli_names_the_unsafe_dir_and_the_fix(private_tmp):
    import subprocess
    import sys

    victim = _user_dir(private_tmp)
    os.mkdir(victim)
    os.chmod(victim, 0o777)
    out = subprocess.run([sys.executable, "-m", "nbray", "status"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, TMPDIR=str(private_tmp)))
    assert out.returncode != 0
    assert victim in out.stderr and "0777" in out.stderr and "Traceback" not in out.stderr


def _spill_some(make_cluster):
    """Three 12 MiB arrays through a 16 MiB store: at least one is spilled to disk."""
    make_cluster(num_cpus=1, object_store_memory=16 * MiB)
    refs = [nbray.put(np.full(12 * MiB, i, dtype=np.uint8)) for i in range(3)]
    spilled = memory(where="spilled", limit=None).objects
    assert spilled, "nothing was spilled"
    by_hex = {r.hex(): r for r in refs}
    return [(by_hex[row["object_id"]], row["spill_url"][len("file://"):]) for row in spilled
            if row["object_id"] in by_hex]


@needs_root
def test_a_spill_file_replaced_by_another_users_file_is_never_unpickled(private_tmp, make_cluster,
                                                                        tmp_path):
    marker = str(tmp_path / "pwned")
    (ref, path), *_ = _spill_some(make_cluster)
    size = os.path.getsize(path)
    os.unlink(path)
    with open(path, "wb") as f:
        f.write(_crafted_block(marker, size))
    os.chown(path, OTHER_UID, OTHER_UID)
    os.chmod(path, 0o600)
    with pytest.raises(Exception, match="uid 65534") as info:
        nbray.get(ref, timeout=30)
    assert path in str(info.value)
    assert not os.path.exists(marker)


def test_a_spill_file_others_could_write_is_never_unpickled(private_tmp, make_cluster, tmp_path):
    marker = str(tmp_path / "pwned")
    (ref, path), *_ = _spill_some(make_cluster)
    size = os.path.getsize(path)
    with open(path, "wb") as f:
        f.write(_crafted_block(marker, size))
    os.chmod(path, 0o666)
    with pytest.raises(Exception, match="0666"):
        nbray.get(ref, timeout=30)
    assert not os.path.exists(marker)


def test_a_spill_file_swapped_for_a_symlink_is_never_followed(private_tmp, make_cluster, tmp_path):
    marker = str(tmp_path / "pwned")
    (ref, path), *_ = _spill_some(make_cluster)
    crafted = tmp_path / "crafted"
    crafted.write_bytes(_crafted_block(marker, os.path.getsize(path)))
    os.chmod(crafted, 0o600)
    os.unlink(path)
    os.symlink(str(crafted), path)
    with pytest.raises(Exception):
        nbray.get(ref, timeout=30)
    assert not os.path.exists(marker)


def test_a_spill_dir_swapped_while_in_use_is_refused(private_tmp, make_cluster, tmp_path):
    marker = str(tmp_path / "pwned")
    spilled = _spill_some(make_cluster)
    sizes = [os.path.getsize(path) for _, path in spilled]
    d = spill_dir()
    decoy = tmp_path / "decoy"
    os.rename(d, str(decoy))
    os.mkdir(d, 0o777)
    os.chmod(d, 0o777)
    for (_, path), size in zip(spilled, sizes):
        with open(path, "wb") as f:
            f.write(_crafted_block(marker, size))
        os.chmod(path, 0o600)
    with pytest.raises(Exception, match="0777"):
        nbray.get(spilled[0][0], timeout=30)
    assert not os.path.exists(marker)


def test_spill_files_are_private_and_state_dirs_0700(private_tmp, make_cluster):
    spilled = _spill_some(make_cluster)
    root = _user_dir(private_tmp)
    for d in (root, spill_dir(), os.path.join(root, "sessions")):
        st = os.lstat(d)
        assert st.st_uid == os.getuid() and st.st_mode & 0o777 == 0o700, d
    for _, path in spilled:
        assert os.lstat(path).st_mode & 0o777 == 0o600
    for ref, _ in spilled:                                  # and they read back fine
        assert int(nbray.get(ref, timeout=30)[0]) in (0, 1, 2)


def test_xdg_runtime_dir_is_preferred_and_checked(tmp_path, monkeypatch):
    from nbray.userdirs import state_root

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("NBRAY_STATE_DIR", raising=False)
    assert state_root() == str(runtime / "nbray")
    assert os.stat(runtime / "nbray").st_mode & 0o777 == 0o700
    os.chmod(runtime, 0o755)
    with pytest.raises(PermissionError, match=str(runtime)):
        state_root()


def test_spill_credentials_never_reach_a_task_environment_or_command_line(make_cluster):
    secret = "s3cr3t-" + os.urandom(8).hex()
    make_cluster(num_cpus=1, object_store_memory=64 * MiB, spill_url="memory://nbray-secrets",
                 spill_options={"secret": secret, "key": "AKIA-" + secret})

    @nbray.remote
    def look():
        import os as _os

        with open("/proc/self/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
        with open("/proc/self/environ", "rb") as f:
            initial_env = f.read().decode(errors="replace")
        return repr(dict(_os.environ)), cmdline, initial_env

    env, cmdline, initial_env = nbray.get(look.remote(), timeout=60)
    for seen in (env, cmdline, initial_env):
        assert secret not in seen


def test_workers_get_s3_spill_credentials_over_their_socket_not_their_environment(make_cluster,
                                                                                  s3_server):
    options = dict(s3_server.options, secret="s3cr3t-" + os.urandom(8).hex())
    make_cluster(num_cpus=1, object_store_memory=16 * MiB, spill_url=s3_server.url(),
                 spill_options=options)

    @nbray.remote
    def too_large_for_the_store_and_environ():
        import os as _os

        # Larger than the whole store: the worker writes it to S3 itself, which needs the
        # endpoint and credentials from spill_options.
        return np.full(24 * MiB, 7, dtype=np.uint8), repr(dict(_os.environ))

    value, env = nbray.get(too_large_for_the_store_and_environ.remote(), timeout=120)
    assert int(value[0]) == 7 and value.nbytes == 24 * MiB
    assert options["secret"] not in env and s3_server.endpoint not in env
