"""benchmarks/compare.py's bookkeeping and table: fractions of the IPC floor, rows measured
together, the 100-column layout.  Pure functions on made-up figures: nothing is timed,
no cluster or process is started."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "compare.py"


@pytest.fixture(scope="module")
def compare() -> Any:
    spec = importlib.util.spec_from_file_location("bench_compare", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_compare"]


def figures(compare: Any, table: Dict[str, Dict[str, List[float]]]) -> Dict[str, Dict[str, Any]]:
    return {k: {m: compare.Figures(values=list(v)) for m, v in per.items()}
            for k, per in table.items()}


def test_floor_fractions_divide_each_median_by_the_floor_median(compare):
    figs = figures(compare, {compare.FLOOR_KEY: {"machine": [30_000, 40_000, 50_000]},
                             "tasks_sync": {"nbray": [8_000, 10_000, 12_000], "ray": [400]}})
    fr = compare.floor_fractions(figs, "tasks_sync", ["nbray", "ray"])
    assert fr == {"nbray": pytest.approx(0.25), "ray": pytest.approx(0.01)}


def test_floor_fractions_are_none_without_a_floor_or_a_figure(compare):
    figs = figures(compare, {"tasks_sync": {"nbray": [8_000]}})
    assert compare.floor_fractions(figs, "tasks_sync", ["nbray"]) == {"nbray": None}
    figs = figures(compare, {compare.FLOOR_KEY: {"machine": [40_000]}})
    assert compare.floor_fractions(figs, "tasks_sync", ["nbray"]) == {"nbray": None}


def test_the_floor_table_has_every_per_operation_rate_and_nothing_else(compare):
    keys = list(compare.CASES)
    rates = [k for k in keys if compare.CASES[k].unit in ("tasks/s", "calls/s")
             and compare.CASES[k].kind == "cluster"]
    assert {"tasks_sync", "tasks_async", "actor_calls_sync", "actor_calls_async", "put_small",
            "get_small", "tasks_remote"} <= set(rates)
    figs = figures(compare, {compare.FLOOR_KEY: {"machine": [40_000]},
                             "tasks_sync": {"nbray": [10_000], "ray": [800]},
                             "put_100mib": {"nbray": [12.0], "ray": [3.0]}})
    lines = compare.floor_lines(["nbray", "ray"], figs, keys)
    listed = [line.split()[0] for line in lines[4:]]
    assert listed == rates
    sync = next(line for line in lines if line.startswith("tasks_sync "))
    assert sync.split()[-2:] == ["0.250", "0.020"]
    assert "40,000" in lines[0]


def test_without_the_floor_the_floor_table_says_so(compare):
    lines = compare.floor_lines(["nbray"], {}, ["tasks_sync"])
    assert lines == [f"(No fractions of the IPC floor: {compare.FLOOR_KEY} was not measured.)"]


def test_every_table_fits_100_columns(compare):
    keys = list(compare.CASES)
    figs = figures(compare, {k: {"nbray": [123_456.0], "ray": [1_234_567.0]} for k in keys
                             if compare.CASES[k].kind != "reference"})
    for k in keys:
        if compare.CASES[k].kind == "reference":
            figs[k] = {"machine": compare.Figures(values=[12_345.0, 0.855, 99_999.0])}
    figs["tasks_sync"]["ray"].errors.append("RuntimeError: " + "a long error message " * 20)
    figs["list_1m_size"]["ray"] = compare.Figures(skipped=compare.RAY_LISTING)
    for quick in (False, True):
        for lines in (compare.table_lines(["nbray", "ray"], figs, keys, quick),
                      compare.floor_lines(["nbray", "ray"], figs, keys, quick),
                      compare.reference_lines(figs, keys)):
            assert lines
            assert max(len(line) for line in lines) <= 100, max(lines, key=len)


def test_a_case_not_measured_on_a_module_says_why_once(compare):
    keys = compare.with_rows(["list_1m_size"])
    assert keys == ["list_1m_size", "list_1m_created"]
    why = compare.CASES["list_1m_size"].not_for["ray"]
    figs = figures(compare, {"list_1m_size": {"nbray": [0.1]}, "list_1m_created": {"nbray": [0.2]}})
    for k in keys:
        figs[k]["ray"] = compare.Figures(skipped=why)
    text = "\n".join(compare.table_lines(["nbray", "ray"], figs, keys))
    assert text.count("ray not measured") == 1
    assert "n/m" in text


def test_selecting_one_row_runs_the_whole_case(compare):
    assert compare.with_rows(["tasks_300k_rss"]) == ["tasks_300k_first", "tasks_300k_last",
                                                       "tasks_300k_rss"]
    assert compare.measured_by("tasks_remote_ratio") == "tasks_remote"
    assert compare.CASES["tasks_remote"].rows == ["tasks_remote", "tasks_remote_local",
                                                  "tasks_remote_ratio"]


def test_a_repetition_of_a_case_with_rows_records_each_row(compare):
    c = compare.CASES["tasks_remote"]
    results: Dict[str, Dict[str, List[float]]] = {k: {"values": []} for k in c.rows}
    compare.record(results, c, {"tasks_remote": 2.0, "tasks_remote_local": 4.0,
                                "tasks_remote_ratio": 0.5})
    assert [results[k]["values"] for k in c.rows] == [[2.0], [4.0], [0.5]]
    with pytest.raises(AssertionError):
        compare.record(results, c, {"tasks_remote": 2.0})
    with pytest.raises(AssertionError):
        compare.record(results, c, 2.0)


def test_reference_notes_compare_with_the_machine_or_the_modules_own_row(compare):
    figs = figures(compare, {"ref_memcpy_100mib": {"machine": [10.0]},
                             "put_100mib": {"nbray": [12.0], "ray": [2.5]},
                             "tasks_300k_first": {"nbray": [8_000], "ray": [2_000]},
                             "tasks_300k_last": {"nbray": [6_000], "ray": [2_000]}})
    mods = ["nbray", "ray"]
    assert compare.row_notes(compare.CASES["put_100mib"], figs, mods) == [
        "vs ref_memcpy_100mib: nbray 1.20x, ray 0.25x"]
    assert compare.row_notes(compare.CASES["tasks_300k_last"], figs, mods) == [
        "vs tasks_300k_first: nbray 0.75x, ray 1.00x"]


def test_rows_without_a_ratio_get_none(compare):
    c = compare.CASES["tasks_300k_rss"]
    assert compare.ratio(c, 2.0, 4.0) is None
    assert compare.ratio(compare.CASES["tasks_sync"], 10.0, 2.0) == 5.0
    assert compare.ratio(compare.CASES["multi_get"], 0.5, 2.0) == 4.0
