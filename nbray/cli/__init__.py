"""The `nbray` command: inspect running clusters (`nbray memory`, `nbray status`)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional


def _pick_session(address: Optional[str]) -> str:
    from ..runtime.state_server import live_sessions

    if address:
        return address
    sessions = live_sessions()
    if not sessions:
        raise SystemExit("nbray: no running nbray cluster found for this user "
                         "(start one with nbray.init() or %load_ext nbray)")
    return sessions[0]


def _cmd_memory(args: argparse.Namespace) -> int:
    from ..memory_summary import MemorySummary
    from ..runtime.state_server import query

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

    sessions = [args.address] if args.address else live_sessions()
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


def _spawn_daemon(cmd: List[str], env: dict, log_name: str) -> "subprocess.Popen":
    log = open(_pid_path(log_name), "ab")
    try:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
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
    from ..runtime.head_server import token_file

    try:
        return read_token_file(token_file())
    except OSError:
        raise SystemExit("nbray: no cluster token: pass --token or --token-file, or set "
                         "NBRAY_TOKEN") from None


def _cmd_start(args: argparse.Namespace) -> int:
    env = dict(os.environ)
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
            os.execve(sys.executable, cmd, env)
        log = f"head-{int(time.time())}.log"
        proc = _spawn_daemon(cmd, env, log)
        _wait_for_line(_pid_path(log), "dashboard (one-time login)", proc, 60)
        line = _wait_for_line(_pid_path(log), "listening at", proc, 5)
        dash = _wait_for_line(_pid_path(log), "dashboard (one-time login)", proc, 5)
        with open(_pid_path(f"head.{proc.pid}.pid"), "w") as f:
            f.write(str(proc.pid))
        address = line.rsplit(" ", 1)[-1]
        from ..runtime.head_server import token_file

        print(f"nbray head started (pid {proc.pid}) at {address}")
        print(f"  join another node:  nbray start --address {address} --token-file {token_file()}")
        print(f"  attach a driver:    nbray.init(address={address!r})  (or address='auto' here)")
        print(f"  the token is in {token_file()} (mode 0600); copy it to the other machines")
        print(f"  {dash.strip()}")
        return 0
    if not args.address:
        raise SystemExit("nbray start: give --head to start a head, or --address to join one")
    env["NBRAY_TOKEN"] = _read_token(args)
    from ..transport.tls import TlsConfig

    tls = TlsConfig.from_env(*(os.path.abspath(p) if p else None
                               for p in (args.certfile, args.keyfile, args.cafile)))
    env.update(tls.env())
    cmd = [sys.executable, "-m", "nbray.runtime.node_agent", args.address,
           str(args.num_cpus if args.num_cpus is not None else (os.cpu_count() or 1)),
           args.resources, str(args.object_store_memory or 0), args.host or ""]
    if args.block:
        os.execve(sys.executable, cmd, env)
    log = f"node-{int(time.time() * 1000)}.log"
    proc = _spawn_daemon(cmd, env, log)
    line = _wait_for_line(_pid_path(log), "joined", proc, 60)
    with open(_pid_path(f"node.{proc.pid}.pid"), "w") as f:
        f.write(str(proc.pid))
    print(f"{line} (pid {proc.pid})")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from ..runtime.head_server import cluster_dir

    pids = []
    for name in os.listdir(cluster_dir()):
        if name.endswith(".pid"):
            try:
                pids.append((int(open(os.path.join(cluster_dir(), name)).read()), name))
            except (OSError, ValueError):
                pass
    stopped = 0
    # Nodes first, then heads, so nodes do not report their head as lost.
    for pid, name in sorted(pids, key=lambda p: p[1].startswith("head")):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for pid, name in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.unlink(os.path.join(cluster_dir(), name))
        except OSError:
            pass
    print(f"stopped {stopped} nbray process(es)")
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
    sp = sub.add_parser("stop", help="stop the heads and nodes this machine started")
    sp.set_defaults(func=_cmd_stop)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConnectionError, FileNotFoundError) as e:
        print(f"nbray: cannot reach the cluster: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"nbray: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
