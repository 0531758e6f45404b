"""Pid files of the heads and nodes `nbray start` runs, and how `nbray stop` trusts them.

A pid alone does not name a process: once the process is gone the kernel
hands the number to another one, and `nbray stop` (run as root, say) would
signal it.  So each pid file records the pid, the process start time and its
command line, written by the process itself (`head-<port>.pid`,
`node-<pid>.pid` in the private cluster directory), and removed by it on every
exit that runs code (normal exit, SIGTERM, giving up rejoining, an
exception).  A pid file whose process does not match any more (SIGKILL,
power loss) is stale: it is removed, and nothing is signalled.
"""

from __future__ import annotations

import atexit
import json
import os
from typing import Any, Dict, List, Optional

def cluster_dir() -> str:
    """The private directory of this user's heads and nodes (checked on every call)."""
    from ..userdirs import private_subdir

    return private_subdir("cluster")


_START_TIME_SLACK = 0.05  # psutil rounds create_time; a reused pid starts much later


def process_record(pid: Optional[int] = None) -> Dict[str, Any]:
    """What identifies a running process: pid, start time, command line."""
    import psutil

    p = psutil.Process(pid or os.getpid())
    return {"pid": p.pid, "create_time": p.create_time(), "cmdline": p.cmdline()}


def process_matches(record: Dict[str, Any]) -> Any:
    """The psutil.Process that `record` describes if it still runs, else None."""
    import psutil

    try:
        p = psutil.Process(int(record["pid"]))
        if abs(p.create_time() - float(record["create_time"])) > _START_TIME_SLACK:
            return None
        if p.cmdline() != list(record["cmdline"]):
            return None
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return p
    except (psutil.Error, KeyError, TypeError, ValueError):
        return None


def write_private_json(path: str, data: Dict[str, Any]) -> None:
    """Write `data` to `path` atomically, 0600, never through a symlink."""
    from ..userdirs import create_private_file

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = create_private_file(tmp)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class PidFile:
    """This process's pid file; removed at exit (atexit covers paths that skip `remove`)."""

    def __init__(self, name: str, **info: Any) -> None:
        self.path = os.path.join(cluster_dir(), name)
        write_private_json(self.path, {**info, "process": process_record()})
        atexit.register(self.remove)

    def remove(self) -> None:
        try:
            with open(self.path) as f:
                mine = json.load(f).get("process", {}).get("pid") == os.getpid()
        except (OSError, ValueError):
            return
        if mine:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def read_pid_files() -> List[Dict[str, Any]]:
    """Every pid file in the cluster directory, with its path as "path"; stale ones (whose
    process is gone or is another process now) are removed and left out."""
    d = cluster_dir()
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".pid"):
            continue
        path = os.path.join(d, name)
        try:
            with open(path) as f:
                info = json.load(f)
            if not isinstance(info, dict):
                raise ValueError("not a record")
        except (OSError, ValueError):
            info = {}  # an old plain-pid file or garbage: cannot be verified, so stale
        proc = process_matches(info.get("process") or {})
        if proc is None:
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        info["path"] = path
        info["proc"] = proc
        out.append(info)
    return out


def describe(info: Dict[str, Any]) -> str:
    pid = info["process"]["pid"]
    if info.get("kind") == "head":
        return f"head pid {pid} at {info.get('address')}"
    window = info.get("rejoin_window_s")
    extra = f"; rejoins for up to {window:g} s if the head is lost" if window is not None else ""
    return f"node pid {pid} joined to {info.get('address')}{extra}"


__all__ = ["PidFile", "cluster_dir", "process_record", "process_matches", "read_pid_files",
           "write_private_json", "describe"]
