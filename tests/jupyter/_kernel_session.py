"""Helpers for driving a real IPython kernel over ZMQ with jupyter_client.

Tests never call magic functions in-process: they send execute_requests to a
kernel started from a private kernelspec (this interpreter, `-m ipykernel_launcher`)
and read what comes back on IOPub, the way a front end does.

`kernel.execute(code)` runs one cell and returns a `Cell` with its IOPub messages.
`kernel.submit(code)` only sends it; `kernel.wait_idle(msg_id)` finishes it later.
Every IOPub message is kept in `kernel.iopub` in arrival order, so a test can see
which cell's parent header a message carried and when it came.

Timeouts: NBRAY_TEST_TIMEOUT (seconds, default 30) is the longest any wait here may
take; waits poll for state and never sleep for a fixed time.
"""

from __future__ import annotations

import json
import os
import queue
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import psutil
import pytest

TIMEOUT = float(os.environ.get("NBRAY_TEST_TIMEOUT", "30"))
WORKER_MODULE = "nbray.runtime.worker"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def poll_for(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition",
             interval: float = 0.02) -> Any:
    """Call predicate until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a dead worker waiting to be reaped counts as gone)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def worker_processes(root_pid: int) -> List[psutil.Process]:
    """nbray worker processes below `root_pid` (found by their command line)."""
    try:
        children = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if WORKER_MODULE in _cmdline(p) and alive(p)]


def workers_started_by(pid: int) -> List[psutil.Process]:
    """Live nbray workers anywhere on the machine whose command line names `pid` as their
    parent (the last argument), whether or not they are still its children."""
    found = []
    for proc in psutil.process_iter():
        words = _cmdline(proc).split()
        if WORKER_MODULE in words and words[-1:] == [str(pid)] and alive(proc):
            found.append(proc)
    return found


def wait_gone(procs: Iterable[psutil.Process], timeout: float = TIMEOUT, what: str = "") -> None:
    procs = list(procs)
    poll_for(lambda: not [p for p in procs if alive(p)], timeout,
             what or f"processes {[p.pid for p in procs]} to exit")


class Cell:
    """One execute_request and everything IOPub said under its msg_id."""

    def __init__(self, msg_id: str, messages: List[Dict[str, Any]], reply: Dict[str, Any]) -> None:
        self.msg_id = msg_id
        self.messages = messages
        self.reply = reply

    def of_type(self, *types: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    def stream(self, name: str = "stdout") -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream")
                       if m["content"]["name"] == name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def result(self) -> Optional[str]:
        """text/plain of the execute_result, if any."""
        res = self.of_type("execute_result")
        return res[-1]["content"]["data"]["text/plain"] if res else None

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        err = self.of_type("error")
        return err[-1]["content"] if err else None

    def traceback_text(self) -> str:
        err = self.error
        return strip_ansi("\n".join(err["traceback"])) if err else ""

    def displays(self) -> List[Dict[str, Any]]:
        return [m["content"] for m in self.of_type("display_data")]

    def comm_models(self) -> Dict[str, Dict[str, Any]]:
        """comm_id -> widget state, from this cell's comm_open and update messages."""
        return widget_states(self.messages)


def widget_states(messages: Iterable[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """comm_id -> widget state as a front end would hold it after these messages."""
    states: Dict[str, Dict[str, Any]] = {}
    for m in messages:
        if m["msg_type"] == "comm_open":
            states[m["content"]["comm_id"]] = dict(m["content"]["data"].get("state", {}))
        elif m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update":
            states.setdefault(m["content"]["comm_id"], {}).update(m["content"]["data"]["state"])
        elif m["msg_type"] == "comm_close":
            states.pop(m["content"]["comm_id"], None)
    return states


class KernelSession:
    """A started kernel plus a client; keeps every IOPub message it read."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km = km
        self.kc = kc
        self.iopub: List[Dict[str, Any]] = []
        self._replies: Dict[str, Dict[str, Any]] = {}

    @property
    def pid(self) -> int:
        return self.km.provisioner.pid

    # -- low level ---------------------------------------------------------------
    def pump(self, timeout: float) -> Optional[Dict[str, Any]]:
        """Read one IOPub message (None if none came within `timeout`)."""
        try:
            msg = self.kc.get_iopub_msg(timeout=max(timeout, 0.001))
        except queue.Empty:
            return None
        msg["_received"] = time.monotonic()
        self.iopub.append(msg)
        return msg

    def wait_for_message(self, predicate: Callable[[Dict[str, Any]], bool],
                         timeout: float = TIMEOUT, what: str = "an IOPub message",
                         start: int = 0) -> Dict[str, Any]:
        """The first IOPub message (from index `start`) matching predicate, reading as needed."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.iopub):
                if predicate(self.iopub[i]):
                    return self.iopub[i]
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout} s waiting for {what}; last messages: "
                            f"{[_brief(m) for m in self.iopub[-8:]]}")
            self.pump(min(left, 0.5))

    def for_parent(self, msg_id: str) -> List[Dict[str, Any]]:
        return [m for m in self.iopub if m["parent_header"].get("msg_id") == msg_id]

    def is_idle(self, msg_id: str) -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in self.for_parent(msg_id))

    # -- cells -----------------------------------------------------------------------
    def submit(self, code: str) -> str:
        return self.kc.execute(code, allow_stdin=False)

    def wait_idle(self, msg_id: str, timeout: float = TIMEOUT, allow_errors: bool = False) -> Cell:
        self.wait_for_message(
            lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                       and m["content"]["execution_state"] == "idle"),
            timeout, f"cell {msg_id} to finish")
        reply = self._reply(msg_id, timeout)
        cell = Cell(msg_id, [m for m in self.for_parent(msg_id)
                             if m["msg_type"] not in ("status", "execute_input")], reply)
        if not allow_errors and reply["content"]["status"] != "ok":
            pytest.fail(f"cell failed:\n{cell.traceback_text() or reply['content']}")
        return cell

    def execute(self, code: str, timeout: float = TIMEOUT, allow_errors: bool = False) -> Cell:
        return self.wait_idle(self.submit(code), timeout, allow_errors)

    def _reply(self, msg_id: str, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no execute_reply for {msg_id} within {timeout} s")
            try:
                msg = self.kc.get_shell_msg(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self._replies[msg["parent_header"].get("msg_id")] = msg
        return self._replies.pop(msg_id)

    def value(self, expr: str, timeout: float = TIMEOUT) -> Any:
        """Evaluate `expr` in the kernel and return it (it must be JSON-serialisable)."""
        cell = self.execute(f"import json as _j\nprint('@@' + _j.dumps({expr}))", timeout)
        line = [ln for ln in cell.stdout.splitlines() if ln.startswith("@@")][-1]
        return json.loads(line[2:])

    def workers(self) -> List[psutil.Process]:
        return worker_processes(self.pid)


def _brief(msg: Dict[str, Any]) -> str:
    return f"{msg['msg_type']}({msg['parent_header'].get('msg_id', '')[-6:]}): " \
           f"{str(msg['content'])[:120]}"


def start_kernel(kernelspec_dir: Path, workdir: Path,
                 extra_env: Optional[Dict[str, str]] = None) -> KernelSession:
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager(kernel_dirs=[str(kernelspec_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="nbray-test", kernel_spec_manager=ksm,
                       connection_file=str(workdir / "kernel-connection.json"))
    env = dict(os.environ, IPYTHONDIR=str(workdir / ".ipython"), PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("NBRAY_ADDRESS", None)
    env.update(extra_env or {})
    km.start_kernel(cwd=str(workdir), env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    except Exception:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return KernelSession(km, kc)


def stop_kernel(session: KernelSession) -> None:
    """Shut the kernel down and check that no process it started is left."""
    km = session.km
    descendants: List[psutil.Process] = []
    if km.has_kernel:
        try:
            descendants = psutil.Process(session.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    session.kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=not km.is_alive())
    km.cleanup_resources()
    left = [p for p in descendants if alive(p)]
    if left:
        try:
            wait_gone(left, TIMEOUT, "the kernel's child processes to exit after shutdown")
        finally:
            for p in left:
                if alive(p):
                    p.kill()
