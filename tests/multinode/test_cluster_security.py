"""Issue 13, items 2, 3, 4, 6 and 7: `nbray stop` and pid files, a killed head seen by its
driver and nodes, several heads per user, browser origins, `nbray dashboard`.

Heads and nodes are started with the real `nbray start` in a private state directory
(TMPDIR of the test's own); every test stops what it started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest
import tornado.httpclient

from nbray.runtime.node_agent import REJOIN_WINDOW_S
from nbray.runtime.remote_nodes import HEARTBEAT_TIMEOUT_S
from tests._support import pid_gone, poll_for


@pytest.fixture
def cli(tmp_path):
    """cli(*args) runs `nbray ARGS` in a private state dir; `nbray stop` at the end."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("NBRAY_STATE_DIR", None)
    env.pop("NBRAY_TOKEN", None)

    def run(*args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "nbray", *args], env=env,
                             capture_output=True, text=True, timeout=timeout)
        if check:
            assert out.returncode == 0, out.stdout + out.stderr
        return out

    run.env = env  # type: ignore[attr-defined]
    run.cluster_dir = os.path.join(str(tmp_path), f"nbray-{os.getuid()}", "cluster")  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        run("stop", check=False)


def _start_head(cli) -> dict:
    out = cli("start", "--head", "--num-cpus", "1").stdout
    address = out.split(" at ", 1)[1].split()[0]
    join = re.search(r"nbray start --address (\S+) --token-file (\S+)", out)
    assert join and join.group(1) == address, out
    return {"address": address, "pid": int(re.search(r"pid (\d+)", out).group(1)),
            "token_file": join.group(2), "out": out}


def _join(cli, head: dict, *extra: str) -> int:
    out = cli("start", "--address", head["address"], "--token-file", head["token_file"],
              "--num-cpus", "1", *extra).stdout
    assert "joined" in out, out
    return int(re.search(r"pid (\d+)", out).group(1))


def _files(d: str, suffix: str) -> list:
    try:
        return sorted(n for n in os.listdir(d) if n.endswith(suffix))
    except FileNotFoundError:
        return []


# -- item 2: nbray stop never signals an unrelated process ------------------------------
def test_stop_leaves_alone_a_process_that_reuses_a_stale_pid_files_pid(cli):
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        import psutil

        d = cli.cluster_dir
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(os.path.dirname(d), 0o700)
        real = psutil.Process(bystander.pid)
        # A plain pid (the old format), a record with another start time, one with another
        # command line: each describes a head that died and whose pid was reused.
        with open(os.path.join(d, f"head.{bystander.pid}.pid"), "w") as f:
            f.write(str(bystander.pid))
        for name, record in [
                ("head-1.pid", {"pid": bystander.pid, "create_time": real.create_time() - 100,
                                "cmdline": real.cmdline()}),
                ("node-2.pid", {"pid": bystander.pid, "create_time": real.create_time(),
                                "cmdline": [sys.executable, "-m", "nbray.runtime.node_agent"]})]:
            with open(os.path.join(d, name), "w") as f:
                json.dump({"kind": "head", "address": "ws://127.0.0.1:1", "process": record}, f)
        out = cli("stop")
        assert "stopped 0" in out.stdout, out.stdout
        assert bystander.poll() is None, "nbray stop killed an unrelated process"
        assert _files(d, ".pid") == []                       # stale files are removed
    finally:
        bystander.kill()
        bystander.wait()


def test_pid_files_go_away_when_a_head_or_node_exits_by_sigterm(cli):
    head = _start_head(cli)
    node = _join(cli, head)
    d = cli.cluster_dir
    assert len(_files(d, ".pid")) == 2
    for name in _files(d, ".pid") + _files(d, ".log"):
        assert os.stat(os.path.join(d, name)).st_mode & 0o777 == 0o600, name
    os.kill(head["pid"], signal.SIGTERM)                    # not through nbray stop
    poll_for(lambda: pid_gone(head["pid"]) and pid_gone(node), timeout=30,
             msg="the head and its node exited")
    assert _files(d, ".pid") == [] and _files(d, ".json") == [] and _files(d, ".token") == []
    assert "stopped 0" in cli("stop").stdout


def test_a_node_whose_head_was_killed_stops_within_its_rejoin_window(cli):
    head = _start_head(cli)
    node = _join(cli, head)
    status = cli("status").stdout
    assert f"rejoins for up to {REJOIN_WINDOW_S:g} s" in status, status
    os.kill(head["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    poll_for(lambda: pid_gone(node), timeout=REJOIN_WINDOW_S + 20, msg="the node gave up")
    assert time.monotonic() - t0 < REJOIN_WINDOW_S + 15
    names = _files(cli.cluster_dir, ".pid")
    assert not [n for n in names if n.startswith("node-")], names   # removed by the node
    assert "stopped 0" in cli("stop").stdout                # the head's stale file: no signal
    assert _files(cli.cluster_dir, ".pid") == []


# -- item 3: an attached driver whose head is killed -----------------------------------
DRIVER = textwrap.dedent("""
    import json, sys, threading, time
    import nbray
    from nbray import exceptions as exc

    nbray.init(address=sys.argv[1], token=open(sys.argv[2]).read().strip())

    @nbray.remote
    def slow():
        time.sleep(300)

    ref = slow.remote()
    results = {}

    def run(name, fn):
        t0 = time.monotonic()
        try:
            fn()
            results[name] = ["returned", time.monotonic() - t0, "", False]
        except BaseException as e:
            results[name] = [type(e).__name__, time.monotonic() - t0, str(e),
                             isinstance(e, exc.RaySystemError)]

    calls = {"get": lambda: nbray.get(ref), "get_timeout": lambda: nbray.get(ref, timeout=120),
             "wait": lambda: nbray.wait([ref])}
    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    print("blocked", flush=True)
    for t in threads:
        t.join(60)
    run("put_later", lambda: nbray.put(1))
    run("remote_later", lambda: slow.remote())
    run("get_later", lambda: nbray.get(ref, timeout=5))
    nbray.shutdown()
    print(json.dumps(results), flush=True)
""")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_an_attached_driver_fails_fast_with_head_lost_when_the_head_dies_or_hangs(cli, tmp_path,
                                                                                  how):
    head = _start_head(cli)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), head["address"], head["token_file"]],
                              env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert driver.stdout.readline().strip() == "blocked"
        os.kill(head["pid"], getattr(signal, how))
        out, err = driver.communicate(timeout=60)
    finally:
        if how == "SIGSTOP":
            os.kill(head["pid"], signal.SIGCONT)            # so that `nbray stop` can stop it
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    results = json.loads(out.strip().splitlines()[-1])
    # A killed head closes its socket at once; a hung one misses the driver's pings, which
    # are as frequent as the heartbeats the head expects from its nodes.
    bound = HEARTBEAT_TIMEOUT_S + 5 if how == "SIGKILL" else 2 * HEARTBEAT_TIMEOUT_S + 5
    for name, (kind, elapsed, message, is_system) in results.items():
        assert kind == "HeadLostError", (name, kind, message, err)
        assert is_system, name                               # except RaySystemError catches it
        assert head["address"] in message, message
        if name in ("get", "get_timeout", "wait"):
            assert elapsed < bound, (name, elapsed)


# -- item 4: several heads of one user ---------------------------------------------------
def test_several_heads_coexist_and_stop_address_stops_only_one_cluster(cli):
    a = _start_head(cli)
    b = _start_head(cli)
    assert a["token_file"] != b["token_file"]
    node_a = _join(cli, a, "--resources", '{"a": 1}')       # each printed command works
    node_b = _join(cli, b, "--resources", '{"b": 1}')
    auto = subprocess.run([sys.executable, "-c", "import nbray; nbray.init(address='auto')"],
                          env=cli.env, capture_output=True, text=True, timeout=60)
    assert auto.returncode != 0
    assert a["address"] in auto.stderr and b["address"] in auto.stderr, auto.stderr
    stopped = cli("stop", "--address", a["address"]).stdout
    assert "stopped 2" in stopped, stopped
    poll_for(lambda: pid_gone(a["pid"]) and pid_gone(node_a), timeout=30, msg="cluster a stopped")
    assert not pid_gone(b["pid"]) and not pid_gone(node_b)
    status = cli("status").stdout
    assert b["address"] in status and a["address"] not in status, status
    attach = subprocess.run([sys.executable, "-c",
                             "import nbray; nbray.init(address='auto');"
                             "print(nbray.cluster_resources().get('b'))"],
                            env=cli.env, capture_output=True, text=True, timeout=60)
    assert attach.stdout.strip() == "1.0", attach.stderr


# -- item 6: browsers never reach the cluster sockets -----------------------------------
def _upgrade_status(head, path: str, headers: dict) -> int:
    async def go():
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        req = tornado.httpclient.HTTPRequest(
            head.server.address.replace("ws://", "http://") + path, headers={
                "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **headers})
        try:
            return (await client.fetch(req, raise_error=False)).code
        finally:
            client.close()

    return head.server.net.run(go(), timeout=10)


@pytest.mark.parametrize("path", ["/nbray/ws", "/nbray/objects"])
def test_same_origin_browser_pages_are_refused_too(head, path):
    token = {"Authorization": f"Bearer {head.server.token}"}
    own = head.server.address.replace("ws://", "http://")
    for origin in (own, "http://evil.example", "null"):
        for extra in ({}, {"Sec-Fetch-Site": "same-origin"}):
            assert _upgrade_status(head, path, {**token, "Origin": origin, **extra}) == 403


# -- item 7: nbray dashboard, and no login link in logs ----------------------------------
def test_nbray_dashboard_prints_a_fresh_one_time_link_that_no_log_holds(cli):
    head = _start_head(cli)
    links = [cli("dashboard").stdout.strip() for _ in range(2)]
    assert links[0] != links[1] and all("/login?otp=" in u for u in links), links

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as first:
        opener.open(links[0], timeout=10)
    first.value.close()
    assert first.value.code == 302 and "nbray-session" in first.value.headers["Set-Cookie"]
    with pytest.raises(urllib.error.HTTPError) as again:
        opener.open(links[0], timeout=10)                      # one time only
    again.value.close()
    assert again.value.code == 403
    # Minting a link needs the token; a browser cookie or nothing is not enough.
    req = urllib.request.Request(head["address"].replace("ws://", "http://") +
                                 "/nbray/login-link", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as anon:
        urllib.request.urlopen(req, timeout=10)
    anon.value.close()
    assert anon.value.code == 401
    for name in _files(cli.cluster_dir, ".log"):
        path = os.path.join(cli.cluster_dir, name)
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            assert "otp=" not in f.read(), name
