"""A two-node cluster started the way a user starts one: `nbray start --head` and
`nbray start --address` in a private state directory (TMPDIR), stopped by `nbray stop`.

Kernels that attach to it must get the same TMPDIR, so `address="auto"` and the token
file are found there."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Tuple


def cli(env: Dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "nbray", *args], env=env, capture_output=True,
                         text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return out.stdout


@contextlib.contextmanager
def two_node_cluster(state_dir: Path) -> Iterator[Tuple[str, Dict[str, str]]]:
    """(head address, environment naming the state directory) of a head with one CPU and a
    second node with one CPU and the custom resource `w`; the environment's NBRAY_TOKEN is
    the cluster token, for a kernel that does not share the state directory."""
    env = dict(os.environ, TMPDIR=str(state_dir))
    env.pop("NBRAY_ADDRESS", None)
    try:
        started = cli(env, "start", "--head", "--num-cpus", "1")
        address = started.split(" at ", 1)[1].split()[0]
        token_file = started.split("the token is in ", 1)[1].split(" (mode")[0]
        env["NBRAY_TOKEN"] = Path(token_file).read_text().strip()
        cli(env, "start", "--address", address, "--num-cpus", "1", "--resources", '{"w": 1}')
        yield address, env
    finally:
        subprocess.run([sys.executable, "-m", "nbray", "stop"], env=env, capture_output=True,
                       timeout=60)
