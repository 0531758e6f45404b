"""sys.exit() inside an actor method: code 0 is an intended exit (no restart), any other
code (None included) a crash that max_restarts restarts, as in Ray."""

from __future__ import annotations

import os
import sys

import pytest

from tests._support import poll_for


def _actor_class(ray):
    @ray.remote(max_restarts=1)
    class Leaver:
        def pid(self):
            return os.getpid()

        def leave(self, code):
            sys.exit(code)

    return Leaver


def test_sys_exit_zero_ends_the_actor_for_good(ray):
    actor = _actor_class(ray).remote()
    ray.get(actor.pid.remote())
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.leave.remote(0))
    with pytest.raises(ray.exceptions.ActorDiedError):   # not restarted despite max_restarts
        ray.get(actor.pid.remote())


# Ray counts only exit code 0 as intended: a bare sys.exit() (code None) is a crash too.
@pytest.mark.parametrize("code", [3, None])
def test_sys_exit_with_another_code_is_a_crash_and_restarts(ray, code):
    actor = _actor_class(ray).remote()
    first = ray.get(actor.pid.remote())
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.leave.remote(code))

    def restarted_pid():
        try:
            return ray.get(actor.pid.remote())
        except ray.exceptions.RayActorError:   # Ray: unavailable while it restarts
            return None

    assert poll_for(restarted_pid, msg="the restarted actor to answer") != first
