"""Ray task/actor output routed to the cell that submitted it, on a real local Ray.

The routing is started BEFORE `ray.init`, so the job's workers get nbray's setup hook
(exact mode).  "Cells" are tags set by a fake cell_tag callable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (the test extra installs it)")

from nbray.ray_backend import ray_private  # noqa: E402
from nbray.ray_backend.output_routing import HANDLER_NAME, RayOutputRouting  # noqa: E402

from .conftest import local_ray  # noqa: E402
from tests._support import poll_for  # noqa: E402


class Cell:
    def __init__(self) -> None:
        self.tag: Optional[str] = None

    def __call__(self) -> Optional[str]:
        return self.tag


class Routed:
    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        self.cell = Cell()
        self.routing = RayOutputRouting(self.sink, self.cell)

    def sink(self, record: Dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)

    def lines(self, tag: Optional[str]) -> List[str]:
        with self.lock:
            return [ln for r in self.records if r["tag"] == tag
                    for ln in r["text"].splitlines()]

    def record_with(self, text: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            return next((r for r in self.records if text in r["text"]), None)


@pytest.fixture(scope="module")
def routed() -> Iterator[Routed]:
    r = Routed()
    mode = r.routing.start()
    assert mode == "exact (worker markers)"
    assert r.routing.start() == mode  # started once
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    # the user's own setup hook still runs, after nbray's
    with local_ray(num_cpus=2, include_dashboard=False, runtime_env={
            "worker_process_setup_hook": lambda: os.environ.update(NBRAY_USER_HOOK="ran")}):
        try:
            yield r
        finally:
            r.routing.stop()


@ray.remote
def shout(word: str) -> int:
    print(f"shout {word}")
    print(f"shout-err {word}", file=sys.stderr)
    return os.getpid()


@ray.remote
def inner(word: str) -> None:
    print(f"inner {word}")


@ray.remote
def outer(word: str) -> None:
    print(f"outer {word}")
    ray.get(inner.remote(word))


@ray.remote
def numbers(word: str) -> Iterator[int]:
    for i in range(2):
        print(f"{word} {i}")
        yield i


@ray.remote
def threaded(word: str) -> None:
    thread = threading.Thread(target=lambda: print(f"thread {word}"))
    thread.start()
    thread.join()


@ray.remote
def user_hook_ran() -> Optional[str]:
    return os.environ.get("NBRAY_USER_HOOK")


@ray.remote
def raw(word: str) -> None:
    os.write(1, f"raw {word}\n".encode())  # below sys.stdout: no nbray marker


@ray.remote(max_concurrency=2)
class Gate:
    def __init__(self) -> None:
        self.event = threading.Event()

    def open(self) -> None:
        self.event.set()

    def wait(self) -> None:
        self.event.wait()


@ray.remote
def late(gate: Any, word: str) -> None:
    ray.get(gate.wait.remote())
    print(f"late {word}")


@ray.remote
class Counter:
    def __init__(self) -> None:
        print("counter born")
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        print(f"counter at {self.n}")
        return self.n


def test_exact_mode_tasks_nested_actor_and_late_output(routed: Routed) -> None:
    r, cell = routed, routed.cell
    assert ray_private.log_handler("ray_print_logs") is None  # Ray's printer is ours now
    assert ray_private.log_handler(HANDLER_NAME) is not None
    assert ray_private.job_has_worker_hook()
    gate = Gate.remote()
    cell.tag = "c1"
    ref = shout.remote("one")
    nested = outer.remote("deep")
    waiting = late.remote(gate, "after")
    counter = Counter.remote()
    streamed = numbers.remote("gen")
    in_thread = threaded.remote("in-task")
    assert r.routing.cell_of(ref.task_id().hex()) == "c1"
    ray.get([ref, nested, counter.incr.remote(), in_thread])
    assert [ray.get(item) for item in streamed] == [0, 1]
    assert ray.get(user_hook_ran.remote()) == "ran"
    cell.tag = "c2"  # a later cell runs: what c1 started still lands under c1
    ray.get(counter.incr.remote())
    ray.get(shout.remote("two"))
    gate.open.remote()
    ray.get(waiting)
    expected = {"c1": ["shout one", "shout-err one", "outer deep", "inner deep",
                       "counter born", "counter at 1", "late after", "gen 0", "gen 1", "thread in-task"],
                "c2": ["shout two", "counter at 2"]}
    for tag, lines in expected.items():
        try:
            poll_for(lambda: all(line in r.lines(tag) for line in lines))
        except AssertionError:
            raise AssertionError(f"{lines} under {tag}; the sink has {r.records}") from None
    for tag, lines in expected.items():
        others = [t for t in expected if t != tag]
        for other in others:
            assert not set(lines) & set(r.lines(other)), (tag, other, r.records)
    err = r.record_with("shout-err one")
    out = r.record_with("shout one")
    assert err is not None and out is not None
    assert err["stream"] == "stderr" and out["stream"] == "stdout"
    assert out["task_name"] == "shout" and out["pid"] == ray.get(ref)
    assert out["ip"] is None  # this node: named only when the task ran on another
    from_thread = r.record_with("thread in-task")  # a thread the task started
    assert from_thread is not None and from_thread["task_name"] == "threaded"
    born = r.record_with("counter born")
    assert born is not None and born["task_name"] == "Counter"
    # no marker or link text reaches the sink
    assert not [rec for rec in r.records
                if "\x1f" in rec["task_name"] or ":nbray_link:" in rec["text"]
                or ray_private.TASK_MARKER in rec["text"]]


def test_unmarked_output_goes_by_task_name_and_wait_quiet(routed: Routed) -> None:
    r, cell = routed, routed.cell
    cell.tag = "c3"
    ray.get(raw.remote("bytes"))
    cell.tag = "c4"
    poll_for(lambda: "raw bytes" in r.lines("c3"), msg=f"raw output under c3: {r.records}")
    cell.tag = "c5"
    ray.get(shout.remote("five"))
    start = time.monotonic()
    r.routing.wait_quiet("c5", quiet_s=0.3, max_s=60.0)
    now = time.monotonic()
    last = r.routing.last_batch.get("c5", start)
    # it returned because the cell was quiet for quiet_s, or because max_s passed
    assert now - max(last, start) >= 0.3 or now - start >= 60.0
    poll_for(lambda: "shout five" in r.lines("c5"))


BY_NAME_DRIVER = """
import json, sys, threading, time
import ray
from nbray.ray_backend import ray_private
from nbray.ray_backend.output_routing import RayOutputRouting

ray.init(address=sys.argv[1])
records, tag = [], ["c1"]
printer = ray_private.log_handler("ray_print_logs")
routing = RayOutputRouting(records.append, lambda: tag[0])
mode = routing.start()
taken = ray_private.log_handler("ray_print_logs") is None

@ray.remote
def alpha():
    print("alpha says hi")

@ray.remote
def beta():
    print("beta says hi")

ray.get(alpha.remote())
tag[0] = "c2"
ray.get(beta.remote())
tag[0] = "c3"
deadline = time.monotonic() + 60
while time.monotonic() < deadline and len({r["text"] for r in records}) < 2:
    routing.wait_quiet("c3", quiet_s=0.05, max_s=0.5)
routing.stop()
restored = ray_private.log_handler("ray_print_logs") is printer
ray.shutdown()
print("RESULT" + json.dumps({"mode": mode, "taken": taken, "restored": restored,
                            "records": records}))
"""


def test_by_name_mode_when_ray_started_first(routed: Routed) -> None:
    """A second driver (job) on the same cluster, with Ray started before the routing."""
    address = ray.get_runtime_context().gcs_address
    done = subprocess.run([sys.executable, "-c", BY_NAME_DRIVER, address],
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, done.stderr[-3000:]
    result = __import__("json").loads(lines[0][len("RESULT"):])
    assert result["mode"].startswith("by task name: Ray was started before %load_ext nbray")
    assert result["taken"] and result["restored"]  # Ray's own printer, the same object
    tags = {r["text"]: (r["tag"], r["task_name"]) for r in result["records"]}
    assert tags == {"alpha says hi\n": ("c1", "alpha"), "beta says hi\n": ("c2", "beta")}


def test_store_stats_and_version(routed: Routed) -> None:
    assert ray_private.check_version() is None
    keep = ray.put(bytes(2 * 2**20))
    stats = ray_private.store_stats()
    assert stats is not None
    node_id = ray.get_runtime_context().get_node_id()
    assert set(stats) == {node_id}
    mine = stats[node_id]
    assert set(mine) == {"store_used", "store_capacity", "spilled_bytes_total",
                         "spilled_objects_total", "restored_bytes_total"}
    assert 2 * 2**20 <= mine["store_used"] <= mine["store_capacity"]
    capacity = next(n for n in ray.nodes() if n["NodeID"] == node_id)["Resources"]
    assert mine["store_capacity"] == int(capacity["object_store_memory"])
    assert mine["spilled_bytes_total"] >= 0 and mine["restored_bytes_total"] >= 0
    del keep


def test_worker_hook_needs_no_nbray_on_workers() -> None:
    import ray.cloudpickle as cloudpickle

    calls: List[str] = []
    hook = ray_private.worker_setup_hook(lambda: calls.append("user"))
    data = cloudpickle.dumps(hook)
    code = ("import sys, pickle; sys.modules['nbray'] = None; "
            "f = pickle.loads(sys.stdin.buffer.read()); print(f.__name__)")
    done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == ray_private.HOOK_NAME


def test_stop_restores_rays_printer(routed: Routed, capfd: pytest.CaptureFixture[str]) -> None:
    from ray.actor import ActorMethod
    from ray.remote_function import RemoteFunction

    wrapped_init = ray.init
    wrapped_remote = RemoteFunction.__dict__["_remote"]
    wrapped_method = ActorMethod.__dict__["_remote"]
    assert wrapped_remote.__code__.co_filename.endswith("ray_private.py")  # ours
    r = routed
    printer = r.routing.ray_printer
    assert printer is not None
    # a second routing (%reload_ext) stops the first and takes over; the job keeps markers
    again = RayOutputRouting(r.sink, r.cell)
    assert again.start() == "exact (worker markers)"
    assert r.routing.mode == "off" and again.ray_printer is printer
    again.stop()
    assert again.mode == "off"
    assert ray.init is not wrapped_init and ray.init is getattr(wrapped_init, "__wrapped__")
    assert RemoteFunction.__dict__["_remote"] is wrapped_remote.__wrapped__
    assert ActorMethod.__dict__["_remote"] is wrapped_method.__wrapped__
    assert ray_private.log_handler(HANDLER_NAME) is None
    restored = ray_private.log_handler("ray_print_logs")
    # this job's workers still print nbray's markers: Ray's printer gets them stripped
    assert getattr(restored, "ray_printer", None) is printer
    seen: List[str] = []
    before = len(r.records)
    ray.get(shout.remote("after-stop"))

    def printed() -> bool:
        seen.append(capfd.readouterr().out)
        return "shout after-stop" in "".join(seen)

    poll_for(printed, msg="Ray's own printer prints the task's line")
    text = "".join(seen)
    line = next(ln for ln in text.splitlines() if "shout after-stop" in ln)
    assert "(shout pid=" in line and "\x1f" not in line
    assert len(r.records) == before  # nothing reached the sink


def test_missing_private_hook_turns_routing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray._private.worker as ray_worker

    monkeypatch.delattr(ray_worker, "global_worker_stdstream_dispatcher")
    routing = RayOutputRouting(lambda record: None, lambda: None)
    mode = routing.start()
    assert mode.startswith("Ray prints task output itself: ")
    assert "global_worker_stdstream_dispatcher" in mode
    assert ray_private.add_log_handler("x", lambda b: None) is False
    assert ray_private.take_ray_printer() is None
    routing.stop()
