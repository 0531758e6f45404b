"""kill(no_restart=False) of a restartable actor: what nbray promises beyond Ray.

In Ray kill() is asynchronous, so a call made right after it may still reach the old process
or fail while the actor restarts.  nbray takes the actor out of service at once: calls made
after kill() wait for the restarted actor and run there; calls already running fail (unless
max_task_retries allows re-running them)."""

from __future__ import annotations

import os

import pytest

import nbray
from nbray.exceptions import ActorDiedError
from tests._support import FileEvent
from tests.actors._helpers import wait_for_state


@nbray.remote(max_restarts=1)
class Service:
    def __init__(self):
        self.calls = 0

    def call(self):
        self.calls += 1
        return self.calls, os.getpid(), nbray.get_runtime_context().was_current_actor_reconstructed

    def pid(self):
        return os.getpid()

    def block(self, started, gate):
        started.set()
        assert gate.wait(60), "the test never opened the gate"
        return "unblocked"


def test_calls_made_right_after_kill_run_on_the_restarted_actor(cluster):
    service = Service.remote()
    first_pid = nbray.get(service.pid.remote())
    nbray.kill(service, no_restart=False)
    results = nbray.get([service.call.remote() for _ in range(3)], timeout=30)
    assert [r[0] for r in results] == [1, 2, 3]          # a fresh instance, in order
    assert {r[1] for r in results} != {first_pid}
    assert all(r[2] for r in results)                    # was_current_actor_reconstructed
    wait_for_state(service, "ALIVE", restarts=1)


def test_a_call_running_at_the_kill_fails_and_later_ones_run(cluster, tmp_path):
    service = Service.remote()
    started, gate = FileEvent(tmp_path / "started"), FileEvent(tmp_path / "gate")
    running = service.block.remote(started, gate)
    assert started.wait(30)
    nbray.kill(service, no_restart=False)
    after = service.call.remote()
    with pytest.raises(ActorDiedError):
        nbray.get(running, timeout=30)
    assert nbray.get(after, timeout=30)[0] == 1


def test_kill_without_restarts_left_fails_the_calls_made_after_it(cluster):
    service = Service.options(max_restarts=0).remote()
    nbray.get(service.pid.remote())
    nbray.kill(service, no_restart=False)
    with pytest.raises(ActorDiedError):
        nbray.get(service.call.remote(), timeout=30)
    wait_for_state(service, "DEAD")
