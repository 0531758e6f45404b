"""Pure tests of Ray log batch -> cell attribution (no Ray, no process)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from nbray.ray_backend.attribution import (Attributor, parse_link, parse_marker,
                                           SEP, LINK_PREFIX)

JOB = "01000000"


def batch(lines: List[str], task_name: str = "", actor_name: str = "", pid: Any = "4343",
          is_err: bool = False, job: str = JOB) -> Dict[str, Any]:
    return {"ip": "10.0.0.2", "pid": pid, "job": job, "is_err": is_err, "lines": lines,
            "task_name": task_name, "actor_name": actor_name, "localhost": "10.0.0.1"}


class Clock:
    def __init__(self) -> None:
        self.cell: Optional[str] = "cell-now"

    def __call__(self) -> Optional[str]:
        return self.cell


def marked(name: str, task_id: str) -> str:
    return f"{name}{SEP}{task_id}"


def test_markers_and_links_parse() -> None:
    assert parse_marker(marked("f", "ab12")) == ("f", "ab12")
    assert parse_marker("f") == ("f", None)
    assert parse_marker("") == ("", None)
    assert parse_marker(marked("A.m", "")) == (marked("A.m", ""), None)
    assert parse_link(f"{LINK_PREFIX}c1 p1") == ("c1", "p1")
    assert parse_link("ordinary line") is None
    assert parse_link(f"{LINK_PREFIX}only-one") is None


def test_marked_batch_goes_to_submitting_cell_with_record_shape() -> None:
    att, now = Attributor(), Clock()
    att.submitted("t1", "cell-1", "f", 0.0)
    now.cell = "cell-2"  # a later cell runs when the output arrives
    out = att.feed(batch(["hello", "world"], marked("f", "t1")), 5.0, JOB, now)
    assert out == [{"stream": "stdout", "text": "hello\nworld\n", "task_name": "f",
                    "pid": 4343, "ip": "10.0.0.2", "tag": "cell-1"}]
    err = att.feed(batch(["oops"], marked("f", "t1"), is_err=True), 5.0, JOB, now)
    assert err[0]["stream"] == "stderr" and err[0]["tag"] == "cell-1"
    assert att.tag_of("t1") == "cell-1" and att.tag_of("nope") is None


def test_nested_task_follows_links_to_root_cell_and_link_lines_are_hidden() -> None:
    att, now = Attributor(), Clock()
    att.submitted("root", "cell-1", "f", 0.0)
    # the parent's batch carries the link line; it is consumed, the output kept
    out = att.feed(batch(["f says", f"{LINK_PREFIX}child root"], marked("f", "root")),
                   1.0, JOB, now)
    assert [r["text"] for r in out] == ["f says\n"]
    att.linked("grandchild", "child")
    out = att.feed(batch(["deep"], marked("g", "grandchild")), 1.0, JOB, now)
    assert out[0]["tag"] == "cell-1" and out[0]["task_name"] == "g"
    # a batch made only of link lines gives no record
    assert att.feed(batch([f"{LINK_PREFIX}x root"]), 1.0, JOB, now) == []
    assert att.tag_of("x") == "cell-1"


def test_unknown_task_waits_for_its_link_in_order_then_falls_back_by_name() -> None:
    att, now = Attributor(link_wait_s=1.0), Clock()
    att.submitted("root", "cell-1", "f", 0.0)
    att.submitted("other", "cell-2", "child", 0.5)
    # the child's output arrives before the parent's link: it waits
    assert att.feed(batch(["c1"], marked("child", "kid")), 1.0, JOB, now) == []
    assert att.feed(batch(["c2"], marked("child", "kid")), 1.1, JOB, now) == []
    assert att.next_deadline() == 2.0
    assert att.release(1.5, now) == []
    # the link arrives inside a batch of the parent: both waiting batches go, in order
    out = att.feed(batch([f"{LINK_PREFIX}kid root"], marked("f", "root")), 1.6, JOB, now)
    assert [(r["text"], r["tag"]) for r in out] == [("c1\n", "cell-1"), ("c2\n", "cell-1")]
    assert att.pending == [] and att.next_deadline() is None
    # no link ever comes: after the wait, the cell that last submitted "child"
    assert att.feed(batch(["lost"], marked("child", "orphan")), 3.0, JOB, now) == []
    out = att.release(4.0, now)
    assert [(r["text"], r["tag"]) for r in out] == [("lost\n", "cell-2")]
    # stop: everything waiting goes at once
    att.feed(batch(["x"], marked("nobody-knows", "t9")), 5.0, JOB, now)
    assert [r["tag"] for r in att.release(5.0, now, everything=True)] == ["cell-now"]


def test_a_later_batch_of_a_waiting_task_waits_behind_it() -> None:
    att, now = Attributor(link_wait_s=1.0), Clock()
    assert att.feed(batch(["first"], marked("f", "t")), 0.0, JOB, now) == []
    att.submitted("t", "cell-1", "f", 0.1)
    out = att.feed(batch(["second"], marked("f", "t")), 0.2, JOB, now)
    assert [r["text"] for r in out] == ["first\n", "second\n"]


def test_by_name_unmarked_batches_and_actors() -> None:
    att, now = Attributor(), Clock()
    att.submitted("t1", "cell-1", "f", 0.0)
    att.submitted("t2", "cell-2", "f", 1.0)
    att.submitted("a1", "cell-3", "Counter", 2.0)
    out = att.feed(batch(["plain"], "f"), 3.0, JOB, now)
    assert out[0]["tag"] == "cell-2"  # the most recent submitter of "f"
    out = att.feed(batch(["from actor"], "", actor_name="Counter"), 3.0, JOB, now)
    assert out[0]["tag"] == "cell-3" and out[0]["task_name"] == "Counter"
    # an actor with a custom __repr__: its marker name "Counter.incr" still names the class
    out = att.feed(batch(["custom"], "Counter.incr", actor_name="Counter(n=3)"), 3.0, JOB, now)
    assert out[0]["tag"] == "cell-3" and out[0]["task_name"] == "Counter(n=3)"
    out = att.feed(batch(["who?"], "never_submitted"), 3.0, JOB, now)
    assert out[0]["tag"] == "cell-now"


def test_system_lines_other_jobs_and_info_prefix() -> None:
    att, now = Attributor(), Clock()
    out = att.feed(batch([":info_message:Spilled 10 MiB"], pid="raylet"), 0.0, JOB, now)
    assert out == [{"stream": "stderr", "text": "Spilled 10 MiB\n", "task_name": "ray",
                    "pid": "raylet", "ip": "10.0.0.2", "tag": "cell-now"}]
    assert att.feed(batch(["not ours"], "f", job="02000000"), 0.0, JOB, now) == []
    # a batch without a job (Ray's files before the job line) is kept
    assert len(att.feed(batch(["early"], "f", job=""), 0.0, JOB, now)) == 1
    assert att.feed(batch([]), 0.0, JOB, now) == []


def test_submission_outside_a_cell_is_known_with_no_tag_and_tables_are_bounded() -> None:
    att, now = Attributor(max_tasks=3), Clock()
    att.submitted("bg", None, "f", 0.0)
    out = att.feed(batch(["from a thread"], marked("f", "bg")), 0.0, JOB, now)
    assert out[0]["tag"] is None and att.pending == []
    for i in range(5):
        att.submitted(f"t{i}", "c", "f", float(i))
        att.linked(f"k{i}", f"t{i}")
    assert len(att.tags) == 3 and len(att.parents) == 3
    assert att.tag_of("t0") is None and att.tag_of("k4") == "c"
    att.linked("loop-a", "loop-b")
    att.linked("loop-b", "loop-a")
    assert att.tag_of("loop-a") is None  # a cycle in bad data ends
