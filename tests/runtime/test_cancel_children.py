"""Recursive cancel, nbray's side of the race: what a cancelled task submits after the cancel
reached the node (before the interrupt ended it) is cancelled on arrival.  Both backends'
common behaviour is in tests/ray_compat/test_cancel_recursive.py."""

from __future__ import annotations

import os
import time

import pytest

import nbray
from nbray.exceptions import TaskCancelledError
from tests._support import FileEvent, poll_for


@nbray.remote
def leaf(path):
    open(path, "w").close()
    return "ran"


@nbray.remote
def submits_when_interrupted(started, leaf_path, outcome_path):
    started.set()
    try:
        while True:
            time.sleep(0.01)
    except KeyboardInterrupt:
        ref = leaf.remote(leaf_path)   # after the cancel reached the node
        try:
            outcome = nbray.get(ref, timeout=30)
        except TaskCancelledError:
            outcome = "cancelled"
        with open(outcome_path, "w") as f:
            f.write(outcome)
        raise


def _run(tmp_path, recursive):
    started = FileEvent(tmp_path / "started")
    leaf_path, outcome_path = str(tmp_path / "leaf-ran"), tmp_path / "outcome"
    ref = submits_when_interrupted.remote(started, leaf_path, str(outcome_path))
    assert started.wait(30)
    nbray.cancel(ref, recursive=recursive)
    with pytest.raises(TaskCancelledError):
        nbray.get(ref, timeout=30)
    return outcome_path.read_text(), os.path.exists(leaf_path)


def test_children_submitted_after_the_cancel_are_cancelled(cluster, tmp_path):
    assert _run(tmp_path, recursive=True) == ("cancelled", False)
    poll_for(lambda: nbray.available_resources()["CPU"] == 2, msg="the CPUs to come back")


def test_recursive_false_lets_them_run(cluster, tmp_path):
    assert _run(tmp_path, recursive=False) == ("ran", True)
