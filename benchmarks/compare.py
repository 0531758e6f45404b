#!/usr/bin/env python3
"""nbray and Ray side by side: the same cases on both, in one run, with ratios.

Usage:
    python benchmarks/compare.py [--quick] [--only GLOBS] [--json OUT] [--modules nbray,ray]
                                 [--baseline DIR] [--list] [--case-timeout S]

`--baseline DIR` compares this checkout's nbray with the nbray of another checkout
(a `git worktree` of an older commit, say) in the same run: its column is
`nbray@baseline`, and the ratio column reads "this checkout / baseline".

Every cluster is used through the public Ray core API only (`import nbray as ray`
runs the same code): init(num_cpus=2), put, get, wait, @remote functions and
@remote classes.  The places where the modules are treated differently are
MODULE_TWEAKS below and CLUSTER_STARTS (how each starts a cluster of two nodes).

How a run is organised (so the two modules never share the machine):
  reference  one child process measures the machine itself, no cluster: memcpy, and the
             IPC floor (round trips between two bare Python processes, ipc_floor.py);
  fresh      cold start and idle memory: every repetition is a new interpreter
             that imports the module, calls init(), runs one task, waits, measures
             the memory of the driver and all of its cluster processes, shuts down;
  cluster    every other case: one child process per module and round starts one
             cluster and runs all cases against it, one warm-up plus the measured
             repetitions each (cases needing another cluster, e.g. with a second
             node, get a child of their own).
The modules take turns in alternating order (nbray, ray, then ray, nbray, ...),
and the figure quoted is the median of all measured repetitions.

Reading the table: "ratio" is oriented so that > 1 means nbray is better, for
every row: nbray/ray for rates (higher is better), ray/nbray for times and
memory (lower is better).  A second table gives every per-operation rate as a
fraction of the IPC floor measured in the same run.  Nothing here asserts
anything about speed; a case fails only when it raises or returns a wrong value.

Adding a case: write a function taking (mod, params) that does its setup and
returns a function measuring one repetition, and decorate it with @case(...)
(see the cases below).  Cases that need a cluster started with other init()
arguments name an entry of CLUSTERS.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import importlib
import importlib.util
import json
import mmap
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

try:
    import psutil
except ImportError:  # pragma: no cover - nbray depends on psutil
    sys.exit("compare.py needs psutil: pip install psutil")

MiB = 2**20
GiB = 2**30
GB = 1e9
NUM_CPUS = 2
HIGHER, LOWER = "higher", "lower"

# =============================================================================
# MODULE-SPECIFIC TWEAKS: the only place where nbray and Ray are treated differently.
# =============================================================================
MODULE_TWEAKS: Dict[str, Dict[str, Any]] = {
    # No web dashboard, no log chatter, and always a new local cluster: without
    # address="local", Ray would connect to any cluster named by $RAY_ADDRESS or
    # started by `ray start` on this machine (and then refuse num_cpus).
    "ray": {"address": "local", "include_dashboard": False, "logging_level": "ERROR"},
}

# Named cluster configurations: extra init() keywords per module, computed in the
# child that starts the cluster.  Cases run against "default" unless they name
# another entry; each configuration gets its own child process per module and round.
# two_nodes: the driver's node and a second one on this machine (CLUSTER_STARTS); tasks are
# pinned to either by a custom resource each advertises plenty of.
HERE, THERE = "bench_here", "bench_there"
CLUSTERS: Dict[str, Callable[[str], Dict[str, Any]]] = {
    "default": lambda module_name: {},
    "two_nodes": lambda module_name: {"resources": {HERE: 10_000}},
}


def join_nbray_node(mod: Any) -> Callable[[], None]:
    """A second nbray node on this machine joins the driver's cluster, as `nbray start
    --address` would: a head server in the driver, a node agent process with NUM_CPUS
    workers and the resource THERE.  Returns the function that removes it again (after
    shutdown())."""
    from nbray.runtime.context import current_driver
    from nbray.runtime.head_server import HeadServer

    driver = current_driver()
    if driver is None or driver.node is None:
        raise RuntimeError("init() started no local node to join")
    server = HeadServer(driver.node, write_address=False)
    agent = subprocess.Popen(
        [sys.executable, "-m", "nbray.runtime.node_agent", server.address, str(NUM_CPUS),
         json.dumps({THERE: 10_000}), str(256 * MiB), "127.0.0.1"],
        env=dict(os.environ, NBRAY_TOKEN=server.token), stdout=subprocess.DEVNULL)

    def remove() -> None:
        server.close()
        if agent.poll() is None:
            agent.terminate()
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()

    try:
        deadline = time.monotonic() + 60
        while not any(n["Alive"] and THERE in n["Resources"] for n in mod.nodes()):
            if agent.poll() is not None:
                raise RuntimeError(f"the second node exited with status {agent.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the second node did not join within 60 s")
            time.sleep(0.05)
    except BaseException:
        remove()
        raise
    return remove


def nbray_two_nodes(mod: Any) -> Tuple[Any, Callable[[], None]]:
    ctx = start_cluster(mod, "nbray", "two_nodes")
    try:
        return ctx, join_nbray_node(mod)
    except BaseException:
        mod.shutdown()
        raise


def ray_two_nodes(mod: Any) -> Tuple[Any, Callable[[], None]]:
    """Two raylets on this machine, started by Ray's own test helper (no `ray start`, so
    no `ray stop` that would end every Ray cluster of this user); the driver attaches to
    the head's.  Its shutdown() ends both."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": NUM_CPUS, "resources": {HERE: 10_000}, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=NUM_CPUS, resources={THERE: 10_000})
        ctx = mod.init(address=cluster.address, logging_level="ERROR")
        cluster.wait_for_nodes()
    except BaseException:
        cluster.shutdown()
        raise
    return ctx, cluster.shutdown


# Configurations that are more than init() keywords, per module: a function of the module
# that starts the whole cluster and returns (init()'s return value, the function that
# removes what it started besides, called after shutdown()).  A module without an entry
# runs no case of such a configuration (mark those cases not_for it).
CLUSTER_STARTS: Dict[str, Dict[str, Callable[[Any], Tuple[Any, Callable[[], None]]]]] = {
    "two_nodes": {"nbray": nbray_two_nodes, "ray": ray_two_nodes},
}


def start_cluster(mod: Any, module_name: str, cluster: str = "default") -> Any:
    kwargs = {"num_cpus": NUM_CPUS, **MODULE_TWEAKS.get(module_name, {}),
              **CLUSTERS[cluster](module_name)}
    return mod.init(**kwargs)


def start_configuration(mod: Any, module_name: str, cluster: str
                        ) -> Tuple[Any, Optional[Callable[[], None]]]:
    """Start the cluster of a configuration: (init()'s return value, what to call after
    shutdown(), or None)."""
    starts = CLUSTER_STARTS.get(cluster)
    if starts is None:
        return start_cluster(mod, module_name, cluster), None
    if module_name not in starts:
        raise RuntimeError(f"cluster {cluster!r} has no start for {module_name}")
    return starts[module_name](mod)


def session_marker(context: Any) -> Optional[str]:
    """A string in the command line of cluster daemons that are not descendants of
    the driver: the session directory's name, where init()'s return value has one
    (Ray's address_info["session_dir"]).  None when every cluster process is a
    descendant of the driver (nbray)."""
    info = getattr(context, "address_info", None) or {}
    session_dir = info.get("session_dir") if isinstance(info, dict) else None
    return os.path.basename(str(session_dir).rstrip("/")) if session_dir else None


# =============================================================================
# Parameters
# =============================================================================
@dataclass(frozen=True)
class Params:
    rounds: int             # cluster children per module (alternating order)
    reps: int               # measured repetitions per case and round, after one warm-up
    large_reps: int         # the same for the 1 GiB cases
    ref_reps: int           # repetitions of the reference (machine) cases
    fresh_reps: int         # fresh interpreters per module, after one discarded
    settle_s: float         # wait after the first task before measuring idle memory
    small_ops: int          # put/get calls per repetition
    sync_calls: int         # sequential task round trips per repetition
    async_calls: int        # tasks submitted before one get(list)
    ref_arg_tasks: int      # tasks taking a ref to a 100 MiB array
    wait_tasks: int         # tasks drained with wait(num_returns=1)
    tree_leaves: int        # leaves of the tree reduction
    tree_leaf_len: int      # float64 elements per leaf
    multi_get_objects: int  # small objects fetched by one get(list)
    actor_sync_calls: int   # sequential actor method calls per repetition
    actor_async_calls: int  # actor calls submitted before one get(list)
    ipc_round_trips: int    # ping-pongs per repetition of the IPC floor
    listed_objects: int     # live objects behind the sorted listing page
    remote_tasks: int       # no-op tasks per repetition on each node (cross-node case)
    waves: int              # waves of the long task run, one repetition per round
    wave_tasks: int         # no-op tasks per wave


FULL = Params(rounds=3, reps=3, large_reps=2, ref_reps=5, fresh_reps=5, settle_s=2.0,
              small_ops=10_000, sync_calls=1_000, async_calls=1_000, ref_arg_tasks=100,
              wait_tasks=1_000, tree_leaves=64, tree_leaf_len=100_000, multi_get_objects=1_000,
              actor_sync_calls=1_000, actor_async_calls=1_000, ipc_round_trips=20_000,
              listed_objects=1_000_000, remote_tasks=1_000, waves=30, wave_tasks=10_000)
# Same workloads where the figure is a total time; shorter loops where it is a rate.
QUICK = Params(rounds=2, reps=2, large_reps=1, ref_reps=3, fresh_reps=2, settle_s=2.0,
               small_ops=1_000, sync_calls=200, async_calls=1_000, ref_arg_tasks=100,
               wait_tasks=1_000, tree_leaves=64, tree_leaf_len=100_000, multi_get_objects=1_000,
               actor_sync_calls=200, actor_async_calls=1_000, ipc_round_trips=5_000,
               listed_objects=200_000, remote_tasks=1_000, waves=10, wave_tasks=5_000)


# =============================================================================
# The case registry
# =============================================================================
class Skip(Exception):
    """Raised by a case whose feature the module does not have (reported as SKIPPED)."""


# Per-operation rates: each is also printed as a fraction of the IPC floor (one request and
# one reply between two Python processes, the least any task or call can cost).
FLOOR_KEY = "ref_ipc_pipe"
FLOOR_UNITS = ("tasks/s", "calls/s")
LABEL_WIDTH = 38


@dataclass
class Case:
    key: str
    label: str
    unit: str
    better: str            # HIGHER or LOWER
    kind: str              # "reference" | "fresh" | "cluster"
    section: str
    fn: Optional[Callable]  # None for a row measured by another case (part_of)
    large: bool = False    # uses Params.large_reps
    reference: Optional[str] = None  # a case each module's figure is compared with
    cluster: str = "default"
    not_for: Dict[str, str] = field(default_factory=dict)  # module -> why it is not measured
    part_of: Optional[str] = None    # the case whose repetitions also give this row
    rows: List[str] = field(default_factory=list)  # every row a repetition returns, own first
    quick_label: Optional[str] = None  # the label in quick mode, where the workload differs
    reps: Optional[Callable[["Params"], int]] = None  # measured repetitions, if not the usual
    warm_up: bool = True   # False: every repetition counts (a case that warms up itself)
    ratio: bool = True     # False: no module ratio (a figure that can be zero or negative)

    def title(self, quick: bool) -> str:
        return (self.quick_label if quick and self.quick_label else self.label)[:LABEL_WIDTH]

    @property
    def against_floor(self) -> bool:
        return self.kind == "cluster" and self.unit in FLOOR_UNITS


CASES: Dict[str, Case] = {}
_section = ""


def section(title: str) -> None:
    global _section
    _section = title


Row = tuple  # (key, label, unit, better[, {Case field: value}]): one more row of a case


def case(key: str, label: str, unit: str, better: str, *, kind: str = "cluster",
         large: bool = False, reference: Optional[str] = None, cluster: str = "default",
         not_for: Optional[Dict[str, str]] = None, rows: Optional[List[Row]] = None,
         **options: Any):
    """Register a case.

    kind="cluster"/"reference": fn(mod, params) does the setup and returns a function
        measuring one repetition (the first call is a discarded warm-up).  mod is None
        for reference cases.  Raise Skip for a missing feature, anything else to fail.
    kind="fresh": fn(result) picks this case's figure out of one fresh-interpreter run
        (see fresh_child).
    not_for: modules this case is not run on, each with the reason the table shows.
    rows: more rows measured by the same repetitions; a repetition then returns a dict
        {row key: figure} with this case's key and every row's.
    options: quick_label, reps, warm_up, ratio (see Case).
    """
    def register(fn: Callable) -> Callable:
        extra = [(r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else {}) for r in rows or []]
        keys = [key] + [r[0] for r in extra]
        for k in keys:
            assert k not in CASES, k
        CASES[key] = Case(key, label, unit, better, kind, _section, fn, large, reference,
                          cluster, dict(not_for or {}), rows=keys, **options)
        for k, lab, unit_, better_, opts in extra:
            CASES[k] = Case(k, lab, unit_, better_, kind, _section, None, large, cluster=cluster,
                            not_for=dict(not_for or {}), part_of=key, **opts)
        return fn
    return register


def measured_by(key: str) -> str:
    """The case whose repetitions give this row."""
    return CASES[key].part_of or key


def with_rows(keys: List[str]) -> List[str]:
    """The selected keys, plus every row measured together with one of them, in table order
    (selecting one row of a case runs the whole case)."""
    wanted = {measured_by(k) for k in keys}
    return [k for k in CASES if measured_by(k) in wanted]


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class RepWithCleanup:
    """A repetition function with something to undo once the case is over (run_cases calls
    close(), after the last repetition or a failure)."""

    def __init__(self, rep: Callable[[], Any], close: Callable[[], None]) -> None:
        self.rep, self.close = rep, close

    def __call__(self) -> Any:
        return self.rep()


# -- code that runs inside the clusters' workers ----------------------------------
def noop() -> None:
    return None


def first_element(arr: np.ndarray) -> float:
    return arr[0]


def filled(value: float, length: int) -> np.ndarray:
    return np.full(length, value, dtype=np.float64)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


class BenchActor:
    def noop(self) -> None:
        return None


def actor_class(mod: Any) -> Any:
    try:
        return mod.remote(BenchActor)
    except Exception as e:  # no actors in this module (yet)
        raise Skip(f"remote() on a class failed: {type(e).__name__}: {e}") from None


# =============================================================================
# Cases.  Registration order is the order of the table.
# =============================================================================
section("reference: the machine itself, no cluster")


def copy_rate(src: np.ndarray, dst: np.ndarray) -> float:
    return src.nbytes / timed(lambda: np.copyto(dst, src)) / GB


def memcpy_prefaulted(nbytes: int) -> Callable[[Any, Params], Callable[[], float]]:
    def setup(mod: Any, p: Params) -> Callable[[], float]:
        src = np.arange(nbytes // 8, dtype=np.float64)
        dst = np.empty_like(src)
        dst.fill(1.0)  # every page of the destination is touched (faulted in) beforehand
        return lambda: copy_rate(src, dst)
    return setup


case("ref_memcpy_100mib", "memcpy 100 MiB into pre-faulted memory", "GB/s", HIGHER,
     kind="reference")(memcpy_prefaulted(100 * MiB))
case("ref_memcpy_1gib", "memcpy 1 GiB into pre-faulted memory", "GB/s", HIGHER,
     kind="reference", large=True)(memcpy_prefaulted(GiB))


@case("ref_memcpy_fresh_shm_1gib", "memcpy 1 GiB into fresh /dev/shm mmap", "GB/s", HIGHER,
      kind="reference", large=True)
def ref_memcpy_fresh_shm(mod: Any, p: Params) -> Callable[[], float]:
    """What a store that maps new shared memory per object pays: a page fault per page."""
    src = np.arange(GiB // 8, dtype=np.float64)
    shm_dir = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()

    def rep() -> float:
        fd, path = tempfile.mkstemp(prefix="nbray-compare-", dir=shm_dir)
        try:
            os.unlink(path)
            os.ftruncate(fd, src.nbytes)
            buf = mmap.mmap(fd, src.nbytes)
            try:
                view = np.frombuffer(buf, dtype=src.dtype)
                rate = copy_rate(src, view)
                del view
            finally:
                buf.close()
            return rate
        finally:
            os.close(fd)
    return rep


def ipc_round_trips(kind: str, pinning: Optional[str] = None
                    ) -> Callable[[Any, Params], Callable[[], float]]:
    """Round trips per second between this process and an echoing interpreter (see
    ipc_floor.py); the peer lives as long as the case."""
    def setup(mod: Any, p: Params) -> Callable[[], float]:
        import ipc_floor  # next to this script, which is sys.path[0]

        cpus = None
        if pinning is not None:
            cpus = ipc_floor.pinnings().get(pinning)
            if cpus is None:
                raise Skip(f"cannot pin to {pinning.replace('_', ' ')} here")
        peer = ipc_floor.Peer(kind, cpus)
        # run_cases closes the peer after the case: that ends the echoing process and
        # restores this process's CPU affinity.
        return RepWithCleanup(lambda: peer.round_trips_per_s(p.ipc_round_trips), peer.close)
    return setup


case(FLOOR_KEY, "Pipe ping-pong, pickled tuple (floor)", "trips/s", HIGHER,
     kind="reference")(ipc_round_trips("pipe"))
case("ref_ipc_uds", "Unix socket ping-pong, 64 B raw", "trips/s", HIGHER,
     kind="reference")(ipc_round_trips("uds"))
case("ref_ipc_pipe_one_cpu", "  Pipe, both pinned to one CPU", "trips/s", HIGHER,
     kind="reference")(ipc_round_trips("pipe", "one_cpu"))
case("ref_ipc_pipe_two_cpus", "  Pipe, pinned to two CPUs", "trips/s", HIGHER,
     kind="reference")(ipc_round_trips("pipe", "two_cpus"))


section("cold start and idle memory (a fresh interpreter each time)")


@case("cold_start", "init() to first task result", "s", LOWER, kind="fresh")
def cold_start(r: dict) -> float:
    return r["init_s"] + r["first_task_s"]


@case("cold_init", "  of which init() returns", "s", LOWER, kind="fresh")
def cold_init(r: dict) -> float:
    return r["init_s"]


@case("cold_import", "import the module (not in cold start)", "s", LOWER, kind="fresh")
def cold_import(r: dict) -> float:
    return r["import_s"]


@case("idle_rss", "idle cluster memory, RSS sum", "MiB", LOWER, kind="fresh")
def idle_rss(r: dict) -> float:
    return r["rss_mib"]


@case("idle_pss", "idle cluster memory, PSS sum", "MiB", LOWER, kind="fresh")
def idle_pss(r: dict) -> float:
    return r["pss_mib"]


@case("idle_processes", "  processes counted", "count", LOWER, kind="fresh")
def idle_processes(r: dict) -> float:
    return r["processes"]


@case("shutdown", "shutdown() returns", "s", LOWER, kind="fresh")
def shutdown_time(r: dict) -> float:
    return r["shutdown_s"]


@case("shutdown_leftovers", "processes alive 10 s after shutdown", "count", LOWER,
      kind="fresh")
def shutdown_leftovers(r: dict) -> float:
    return r["leftovers"]


section("object store")


@case("put_small", "put(small int)", "calls/s", HIGHER)
def put_small(mod: Any, p: Params) -> Callable[[], float]:
    put, n = mod.put, p.small_ops
    return lambda: n / timed(lambda: [put(1) for _ in range(n)])


@case("get_small", "get(ref to a small int)", "calls/s", HIGHER)
def get_small(mod: Any, p: Params) -> Callable[[], float]:
    get, n = mod.get, p.small_ops
    ref = mod.put(1)
    return lambda: n / timed(lambda: [get(ref) for _ in range(n)])


@case("multi_get", "get(list of 1000 small put refs)", "s", LOWER)
def multi_get(mod: Any, p: Params) -> Callable[[], float]:
    expected = list(range(p.multi_get_objects))

    def rep() -> float:
        refs = [mod.put(i) for i in expected]
        t0 = time.perf_counter()
        values = mod.get(refs)
        elapsed = time.perf_counter() - t0
        if values != expected:
            raise AssertionError("get(list) returned wrong values")
        return elapsed
    return rep


def put_array(nbytes: int) -> Callable[[Any, Params], Callable[[], float]]:
    def setup(mod: Any, p: Params) -> Callable[[], float]:
        arr = np.arange(nbytes // 8, dtype=np.float64)

        def rep() -> float:
            # A new object each time; the previous one was dropped.  A store that reuses
            # memory it already touched copies at memcpy speed, one that maps fresh
            # pages pays the page faults (see the reference rows).
            t0 = time.perf_counter()
            ref = mod.put(arr)
            elapsed = time.perf_counter() - t0
            del ref
            return nbytes / elapsed / GB
        return rep
    return setup


def get_array(nbytes: int) -> Callable[[Any, Params], Callable[[], float]]:
    def setup(mod: Any, p: Params) -> Callable[[], float]:
        arr = np.arange(nbytes // 8, dtype=np.float64)
        ref = mod.put(arr)
        last, first = arr[-1], arr[0]
        del arr

        def rep() -> float:
            t0 = time.perf_counter()
            out = mod.get(ref)
            elapsed = time.perf_counter() - t0
            if out.nbytes != nbytes or out[0] != first or out[-1] != last:
                raise AssertionError("get() returned a wrong array")
            del out
            return elapsed * 1e6
        return rep
    return setup


@case("put_1mib", "256 puts of a 1 MiB array, refs kept", "calls/s", HIGHER)
def put_1mib(mod: Any, p: Params) -> Callable[[], float]:
    """Medium objects: above nbray's inline limit (100 KiB), so each one takes an
    allocation in the shared-memory store plus a 1 MiB copy (in Ray too)."""
    arr, n = np.ones(MiB // 8), 256

    def rep() -> float:
        t0 = time.perf_counter()
        refs = [mod.put(arr) for _ in range(n)]
        elapsed = time.perf_counter() - t0
        del refs
        return n / elapsed
    return rep


case("put_100mib", "put(100 MiB float64 array)", "GB/s", HIGHER,
     reference="ref_memcpy_100mib")(put_array(100 * MiB))
case("get_100mib", "get() of a 100 MiB array", "us", LOWER)(get_array(100 * MiB))
case("put_1gib", "put(1 GiB float64 array)", "GB/s", HIGHER, large=True,
     reference="ref_memcpy_1gib")(put_array(GiB))
case("get_1gib", "get() of a 1 GiB array", "us", LOWER, large=True)(get_array(GiB))

section("tasks")


@case("tasks_sync", "get(f.remote()) one at a time, no-op", "tasks/s", HIGHER)
def tasks_sync(mod: Any, p: Params) -> Callable[[], float]:
    f, get, n = mod.remote(noop), mod.get, p.sync_calls
    return lambda: n / timed(lambda: [get(f.remote()) for _ in range(n)])


@case("tasks_async", "1000 no-op tasks, then get(list)", "tasks/s", HIGHER)
def tasks_async(mod: Any, p: Params) -> Callable[[], float]:
    f, get, n = mod.remote(noop), mod.get, p.async_calls
    return lambda: n / timed(lambda: get([f.remote() for _ in range(n)]))


@case("tasks_100mib_arg", "100 tasks f(ref to a 100 MiB array)", "tasks/s", HIGHER)
def tasks_100mib_arg(mod: Any, p: Params) -> Callable[[], float]:
    f, n = mod.remote(first_element), p.ref_arg_tasks
    arr = np.arange(100 * MiB // 8, dtype=np.float64) + 7.0
    ref = mod.put(arr)
    del arr

    def rep() -> float:
        t0 = time.perf_counter()
        values = mod.get([f.remote(ref) for _ in range(n)])
        elapsed = time.perf_counter() - t0
        if any(v != 7.0 for v in values):
            raise AssertionError("a task saw a wrong array")
        return n / elapsed
    return rep


section("scheduling patterns")


@case("wait_drain", "drain 1000 no-ops, wait(num_returns=1)", "s", LOWER)
def wait_drain(mod: Any, p: Params) -> Callable[[], float]:
    f, wait, n = mod.remote(noop), mod.wait, p.wait_tasks

    def drain() -> None:
        pending = [f.remote() for _ in range(n)]
        while pending:
            _, pending = wait(pending, num_returns=1)
    return lambda: timed(drain)


@case("wait_ready", "wait(num_returns=1), 1000 done refs", "s", LOWER)
def wait_ready(mod: Any, p: Params) -> Callable[[], float]:
    """wait() itself, without task execution: every ref is ready before the clock starts."""
    f, wait, n = mod.remote(noop), mod.wait, p.wait_tasks

    def rep() -> float:
        pending = [f.remote() for _ in range(n)]
        mod.get(pending)
        t0 = time.perf_counter()
        while pending:
            _, pending = wait(pending, num_returns=1)
        return time.perf_counter() - t0
    return rep


@case("tree_reduce", "64 leaves (100k floats), pairwise adds", "s", LOWER)
def tree_reduce(mod: Any, p: Params) -> Callable[[], float]:
    make, plus = mod.remote(filled), mod.remote(add)
    expected = float(sum(range(p.tree_leaves)))

    def rep() -> float:
        t0 = time.perf_counter()
        level = [make.remote(float(i), p.tree_leaf_len) for i in range(p.tree_leaves)]
        while len(level) > 1:
            pairs = [plus.remote(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + level[2 * len(pairs):]
        total = mod.get(level[0])
        elapsed = time.perf_counter() - t0
        if total[0] != expected or total.shape != (p.tree_leaf_len,):
            raise AssertionError(f"tree reduction gave {total[0]}, expected {expected}")
        return elapsed
    return rep


section("actors")


@case("actor_create", "create an actor, first method result", "s", LOWER)
def actor_create(mod: Any, p: Params) -> Callable[[], float]:
    cls = actor_class(mod)

    def rep() -> float:
        t0 = time.perf_counter()
        actor = cls.remote()
        mod.get(actor.noop.remote())
        elapsed = time.perf_counter() - t0
        del actor  # the last handle: the actor ends
        return elapsed
    return rep


@case("actor_calls_sync", "get(actor.m.remote()) one at a time", "calls/s", HIGHER)
def actor_calls_sync(mod: Any, p: Params) -> Callable[[], float]:
    actor = actor_class(mod).remote()
    mod.get(actor.noop.remote())
    get, n = mod.get, p.actor_sync_calls
    return lambda: n / timed(lambda: [get(actor.noop.remote()) for _ in range(n)])


@case("actor_calls_async", "1000 actor calls, then get(list)", "calls/s", HIGHER)
def actor_calls_async(mod: Any, p: Params) -> Callable[[], float]:
    actor = actor_class(mod).remote()
    mod.get(actor.noop.remote())
    get, n = mod.get, p.actor_async_calls
    return lambda: n / timed(lambda: get([actor.noop.remote() for _ in range(n)]))


section("scale and a second node")

RAY_LISTING = ("not measured: 1M ray.put take minutes to set up (Ray puts run ~2k/s), and "
               "ray.util.state.list_objects is no sorted page")
LISTED_BIG = 100  # objects of distinct, larger sizes among the listed ones


@case("list_1m_size", "memory(sort_by=size, limit=100), 1M", "s", LOWER,
      quick_label="memory(sort_by=size, limit=100), 200k", not_for={"ray": RAY_LISTING},
      rows=[("list_1m_created", "memory(sort_by=created, limit=100)", "s", LOWER)])
def list_1m(mod: Any, p: Params) -> Callable[[], Dict[str, float]]:
    """One sorted page of the object listing with p.listed_objects live objects: the
    LISTED_BIG largest objects are made first, so the size page and the created page
    (newest first: the last small ints) are different rows of the table."""
    big = [mod.put(bytes(1000 + i)) for i in range(LISTED_BIG)]
    small = [mod.put(i) for i in range(p.listed_objects - LISTED_BIG)]
    want_size = [r.hex() for r in reversed(big)]
    want_created = {r.hex() for r in small[-LISTED_BIG:]}

    def page(sort_by: str) -> tuple:
        t0 = time.perf_counter()
        summary = mod.memory(sort_by=sort_by, limit=LISTED_BIG)
        elapsed = time.perf_counter() - t0
        if summary.total < p.listed_objects:
            raise AssertionError(f"the listing counts {summary.total} objects, "
                                 f"{p.listed_objects} are alive")
        return elapsed, [row["object_id"] for row in summary.objects]

    def rep() -> Dict[str, float]:
        by_size, ids = page("size")
        if ids != want_size:
            raise AssertionError("the size page is not the largest objects, largest first")
        by_created, ids = page("created")
        if set(ids) != want_created:  # equal creation times may come in either order
            raise AssertionError("the created page is not the newest objects")
        return {"list_1m_size": by_size, "list_1m_created": by_created}
    # The refs stay alive until run_cases closes the case.
    def drop() -> None:
        big.clear()
        small.clear()
    return RepWithCleanup(rep, drop)




def node_id(module_name: str) -> str:
    """The node a task runs on (the worker imports the module under test by name)."""
    return str(importlib.import_module(module_name).get_runtime_context().get_node_id())


def noop_rate(mod: Any, f: Any, n: int) -> float:
    """Tasks/s of `n` no-op tasks `f` submitted at once and fetched with one get; a task
    that returns something fails the case."""
    t0 = time.perf_counter()
    values = mod.get([f.remote() for _ in range(n)])
    elapsed = time.perf_counter() - t0
    if len(values) != n or any(v is not None for v in values):
        raise AssertionError("a no-op task returned something")
    return n / elapsed


@case("tasks_remote", "1000 no-ops on the second node", "tasks/s", HIGHER, cluster="two_nodes",
      rows=[("tasks_remote_local", "  the same on the driver's node", "tasks/s", HIGHER),
            ("tasks_remote_ratio", "  second node / driver's node", "ratio", HIGHER)])
def tasks_remote(mod: Any, p: Params) -> Callable[[], Dict[str, float]]:
    there, here = (mod.remote(resources={r: 1})(noop) for r in (THERE, HERE))
    n, turn = p.remote_tasks, [0]
    driver_node = mod.get_runtime_context().get_node_id()
    where = mod.remote(node_id)
    ran_on = mod.get([where.options(resources={r: 1}).remote(mod.__name__)
                      for r in (HERE, THERE)])
    if ran_on[0] != driver_node or ran_on[1] == driver_node:
        raise AssertionError(f"tasks were not placed as pinned: {ran_on}, driver {driver_node}")

    def rate(f: Any) -> float:
        return noop_rate(mod, f, n)

    def rep() -> Dict[str, float]:
        turn[0] += 1  # which node goes first alternates
        if turn[0] % 2:
            local, remote = rate(here), rate(there)
        else:
            remote, local = rate(there), rate(here)
        return {"tasks_remote": remote, "tasks_remote_local": local,
                "tasks_remote_ratio": remote / local}
    return rep


@case("tasks_300k_first", "300k no-ops, 30 waves: first wave", "tasks/s", HIGHER,
      quick_label="50k no-ops, 10 waves: first wave",
      reps=lambda p: 1, warm_up=False,
      rows=[("tasks_300k_last", "  last wave", "tasks/s", HIGHER,
             {"reference": "tasks_300k_first"}),
            ("tasks_300k_rss", "  driver RSS growth, first to last", "MiB", LOWER,
             {"ratio": False})])
def tasks_300k(mod: Any, p: Params) -> Callable[[], Dict[str, float]]:
    """p.waves waves of p.wave_tasks no-op tasks, each submitted, then got; one repetition
    per round (it warms up itself), refs of a wave dropped before the next."""
    f, me = mod.remote(noop), psutil.Process()

    def wave(n: int) -> float:
        return noop_rate(mod, f, n)

    def rep() -> Dict[str, float]:
        wave(1_000)  # warm-up: workers started, code cached
        rates, rss = [], []
        for _ in range(p.waves):
            rates.append(wave(p.wave_tasks))
            rss.append(me.memory_info().rss / MiB)
        return {"tasks_300k_first": rates[0], "tasks_300k_last": rates[-1],
                "tasks_300k_rss": rss[-1] - rss[0]}
    return rep


# =============================================================================
# Process accounting
# =============================================================================
def cluster_processes(marker: Optional[str]) -> Dict[int, psutil.Process]:
    """This process, all its descendants, and every process whose command line
    contains `marker`."""
    me = psutil.Process()
    found = {me.pid: me}
    for child in me.children(recursive=True):
        found[child.pid] = child
    if marker:
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if proc.pid not in found and marker in " ".join(proc.info["cmdline"] or ()):
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return found


def memory_sums(marker: Optional[str]) -> dict:
    """RSS and PSS summed over the driver and its cluster.  RSS counts shared pages
    (libraries, shared memory) once per process mapping them; PSS splits them
    between those processes, so its sum is the honest total."""
    rss = pss = 0.0
    rows = []
    for pid, proc in sorted(cluster_processes(marker).items()):
        try:
            mem = proc.memory_full_info()
            name = proc.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += mem.rss / MiB
        pss += mem.pss / MiB
        rows.append({"pid": pid, "name": name, "rss_mib": round(mem.rss / MiB, 1),
                     "pss_mib": round(mem.pss / MiB, 1)})
    return {"rss_mib": rss, "pss_mib": pss, "processes": len(rows), "per_process": rows}


def reap(procs: List[psutil.Process], timeout: float) -> int:
    """Wait up to `timeout` s for processes of a cluster that was shut down; terminate
    (then kill) any still alive.  Returns how many were still alive after the timeout."""
    def alive(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    left = [p for p in procs if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    for p in left:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, stubborn = psutil.wait_procs(left, timeout=5)
    for p in stubborn:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return len(left)


class OtherLoad:
    """Share of the machine's CPUs used by processes outside this run while a child
    ran (a lower bound: processes that ended meanwhile are missed)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.before = self._others()

    @staticmethod
    def _others() -> Dict[tuple, float]:
        ours = set(cluster_processes(None))
        out = {}
        for proc in psutil.process_iter(["cpu_times", "create_time"]):
            cpu = proc.info["cpu_times"]
            if proc.pid in ours or cpu is None:
                continue
            out[(proc.pid, proc.info["create_time"])] = cpu.user + cpu.system
        return out

    def share(self) -> float:
        wall = time.perf_counter() - self.t0
        used = sum(t - self.before.get(k, 0.0) for k, t in self._others().items())
        return max(0.0, used) / (wall * (psutil.cpu_count() or 1))


# =============================================================================
# Child processes
# =============================================================================
def _raise_timeout(signum: int, frame: Any) -> None:
    raise TimeoutError("the case ran longer than --case-timeout")


def repetitions(c: Case, p: Params) -> int:
    if c.reps is not None:
        return c.reps(p)
    return p.ref_reps if c.kind == "reference" else (p.large_reps if c.large else p.reps)


def record(results: Dict[str, dict], c: Case, value: Any) -> None:
    """One repetition's figure(s): a number for a one-row case, {row key: number} else."""
    if len(c.rows) > 1:
        if not isinstance(value, dict) or set(value) != set(c.rows):
            raise AssertionError(f"a repetition returned {value!r}, not figures of {c.rows}")
        for k in c.rows:
            results[k]["values"].append(float(value[k]))
    else:
        results[c.key]["values"].append(float(value))


def run_cases(mod: Any, keys: List[str], p: Params, case_timeout: int, out_path: str,
              tag: str) -> Dict[str, dict]:
    """Set up and measure each case; the results file is rewritten after every case."""
    results: Dict[str, dict] = {}
    signal.signal(signal.SIGALRM, _raise_timeout)
    for key in keys:
        c = CASES[key]
        for k in c.rows:
            results[k] = {"values": [], "error": None, "skipped": None}
        rep = None
        signal.alarm(case_timeout)
        try:
            assert c.fn is not None, f"{key} is a row of {c.part_of}"
            rep = c.fn(mod, p)
            if c.warm_up:
                rep()
            for _ in range(repetitions(c, p)):
                record(results, c, rep())
        except Skip as e:
            for k in c.rows:
                results[k]["skipped"] = str(e)
        except Exception as e:
            for k in c.rows:
                results[k]["error"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            signal.alarm(0)
            if isinstance(rep, RepWithCleanup):
                rep.close()
            del rep
            gc.collect()
        for k in c.rows:
            res = results[k]
            shown = ", ".join(fmt(v) for v in res["values"])
            status = res["error"] and f"FAILED {res['error']}" or res["skipped"] and "SKIPPED" or ""
            print(f"  [{tag}] {k:<22} {shown} {CASES[k].unit} {status}", file=sys.stderr,
                  flush=True)
        write_json(out_path, {"cases": results})
    return results


BASELINE_SUFFIX = "@baseline"


def import_name(module_name: str) -> str:
    """The module a column imports: `nbray@baseline` imports `nbray` (from the baseline
    checkout, which its child process finds first on its path)."""
    return module_name.split("@", 1)[0]


def cluster_child(module_name: str, cluster: str, keys: List[str], p: Params,
                  case_timeout: int, out_path: str, tag: str) -> None:
    mod = importlib.import_module(import_name(module_name))
    module_name = import_name(module_name)
    before = set(cluster_processes(None))
    t0 = time.perf_counter()
    try:
        ctx, remove = start_configuration(mod, module_name, cluster)
    except Exception as e:
        write_json(out_path, {"cases": {}, "error": f"init() raised {type(e).__name__}: {e}"})
        raise
    init_s = time.perf_counter() - t0
    marker = session_marker(ctx)
    try:
        results = run_cases(mod, keys, p, case_timeout, out_path, tag)
    finally:
        procs = [proc for pid, proc in cluster_processes(marker).items() if pid not in before]
        mod.shutdown()
        if remove is not None:
            remove()
    leftovers = reap(procs, timeout=10)
    write_json(out_path, {"cases": results, "init_s": init_s, "leftovers": leftovers,
                          "version": getattr(mod, "__version__", "?")})


def reference_child(keys: List[str], p: Params, case_timeout: int, out_path: str) -> None:
    run_cases(None, keys, p, case_timeout, out_path, "machine")


def fresh_child(module_name: str, settle_s: float, out_path: str) -> None:
    """One cold start: import, init(), first task; idle memory; shutdown."""
    t0 = time.perf_counter()
    mod = importlib.import_module(import_name(module_name))
    module_name = import_name(module_name)
    t1 = time.perf_counter()
    try:
        ctx = start_cluster(mod, module_name)
    except Exception as e:
        write_json(out_path, {"error": f"init() raised {type(e).__name__}: {e}"})
        raise
    t2 = time.perf_counter()
    mod.get(mod.remote(noop).remote())
    t3 = time.perf_counter()
    time.sleep(settle_s)
    marker = session_marker(ctx)
    memory = memory_sums(marker)
    procs = [proc for pid, proc in cluster_processes(marker).items() if pid != os.getpid()]
    t4 = time.perf_counter()
    mod.shutdown()
    t5 = time.perf_counter()
    leftovers = reap(procs, timeout=10)
    write_json(out_path, {"import_s": t1 - t0, "init_s": t2 - t1, "first_task_s": t3 - t2,
                          "shutdown_s": t5 - t4, "leftovers": leftovers, "marker": marker,
                          "version": getattr(mod, "__version__", "?"), **memory})


def write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def spawn_child(args: List[str], timeout: float, baseline: Optional[str] = None) -> tuple:
    """Run this script as a child; its stdout goes to our stderr (progress, the
    cluster's own output), so our stdout carries only the final table.  With
    `baseline` (a checkout's root), the child and its workers import nbray from there.
    Returns (result dict or None, error text or None, other-load share)."""
    fd, out_path = tempfile.mkstemp(prefix="nbray-compare-", suffix=".json")
    os.close(fd)
    os.unlink(out_path)
    load = OtherLoad()
    cmd = [sys.executable, os.path.abspath(__file__), *args, "--_out", out_path]
    env, cwd = None, None
    if baseline is not None:
        # First on the path, and the working directory too: workers start with
        # `python -m`, which puts the working directory ahead of PYTHONPATH.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [baseline, *filter(None, [os.environ.get("PYTHONPATH")])])}
        cwd = baseline
    error = None
    try:
        proc = subprocess.run(cmd, stdout=sys.stderr, timeout=timeout, env=env, cwd=cwd)
        if proc.returncode != 0:
            error = f"child exited with status {proc.returncode}"
    except subprocess.TimeoutExpired:
        error = f"child ran longer than {timeout:.0f} s"
    share = load.share()
    result = None
    try:
        with open(out_path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        error = error or "child wrote no result"
    finally:
        for path in (out_path, out_path + ".tmp"):
            try:
                os.unlink(path)
            except OSError:
                pass
    if result and result.get("error"):
        error = result["error"][:300]
    return result, error, share


# =============================================================================
# The parent: schedule the children, collect, print
# =============================================================================
@dataclass
class Figures:
    values: List[float] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    skipped: Optional[str] = None

    def median(self) -> Optional[float]:
        return statistics.median(self.values) if self.values else None


def fmt(x: Optional[float]) -> str:
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 10_000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1 or ax == 0:
        return f"{x:.2f}"
    return f"{x:.3f}" if ax >= 0.01 else f"{x:.2g}"


def ratio(c: Case, nb: Optional[float], other: Optional[float]) -> Optional[float]:
    """> 1 means nbray is better."""
    if nb is None or other is None or not c.ratio:
        return None
    if c.better == HIGHER:
        return nb / other if other else None
    return other / nb if nb else None


def status_text(f: Figures) -> str:
    if f.values:
        return fmt(f.median())
    if f.skipped:
        return "SKIPPED" if not f.skipped.startswith("not measured") else "n/m"
    if f.errors:
        return "FAILED"
    return "-"


def reference_figure(figs: Dict[str, Dict[str, Figures]], key: str, module: str
                     ) -> Optional[float]:
    """The figure a row is compared with: the machine's for a reference case, the same
    module's own for another cluster case."""
    owner = "machine" if CASES[key].kind == "reference" else module
    return figs.get(key, {}).get(owner, Figures()).median()


def floor_fractions(figs: Dict[str, Dict[str, Figures]], key: str, modules: List[str]
                    ) -> Dict[str, Optional[float]]:
    """Each module's median rate of this case as a fraction of the IPC floor's median
    (None where either is missing)."""
    floor = figs.get(FLOOR_KEY, {}).get("machine", Figures()).median()
    per = figs.get(key, {})
    out: Dict[str, Optional[float]] = {}
    for m in modules:
        v = per.get(m, Figures()).median()
        out[m] = v / floor if v is not None and floor else None
    return out


def row_notes(c: Case, figs: Dict[str, Dict[str, Figures]], modules: List[str]) -> List[str]:
    per = figs.get(c.key, {})
    notes = []
    if c.reference:
        parts = []
        for m in modules:
            v, ref = per.get(m, Figures()).median(), reference_figure(figs, c.reference, m)
            if v is not None and ref:
                parts.append(f"{m} {v / ref:.2f}x")
        if parts:
            notes.append(f"vs {c.reference}: " + ", ".join(parts))
    for m in modules:
        f = per.get(m)
        if f is None:
            continue
        if f.errors:
            notes.append(f"{m} FAILED: {f.errors[0][:120]}"
                         + (f" (in {len(f.errors)} runs)" if len(f.errors) > 1 else ""))
        elif f.skipped and not f.values and not (c.part_of and f.skipped == figs.get(
                c.part_of, {}).get(m, Figures()).skipped):  # said once, under the case's row
            word = "" if f.skipped.startswith("not measured") else "SKIPPED: "
            notes.append(f"{m} {word}{f.skipped[:160]}")
    return notes


def wrap_notes(notes: List[str], indent: int = 4, width: int = 100) -> List[str]:
    """Notes printed under their row, each wrapped to `width` columns."""
    import textwrap

    pad = " " * indent
    return [line for note in notes
            for line in textwrap.wrap(note, width, initial_indent=pad,
                                      subsequent_indent=pad + "  ")]


def table_lines(modules: List[str], figs: Dict[str, Dict[str, Figures]], keys: List[str],
                quick: bool = False) -> List[str]:
    """The main table: one row per cluster and fresh case, notes under their row."""
    nb_in = "nbray" in modules
    other = next((m for m in modules if m != "nbray"), None)
    ratio_head = f"nbray:{other}"[:9] if nb_in and other else "ratio"
    row = ("{:<18} {:<" + str(LABEL_WIDTH) + "} {:>7} " + " ".join("{:>9}" for _ in modules)
           + " {:>9}")
    out = []
    if nb_in and other:
        out += [f"Medians.  {ratio_head} > 1 means nbray is better: nbray/{other} for rates, "
                f"{other}/nbray for", "times, memory and counts.  n/m: not measured (see the "
                "note under the row)."]
    else:
        out.append("Medians.  (No ratio: it needs nbray and one other module.)")
    head = row.format("case", "what", "unit", *[m[:9] for m in modules], ratio_head)
    out += [head, "-" * len(head)]
    last_section = None
    for key in [k for k in keys if CASES[k].kind != "reference"]:
        c = CASES[key]
        if c.section != last_section:
            out.append(f"[{c.section}]")
            last_section = c.section
        per = figs.get(key, {})
        cells = [status_text(per.get(m, Figures())) for m in modules]
        r = ratio(c, per.get("nbray", Figures()).median(), per.get(other, Figures()).median()) \
            if nb_in and other else None
        out.append(row.format(key, c.title(quick), c.unit, *cells, fmt(r)).rstrip())
        out += wrap_notes(row_notes(c, figs, modules))
    return out


def floor_lines(modules: List[str], figs: Dict[str, Dict[str, Figures]], keys: List[str],
                quick: bool = False) -> List[str]:
    """Every per-operation rate as a fraction of the IPC floor of the same run."""
    rows = [k for k in keys if CASES[k].against_floor]
    floor = figs.get(FLOOR_KEY, {}).get("machine", Figures()).median()
    if not rows:
        return []
    if not floor:
        return [f"(No fractions of the IPC floor: {FLOOR_KEY} was not measured.)"]
    row = "{:<18} {:<" + str(LABEL_WIDTH) + "} " + " ".join("{:>9}" for _ in modules)
    out = [f"Against the IPC floor: each rate / {FLOOR_KEY} ({fmt(floor)} round trips/s, one "
           f"Pipe", "request and reply between two Python processes, measured in this run).",
           row.format("case", "what", *[m[:9] for m in modules])]
    out.append("-" * len(out[-1]))
    for key in rows:
        fr = floor_fractions(figs, key, modules)
        cells = [f"{fr[m]:.3f}" if fr[m] is not None else
                 status_text(figs.get(key, {}).get(m, Figures())) for m in modules]
        out.append(row.format(key, CASES[key].title(quick), *cells).rstrip())
    return out


def reference_lines(figs: Dict[str, Dict[str, Figures]], keys: List[str]) -> List[str]:
    ref_keys = [k for k in keys if CASES[k].kind == "reference"]
    if not ref_keys:
        return []
    ref_row = "{:<25} {:<" + str(LABEL_WIDTH) + "} {:>7} {:>9}  {}"
    out = [ref_row.format("reference", "what", "unit", "median", "min .. max")]
    for key in ref_keys:
        c, f = CASES[key], figs.get(key, {}).get("machine", Figures())
        spread = f"{fmt(min(f.values))} .. {fmt(max(f.values))}" if f.values else \
            ("; ".join(f.errors + ([f.skipped] if f.skipped else []))[:60] or "-")
        out.append(ref_row.format(key, c.label[:LABEL_WIDTH], c.unit, status_text(f), spread))
    return out


def print_table(modules: List[str], figs: Dict[str, Dict[str, Figures]], keys: List[str],
                quick: bool = False) -> None:
    blocks = [table_lines(modules, figs, keys, quick), floor_lines(modules, figs, keys, quick),
              reference_lines(figs, keys)]
    print("\n\n".join("\n".join(b) for b in blocks if b))


def machine_info() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "cpu_model": model, "logical_cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / GiB, 1),
            "loadavg_start": os.getloadavg()}


def selected_keys(only: str) -> List[str]:
    patterns = [s.strip() for s in only.split(",") if s.strip()]
    return [k for k in CASES if not patterns or any(fnmatch.fnmatch(k, pat) for pat in patterns)]


def available(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer and shorter repetitions")
    ap.add_argument("--only", default="", metavar="GLOBS",
                    help="comma-separated glob patterns of case keys, e.g. 'put_*,tasks_*'")
    ap.add_argument("--json", metavar="OUT", help="also write every raw figure here")
    ap.add_argument("--modules", default="nbray,ray", help="modules to compare (default nbray,ray)")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run the nbray of another checkout (its root directory), as the "
                         "column nbray@baseline: before/after in one run")
    ap.add_argument("--list", action="store_true", help="list the case keys and exit")
    ap.add_argument("--case-timeout", type=int, default=600, metavar="S",
                    help="interrupt a case after S seconds (default 600)")
    # internal: the child processes
    ap.add_argument("--_child", choices=["cluster", "fresh", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--_module", help=argparse.SUPPRESS)
    ap.add_argument("--_cluster", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--_keys", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_tag", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    p = QUICK if args.quick else FULL
    if args._child:
        keys = [k for k in args._keys.split(",") if k]
        if args._child == "cluster":
            cluster_child(args._module, args._cluster, keys, p, args.case_timeout, args._out,
                          args._tag)
        elif args._child == "reference":
            reference_child(keys, p, args.case_timeout, args._out)
        else:
            fresh_child(args._module, p.settle_s, args._out)
        return 0
    if args.list:
        for k, c in CASES.items():
            print(f"{k:<25} {c.kind:<10} {c.unit:<8} {c.label}"
                  + (f" (with {c.part_of})" if c.part_of else ""))
        return 0

    keys = selected_keys(args.only)
    if not keys:
        print(f"no case matches --only {args.only!r}; see --list", file=sys.stderr)
        return 2
    keys = with_rows(keys)
    if any(CASES[k].against_floor for k in keys) and FLOOR_KEY not in keys:
        keys.insert(0, FLOOR_KEY)  # the fractions need the floor of this run
    modules = []
    for m in [s.strip() for s in args.modules.split(",") if s.strip()]:
        if available(m):
            modules.append(m)
        else:
            print(f"NOTE: {m} is not installed in this interpreter ({sys.executable}); its column "
                  f"is left out.  Install it to compare: pip install 'ray==2.60.0'" if m == "ray"
                  else f"NOTE: {m} is not importable here; its column is left out.")
    baseline = None
    if args.baseline:
        baseline = os.path.abspath(args.baseline)
        if not os.path.isfile(os.path.join(baseline, "nbray", "__init__.py")):
            print(f"--baseline {args.baseline!r}: no nbray package there (expected "
                  f"{os.path.join(baseline, 'nbray', '__init__.py')})", file=sys.stderr)
            return 2
        modules.append("nbray" + BASELINE_SUFFIX)
    if not modules:
        print("no module to benchmark", file=sys.stderr)
        return 2

    def where(m: str) -> Optional[str]:
        return baseline if m.endswith(BASELINE_SUFFIX) else None

    meta = {"mode": "quick" if args.quick else "full", "modules": modules, "argv": sys.argv[1:],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **machine_info()}
    print(f"compare.py: {meta['mode']} mode, modules {', '.join(modules)}, "
          f"python {meta['python']}, numpy {meta['numpy']},\n"
          f"{meta['logical_cpus']} CPUs ({meta['cpu_model']}), "
          f"{meta['memory_gib']} GiB, load average {meta['loadavg_start'][0]:.2f}", flush=True)
    wall0 = time.perf_counter()
    figs: Dict[str, Dict[str, Figures]] = {}
    versions: Dict[str, str] = {}
    other_load: Dict[str, List[float]] = {}
    child_info: List[dict] = []
    timeout = max(600, 4 * args.case_timeout)

    def collect(owner: str, key: str, res: dict) -> None:
        f = figs.setdefault(key, {}).setdefault(owner, Figures())
        f.values.extend(res.get("values", []))
        if res.get("error"):
            f.errors.append(res["error"])
        if res.get("skipped"):
            f.skipped = res["skipped"]

    def mark_failed(owner: str, wanted: List[str], done: dict, error: str) -> None:
        for key in wanted:
            if key not in done:
                figs.setdefault(key, {}).setdefault(owner, Figures()).errors.append(error)

    def runs_on(m: str, kind: str) -> List[str]:
        """The cases of this kind a child of module m runs (rows come with their case)."""
        return [k for k in keys if CASES[k].kind == kind and CASES[k].part_of is None
                and import_name(m) not in CASES[k].not_for]

    for k in keys:
        for m in modules:
            why = CASES[k].not_for.get(import_name(m))
            if why:
                figs.setdefault(k, {}).setdefault(m, Figures()).skipped = why

    # 1. The machine itself.
    ref_keys = [k for k in keys if CASES[k].kind == "reference"]
    if ref_keys:
        print("measuring the machine (memcpy) ...", file=sys.stderr, flush=True)
        result, error, share = spawn_child(["--_child", "reference", "--_keys", ",".join(ref_keys),
                                            *(["--quick"] if args.quick else []),
                                            "--case-timeout", str(args.case_timeout)], timeout)
        done = (result or {}).get("cases", {})
        for key, res in done.items():
            collect("machine", key, res)
        if error:
            mark_failed("machine", ref_keys, done, error)

    # 2. Cold starts, each in a fresh interpreter; the first one per module is discarded.
    fresh_keys = [k for k in keys if CASES[k].kind == "fresh"]
    fresh_runs: Dict[str, List[dict]] = {m: [] for m in modules}
    if fresh_keys:
        for i in range(p.fresh_reps + 1):
            order = modules if i % 2 == 0 else modules[::-1]
            for m in order:
                print(f"cold start {m} ({'warm-up' if i == 0 else i}) ...", file=sys.stderr,
                      flush=True)
                result, error, share = spawn_child(
                    ["--_child", "fresh", "--_module", m, *(["--quick"] if args.quick else [])],
                    timeout, where(m))
                if error or result is None:  # a failed warm-up counts as a failure too
                    mark_failed(m, fresh_keys, {}, error or "no result")
                    continue
                versions[m] = result.get("version", "?")
                if i == 0:
                    continue
                other_load.setdefault(m, []).append(share)
                fresh_runs[m].append(result)
                for key in fresh_keys:
                    try:
                        pick = CASES[key].fn
                        assert pick is not None
                        value = float(pick(result))
                    except Exception as e:
                        collect(m, key, {"error": f"{type(e).__name__}: {e}"})
                        continue
                    collect(m, key, {"values": [value]})

    # 3. Cluster cases: one child per module, cluster configuration and round.
    cluster_keys = [k for k in keys if CASES[k].kind == "cluster"]
    for rnd in range(p.rounds if cluster_keys else 0):
        order = modules if rnd % 2 == 0 else modules[::-1]
        for m in order:
            groups: Dict[str, List[str]] = {}
            for k in runs_on(m, "cluster"):
                groups.setdefault(CASES[k].cluster, []).append(k)
            for cluster, group in groups.items():
                tag = f"{m} round {rnd + 1}/{p.rounds}"
                print(f"{tag}: {len(group)} cases ...", file=sys.stderr, flush=True)
                result, error, share = spawn_child(
                    ["--_child", "cluster", "--_module", m, "--_cluster", cluster,
                     "--_keys", ",".join(group), "--_tag", tag,
                     "--case-timeout", str(args.case_timeout),
                     *(["--quick"] if args.quick else [])], timeout, where(m))
                other_load.setdefault(m, []).append(share)
                done = (result or {}).get("cases", {})
                for key, res in done.items():
                    collect(m, key, res)
                if result and "version" in result:
                    versions[m] = result["version"]
                child_info.append({"module": m, "round": rnd, "cluster": cluster,
                                   "init_s": (result or {}).get("init_s"),
                                   "leftovers": (result or {}).get("leftovers"),
                                   "other_load": share, "error": error})
                if error:
                    mark_failed(m, [r for k in group for r in CASES[k].rows], done, error)

    wall = time.perf_counter() - wall0
    print()
    plan = []
    if cluster_keys:
        plan.append(f"{p.rounds} round(s) of cluster cases")
    if fresh_keys:
        plan.append(f"{p.fresh_reps} cold start(s) per module")
    print("versions: " + ", ".join(f"{m} {versions.get(m, '?')}" for m in modules)
          + (f"; {', '.join(plan)}" if plan else ""))
    print_table(modules, figs, keys, args.quick)
    print()
    load_text = ", ".join(f"{m} {100 * statistics.median(v):.0f}%"
                          for m, v in other_load.items() if v)
    print(f"done in {wall:.0f} s; load average {os.getloadavg()[0]:.2f} at the end; CPU used by "
          f"other processes\nwhile each module ran (median share of the machine): "
          f"{load_text or '-'}")
    leftovers = [c for c in child_info if c.get("leftovers")]
    if leftovers:
        print(f"WARNING: cluster processes outlived shutdown() by 10 s in {len(leftovers)} "
              f"child run(s): {', '.join(c['module'] for c in leftovers)} (they were terminated)")

    if args.json:
        report: Dict[str, Any] = {
            "meta": {**meta, "wall_s": wall, "versions": versions,
                     "loadavg_end": os.getloadavg()},
            "params": asdict(p),
            "floor": {"key": FLOOR_KEY,
                      "median": figs.get(FLOOR_KEY, {}).get("machine", Figures()).median()},
            "cases": {k: {"label": CASES[k].label, "unit": CASES[k].unit,
                          "better": CASES[k].better, "kind": CASES[k].kind,
                          "section": CASES[k].section, "reference": CASES[k].reference,
                          "results": {owner: {**asdict(f), "median": f.median()}
                                      for owner, f in figs.get(k, {}).items()}}
                      for k in keys},
            "fresh_runs": fresh_runs,
            "children": child_info,
            "other_load": other_load,
        }
        for k, entry in report["cases"].items():
            res = entry["results"]
            entry["label"] = CASES[k].title(args.quick)
            if CASES[k].against_floor:
                entry["fraction_of_floor"] = floor_fractions(figs, k, modules)
            if "nbray" in res and len(modules) > 1:
                other = next(m for m in modules if m != "nbray")
                if other in res:
                    entry["ratio_nbray_better"] = ratio(CASES[k], res["nbray"]["median"],
                                                        res[other]["median"])
        write_json(args.json, report)
        print(f"wrote {args.json}")
    failed = sorted({k for k, per in figs.items() for f in per.values() if f.errors})
    if failed:
        print(f"FAILED cases: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
