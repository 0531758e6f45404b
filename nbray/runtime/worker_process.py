"""Worker processes as seen from the process that starts them: spawn, environment, exit codes,
and the default printer of their output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any, Dict, Optional, Tuple

from ..transport.framing import MessageConnection


def start_worker_process(arena_fd: int, capacity: int, node_id: str, worker_id: str,
                         env: Dict[str, str]) -> Tuple[subprocess.Popen, MessageConnection]:
    """Start one worker process connected to us by a socketpair (nothing listens)."""
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child_fd = child_sock.fileno()
    cmd = [sys.executable, "-m", "nbray.runtime.worker", str(child_fd), str(arena_fd),
           str(capacity), node_id, worker_id, str(os.getpid())]
    try:
        proc = subprocess.Popen(cmd, pass_fds=(child_fd, arena_fd), env=env,
                                start_new_session=True, stdin=subprocess.DEVNULL)
    finally:
        child_sock.close()
    return proc, MessageConnection(parent_sock)


def worker_env(inline_threshold: int, spill_url: str, spill_options: Dict[str, Any],
               namespace: str = "default", job_id: str = "") -> Dict[str, str]:
    env = dict(os.environ)
    env["NBRAY_JOB_ID"] = job_id
    env["NBRAY_NAMESPACE"] = namespace  # get_actor() in a task looks in the driver's namespace
    # Workers import the driver's modules by name (functions pickled by reference).
    paths = [p for p in sys.path if p]
    if "" in sys.path or not sys.path:
        paths.insert(0, os.getcwd())
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["NBRAY_WORKER"] = "1"
    env["NBRAY_INLINE_THRESHOLD"] = str(inline_threshold)
    env["NBRAY_SPILL_BACKEND"] = json.dumps({"url": spill_url, "options": spill_options})
    env.setdefault("PYTHONUNBUFFERED", "1")
    # One BLAS thread per worker: the pool itself is the parallelism.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def _describe_exit(code: Optional[int]) -> str:
    if code is None:
        return "died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def print_worker_output(record: Dict[str, Any]) -> None:
    """Default sink: prefix each line like Ray, `(name pid=N) line`."""
    prefix = f"({record['task_name']} pid={record['pid']}) "
    text = record["text"]
    lines = text.splitlines(keepends=True)
    out = "".join(prefix + ln if ln.strip() else ln for ln in lines)
    if out and not out.endswith("\n"):
        out += "\n"
    stream = sys.stderr if record["stream"] == "stderr" else sys.stdout
    try:
        stream.write(out)
        stream.flush()
    except (ValueError, OSError):
        pass
