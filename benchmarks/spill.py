#!/usr/bin/env python3
"""Spilling throughput, nbray and Ray side by side, against the disk's own write speed.

Usage: python benchmarks/spill.py [--store-mib 512] [--data-mib 2048] [--object-mib 64]
       [--modules nbray,ray] [--reps 3] [--json OUT]

Each module runs in a child process with a store of --store-mib and a spill
directory on the same disk (under --dir, default the system temp dir):
  put while spilling   GB/s of put() for --data-mib of float64 arrays (4x the store):
                       every put beyond the store forces older objects to disk
  get while spilling   GB/s of get() + a full read of every array, oldest first
                       (each restore evicts another object)
  restore              GB/s of get() of objects known to be on disk only
The reference is the disk: a plain write of the same bytes to a file (what a
spill pays: the page cache; also shown with fsync), and a read back of it.
Ratios > 1 mean nbray is faster.  Nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MiB = 2**20
GB = 1e9
TAG = "SPILL_BENCH_RESULT "


def disk_reference(directory: str, total: int, chunk: int) -> dict:
    import numpy as np

    path = os.path.join(directory, f"disk-probe-{os.getpid()}")
    data = np.random.default_rng(0).random(chunk // 8)
    def write_file(sync: bool) -> float:
        t0 = time.perf_counter()
        with open(path, "wb", buffering=0) as f:
            written = 0
            while written < total:
                f.write(memoryview(data).cast("B"))
                written += chunk
            if sync:
                os.fsync(f.fileno())
        return total / (time.perf_counter() - t0) / GB

    write_sync = write_file(True)
    os.unlink(path)
    write = write_file(False)  # what a spill pays: the page cache, flushed later
    t0 = time.perf_counter()
    buf = bytearray(chunk)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    read = total / (time.perf_counter() - t0) / GB
    os.unlink(path)
    return {"disk_write_gbps": write, "disk_write_fsync_gbps": write_sync, "disk_read_gbps": read}


def child(module: str, store: int, data: int, obj: int, directory: str) -> None:
    import numpy as np

    mod = __import__(module)
    spill_dir = tempfile.mkdtemp(prefix=f"{module}-spill-", dir=directory)
    if module == "ray":
        mod.init(num_cpus=2, object_store_memory=store, include_dashboard=False,
                 logging_level="ERROR", address="local",
                 _system_config={"object_spilling_config": json.dumps(
                     {"type": "filesystem", "params": {"directory_path": spill_dir}})})
    else:
        mod.init(num_cpus=2, object_store_memory=store, spill_url=spill_dir)
    n = data // obj
    arrays = [np.random.default_rng(i).random(obj // 8) for i in range(4)]
    t0 = time.perf_counter()
    refs = [mod.put(arrays[i % 4]) for i in range(n)]
    put = n * obj / (time.perf_counter() - t0) / GB
    # Oldest first: each one was spilled, and reading it evicts a newer one.
    t0 = time.perf_counter()
    ok = True
    for i, r in enumerate(refs):
        a = mod.get(r)
        ok &= bool(a[0] == arrays[i % 4][0] and a[-1] == arrays[i % 4][-1])
        float(a.sum())
        del a
    get = n * obj / (time.perf_counter() - t0) / GB
    # Objects that were evicted again by the reads above: restore only.
    t0 = time.perf_counter()
    k = max(1, n // 4)
    for r in refs[:k]:
        a = mod.get(r)
        del a
    restore = k * obj / (time.perf_counter() - t0) / GB
    del refs
    mod.shutdown()
    shutil.rmtree(spill_dir, ignore_errors=True)
    print(TAG + json.dumps({"put_gbps": put, "get_gbps": get, "restore_gbps": restore,
                            "correct": ok}), flush=True)


def run_child(module: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", module,
           "--store-mib", str(args.store_mib), "--data-mib", str(args.data_mib),
           "--object-mib", str(args.object_mib), "--dir", args.dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    raise RuntimeError(f"{module} child failed ({proc.returncode}): {proc.stderr[-1500:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store-mib", type=int, default=512)
    ap.add_argument("--data-mib", type=int, default=2048)
    ap.add_argument("--object-mib", type=int, default=64)
    ap.add_argument("--modules", default="nbray,ray")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--json")
    ap.add_argument("--_child")
    args = ap.parse_args()
    if args._child:
        child(args._child, args.store_mib * MiB, args.data_mib * MiB, args.object_mib * MiB, args.dir)
        return 0
    modules = []
    for m in args.modules.split(","):
        try:
            __import__(m)
            modules.append(m)
        except ImportError:
            print(f"note: {m} is not installed; skipping it (pip install {m})")
    results: dict = {m: [] for m in modules}
    disk = []
    for rep in range(args.reps):
        disk.append(disk_reference(args.dir, args.data_mib * MiB, args.object_mib * MiB))
        order = modules if rep % 2 == 0 else list(reversed(modules))
        for m in order:
            results[m].append(run_child(m, args))
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    dw = med([d["disk_write_gbps"] for d in disk])
    dr = med([d["disk_read_gbps"] for d in disk])
    ds = med([d["disk_write_fsync_gbps"] for d in disk])
    print(f"spilling {args.data_mib} MiB through a {args.store_mib} MiB store in "
          f"{args.object_mib} MiB arrays; medians of {args.reps} runs; GB = 1e9 bytes")
    print(f"disk: plain file write {dw:.2f} GB/s (with fsync {ds:.2f} GB/s), read back {dr:.2f} GB/s")
    header = f"{'case':<22}" + "".join(f"{m:>12}" for m in modules)
    header += "  nbray/disk" + ("   nbray/ray" if "ray" in modules and "nbray" in modules else "")
    print(header)
    # Spilling is bound by writes (a get while spilling restores one object and evicts
    # another); restore alone is bound by reads.
    for key, label, ref in (("put_gbps", "put while spilling", dw), ("get_gbps", "get while spilling", dw),
                            ("restore_gbps", "restore", dr)):
        vals = {m: med([r[key] for r in results[m]]) for m in modules}
        line = f"{label:<22}" + "".join(f"{vals[m]:>12.2f}" for m in modules)
        if "nbray" in vals:
            line += f"{vals['nbray'] / ref:>13.2f}"
            if "ray" in vals:
                line += f"{vals['nbray'] / vals['ray']:>12.2f}"
        print(line)
    for m in modules:
        if not all(r["correct"] for r in results[m]):
            print(f"WARNING: {m} returned wrong values")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"disk": disk, "results": results, "args": vars(args)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
