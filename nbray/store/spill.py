"""Spill targets: where objects go when shared memory is full.

A spilled object is written exactly as its arena block (header, metadata,
buffers), so restoring it is one read into a new block and a reader can also
map it from private memory.  Local directories are written with plain file
calls; any other URL goes through fsspec (s3://, gcs://, memory://, ...).
Local spill files are private: a 0700 directory of ours (checked on every
write and read, see nbray.userdirs), 0600 files created with O_EXCL|O_NOFOLLOW
under a temporary name and renamed, so a failed write never leaves a half
object; a file is read back only if it is ours and nobody else could have
written it, so a planted pickle is never loaded.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import urllib.parse
from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Sequence

from .. import exceptions as exc


class SpillConfigError(ValueError):
    """The spill URL or its options are malformed."""


# errno values that mean "this target takes no more bytes": full, over quota, too large for
# the file system, read-only, or not writable by us.
_OUT_OF_DISK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM")
    if hasattr(errno, name))


def is_out_of_disk(error: BaseException) -> bool:
    """True if `error` (or an error it wraps) says the spill target is full or read-only."""
    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OUT_OF_DISK_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def spill_failure(error: BaseException, message: str) -> exc.ObjectSpillError:
    """The error to raise for a failed spill write: OutOfDiskError (Ray's name) when the
    target is full or read-only, ObjectSpillError otherwise."""
    cls = exc.OutOfDiskError if is_out_of_disk(error) else exc.ObjectSpillError
    return cls(message)


class SpillBackend(ABC):
    """Writes, reads and deletes whole spilled objects under one base URL."""

    url: str

    @abstractmethod
    def check(self) -> None:
        """Raise OSError if the target cannot be written (called before the first spill)."""

    @abstractmethod
    def write(self, name: str, chunks: Sequence[Any]) -> str:
        """Store the concatenated chunks; returns the URL of the stored object."""

    @abstractmethod
    def read_into(self, url: str, dest: memoryview) -> None:
        """Fill `dest` (exactly the object's size) from the object at `url`."""

    def read(self, url: str, size: int) -> bytearray:
        buf = bytearray(size)
        self.read_into(url, memoryview(buf))
        return buf

    @abstractmethod
    def delete(self, url: str) -> None: ...

    @abstractmethod
    def cleanup(self) -> None:
        """Remove everything this backend wrote (at shutdown)."""


def default_spill_root() -> str:
    """The user's private nbray directory (see nbray.userdirs: checked on every call)."""
    from ..userdirs import state_root

    return state_root()


class FileSpill(SpillBackend):
    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.url = "file://" + self.directory
        self._made = False
        self._lock = threading.Lock()

    def check(self) -> None:
        self._ensure_dir()
        probe = os.path.join(self.directory, f".probe-{os.getpid()}")
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.close(fd)
        os.unlink(probe)

    def _ensure_dir(self) -> None:
        from ..userdirs import check_private_dir, ensure_private_dir

        if self._made:
            # Checked again on every use: another user must not swap it meanwhile.
            check_private_dir(self.directory)
            return
        with self._lock:
            os.makedirs(os.path.dirname(self.directory), mode=0o700, exist_ok=True)
            # Never chmod an existing directory into shape: one that is not already private
            # may hold files someone else put there, so it is refused instead.
            ensure_private_dir(self.directory)
            self._made = True

    def write(self, name: str, chunks: Sequence[Any]) -> str:
        from ..userdirs import create_private_file

        self._ensure_dir()
        path = os.path.join(self.directory, name)
        tmp = path + ".part"
        try:
            os.unlink(tmp)  # left by a write that failed earlier: O_EXCL below needs it gone
        except FileNotFoundError:
            pass
        fd = create_private_file(tmp)
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            os.close(fd)
            fd = -1
            os.rename(tmp, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return "file://" + path

    def read_into(self, url: str, dest: memoryview) -> None:
        from ..userdirs import open_private_file

        path = _path_of(url)
        # Only a file of ours, in a private directory of ours, is ever unpickled.
        with open(open_private_file(path), "rb", buffering=0) as f:
            view = dest.cast("B") if dest.format != "B" else dest
            got = 0
            while got < len(view):
                n = f.readinto(view[got:])
                if not n:
                    raise OSError(f"spill file {path} is shorter than expected "
                                  f"({got} of {len(view)} bytes)")
                got += n

    def delete(self, url: str) -> None:
        try:
            os.unlink(_path_of(url))
        except FileNotFoundError:
            pass

    def cleanup(self) -> None:
        if os.path.isdir(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)


class FsspecSpill(SpillBackend):
    """Any fsspec filesystem; s3://bucket/prefix needs s3fs (endpoint via options)."""

    def __init__(self, url: str, options: Dict[str, Any]) -> None:
        try:
            import fsspec
        except ImportError as e:  # pragma: no cover - depends on the install
            raise SpillConfigError(f"spilling to {url!r} needs fsspec: pip install fsspec") from e
        parsed = urllib.parse.urlparse(url)
        self.protocol = parsed.scheme
        try:
            self.fs = fsspec.filesystem(self.protocol, **options)
        except (ImportError, ValueError, TypeError) as e:
            raise SpillConfigError(f"cannot use spill URL {url!r} with options "
                                   f"{sorted(options)}: {e}") from e
        self.base = (parsed.netloc + parsed.path).rstrip("/")
        self.url = f"{self.protocol}://{self.base}"

    def check(self) -> None:
        probe = f"{self.base}/.probe-{os.getpid()}"
        with self.fs.open(probe, "wb") as f:
            f.write(b"ok")
        self.fs.rm(probe)

    def _path(self, url: str) -> str:
        prefix = f"{self.protocol}://"
        return url[len(prefix):] if url.startswith(prefix) else url

    def write(self, name: str, chunks: Sequence[Any]) -> str:
        path = f"{self.base}/{name}"
        with self.fs.open(path, "wb") as f:
            for chunk in chunks:
                f.write(memoryview(chunk).cast("B"))
        return f"{self.protocol}://{path}"

    def read_into(self, url: str, dest: memoryview) -> None:
        view = dest.cast("B") if dest.format != "B" else dest
        with self.fs.open(self._path(url), "rb") as f:
            got = 0
            while got < len(view):
                data = f.read(min(len(view) - got, 64 * 2**20))
                if not data:
                    raise OSError(f"spilled object {url} is shorter than expected")
                view[got:got + len(data)] = data
                got += len(data)

    def delete(self, url: str) -> None:
        try:
            self.fs.rm(self._path(url))
        except FileNotFoundError:
            pass

    def cleanup(self) -> None:
        try:
            if self.fs.exists(self.base):
                self.fs.rm(self.base, recursive=True)
        except Exception:  # best effort at shutdown; the objects are already freed
            pass


def _path_of(url: str) -> str:
    return urllib.parse.urlparse(url).path


def make_backend(url: Optional[str], options: Optional[Dict[str, Any]], session: str) -> SpillBackend:
    """The backend for `url` (None: a private directory under the system temp dir).

    Raises SpillConfigError for a malformed URL or unknown scheme.
    """
    if url is None:
        return FileSpill(os.path.join(default_spill_root(), f"spill-{session}"))
    if not isinstance(url, str) or not url:
        raise SpillConfigError(f"spill URL must be a non-empty string, got {url!r}")
    parsed = urllib.parse.urlparse(url)
    if not parsed.scheme or parsed.scheme == "file":
        path = parsed.path if parsed.scheme else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise SpillConfigError(f"malformed spill URL {url!r}: a file URL looks like "
                                   f"file:///absolute/path")
        if not path:
            raise SpillConfigError(f"malformed spill URL {url!r}: no directory given")
        # Each session gets its own private directory under the one given.
        return FileSpill(os.path.join(path, f"nbray-spill-{session}"))
    if not parsed.netloc and parsed.scheme not in ("memory",):
        raise SpillConfigError(f"malformed spill URL {url!r}: expected {parsed.scheme}://bucket/prefix")
    try:
        import fsspec

        fsspec.get_filesystem_class(parsed.scheme)
    except ImportError as e:
        raise SpillConfigError(f"spill URL {url!r}: the {parsed.scheme!r} filesystem needs an extra "
                               f"package ({e})") from e
    except ValueError as e:
        raise SpillConfigError(f"spill URL {url!r}: unknown scheme {parsed.scheme!r}") from e
    return FsspecSpill(url.rstrip("/") + f"/nbray-spill-{session}", dict(options or {}))


def remove_stale_sessions(root: Optional[str] = None) -> int:
    """Delete local spill directories whose driver process is gone (after a SIGKILL)."""
    root = root or default_spill_root()
    removed = 0
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        if not name.startswith("spill-"):
            continue
        try:
            pid = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not pid_alive(pid):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def backend_for_url(url: str, options: Optional[Dict[str, Any]] = None) -> SpillBackend:
    """The backend for an already resolved base URL (used by worker processes)."""
    if url.startswith("file://"):
        return FileSpill(_path_of(url))
    return FsspecSpill(url, dict(options or {}))
