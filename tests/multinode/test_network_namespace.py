"""A node with a real address of its own: it runs in a network namespace joined to this one by
a veth pair (10.x.y.1 here, 10.x.y.2 there), so nothing can go through 127.0.0.1 by accident.
Needs root and `ip netns`; skipped where they are not available."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import nbray

MiB = 2**20


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespace():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"nb{os.getpid() % 100000}"
    net = f"10.{os.getpid() % 200 + 20}.{os.getpid() // 200 % 250}"
    if _ip("netns", "add", tag).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        steps = [("link", "add", f"{tag}h", "type", "veth", "peer", "name", f"{tag}n"),
                 ("link", "set", f"{tag}n", "netns", tag),
                 ("addr", "add", f"{net}.1/24", "dev", f"{tag}h"),
                 ("link", "set", f"{tag}h", "up"),
                 ("netns", "exec", tag, "ip", "addr", "add", f"{net}.2/24", "dev", f"{tag}n"),
                 ("netns", "exec", tag, "ip", "link", "set", f"{tag}n", "up"),
                 ("netns", "exec", tag, "ip", "link", "set", "lo", "up")]
        for step in steps:
            out = _ip(*step)
            if out.returncode != 0:
                pytest.skip(f"cannot set up the veth pair: {out.stderr.strip()}")
        yield tag, f"{net}.1", f"{net}.2"
    finally:
        _ip("link", "del", f"{tag}h")
        _ip("netns", "del", tag)


def test_a_node_on_its_own_address_joins_and_moves_objects_both_ways(make_head, namespace):
    tag, head_ip, node_ip = namespace
    head = make_head(host=head_ip)
    assert head.server.address.startswith(f"ws://{head_ip}:")
    agent = head.join(resources='{"w": 1}', host="", prefix=("ip", "netns", "exec", tag))
    assert head.info_of(agent).object_url.startswith(f"http://{node_ip}:")  # picked by itself

    @nbray.remote(resources={"w": 1})
    def total(a) -> float:
        return float(a.sum())

    @nbray.remote(resources={"w": 1})
    def make(n):
        return np.full(n, 2.0)

    assert nbray.get(total.remote(nbray.put(np.ones(4 * MiB)))) == 4 * MiB   # 32 MiB there
    assert nbray.get(make.remote(4 * MiB)).sum() == 8 * MiB                   # and back
