"""wait(): Ray's semantics.

ready has at most num_returns refs; ready and not-ready keep the input order and
together are exactly the input; timeout bounds the wait; timeout=0 polls.
"""

from __future__ import annotations

import pytest

import nbray
from tests._support import FileEvent


@nbray.remote
def value(x):
    return x


@nbray.remote
def wait_then(go, x):
    go.wait(120)
    return x


@nbray.remote
def fail():
    raise ValueError("failed task")


def _check_partition(refs, ready, not_ready):
    assert ready + not_ready == [r for r in refs if r in ready] + [r for r in refs if r in not_ready]
    assert sorted(ready + not_ready, key=refs.index) == refs
    assert not set(ready) & set(not_ready)


def test_wait_returns_one_ready_ref_by_default(cluster):
    refs = [nbray.put(i) for i in range(5)]
    ready, not_ready = nbray.wait(refs)
    assert len(ready) == 1 and len(not_ready) == 4
    _check_partition(refs, ready, not_ready)


def test_wait_returns_at_most_num_returns_ready_refs_in_input_order(cluster):
    refs = [nbray.put(i) for i in range(6)]
    ready, not_ready = nbray.wait(refs, num_returns=3)
    assert len(ready) == 3
    _check_partition(refs, ready, not_ready)


def test_wait_for_all(cluster):
    refs = [value.remote(i) for i in range(8)]
    ready, not_ready = nbray.wait(refs, num_returns=len(refs))
    assert ready == refs and not_ready == []
    assert nbray.get(ready) == list(range(8))


def test_wait_with_timeout_returns_what_is_ready(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    slow = wait_then.remote(go, "slow")
    fast = nbray.put("fast")
    refs = [slow, fast]
    ready, not_ready = nbray.wait(refs, num_returns=2, timeout=0.3)
    assert ready == [fast] and not_ready == [slow]
    go.set()
    ready, not_ready = nbray.wait(refs, num_returns=2, timeout=30)
    assert ready == refs and not_ready == []


def test_wait_skips_refs_that_are_not_ready(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    slow = wait_then.remote(go, 0)
    fast = value.remote(1)
    ready, not_ready = nbray.wait([slow, fast], num_returns=1, timeout=30)
    assert ready == [fast] and not_ready == [slow]
    go.set()


def test_wait_timeout_zero_polls(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    pending = [wait_then.remote(go, i) for i in range(2)]
    ready, not_ready = nbray.wait(pending, num_returns=1, timeout=0)
    assert ready == [] and not_ready == pending
    done = nbray.put("done")
    ready, not_ready = nbray.wait([*pending, done], num_returns=1, timeout=0)
    assert ready == [done] and not_ready == pending
    go.set()


def test_wait_timeout_zero_reports_every_ready_ref_up_to_num_returns(cluster):
    refs = [nbray.put(i) for i in range(4)]
    ready, not_ready = nbray.wait(refs, num_returns=4, timeout=0)
    assert ready == refs and not_ready == []


def test_wait_on_nothing_ready_times_out_with_everything_not_ready(cluster, tmp_path):
    go = FileEvent(tmp_path / "go")
    refs = [wait_then.remote(go, i) for i in range(3)]
    ready, not_ready = nbray.wait(refs, num_returns=1, timeout=0.2)
    assert ready == [] and not_ready == refs
    go.set()
    assert nbray.get(refs) == [0, 1, 2]


def test_failed_task_counts_as_ready(cluster):
    ref = fail.remote()
    ready, not_ready = nbray.wait([ref], timeout=30)
    assert ready == [ref] and not_ready == []
    with pytest.raises(ValueError, match="failed task"):
        nbray.get(ref)


def test_wait_does_not_consume_the_refs(cluster):
    refs = [nbray.put(i) for i in range(3)]
    nbray.wait(refs, num_returns=3)
    ready, _ = nbray.wait(refs, num_returns=3)
    assert ready == refs
    assert nbray.get(refs) == [0, 1, 2]


def test_wait_loop_processes_every_result_once(cluster):
    refs = [value.remote(i) for i in range(10)]
    seen = []
    pending = list(refs)
    while pending:
        done, pending = nbray.wait(pending, timeout=30)
        assert len(done) == 1
        seen.append(nbray.get(done[0]))
    assert sorted(seen) == list(range(10))


def test_wait_accepts_fetch_local(cluster):
    ref = nbray.put(1)
    assert nbray.wait([ref], fetch_local=False) == ([ref], [])


def test_wait_on_an_empty_list_returns_two_empty_lists(cluster):
    # Ray returns ([], []) for an empty list before checking num_returns.
    assert nbray.wait([]) == ([], [])
