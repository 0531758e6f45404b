"""Several nodes as separate processes on 127.0.0.1, each with its own store.

The test process is the head (a local cluster plus HeadServer, see conftest.py);
nodes are NodeAgent processes that join with the token from the environment.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tornado.httpclient

import nbray
from nbray import exceptions as exc
from tests._support import poll_for

MiB = 2**20


@nbray.remote
def parent_pid() -> int:
    return os.getppid()


@nbray.remote(resources={"w": 1})
def make_on_w(n: int, value: float):
    return np.full(n, value)


@nbray.remote(resources={"w": 1})
def total_on_w(a) -> float:
    return float(a.sum())


@nbray.remote
def total_here(a) -> tuple:
    return float(a.sum()), os.getppid()


def test_nodes_join_and_tasks_go_where_the_resources_are(head):
    agent = head.join(cpus=2, resources='{"w": 2}')
    assert len(head.alive_nodes()) == 2
    res = nbray.cluster_resources()
    assert res["CPU"] == 3 and res["w"] == 2
    pids = set(nbray.get([parent_pid.options(resources={"w": 1}).remote() for _ in range(6)]))
    assert pids == {agent.pid}


def test_tasks_go_to_the_node_that_already_holds_their_large_arguments(head):
    a = head.join(resources='{"w": 1}')
    b = head.join(resources='{"w": 1}')

    @nbray.remote(resources={"w": 1})
    def make_and_say_where(n):
        return np.ones(n), os.getppid()

    @nbray.remote(resources={"w": 1})
    def where(arr) -> int:
        return os.getppid()

    for _ in range(3):
        big, made_on = make_and_say_where.options(num_returns=2).remote(4_000_000)  # 32 MiB
        made_on = nbray.get(made_on)
        assert made_on in (a.pid, b.pid)
        assert nbray.get(where.remote(big)) == made_on     # no 32 MiB copy to the other node
    assert head.node.stats["transfers_started"] == 0


def test_a_task_on_the_head_waits_for_an_argument_that_lives_on_another_node(head):
    head.join(resources='{"w": 1}')
    remote = make_on_w.remote(1_000_000, 2.0)
    nbray.wait([remote])
    on_head = total_here.options(resources={f"node:{head.node.node_id}": 1})
    assert nbray.get(on_head.remote(remote)) == (2_000_000, os.getpid())


def test_objects_cross_nodes_both_ways_and_arrive_read_only(head):
    head.join(resources='{"w": 1}')
    remote = make_on_w.remote(1_000_000, 2.0)           # made on the node
    arr = nbray.get(remote)                             # pulled to the head
    assert arr.sum() == 2_000_000 and not arr.flags.writeable
    local = nbray.put(np.ones(2_000_000))               # made on the head
    assert nbray.get(total_on_w.remote(local)) == 2_000_000  # pushed to the node
    row = [o for o in nbray.memory(limit=None).objects if o["object_id"] == remote.hex()][0]
    assert len(row["locations"]) == 2                   # both copies are recorded


def test_node_to_node_and_a_1_gib_transfer_bit_exact(head):
    head.join(resources='{"a": 1}')
    head.join(resources='{"b": 1}')

    @nbray.remote(resources={"a": 1})
    def make(n):
        return np.random.default_rng(7).integers(0, 2**62, n, dtype=np.int64)

    @nbray.remote(resources={"b": 1})
    def digest(x):
        import hashlib
        return hashlib.sha256(x.tobytes()).hexdigest()

    ref = make.remote(2**27)                            # 1 GiB on node a
    expected = hashlib.sha256(
        np.random.default_rng(7).integers(0, 2**62, 2**27, dtype=np.int64).tobytes()).hexdigest()
    assert nbray.get(digest.remote(ref), timeout=120) == expected   # a -> b


def test_sigkill_of_a_node_mid_work_results_rebuilt_from_lineage(head):
    first = head.join(resources='{"w": 1}')
    refs = [make_on_w.remote(500_000, float(i)) for i in range(4)]
    nbray.wait(refs, num_returns=4, timeout=60)
    os.kill(first.pid, signal.SIGKILL)
    poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30, msg="the node was declared lost")
    head.join(resources='{"w": 1}')                     # somewhere to rebuild them
    values = nbray.get(refs, timeout=60)
    assert [v[0] for v in values] == [0.0, 1.0, 2.0, 3.0]
    assert head.node.stats["reconstructions"] >= 1
    # The node that came back is a new, clean member; the lost one is listed, dead.
    assert [n["Alive"] for n in nbray.nodes()].count(False) == 1
    assert nbray.cluster_resources()["w"] == 1


def test_object_put_on_a_lost_node_is_reported_lost_with_the_reason(head):
    agent = head.join(resources='{"w": 1}')

    @nbray.remote(resources={"w": 1})
    def put_there():
        return [nbray.put(np.ones(1_000_000))]

    inner = nbray.get(put_there.remote())[0]
    os.kill(agent.pid, signal.SIGKILL)
    with pytest.raises(exc.ObjectLostError, match="put"):
        nbray.get(inner, timeout=30)


def test_an_actor_on_a_lost_node_restarts_elsewhere(head):
    agent = head.join(cpus=1, resources='{"w": 1}')

    @nbray.remote(max_restarts=1, resources={"w": 1})
    class Where:
        def pid(self):
            return os.getppid()

    a = Where.remote()
    assert nbray.get(a.pid.remote()) == agent.pid
    os.kill(agent.pid, signal.SIGKILL)
    poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30, msg="the node was declared lost")
    other = head.join(cpus=1, resources='{"w": 1}')
    assert poll_for(lambda: nbray.get(a.pid.remote(), timeout=30) == other.pid, timeout=60,
                    msg="the actor restarted on the new node")


def _ws_status(head, headers) -> int:
    async def go():
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        req = tornado.httpclient.HTTPRequest(
            head.server.address.replace("ws://", "http://") + "/nbray/ws", headers={
                "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **headers})
        try:
            resp = await client.fetch(req, raise_error=False)
            return resp.code
        finally:
            client.close()

    return head.server.net.run(go(), timeout=10)


def test_wrong_or_missing_token_and_browser_origins_are_refused(head, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Evil())
    assert _ws_status(head, {}) == 401
    assert _ws_status(head, {"Authorization": "Bearer wrong"}) == 401
    assert _ws_status(head, {"Authorization": f"Bearer {head.server.token}",
                             "Origin": "http://evil.example"}) == 403
    from nbray.transport.ws import connect

    with pytest.raises(PermissionError):
        head.server.net.run(connect(head.server.address + "/nbray/ws", "wrong", head.server.net),
                            timeout=10)
    assert not marker.exists() and payload  # nothing unauthenticated was unpickled
    assert nbray.get(nbray.put(5)) == 5     # the cluster keeps serving


def test_garbage_frames_close_only_that_connection(head):
    from nbray.transport.ws import connect

    conn = head.server.net.run(connect(head.server.address + "/nbray/ws", head.server.token,
                                       head.server.net), timeout=10)
    head.server.net.call(conn._write, b"\x00not a pickle")   # on the loop: tornado is not thread-safe
    poll_for(lambda: conn.closed, timeout=10, msg="the head closed the garbage connection")

    async def close_client() -> None:
        conn._ws.close()

    head.server.net.run(close_client(), timeout=10)
    agent = head.join(resources='{"w": 1}')             # others are still served
    assert nbray.get(parent_pid.options(resources={"w": 1}).remote()) == agent.pid


def test_cli_start_status_stop(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))        # a private cluster directory
    nb = [sys.executable, "-m", "nbray"]
    out = subprocess.run(nb + ["start", "--head", "--num-cpus", "1"], env=env, capture_output=True,
                         text=True, timeout=60)
    try:
        assert out.returncode == 0, out.stderr
        assert "nbray start --address ws://127.0.0.1:" in out.stdout
        address = out.stdout.split(" at ", 1)[1].split()[0]
        joined = subprocess.run(nb + ["start", "--address", address, "--num-cpus", "1",
                                      "--resources", '{"w": 1}'], env=env, capture_output=True,
                                text=True, timeout=60)
        assert joined.returncode == 0 and "joined" in joined.stdout, joined.stderr
        status = subprocess.run(nb + ["status"], env=env, capture_output=True, text=True, timeout=30)
        assert status.stdout.count(" alive ") == 2, status.stdout
    finally:
        stop = subprocess.run(nb + ["stop"], env=env, capture_output=True, text=True, timeout=60)
    assert "stopped 2" in stop.stdout


def test_a_hung_node_is_declared_lost_and_rejoins_when_it_wakes_up(head):
    agent = head.join(resources='{"w": 1}')
    refs = [make_on_w.remote(200_000, float(i)) for i in range(3)]
    nbray.wait(refs, num_returns=3, timeout=60)
    os.kill(agent.pid, signal.SIGSTOP)                  # hung: its socket stays open
    try:
        t0 = time.monotonic()
        poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30,
                 msg="the hung node was declared lost")
        lost_after = time.monotonic() - t0
    finally:
        os.kill(agent.pid, signal.SIGCONT)
    from nbray.runtime.remote_nodes import HEARTBEAT_TIMEOUT_S
    assert lost_after < HEARTBEAT_TIMEOUT_S + 5
    # Woken up, it finds its connection closed and joins again as a new, empty node; the
    # objects that lived only there are rebuilt on it from lineage.
    poll_for(lambda: len(head.alive_nodes()) == 2 and head.idle_workers_on(agent.pid) >= 1,
             timeout=60, msg="the node rejoined")
    assert [v[0] for v in nbray.get(refs, timeout=60)] == [0.0, 1.0, 2.0]
    assert nbray.get(parent_pid.options(resources={"w": 1}).remote()) == agent.pid
    assert [n["Alive"] for n in nbray.nodes()].count(False) == 1


def test_a_full_node_makes_room_by_moving_objects_to_the_head_which_spills(make_head):
    """8 x 20 MiB results through a 64 MiB node store and a 64 MiB head store: the node's
    copies that exist elsewhere are dropped, the others moved to the head, and the head
    spills to disk; every value comes back intact."""
    head = make_head(store=64 * MiB)
    head.join(resources='{"w": 1}', store=64 * MiB)

    @nbray.remote(resources={"w": 1})
    def block(i):
        return np.full(20 * MiB // 8, float(i))

    refs = [block.remote(i) for i in range(8)]
    nbray.wait(refs, num_returns=8, timeout=120)
    assert head.node.stats["objects_moved_to_head"] >= 4
    assert head.node.stats["spilled_objects"] >= 1
    assert [float(nbray.get(r)[-1]) for r in refs] == [float(i) for i in range(8)]
    assert [float(v[0]) for v in nbray.get(refs, timeout=60)] == [float(i) for i in range(8)]


def test_a_full_node_whose_objects_are_all_in_use_says_so(make_head):
    head = make_head(store=64 * MiB)
    head.join(resources='{"w": 1}', store=64 * MiB)

    @nbray.remote(resources={"w": 1})
    def hold_two_then_put():
        a = nbray.get(nbray.put(np.ones(30 * MiB // 8)))  # zero-copy views keep both mapped:
        b = nbray.get(nbray.put(np.ones(30 * MiB // 8)))  # they can be neither moved nor dropped
        nbray.put(np.ones(30 * MiB // 8))
        return a.sum() + b.sum()

    with pytest.raises(exc.ObjectStoreFullError, match="object store of this node is full"):
        nbray.get(hold_two_then_put.remote(), timeout=60)
    assert nbray.get(nbray.put(41)) == 41                 # the cluster is fine


def test_lineage_rebuilds_a_chain_whose_every_link_was_on_the_lost_node(head):
    first = head.join(resources='{"w": 1}')

    @nbray.remote(resources={"w": 1})
    def step(prev, k):
        return prev + k                                   # a new 4 MB array from the last one

    x = make_on_w.remote(500_000, 1.0)
    chain = [x]
    for k in range(3):
        chain.append(step.remote(chain[-1], float(k)))    # only the refs are kept: the
    nbray.wait(chain, num_returns=len(chain), timeout=60)  # arrays never left the node
    last = chain[-1]
    del chain, x                                          # only the end of the chain is held
    os.kill(first.pid, signal.SIGKILL)
    poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30, msg="the node was declared lost")
    head.join(resources='{"w": 1}')
    assert float(nbray.get(last, timeout=60)[0]) == 1.0 + 0.0 + 1.0 + 2.0
    assert head.node.stats["reconstructions"] >= 4        # the whole chain ran again


def test_lineage_is_kept_only_while_a_ref_to_an_output_lives(head):
    first = head.join(resources='{"w": 1}')
    lineage = head.node.remote.lineage

    def lineage_size() -> int:
        import gc
        gc.collect()
        with head.node.lock:
            head.node.objects.drain_deferred()   # the driver's dropped refs
            return len(lineage)

    refs = [make_on_w.remote(40_000, float(i)) for i in range(300)]   # 320 kB each, only on w
    nbray.wait(refs, num_returns=len(refs), timeout=60)
    assert lineage_size() == 300
    kept = [refs[7], refs[250]]
    del refs
    poll_for(lambda: lineage_size() == 2, msg="the lineage of dropped outputs to go")
    os.kill(first.pid, signal.SIGKILL)
    poll_for(lambda: len(head.alive_nodes()) == 1, timeout=30, msg="the node was declared lost")
    head.join(resources='{"w": 1}')
    assert [float(v[0]) for v in nbray.get(kept, timeout=60)] == [7.0, 250.0]
    assert head.node.stats["reconstructions"] == 2
    del kept
    poll_for(lambda: lineage_size() == 0, msg="the lineage of the rebuilt outputs to go")


def test_concurrent_pulls_of_one_object_to_one_node_are_merged(head):
    head.join(cpus=2, resources='{"w": 2}')
    big = nbray.put(np.ones(8 * MiB))                     # 64 MiB on the head
    started = head.node.stats["transfers_started"]
    sums = nbray.get([total_on_w.remote(big) for _ in range(4)], timeout=60)
    assert sums == [8 * MiB] * 4
    assert head.node.stats["transfers_started"] - started == 1   # one pull served all four
