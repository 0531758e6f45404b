"""The head process started by `nbray start --head`: a node plus the server others join.

It writes its own pid file (pid, start time, command line: see pidfiles) and
its address and token files, and removes them on every exit that runs code.
The one-time dashboard login link is not logged: `nbray start --head` and
`nbray dashboard` ask the running head for a fresh one, with the token.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="nbray-head")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--num-cpus", type=int, default=None)
    p.add_argument("--resources", default="{}")
    p.add_argument("--object-store-memory", type=int, default=None)
    p.add_argument("--certfile")
    p.add_argument("--keyfile")
    p.add_argument("--cafile")
    args = p.parse_args(argv)

    import nbray
    from nbray.lifecycle import serve_cluster
    from nbray.runtime.context import current_driver
    from nbray.runtime.head_server import HeadServer

    token = os.environ.pop("NBRAY_TOKEN", None)
    nbray.init(num_cpus=args.num_cpus, resources=json.loads(args.resources),
               object_store_memory=args.object_store_memory)
    from nbray.transport.tls import TlsConfig

    from nbray.runtime.pidfiles import PidFile

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    server = None
    pid_file = None
    try:
        driver = current_driver()
        if driver is None or driver.node is None:
            raise RuntimeError("nbray.init() did not start a local cluster")
        node = driver.node
        server = HeadServer(node, host=args.host, port=args.port, token=token,
                            tls=TlsConfig.from_env(args.certfile, args.keyfile, args.cafile))
        serve_cluster(server)
        pid_file = PidFile(f"head-{server.port}.pid", kind="head", address=server.address,
                           port=server.port, token_file=server.token_path)
        print(f"nbray head {node.node_id} listening at {server.address}", flush=True)
        print(f"join with: {server.join_command()}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        # Every exit that runs code (SIGTERM, Ctrl-C, an exception) removes the files.
        if pid_file is not None:
            pid_file.remove()
        if server is not None:
            server.remove_files()
        nbray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
