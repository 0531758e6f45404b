"""Bad input to `nbray start/stop/dashboard/memory/status` gets one clear line, never a
traceback: exit status 2 for a usage error (as argparse gives), 1 for a cluster that
cannot be reached; and `nbray start --address auto` joins the head running here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import pytest

from tests.jupyter._cli_cluster import cli

USAGE_ERRORS = [
    (("start",), "give --head to start a head, or --address to join one"),
    (("start", "--head", "--address", "ws://127.0.0.1:1"), "not both"),
    (("start", "--address", "foo", "--token", "x"), "--address must be a head's ws://host:port"),
    (("start", "--address", "ws://h:99999", "--token", "x"), "got 'ws://h:99999'"),
    (("start", "--head", "--resources", "notjson"), "--resources must be a JSON object"),
    (("start", "--head", "--resources", '{"GPU": "one"}'), "names to numbers"),
    (("start", "--head", "--num-cpus", "-1"), "--num-cpus must be >= 0"),
    (("start", "--head", "--port", "99999"), "--port must be 0-65535"),
    (("start", "--head", "--object-store-memory", "0"), "--object-store-memory must be"),
    (("stop", "--address", ":::"), "--address must be"),
    (("dashboard", "--address", "nonsense", "--token", "x"), "--address must be"),
    (("memory", "--limit", "-1", "--address", "x.sock"), "--limit must be >= 0"),
    (("memory", "--width", "3", "--address", "x.sock"), "--width must be at least 20"),
    (("status", "--address", "ws://127.0.0.1:5"), "a driver's state socket"),
]


def _run(env: Dict[str, str], *args: str) -> Tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-m", "nbray", *args], env=env, capture_output=True,
                         text=True, timeout=90)
    return out.returncode, out.stdout, out.stderr


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_input_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    from nbray.cli import main

    # In this process (argument checks start nothing), a private state directory: no head.
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("NBRAY_ADDRESS", None)
    for args, words in USAGE_ERRORS:
        code, err = _main_in_process(main, tmp_path, list(args))
        assert code == 2, (args, err)
        line = _one_line(err)
        assert line.startswith(f"nbray {args[0]}: ") and words in line, (args, line)
    # Not usage errors: nothing to reach.  One line each, exit status 1.
    for args, words in [(("start", "--address", "auto", "--token", "x"), "no running head"),
                        (("dashboard",), "no running head"),
                        (("dashboard", "--address", "ws://127.0.0.1:1", "--token", "x"),
                         "cannot reach the cluster at ws://127.0.0.1:1: no head answers"),
                        (("memory", "--address", str(tmp_path / "none.sock")),
                         f"cannot reach the cluster at {tmp_path / 'none.sock'}: No such file")]:
        code, out, err = _run(env, *args)
        assert code == 1 and words in _one_line(err), (args, err)
    assert not list(tmp_path.glob("**/*.log")), "a bad command line started a process"


def _main_in_process(main, tmp_path: Path, argv: list) -> Tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path)
    try:
        with contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        if old is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = old
    return code, err.getvalue()


@pytest.mark.timeout(240)
def test_start_address_auto_joins_the_head_running_here(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("NBRAY_ADDRESS", None)
    try:
        started = cli(env, "start", "--head", "--num-cpus", "1")
        address = started.split(" at ", 1)[1].split()[0]
        joined = cli(env, "start", "--address", "auto", "--num-cpus", "1",
                     "--resources", '{"w": 1}')
        assert "joined" in joined and address.rsplit(":", 1)[1] in joined, joined
        status = cli(env, "status")
        assert "2 node(s)" in status, status
        code, out, err = _run(env, "dashboard", "--address", address, "--token", "wrong")
        assert code == 1 and f"the head at {address} refused the token" in _one_line(err)
        assert cli(env, "dashboard").strip().startswith("http://")
    finally:
        stopped = subprocess.run([sys.executable, "-m", "nbray", "stop"], env=env,
                                 capture_output=True, text=True, timeout=60)
    assert "stopped 2 nbray process(es)" in stopped.stdout, stopped.stdout + stopped.stderr
