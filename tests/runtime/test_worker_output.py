"""Output of tasks (print, logging, warnings) reaches the driver, prefixed `(name pid=N) `."""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

import nbray
from tests._support import poll_for, run_driver


@nbray.remote
def say(text):
    print(text)
    return os.getpid()


@nbray.remote
def say_err(text):
    print(text, file=sys.stderr)
    return os.getpid()


@nbray.remote
def log_warning(text):
    logging.getLogger("nbray-test").warning(text)
    return os.getpid()


@nbray.remote
def warn(text):
    warnings.warn(text, UserWarning)
    return os.getpid()


@nbray.remote
def no_newline(text):
    print(text, end="")
    return os.getpid()


@nbray.remote
def several_lines(lines):
    for line in lines:
        print(line)
    return os.getpid()


def _collect(capfd, stream, needle):
    """Read captured output until `needle` shows up in `stream` ("out" or "err")."""
    seen = {"out": "", "err": ""}

    def arrived():
        out, err = capfd.readouterr()
        seen["out"] += out
        seen["err"] += err
        return needle in seen[stream]

    poll_for(arrived, msg=f"{needle!r} on std{stream}")
    return seen


def test_print_reaches_the_driver_stdout_with_a_prefix(cluster, capfd):
    pid = nbray.get(say.remote("hello from a task"))
    seen = _collect(capfd, "out", "hello from a task")
    assert f"(say pid={pid}) hello from a task\n" in seen["out"]


def test_stderr_reaches_the_driver_stderr_with_a_prefix(cluster, capfd):
    pid = nbray.get(say_err.remote("to stderr"))
    seen = _collect(capfd, "err", "to stderr")
    assert f"(say_err pid={pid}) to stderr" in seen["err"]
    assert "to stderr" not in seen["out"]


def test_logging_reaches_the_driver(cluster, capfd):
    pid = nbray.get(log_warning.remote("logged warning"))
    seen = _collect(capfd, "err", "logged warning")
    assert re.search(rf"\(log_warning pid={pid}\) .*logged warning", seen["err"])


def test_warnings_reach_the_driver(cluster, capfd):
    pid = nbray.get(warn.remote("careful now"))
    seen = _collect(capfd, "err", "careful now")
    assert re.search(rf"\(warn pid={pid}\) .*UserWarning: careful now", seen["err"])


def test_output_without_a_newline_is_flushed_at_the_end_of_the_task(cluster, capfd):
    pid = nbray.get(no_newline.remote("partial line"))
    seen = _collect(capfd, "out", "partial line")
    assert f"(no_newline pid={pid}) partial line" in seen["out"]


def test_every_line_gets_the_prefix(cluster, capfd):
    lines = [f"line {i}" for i in range(5)]
    pid = nbray.get(several_lines.remote(lines))
    seen = _collect(capfd, "out", "line 4")
    for line in lines:
        assert f"(several_lines pid={pid}) {line}\n" in seen["out"]


def test_output_of_tasks_in_several_workers(cluster, capfd):
    pids = nbray.get([say.remote(f"task {i}") for i in range(6)])
    seen = _collect(capfd, "out", "task 5")
    for i, pid in enumerate(pids):
        assert f"(say pid={pid}) task {i}\n" in seen["out"]


def test_driver_script_prints_task_output(tmp_path):
    proc = run_driver("""
        import nbray

        @nbray.remote
        def echo(x):
            print(f"current value of argument x: {x}")
            return x

        nbray.init(num_cpus=2, object_store_memory=64 * 2**20)
        assert nbray.get(echo.remote([1, 2])) == [1, 2]
        nbray.shutdown()
        print("driver done")
    """)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\(echo pid=\d+\) current value of argument x: \[1, 2\]$",
                     proc.stdout, re.MULTILINE), proc.stdout
    assert proc.stdout.rstrip().endswith("driver done")
