"""Helpers shared by the tests: waiting for state, cross-process events, driver scripts.

Tasks run in other processes, so a test controls them through files: a
`FileEvent` is set by touching a file and waited for by polling it.  The test
side never sleeps to wait for state; it uses `poll_for`, which fails with a
message after a generous timeout (`NBRAY_TEST_TIMEOUT`, 30 s by default, so a
loaded 2-core CI machine does not turn slowness into flakiness).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Set

import psutil

DEFAULT_TIMEOUT = float(os.environ.get("NBRAY_TEST_TIMEOUT", "30"))
REPO_ROOT = Path(__file__).resolve().parent.parent


def poll_for(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
             interval: float = 0.01, msg: str = "") -> Any:
    """Call `predicate` until it returns something truthy; return that value.

    Raises AssertionError (with `msg` and the last value) after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 f"{msg or getattr(predicate, '__name__', 'condition')} "
                                 f"(last value: {value!r})")
        time.sleep(interval)


class FileEvent:
    """An event shared between the test and its tasks: set = the file exists.

    Picklable (it is just a path), so tasks can take it as an argument.
    """

    def __init__(self, path: os.PathLike | str) -> None:
        self.path = str(path)

    def set(self) -> None:
        Path(self.path).touch()

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def wait(self, timeout: float = 60.0) -> bool:
        """Used inside tasks: block until set (False after `timeout`, so nothing hangs forever)."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def __repr__(self) -> str:
        return f"FileEvent({os.path.basename(self.path)})"


class Counter:
    """A cross-process counter of task attempts: each `hit()` appends one line."""

    def __init__(self, path: os.PathLike | str) -> None:
        self.path = str(path)

    def hit(self) -> int:
        """Record one attempt; returns the number of attempts so far (this one included)."""
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return self.value()

    def value(self) -> int:
        try:
            with open(self.path) as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    def pids(self) -> list:
        try:
            with open(self.path) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


def dev_shm_entries() -> Set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def pid_gone(pid: int) -> bool:
    """True when `pid` no longer runs (exited, or a zombie waiting to be reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def driver_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra or {})
    return env


def start_driver(script: str, args: Sequence[str] = (), **popen_kw: Any) -> subprocess.Popen:
    """Start `script` (dedented Python source) as a driver in a fresh interpreter."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=driver_env(), cwd=str(REPO_ROOT), **popen_kw)


def run_driver(script: str, args: Sequence[str] = (),
               timeout: float = 2 * DEFAULT_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `script` as a driver to completion; returns its exit code and output."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, env=driver_env(),
                          cwd=str(REPO_ROOT), timeout=timeout)


def run_attached(script: str, token: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `script` (Python source) as a driver that attaches to a head, the token in its
    environment as `nbray attach` users give it; returns its exit code and output."""
    env = dict(os.environ, NBRAY_TOKEN=token)
    return subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
                          env=env, capture_output=True, text=True, timeout=timeout)


__all__ = ["DEFAULT_TIMEOUT", "FileEvent", "Counter", "poll_for", "dev_shm_entries",
           "pid_gone", "start_driver", "run_driver", "run_attached", "driver_env"]
