"""The progress of a long wait as pure state: what the bar says while it waits, after it
finished, failed, timed out or was interrupted (no process, no kernel, no sleep)."""

from __future__ import annotations

import io
from typing import List

import pytest

from nbray.runtime import progress
from nbray.runtime.progress import ProgressState, TextProgress, wait_with_progress
from nbray.serialization import relabel_traceback, set_filename_labeler


def test_state_texts_and_colours_for_every_way_a_wait_ends():
    s = ProgressState(6)
    s.advance(2)
    assert (s.outcome, s.style, s.ended) == ("running", "info", False)
    assert s.text("get 6 objects", 1.25) == "get 6 objects: 2/6 (1.2 s)"
    s.advance(99)                       # clamped to the total
    assert s.done == 6
    s.finish()
    assert (s.outcome, s.style) == ("finished", "success")

    # Ctrl-C: interrupted, then told what the interrupt did to the rest
    s = ProgressState(6)
    s.advance(2)
    s.interrupt()
    assert (s.outcome, s.style) == ("interrupted", "warning")
    assert s.text("get", 4.0) == "get: interrupted after 4.0 s: 2 of 6 done"
    s.finish()                          # a later finish() keeps the interrupt
    s.settle_interrupt(cancelling=True)
    assert s.cancelled == 4
    assert s.text("get", 4.0) == "get: interrupted after 4.0 s: 2 of 6 done, 4 cancelled"
    s = ProgressState(6)
    s.interrupt()
    s.settle_interrupt(cancelling=True)
    assert s.text("get", 4.0) == "get: interrupted after 4.0 s: cancelled 6 of 6"
    s = ProgressState(6)
    s.advance(1)
    s.interrupt()
    s.settle_interrupt(cancelling=False)  # cancel_on_interrupt=false: the work goes on
    assert (s.cancelled, s.left_running) == (0, 5)
    assert s.text("get", 1.0) == "get: interrupted after 1.0 s: 1 of 6 done, 5 still running"

    # a failed object stops the wait, in the error colour
    s = ProgressState(6)
    s.advance(3)
    s.fail(1)
    s.finish()
    assert (s.outcome, s.style) == ("failed", "danger")
    assert s.text("get", 2.0) == "get: 3/6, 1 failed (2.0 s)"
    s.settle_interrupt(cancelling=True)  # only an interrupted wait is settled
    assert s.cancelled == 0

    # the timeout passed with work left
    s = ProgressState(6)
    s.advance(5)
    s.finish()
    assert (s.outcome, s.style) == ("timed out", "warning")
    assert s.text("get", 2.0) == "get: timed out after 2.0 s: 5 of 6 done"


class Recorder:
    """A renderer that keeps what it was told."""

    def __init__(self, total: int, label: str) -> None:
        self.updates: List[int] = []
        self.closed: List[ProgressState] = []

    def update(self, state: ProgressState) -> None:
        self.updates.append(state.done)

    def close(self, state: ProgressState) -> None:
        self.closed.append(state)


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> List[Recorder]:
    made: List[Recorder] = []

    def factory(total: int, label: str) -> Recorder:
        made.append(Recorder(total, label))
        return made[-1]

    progress.set_progress_renderer(factory)
    yield made
    progress.set_progress_renderer(None)


def test_wait_with_progress_reports_how_the_wait_ended(bars: List[Recorder]):
    # ready at once: no bar at all
    assert wait_with_progress(lambda t: 3, 3, None, "get", delay=0.0)
    assert bars == []

    # finished after a few polls: updated on the way, closed as finished
    counts = iter([0, 2, 4, 6])
    assert wait_with_progress(lambda t: next(counts), 6, None, "get", delay=0.0)
    assert bars[-1].updates == [2, 4, 6]   # the bar reaches the end before it goes
    assert bars[-1].closed[0].outcome == "finished"

    # an object failed: the wait stops at once, the bar stays in the error colour
    seen = [0]

    def count_ready(t: float) -> int:
        seen[0] += 1      # one more ready at each poll; the third one holds an error
        return seen[0]

    assert wait_with_progress(count_ready, 6, None, "get", delay=0.0,
                              count_failed=lambda: int(seen[0] >= 3))
    state = bars[-1].closed[0]
    assert (state.outcome, state.done, state.failed, state.style) == ("failed", 3, 1, "danger")

    # Ctrl-C in the wait: the KeyboardInterrupt goes on, the bar is marked interrupted
    polls = []

    def interrupted(t: float) -> int:
        polls.append(t)
        if len(polls) == 3:   # Ctrl-C while the bar is up
            raise KeyboardInterrupt
        return 1

    with pytest.raises(KeyboardInterrupt):
        wait_with_progress(interrupted, 6, None, "get", delay=0.0)
    state = bars[-1].closed[0]
    assert (state.outcome, state.done, state.style) == ("interrupted", 1, "warning")



def test_wait_with_progress_times_out(bars: List[Recorder], monkeypatch: pytest.MonkeyPatch):
    class Clock:   # each poll "takes" the time it was given
        now = 100.0

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)

    def count_ready(t: float) -> int:
        clock.now += t
        return 2

    assert wait_with_progress(count_ready, 6, 1.0, "get", delay=0.0) is False
    state = bars[-1].closed[0]
    assert (state.outcome, state.done, state.style) == ("timed out", 2, "warning")
    assert bars[-1].updates and set(bars[-1].updates) == {2}


def test_text_renderer_writes_the_final_state():
    out = io.StringIO()
    bar = TextProgress(6, "get 6 objects", out)
    s = ProgressState(6)
    s.advance(3)
    bar.update(s)
    assert "[###############...............] 3/6" in out.getvalue()
    s.interrupt()
    s.settle_interrupt(cancelling=True)
    bar.close(s)
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("get 6 objects: interrupted after ") and \
        last.endswith("3 of 6 done, 3 cancelled\n"), last


def test_driver_relabels_cell_files_in_task_tracebacks():
    # A function pickled before the notebook labelled its cells reaches the worker without
    # a label; the driver names the cell when it shows the error.
    text = ('  File "/tmp/ipykernel_1/123.py", line 3, in f\n    return 1/0\n'
            '  File "/usr/lib/python3/x.py", line 9, in g\n')
    set_filename_labeler(lambda name: "In [4]" if name.endswith("/123.py") else None)
    try:
        assert relabel_traceback(text) == (
            '  File "In [4]", line 3, in f\n    return 1/0\n'
            '  File "/usr/lib/python3/x.py", line 9, in g\n')
        from nbray.exceptions import RayTaskError

        err = RayTaskError("f", "Traceback (most recent call last):\n" + text,
                           ZeroDivisionError("division by zero"), 1)
        shown = "\n".join(err._render_traceback_())
        assert 'File "In [4]", line 3, in f' in shown and "123.py" not in shown
    finally:
        set_filename_labeler(None)
    assert "123.py" in "\n".join(err._render_traceback_())   # no notebook: shown as sent
