"""A head in the test process and nodes as separate processes on 127.0.0.1.

`head` runs a local cluster plus the HeadServer that other nodes join; each
`head.join()` starts a NodeAgent process with its own store and workers,
passing the cluster token (and TLS settings) through the environment, as
`nbray start --address` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Dict, Optional, Sequence

import pytest

import nbray
from tests._support import poll_for

MiB = 2**20


class Head:
    def __init__(self, store: int = 256 * MiB, **server_options: Any) -> None:
        from nbray.runtime.head_server import HeadServer

        nbray.init(num_cpus=1, object_store_memory=store)
        self.node = nbray.runtime.context.current_driver().node
        self.server = HeadServer(self.node, write_address=False, **server_options)
        self.agents: list = []

    def start_agent(self, cpus: int = 1, resources: str = "{}", store: int = 1536 * MiB,
                    env: Optional[Dict[str, str]] = None, host: str = "127.0.0.1",
                    prefix: Sequence[str] = (), **popen: Any) -> subprocess.Popen:
        """A NodeAgent process joining this head (not waited for); `prefix` goes before the
        interpreter (e.g. `ip netns exec NAME`), host "" lets the node pick its address."""
        full_env = dict(os.environ, NBRAY_TOKEN=self.server.token, **(env or {}))
        popen.setdefault("stdout", subprocess.DEVNULL)
        proc = subprocess.Popen([*prefix, sys.executable, "-m", "nbray.runtime.node_agent",
                                 self.server.address, str(cpus), resources, str(store),
                                 host], env=full_env, **popen)
        self.agents.append(proc)
        return proc

    def join(self, cpus: int = 1, resources: str = "{}", store: int = 1536 * MiB,
             env: Optional[Dict[str, str]] = None, **agent: Any) -> subprocess.Popen:
        before = len(self.alive_nodes())
        proc = self.start_agent(cpus, resources, store, env, **agent)
        poll_for(lambda: len(self.alive_nodes()) > before or proc.poll() is not None,
                 timeout=30, msg="the node joined")
        assert proc.poll() is None, f"the node exited with code {proc.returncode}"
        poll_for(lambda: self.idle_workers_on(proc.pid) >= cpus, timeout=30,
                 msg="its workers started")
        return proc

    def alive_nodes(self) -> list:
        return [n for n in nbray.nodes() if n["Alive"]]

    def info_of(self, agent: subprocess.Popen) -> Any:
        return [i for i in self.node.cluster_nodes.values() if i.pid == agent.pid and i.alive][0]

    def idle_workers_on(self, agent_pid: int) -> int:
        info = [i for i in self.node.cluster_nodes.values() if i.pid == agent_pid and i.alive]
        if not info:
            return 0
        return sum(1 for w in list(self.node.workers.values())
                   if w.node_id == info[0].node_id and w.state in ("idle", "busy", "actor"))

    def close(self) -> None:
        nbray.shutdown()
        self.server.close()
        for p in self.agents:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def make_head():
    """make_head(**HeadServer options) -> Head; closed after the test."""
    heads: list = []

    def make(**options: Any) -> Head:
        heads.append(Head(**options))
        return heads[-1]

    try:
        yield make
    finally:
        for h in heads:
            h.close()


@pytest.fixture
def head(make_head):
    return make_head()
