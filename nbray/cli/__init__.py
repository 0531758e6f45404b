"""The `nbray` command: inspect running clusters (`nbray memory`, `nbray status`)."""

from __future__ import annotations

import argparse
import json
import sys
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
    from ..memory import MemorySummary
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
