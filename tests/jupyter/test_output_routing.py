"""Worker output goes to the cell that started the work, even after that cell finished,
and a print flood is rate limited with a note saying how much was dropped."""

from __future__ import annotations

import re
import time

from nbray.jupyter import output as output_module
from ._kernel_session import TIMEOUT

DROP_NOTE = re.compile(r"\[nbray\] (\d+) lines of worker output were dropped")

LATE_TASK = """
@nbray.remote
def late(go):
    import os, time
    while not os.path.exists(go):
        time.sleep(0.01)
    print('late output from cell A')
    return 1
ref = late.remote({go!r})
"""

CELL_B = """
import os, time
open({go!r}, 'w').close()
deadline = time.monotonic() + {timeout}
while not os.path.exists({done!r}) and time.monotonic() < deadline:
    time.sleep(0.01)
print('cell B finished')
"""


def test_late_print_goes_to_the_cell_that_started_the_task(nbray_kernel, tmp_path):
    k = nbray_kernel
    go, done = str(tmp_path / "go"), str(tmp_path / "done")
    cell_a = k.execute(LATE_TASK.format(go=go))
    assert k.is_idle(cell_a.msg_id)
    b_id = k.submit(CELL_B.format(go=go, done=done, timeout=TIMEOUT))
    late = k.wait_for_message(
        lambda m: m["msg_type"] == "stream" and "late output from cell A" in m["content"]["text"],
        TIMEOUT, "the late print of cell A's task")
    # it arrives while cell B is still running, under cell A's header
    assert late["parent_header"]["msg_id"] == cell_a.msg_id
    assert late["parent_header"]["msg_type"] == "execute_request"
    assert late["content"]["name"] == "stdout"
    assert late["content"]["text"].startswith("(late pid=")
    assert not k.is_idle(b_id), "cell B finished before the output arrived: test did not overlap"
    open(done, "w").close()
    cell_b = k.wait_idle(b_id)
    assert cell_b.stdout == "cell B finished\n"
    assert "late output" not in cell_b.stdout
    assert k.value(f"nbray.get(ref, timeout={TIMEOUT})") == 1


def test_stderr_of_a_task_arrives_as_stderr(nbray_kernel):
    cell = nbray_kernel.execute(
        "@nbray.remote\ndef warn():\n    import sys\n    print('to stderr', file=sys.stderr)\n"
        "    return 0\nnbray.get(warn.remote())")
    assert "to stderr" in cell.stream("stderr")
    assert "to stderr" not in cell.stdout


FLOOD = """
@nbray.remote
def flood(n):
    for i in range(n):
        print(f'line {i}')
    return n
nbray.get(flood.remote(20000))
"""


def _flood(k):
    start = time.monotonic()
    cell = k.execute(FLOOD, timeout=TIMEOUT * 2)
    elapsed = time.monotonic() - start
    assert cell.result == "20000"
    return cell, elapsed


def _count(messages):
    lines, dropped = 0, []
    for m in messages:
        if m["msg_type"] != "stream" or m["content"]["name"] != "stdout":
            continue
        for line in m["content"]["text"].splitlines():
            note = DROP_NOTE.search(line)
            if note:
                dropped.append(int(note.group(1)))
            elif re.match(r"\(flood pid=\d+\) line \d+$", line):
                lines += 1
    return lines, dropped


def test_print_flood_is_rate_limited(nbray_kernel):
    k = nbray_kernel
    cell, elapsed = _flood(k)
    # What the limiter let through, wherever it came: on a loaded machine part of a
    # 20,000-line flood can reach IOPub after the cell's reply (still under the cell).
    ended = time.monotonic()

    def accounted():
        shown, dropped = _count(k.for_parent(cell.msg_id))
        return shown + sum(dropped)

    while accounted() < 20000 and time.monotonic() < ended + 10:
        k.pump(0.2)
    elapsed += time.monotonic() - ended
    shown, dropped = _count(k.for_parent(cell.msg_id))
    burst, rate = output_module.BURST_LINES, output_module.LINES_PER_SECOND
    assert shown >= min(burst, 20000), shown  # a full burst gets through
    assert shown <= burst + rate * elapsed + 1, (shown, elapsed)
    assert dropped, "no '[nbray] N lines ... dropped' note"
    assert "lines/s" in cell.stdout


def test_drop_notes_account_for_every_dropped_line(nbray_kernel):
    k = nbray_kernel
    cell, _ = _flood(k)
    # The task ended before get() returned, so all its lines reached the router during the
    # cell, and the router reports what it dropped before the cell's reply (post_run_cell):
    # the notes are in the cell's own messages, with nothing to wait for afterwards.
    shown, dropped = _count(cell.messages)
    assert shown + sum(dropped) == 20000, (
        f"{shown} lines shown + {dropped} reported dropped != 20000 printed")
