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
from typing import Dict, Iterator, Optional, Tuple


def cli(env: Dict[str, str], *args: str, cwd: Optional[Path] = None) -> str:
    """`nbray ARGS`, through the console script when one is installed next to this
    interpreter (it can run in any directory; `python -m` would import from it)."""
    script = Path(sys.executable).parent / "nbray"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "nbray"]
    out = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=90,
                         cwd=cwd if script.exists() else None)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _hostile_dir(parent: Path) -> Path:
    """A directory a user might start a cluster from: its `selectors.py` would replace the
    standard library's (which every socket needs) in any Python that runs there."""
    where = parent / "work"
    where.mkdir()
    (where / "selectors.py").write_text("raise ImportError('the cwd shadowed selectors')\n")
    return where


@contextlib.contextmanager
def two_node_cluster(state_dir: Path) -> Iterator[Tuple[str, Dict[str, str]]]:
    """(head address, environment naming the state directory) of a head with one CPU and a
    second node with one CPU and the custom resource `w`; the environment's NBRAY_TOKEN is
    the cluster token, for a kernel that does not share the state directory.  Both are
    started from a directory whose files would shadow standard modules: `nbray start`
    works from any directory."""
    env = dict(os.environ, TMPDIR=str(state_dir))
    env.pop("NBRAY_ADDRESS", None)
    where = _hostile_dir(state_dir)
    try:
        started = cli(env, "start", "--head", "--num-cpus", "1", cwd=where)
        address = started.split(" at ", 1)[1].split()[0]
        token_file = started.split("the token is in ", 1)[1].split(" (mode")[0]
        env["NBRAY_TOKEN"] = Path(token_file).read_text().strip()
        cli(env, "start", "--address", address, "--num-cpus", "1", "--resources", '{"w": 1}',
            cwd=where)
        yield address, env
    finally:
        subprocess.run([sys.executable, "-m", "nbray", "stop"], env=env, capture_output=True,
                       timeout=60)
