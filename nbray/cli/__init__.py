"""The `nbray` command: inspect running clusters (`nbray memory`, `nbray status`), start and
stop heads and nodes (`nbray start`, `nbray stop`), log into a head's dashboard
(`nbray dashboard`).

Heads and nodes write their own pid files (see runtime.pidfiles); `nbray stop`
signals only processes that still match them.  Logs are created 0600 in the
private cluster directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional


class UsageError(Exception):
    """A bad command line that argparse cannot catch (a value's shape, a missing choice):
    main prints it as one line and exits 2, as argparse does for its own usage errors."""


def _head_address(address: str, option: str = "--address") -> str:
    """A head's ws:// or wss:// address, "auto" resolved to the only head running here."""
    if address == "auto":
        from ..runtime.head_server import find_head

        return str(find_head(None)["address"])
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        ok = parts.scheme in ("ws", "wss") and bool(parts.hostname) and parts.port is not None
    except ValueError:  # a port out of range or not a number
        ok = False
    if not ok:
        raise UsageError(f"{option} must be a head's ws://host:port or wss://host:port (or auto), "
                         f"got {address!r}")
    return address


def _resources(text: str) -> str:
    """--resources checked here, so a typo is a usage error, not a dead head's traceback."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            and v >= 0 for k, v in value.items()):
        raise UsageError(f"--resources must be a JSON object of names to numbers >= 0, e.g. "
                         f"'{{\"GPU\": 1}}', got {text!r}")
    return text


def _check_start(args: argparse.Namespace) -> None:
    if args.num_cpus is not None and args.num_cpus < 0:
        raise UsageError(f"--num-cpus must be >= 0, got {args.num_cpus}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {args.port}")
    if args.object_store_memory is not None and args.object_store_memory <= 0:
        raise UsageError(f"--object-store-memory must be a number of bytes > 0, got "
                         f"{args.object_store_memory}")
    _resources(args.resources)
    if args.head and args.address:
        raise UsageError("give either --head (start a head) or --address (join one), not both")
    if not args.head and not args.address:
        raise UsageError("give --head to start a head, or --address to join one")


def _state_socket(address: str) -> str:
    """memory/status --address: a driver's state socket, not a head's ws:// address."""
    if "://" in address:
        raise UsageError(f"--address here is a driver's state socket (a file; `nbray status` "
                         f"lists them), not a head's address like {address!r}")
    return address


def _pick_session(address: Optional[str]) -> str:
    from ..runtime.state_server import live_sessions

    if address:
        return _state_socket(address)
    sessions = live_sessions()
    if not sessions:
        raise SystemExit("nbray: no running nbray cluster found for this user "
                         "(start one with nbray.init() or %load_ext nbray)")
    return sessions[0]


def _cmd_memory(args: argparse.Namespace) -> int:
    from ..memory_summary import MemorySummary
    from ..runtime.state_server import query

    for name in ("limit", "offset"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.width < 20:
        raise UsageError(f"--width must be at least 20 columns, got {args.width}")
    path = _pick_session(args.address)
    result = query(path, "memory", sort_by=args.sort_by, descending=not args.ascending,
                   filter=args.filter or "", where=args.where, ref_type=args.ref_type,
                   offset=args.offset, limit=args.limit)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(MemorySummary.from_dict(result).table(width=args.width))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ..runtime.state_server import live_sessions, query

    from ..runtime.pidfiles import describe, read_pid_files

    started = read_pid_files()
    for info in started:
        print(f"started by `nbray start`: {describe(info)}")
    sessions = [_state_socket(args.address)] if args.address else live_sessions()
    if not sessions:
        print("no running nbray cluster found")
        return 1
    for path in sessions:
        s = query(path, "summary")
        print(f"cluster {s['node_id'][:12]} ({path}): {s['nodes']} node(s), "
              f"CPU {s['available'].get('CPU', 0):g}/{s['resources'].get('CPU', 0):g} free, "
              f"{s['workers']} workers, {s['objects']} objects, store "
              f"{s['store_used'] / 2**20:.1f}/{s['store_capacity'] / 2**20:.1f} MiB")
        for n in query(path, "nodes"):
            if n.get("IsDriver") and not n["Alive"]:
                continue  # a driver that detached: nothing to report
            kind = "head" if n["IsHead"] else "driver" if n.get("IsDriver") else "node"
            res = ", ".join(f"{k}={v:g}" for k, v in n["Resources"].items()
                            if not k.startswith("node:") and k != "object_store_memory")
            print(f"  node {n['NodeID'][:12]} {kind} "
                  f"{'alive' if n['Alive'] else 'DEAD '} {n['NodeManagerHostname']} "
                  f"{res}; {n['Workers']} workers; store {n['ObjectStoreUsed'] / 2**20:.1f}/"
                  f"{n['Resources']['object_store_memory'] / 2**20:.0f} MiB")
    return 0


def _pid_path(name: str) -> str:
    from ..runtime.head_server import cluster_dir

    return os.path.join(cluster_dir(), name)


def _new_log(kind: str) -> str:
    """A new log file of our own, 0600, with a name no other start can share."""
    from ..userdirs import create_private_file

    while True:
        path = _pid_path(f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}.log")
        try:
            os.close(create_private_file(path))
            return path
        except FileExistsError:
            continue


def _daemon_dir() -> str:
    """Where heads and nodes run: the private cluster directory, never the directory
    `nbray start` was typed in.  `python -m` puts its working directory first on sys.path
    (and the node hands its sys.path to its workers), so a `selectors.py`, `token.py` or
    `random.py` there would be imported instead of the standard library's and kill the
    head, or every task.  Code that tasks import comes from the environment (installed,
    or on PYTHONPATH), as on any other machine of the cluster."""
    from ..runtime.head_server import cluster_dir

    return cluster_dir()


def _exec_foreground(cmd: List[str], env: dict) -> None:
    """--block: become the head or node, in the same directory as a background one."""
    os.chdir(_daemon_dir())
    os.execve(sys.executable, cmd, env)


def _spawn_daemon(cmd: List[str], env: dict, log_path: str) -> "subprocess.Popen":
    from ..userdirs import create_private_file

    log = os.fdopen(create_private_file(log_path, exclusive=False, append=True), "ab")
    try:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=_daemon_dir())
    finally:
        log.close()


def _wait_for_line(path: str, needle: str, proc: "subprocess.Popen", timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if needle in line:
                        return line
        except OSError:
            pass
        if proc.poll() is not None:
            with open(path, "rb") as f:
                tail = f.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"nbray: the process exited with code {proc.returncode}:\n{tail}")
        time.sleep(0.05)
    raise SystemExit(f"nbray: no answer after {timeout:.0f} s; see {path}")


def _read_token(args: argparse.Namespace) -> str:
    from ..transport.ws import read_token_file

    if args.token:
        return args.token
    if os.environ.get("NBRAY_TOKEN"):
        return os.environ["NBRAY_TOKEN"]
    path = args.token_file or os.environ.get("NBRAY_TOKEN_FILE")
    if path:
        return read_token_file(path)
    from ..runtime.head_server import find_head

    try:
        return read_token_file(find_head(args.address)["token_file"])
    except (OSError, ConnectionError) as e:
        raise SystemExit(f"nbray: no cluster token ({e}): pass --token or --token-file, or "
                         f"set NBRAY_TOKEN") from None


def _cmd_start(args: argparse.Namespace) -> int:
    _check_start(args)
    env = dict(os.environ)
    # The daemon runs elsewhere (_daemon_dir): relative paths keep meaning what they meant here.
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in
                                            env["PYTHONPATH"].split(os.pathsep) if p)
    spill = env.get("NBRAY_SPILL_URL", "")
    if spill and "://" not in spill:
        env["NBRAY_SPILL_URL"] = os.path.abspath(spill)
    common = []
    if args.num_cpus is not None:
        common += ["--num-cpus", str(args.num_cpus)]
    if args.head:
        cmd = [sys.executable, "-m", "nbray.runtime.head_main", "--host", args.host or "127.0.0.1",
               "--port", str(args.port), "--resources", args.resources] + common
        if args.object_store_memory:
            cmd += ["--object-store-memory", str(args.object_store_memory)]
        for flag in ("certfile", "keyfile", "cafile"):
            if getattr(args, flag):
                cmd += [f"--{flag}", os.path.abspath(getattr(args, flag))]
        if args.token:
            env["NBRAY_TOKEN"] = args.token  # the environment, never argv: ps shows argv
        if args.block:
            _exec_foreground(cmd, env)
        log = _new_log("head")
        proc = _spawn_daemon(cmd, env, log)
        line = _wait_for_line(log, "listening at", proc, 60)
        address = line.rsplit(" ", 1)[-1]
        from ..runtime.head_server import find_head
        from ..transport.ws import read_token_file

        token_path = find_head(address)["token_file"]
        print(f"nbray head started (pid {proc.pid}) at {address}")
        print(f"  join another node:  nbray start --address {address} --token-file {token_path}")
        print(f"  attach a driver:    nbray.init(address={address!r})  (or address='auto' here)")
        print(f"  the token is in {token_path} (mode 0600); copy it to the other machines")
        print(f"  log: {log}")
        try:
            print(f"  dashboard (one-time login): {_login_link(address, read_token_file(token_path))}")
        except (OSError, ValueError) as e:
            print(f"  dashboard: cannot get a login link now ({e}); run `nbray dashboard`")
        return 0
    # "auto" joins the only head running here, as nbray.init(address="auto") attaches to it.
    args.address = _head_address(args.address)
    env["NBRAY_TOKEN"] = _read_token(args)
    from ..transport.tls import TlsConfig

    tls = TlsConfig.from_env(*(os.path.abspath(p) if p else None
                               for p in (args.certfile, args.keyfile, args.cafile)))
    env.update(tls.env())
    cmd = [sys.executable, "-m", "nbray.runtime.node_agent", args.address,
           str(args.num_cpus if args.num_cpus is not None else (os.cpu_count() or 1)),
           args.resources, str(args.object_store_memory or 0), args.host or ""]
    if args.block:
        _exec_foreground(cmd, env)
    log = _new_log("node")
    proc = _spawn_daemon(cmd, env, log)
    line = _wait_for_line(log, "joined", proc, 60)
    print(f"{line} (pid {proc.pid}; log {log})")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    import psutil

    from ..runtime.head_server import same_head
    from ..runtime.pidfiles import describe, process_matches, read_pid_files

    if args.address:
        args.address = _head_address(args.address)
    # Only processes that still match their pid file (pid, start time, command line):
    # a stale file whose pid now belongs to something else is removed, never signalled.
    targets = [i for i in read_pid_files()
               if args.address is None or same_head(str(i.get("address")), args.address)]
    # Nodes first, then heads, so nodes do not report their head as lost.
    targets.sort(key=lambda i: i.get("kind") == "head")
    stopped = []
    for info in targets:
        try:
            info["proc"].send_signal(signal.SIGTERM)  # psutil re-checks the start time
            stopped.append(info)
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs([i["proc"] for i in stopped], timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    for info in stopped:
        if process_matches(info["process"]) is None:
            try:
                os.unlink(info["path"])  # a SIGKILLed process could not remove its own
            except OSError:
                pass
    for info in stopped:
        print(f"stopped {describe(info)}")
    where = f" of the cluster at {args.address}" if args.address else ""
    print(f"stopped {len(stopped)} nbray process(es){where}")
    return 0


def _login_link(address: str, token: str) -> str:
    """A fresh one-time dashboard login URL from the running head at `address`."""
    import urllib.request

    from ..transport.tls import TlsConfig

    base = ("https://" if address.startswith("wss://") else "http://") + address.split("://", 1)[1]
    req = urllib.request.Request(base.rstrip("/") + "/nbray/login-link", data=b"", method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    ctx = TlsConfig.from_env().client_context() if base.startswith("https") else None
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        return base.rstrip("/") + json.loads(r.read())["path"]


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import urllib.error

    from ..runtime.head_server import find_head

    # A head on another machine is reached by its --address (with --token or --token-file);
    # only without one is the head looked up among those running here.
    address = (_head_address(args.address) if args.address not in (None, "auto")
               else find_head(None)["address"])
    try:
        print(_login_link(address, _read_token(args)))
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise PermissionError(f"nbray: the head at {address} refused the token") from None
        raise ConnectionError(f"the head answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise ConnectionError(f"no head answers ({e.reason})") from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbray", description="Inspect nbray clusters.")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("memory", help="objects in the store, grouped by node")
    m.add_argument("--address", help="state socket of the driver (default: the newest running one)")
    m.add_argument("--sort-by", default="size",
                   choices=["size", "created", "last_access", "object_id", "type", "where",
                            "call_site", "owner"])
    m.add_argument("--ascending", action="store_true", help="smallest / oldest first")
    m.add_argument("--filter", help="keep objects whose id, type, call site or task contains this")
    m.add_argument("--where", choices=["inline", "shared_memory", "spilled", "pending"])
    m.add_argument("--ref-type", help="keep objects with this reference type, e.g. BORROWED")
    m.add_argument("--limit", type=int, default=50)
    m.add_argument("--offset", type=int, default=0)
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--width", type=int, default=160)
    m.set_defaults(func=_cmd_memory)
    s = sub.add_parser("status", help="running clusters and their resources")
    s.add_argument("--address")
    s.set_defaults(func=_cmd_status)
    st = sub.add_parser("start", help="start a head (--head) or join one (--address)")
    st.add_argument("--head", action="store_true", help="start a head node")
    st.add_argument("--address", help="ws://host:port of the head to join")
    st.add_argument("--host", default=None,
                    help="address to bind. A head binds 127.0.0.1 unless told; a joining node "
                         "serves its objects on 127.0.0.1 when the head is on this machine, else "
                         "on this machine's address on the route to the head. Every connection "
                         "needs the token")
    st.add_argument("--port", type=int, default=0, help="head port (default: a free one)")
    st.add_argument("--num-cpus", type=int, default=None)
    st.add_argument("--resources", default="{}", help='custom resources as JSON, e.g. \'{"GPU": 1}\'')
    st.add_argument("--object-store-memory", type=int, default=None)
    st.add_argument("--token", help="cluster token (prefer NBRAY_TOKEN or --token-file)")
    st.add_argument("--token-file")
    st.add_argument("--certfile", help="TLS certificate (PEM) this node serves: the head serves "
                    "wss:// instead of ws://; a node joining a wss:// head needs one too")
    st.add_argument("--keyfile", help="private key of --certfile (default: in the same file)")
    st.add_argument("--cafile", help="certificates to trust when connecting to other members "
                    "(default: the system's, plus --certfile)")
    st.add_argument("--block", action="store_true", help="stay in the foreground")
    st.set_defaults(func=_cmd_start)
    sp = sub.add_parser("stop", help="stop the heads and nodes `nbray start` started here")
    sp.add_argument("--address", help="stop only the cluster of this head (ws://host:port): "
                    "the head and the nodes joined to it")
    sp.set_defaults(func=_cmd_stop)
    d = sub.add_parser("dashboard", help="print a fresh one-time dashboard login link of a "
                       "running head")
    d.add_argument("--address", help="the head (ws://host:port; default: the only one here)")
    d.add_argument("--token", help="cluster token (default: the head's token file)")
    d.add_argument("--token-file")
    d.set_defaults(func=_cmd_dashboard)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"nbray {args.command}: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:  # an unsafe state directory, or a refused token
        print(str(e) if str(e).startswith("nbray:") else f"nbray: {e}", file=sys.stderr)
        return 1
    except (ConnectionError, FileNotFoundError) as e:
        where = getattr(args, "address", None)
        why = e.strerror if isinstance(e, FileNotFoundError) and e.strerror else e
        print(f"nbray: cannot reach the cluster{f' at {where}' if where else ''}: {why}",
              file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as e:  # e.g. a head that died before answering
        print(f"nbray: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
