"""ray.get / ray.wait with nbray's progress and interrupt hooks, on a real local Ray.

Progress is drawn through nbray's renderer interface (a recording renderer here; the
notebook's widget in a kernel, tests/jupyter/test_ray_kernel.py); Ctrl-C is a real SIGINT
to this process while Ray's call blocks.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Iterator, List

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'nbray[ray]'")

from nbray.ray_backend.blocking import BlockingHooks  # noqa: E402
from nbray.runtime import notebook_port, progress  # noqa: E402

from .conftest import local_ray  # noqa: E402


class Recorder:
    """A progress renderer keeping what it was asked to draw."""

    bars: List["Recorder"] = []

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.updates, self.final = total, label, [], None
        Recorder.bars.append(self)

    def update(self, state: Any) -> None:
        self.updates.append(state.done)

    def close(self, state: Any) -> None:
        self.final = state.text(self.label, 1.0)


@pytest.fixture(scope="module")
def hooked() -> Iterator[BlockingHooks]:
    with local_ray(num_cpus=2, include_dashboard=False):
        hooks = BlockingHooks()
        hooks.install()
        progress.set_progress_renderer(Recorder)
        try:
            yield hooks
        finally:
            progress.set_progress_renderer(None)
            hooks.uninstall()


@ray.remote
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@ray.remote
def forever() -> None:
    while True:
        time.sleep(0.01)


def test_progress_of_long_gets_and_waits_and_none_for_quick_ones(hooked):
    Recorder.bars.clear()
    assert ray.get([nap.remote(0) for _ in range(3)]) == [0, 0, 0]
    assert Recorder.bars == []  # done within the first second: no bar
    assert ray.get([nap.remote(0.4 * i) for i in range(6)]) == [0.4 * i for i in range(6)]
    (bar,) = Recorder.bars
    assert bar.label == "ray.get 6 objects" and bar.final == "ray.get 6 objects: 6/6 (1.0 s)"
    ready, rest = ray.wait([nap.remote(0.3 * i) for i in range(8)], num_returns=6)
    assert len(ready) == 6 and len(rest) == 2
    assert Recorder.bars[-1].label == "ray.wait 6 of 8 objects"
    assert Recorder.bars[-1].final.endswith("6/6 (1.0 s)")
    # a timeout still raises Ray's own error, the bar saying it timed out
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get([nap.remote(5), nap.remote(0)], timeout=1.5)
    assert "timed out" in Recorder.bars[-1].final


def test_ctrl_c_reports_the_awaited_refs_and_cancel_spares_finished_ones(hooked, monkeypatch):
    reported: List[Any] = []
    monkeypatch.setattr(notebook_port, "_interrupt_handler",
                        lambda ids: reported.append(list(ids)))
    done = nap.remote(0)
    ray.get(done)
    refs = [done] + [forever.remote() for _ in range(2)]
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        ray.get(refs)
    timer.join()
    assert reported == [[r.binary() for r in refs]]
    # the finished one is left alone (Ray 2.60 aborts when a finished task is cancelled)
    assert hooked.cancel(reported[0]) == 2
    for ref in refs[1:]:
        with pytest.raises(ray.exceptions.TaskCancelledError):
            ray.get(ref, timeout=30)
    assert ray.get(done) == 0
    assert hooked.cancel(reported[0]) == 0  # nothing is waited for any more
