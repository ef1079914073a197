"""Results, the JSON document, the terminal summary and pytest-benchmark data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_alertbench import benchjson
from pytest_alertbench.recorder import PerfRecorder
from pytest_alertbench.results import SCHEMA, PerfResult, build_document, write_json
from pytest_alertbench.summary import render_summary


def make_result(targets: dict[str, float] | None = None) -> PerfResult:
    """A result of 100 store calls of 1..100 ms and one get of 2 ms."""
    recorder = PerfRecorder(mode="redis")
    for ms in range(1, 101):
        recorder.record("store", ms / 1000)
    recorder.record("get", 0.002)
    result = PerfResult.from_recorder("t.py::test_a[redis]", recorder, targets or {})
    result.check()
    return result


def test_result_holds_percentiles_of_the_raw_timings() -> None:
    """P50/P95/P99 and max of 1..100 ms come out as linear interpolation gives."""
    store = make_result().operations["store"]
    assert store["count"] == 100
    assert store["p50_ms"] == pytest.approx(50.5)
    assert store["p95_ms"] == pytest.approx(95.05)
    assert store["p99_ms"] == pytest.approx(99.01)
    assert store["max_ms"] == pytest.approx(100.0)


def test_verdict_follows_the_checks() -> None:
    """No targets: none; all met: pass; one missed: fail."""
    assert make_result().verdict == "none"
    assert make_result({"store_p95_ms": 200}).verdict == "pass"
    assert make_result({"store_p95_ms": 200, "get_p95_ms": 1}).verdict == "fail"


def test_result_round_trips_without_raw_durations() -> None:
    """to_dict/from_dict keep figures, targets and checks, not the raw timings."""
    result = make_result({"store_p95_ms": 200})
    data = json.loads(json.dumps(result.to_dict()))

    again = PerfResult.from_dict(data)

    assert again.operations == result.operations
    assert again.checks == result.checks
    assert again.verdict == "pass"
    assert again.durations == {}
    assert "durations" not in data


def test_document_names_its_schema_and_carries_every_test(tmp_path: Path) -> None:
    """write_json writes the session document atomically, leaving no temp file."""
    path = tmp_path / "out" / "perf.json"
    document = build_document(
        [make_result()], redis_url="redis://u:***@h:6379/0", quick=True
    )

    write_json(path, document)

    loaded = json.loads(path.read_text())
    assert loaded["schema"] == SCHEMA
    assert loaded["quick"] is True
    assert loaded["tests"][0]["operations"]["store"]["p95_ms"] == pytest.approx(95.05)
    assert [p.name for p in path.parent.iterdir()] == ["perf.json"]


def test_summary_lists_mode_figures_targets_and_overall_verdict() -> None:
    """The summary shows each test's mode, percentiles, throughput and verdicts."""
    lines = render_summary(
        [make_result({"store_p95_ms": 50})],
        redis_url="redis://h:6379/0",
        quick=False,
    )
    text = "\n".join(lines)
    assert "[PERF] t.py::test_a[redis] (redis mode): PASSED" in text
    assert "store: 100 ops  P50: 50.50ms, P95: 95.05ms, P99: 99.01ms" in text
    assert "throughput:" in text
    assert "Store P95 Target:" in text
    assert "FAIL (95.05ms)" in text
    assert (
        lines[-1] == "[OVERALL] 1 perf tests, 1 with targets: MISSES TARGETS (1 tests)"
    )


def test_summary_warns_about_xdist_workers() -> None:
    """With workers, the summary says the figures shared the machine."""
    lines = render_summary([make_result()], redis_url=None, quick=True, workers=2)
    text = "\n".join(lines)
    assert "2 pytest-xdist workers" in text
    assert "-p no:xdist" in text
    assert "not configured" in text


def test_benchmark_stats_come_from_pytest_benchmark_statistics() -> None:
    """The stats of an entry are pytest-benchmark's fields for the raw timings."""
    stats = benchjson.benchmark_stats([0.001, 0.002, 0.003, 0.004])
    assert stats["rounds"] == 4
    assert stats["median"] == pytest.approx(0.0025)
    assert stats["min"] == pytest.approx(0.001)
    assert stats["iterations"] == 1
    assert {"q1", "q3", "iqr", "stddev", "ops", "total"} <= set(stats)


def test_add_to_benchmark_json_adds_untimed_tests_one_entry_per_operation() -> None:
    """A perf test absent from pytest-benchmark's JSON gets an entry per operation."""
    output: dict[str, list[dict[str, object]]] = {"benchmarks": []}

    added = benchjson.add_to_benchmark_json(output, [make_result()])

    assert added == 2
    names = [entry["fullname"] for entry in output["benchmarks"]]
    assert names == ["t.py::test_a[redis]::store", "t.py::test_a[redis]::get"]
    store = output["benchmarks"][0]
    info = store["extra_info"][benchjson.EXTRA_KEY]  # type: ignore[index]
    assert info["operations"]["store"]["p95_ms"] == pytest.approx(95.05)
    assert store["stats"]["rounds"] == 100  # type: ignore[index]


def test_add_to_benchmark_json_leaves_tests_the_fixture_timed() -> None:
    """A test that used the benchmark fixture already has its entry."""
    output: dict[str, list[dict[str, object]]] = {
        "benchmarks": [{"fullname": "t.py::test_a[redis]", "extra_info": {}}]
    }
    assert benchjson.add_to_benchmark_json(output, [make_result()]) == 0
    assert len(output["benchmarks"]) == 1


def test_set_extra_info_puts_every_operation_in_the_fixture() -> None:
    """set_extra_info fills a benchmark fixture's extra_info with our figures."""

    class FakeBenchmark:
        def __init__(self) -> None:
            self.extra_info: dict[str, object] = {}

    bench = FakeBenchmark()
    benchjson.set_extra_info(bench, make_result())
    info = bench.extra_info["alertbench"]
    assert set(info["operations"]) == {"store", "get"}  # type: ignore[index]
    assert info["mode"] == "redis"  # type: ignore[index]
