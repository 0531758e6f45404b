"""Per-user state directories that other local users cannot tamper with.

Everything nbray keeps on disk for a user (spill files, the cluster token,
head addresses, pid files, logs, state sockets) lives under one root:

* `$NBRAY_STATE_DIR` when set;
* else `$XDG_RUNTIME_DIR/nbray` when `XDG_RUNTIME_DIR` is set (a per-user
  directory the login manager creates 0700);
* else `$TMPDIR/nbray-<uid>` (the system temp dir when TMPDIR is unset).

On a shared machine another user can create `$TMPDIR/nbray-<uid>` (a shared temp dir) before us, or
swap a directory in it for a symlink to one of theirs, and then read the
token or plant a pickle that our `get` would load.  So every directory is
checked each time it is used, not only when it is created: it must be a real
directory (not a symlink), owned by us, with no group or other permission
bits.  A directory that fails gets `UnsafeStateDirError`, which names the path
and the fix; nothing is ever read from or written into it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from typing import Optional


class UnsafeStateDirError(PermissionError):
    """A per-user nbray directory is not private (wrong owner, mode, or a symlink)."""


def _fix_hint() -> str:
    return (f"remove it (if you trust nothing in it) or point nbray elsewhere with "
            f"NBRAY_STATE_DIR=<a private directory> (or XDG_RUNTIME_DIR)")


def check_private_dir(path: str) -> None:
    """Raise UnsafeStateDirError unless `path` is a real directory, ours, mode 0700 or stricter."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStateDirError(
            f"nbray: refusing to use {path}: it is a symbolic link (someone may be redirecting "
            f"nbray's private files); {_fix_hint()}")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStateDirError(f"nbray: refusing to use {path}: it is not a directory; "
                                  f"{_fix_hint()}")
    if st.st_uid != os.getuid():
        raise UnsafeStateDirError(
            f"nbray: refusing to use {path}: it belongs to uid {st.st_uid}, not to you (uid "
            f"{os.getuid()}), so another user could read or replace nbray's files there; "
            f"{_fix_hint()}")
    if st.st_mode & 0o077:
        raise UnsafeStateDirError(
            f"nbray: refusing to use {path}: its mode is {stat.S_IMODE(st.st_mode):04o}, so other "
            f"users can reach nbray's files there (it must be 0700); run `chmod 700 {path}` "
            f"if only you ever wrote there, or {_fix_hint()}")


def ensure_private_dir(path: str) -> str:
    """Create `path` 0700 if missing (not its parents), then check it. Returns `path`."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    check_private_dir(path)
    return path


def state_root() -> str:
    """The user's private nbray directory, created 0700 and checked on every call."""
    explicit = os.environ.get("NBRAY_STATE_DIR")
    if explicit:
        path = os.path.abspath(explicit)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return ensure_private_dir(path)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        # The runtime dir itself must be ours too, or the subdirectory proves nothing.
        check_private_dir(runtime)
        return ensure_private_dir(os.path.join(runtime, "nbray"))
    return ensure_private_dir(os.path.join(tempfile.gettempdir(), f"nbray-{os.getuid()}"))


def private_subdir(name: str, root: Optional[str] = None) -> str:
    """`root/name` (root: state_root()), created 0700 and checked."""
    return ensure_private_dir(os.path.join(root or state_root(), name))


def open_private_file(path: str, flags: int = os.O_RDONLY) -> int:
    """Open an existing file of ours for reading without following a symlink, refusing one
    that another user owns or could have written (group/other write bits). Returns an fd."""
    check_private_dir(os.path.dirname(path))
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeStateDirError(f"nbray: refusing to read {path}: not a regular file")
        if st.st_uid != os.getuid():
            raise UnsafeStateDirError(
                f"nbray: refusing to read {path}: it belongs to uid {st.st_uid}, not to you "
                f"(uid {os.getuid()}); nbray only loads files it wrote itself")
        if st.st_mode & 0o022:
            raise UnsafeStateDirError(
                f"nbray: refusing to read {path}: mode {stat.S_IMODE(st.st_mode):04o} lets "
                f"other users write it; nbray only loads files it wrote itself (0600)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private_file(path: str, exclusive: bool = True, append: bool = False) -> int:
    """Create `path` 0600 without following a symlink (O_EXCL unless told). Returns an fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if exclusive else (os.O_APPEND if append else os.O_TRUNC)
    check_private_dir(os.path.dirname(path))
    fd = os.open(path, flags, 0o600)
    if not exclusive:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            os.close(fd)
            raise UnsafeStateDirError(f"nbray: refusing to write {path}: it is not a private "
                                      f"file of yours (owner uid {st.st_uid}, mode "
                                      f"{stat.S_IMODE(st.st_mode):04o})")
    return fd


__all__ = ["UnsafeStateDirError", "check_private_dir", "ensure_private_dir", "state_root",
           "private_subdir", "open_private_file", "create_private_file"]
