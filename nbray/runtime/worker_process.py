"""Worker processes as seen from the process that starts them: spawn, environment, exit codes,
and the default printer of their output.

Secrets a worker needs (the spill target's storage options: S3 keys, say) are
never put in its environment, where every task could read them and every
program a task starts would inherit them, nor on its command line: the first
message on the worker's private socketpair carries them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any, Dict, Optional, Tuple

from ..transport.framing import MessageConnection
from ..transport.messages import Secrets, op_of, wire


def start_worker_process(arena_fd: int, capacity: int, node_id: str, worker_id: str,
                         env: Dict[str, str]) -> Tuple[subprocess.Popen, MessageConnection]:
    """Start one worker process connected to us by a socketpair (nothing listens)."""
    secrets = getattr(env, "secrets", {})
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child_fd = child_sock.fileno()
    cmd = [sys.executable, "-m", "nbray.runtime.worker", str(child_fd), str(arena_fd),
           str(capacity), node_id, worker_id, str(os.getpid())]
    try:
        proc = subprocess.Popen(cmd, pass_fds=(child_fd, arena_fd), env=dict(env),
                                start_new_session=True, stdin=subprocess.DEVNULL)
    finally:
        child_sock.close()
    conn = MessageConnection(parent_sock)
    try:
        conn.send(wire(Secrets(secrets)))  # always first, read by receive_secrets()
    except ConnectionError:
        pass  # the worker died at once: its exit is noticed like any other
    return proc, conn


class WorkerEnv(dict):
    """A worker's environment, plus the secrets that go over its socket instead."""

    secrets: Dict[str, Any]


# Filled in a worker process by receive_secrets(), before anything else runs there.
worker_secrets: Dict[str, Any] = {}


def receive_secrets(conn: MessageConnection) -> None:
    """In a worker, at startup: read the secrets message its node sends first."""
    msg = conn.recv()
    if not (isinstance(msg, tuple) and msg[:1] == (op_of(Secrets),) and len(msg) == 2):
        raise RuntimeError(f"nbray worker: expected the secrets message first, got {msg!r:.80}")
    worker_secrets.clear()
    worker_secrets.update(Secrets(*msg[1:]).secrets)


def worker_env(inline_threshold: int, spill_url: str, spill_options: Dict[str, Any],
               namespace: str = "default", job_id: str = "") -> Dict[str, str]:
    env = WorkerEnv(os.environ)
    env.pop("NBRAY_TOKEN", None)  # the cluster token: no task needs it
    env.secrets = {"spill_options": dict(spill_options or {})}
    env["NBRAY_JOB_ID"] = job_id
    env["NBRAY_NAMESPACE"] = namespace  # get_actor() in a task looks in the driver's namespace
    # Workers import the driver's modules by name (functions pickled by reference).
    paths = [p for p in sys.path if p]
    if "" in sys.path or not sys.path:
        paths.insert(0, os.getcwd())
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["NBRAY_WORKER"] = "1"
    env["NBRAY_INLINE_THRESHOLD"] = str(inline_threshold)
    env["NBRAY_SPILL_BACKEND"] = json.dumps({"url": spill_url})  # options: see WorkerEnv
    env.setdefault("PYTHONUNBUFFERED", "1")
    # One BLAS thread per worker: the pool itself is the parallelism.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def describe_exit(code: Optional[int]) -> str:
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
