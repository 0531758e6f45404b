"""TaskSpec's typed fields and its compact pickled form (a spec travels with every task)."""

from __future__ import annotations

import pickle
from dataclasses import fields

from nbray.core.specs import ActorStart, TaskSpec


def spec(**kw: object) -> TaskSpec:
    return TaskSpec(task_id=b"t" * 24, name="f", function_id=b"f" * 20, args=b"args",
                    arg_refs=[b"a" * 28], nested_refs=[], return_ids=[b"r" * 28],
                    resources={"CPU": 1.0}, **kw)  # type: ignore[arg-type]


def test_defaults_are_those_readers_expect_of_a_plain_task() -> None:
    s = spec()
    assert (s.args_ref, s.tag, s.parent, s.log_name) == (None, None, None, "")
    assert (s.backpressure, s.max_calls, s.gpu_ids, s.actor) == (0, 0, None, None)
    assert not hasattr(s, "extra")


def test_pickle_round_trip_keeps_every_field() -> None:
    s = spec(args_ref=b"x" * 28, tag="attached:w1#3", parent=b"p" * 24, log_name="A",
             backpressure=2, max_calls=5, gpu_ids=[0, 1], kind="actor-create", attempt=2,
             actor=ActorStart(name="a", is_async=True, max_concurrency=3, restarts=1,
                              handle_info={"max_task_retries": 2}))
    back = pickle.loads(pickle.dumps(s, protocol=5))
    assert back == s and back is not s
    assert [getattr(back, f.name) for f in fields(TaskSpec)] == \
        [getattr(s, f.name) for f in fields(TaskSpec)]


def test_pickled_spec_carries_no_field_names() -> None:
    # Field values travel as one tuple: no key strings, so no growth per new field.
    data = pickle.dumps(spec(), protocol=5)
    for name in ("task_id", "nested_refs", "backpressure", "max_calls", "log_name"):
        assert name.encode() not in data


def test_mutating_a_copy_leaves_the_original() -> None:
    s = spec(gpu_ids=[1])
    back = pickle.loads(pickle.dumps(s))
    back.attempt += 1
    assert back.gpu_ids is not None
    back.gpu_ids.append(2)
    assert s.attempt == 0 and s.gpu_ids == [1]
