"""Runs of perf tests under the plugin: targets, modes, summary, JSON, benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STORE_TEST = """
import pytest

@pytest.mark.perf
@pytest.mark.perf_target({target})
def test_store(perf_recorder):
    perf_recorder.run("store", lambda i: sum(range(50)), 1000)
"""

MODE_TEST = """
import pytest

@pytest.mark.perf
@pytest.mark.perf_target(store_p95_ms=1000, get_p95_ms=1000)
def test_modes(storage_mode, alert_storage, alert_factory, perf_recorder):
    alerts = alert_factory.batch(perf_recorder.scaled(40))
    perf_recorder.run("store", lambda i: alert_storage.store(alerts[i]), 40)
    with perf_recorder.measure("get"):
        active = alert_storage.get_active(limit=100)
    assert active, "stored alerts must be readable"
"""


def load(path: Path) -> dict[str, Any]:
    """Read a JSON file."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_unmeetable_target_fails_with_measured_against_target(
    bench_pytester: pytest.Pytester,
) -> None:
    """A target no machine meets fails the test, listing every figure."""
    bench_pytester.makepyfile(
        STORE_TEST.format(target="store_p95_ms=1e-9, throughput_ops=1e15")
    )
    result = bench_pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*perf_target missed (2 of 2) in test_*::test_store:",
            "*Store P95 Target:*< 1e-09ms*FAIL (*ms)",
            "*Throughput Target:*> 1e+15 ops/s*FAIL (*ops/s)",
        ]
    )


def test_easy_target_passes_and_summary_shows_it(
    bench_pytester: pytest.Pytester,
) -> None:
    """A generous target passes; the summary lists the figures and PASS."""
    bench_pytester.makepyfile(
        STORE_TEST.format(target="store_p95_ms=60000, throughput_ops=0.001")
    )
    result = bench_pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= alertbench performance summary =*",
            "Operations: full",
            "[[]PERF[]] test_*::test_store: PASSED",
            "  store: 1000 ops  P50: *, P95: *, P99: *, max: *  throughput: *",
            "  Store P95 Target:*PASS (*)",
            "  Throughput Target:*PASS (*)",
            "[[]OVERALL[]] 1 perf tests, 1 with targets: MEETS TARGETS",
        ]
    )


def test_target_on_an_unrecorded_operation_fails(
    bench_pytester: pytest.Pytester,
) -> None:
    """A get_p95_ms target with no 'get' measured fails instead of passing."""
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf_target(get_p95_ms=50)
        def test_forgot_to_measure():
            pass
        """
    )
    result = bench_pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL (no 'get' operation recorded)*"])


@pytest.mark.parametrize(("quick", "count"), [(False, 1000), (True, 100)])
def test_quick_divides_the_operation_counts(
    bench_pytester: pytest.Pytester, tmp_path: Path, quick: bool, count: int
) -> None:
    """--quick makes run() do a tenth of the operations, as the JSON records."""
    bench_pytester.makepyfile(STORE_TEST.format(target="store_p95_ms=60000"))
    out = tmp_path / "perf.json"
    args = ["--alertbench-json", str(out)] + (["--quick"] if quick else [])

    bench_pytester.runpytest(*args).assert_outcomes(passed=1)

    document = load(out)
    assert document["quick"] is quick
    assert document["tests"][0]["operations"]["store"]["count"] == count


def test_dash_m_perf_selects_only_perf_tests(bench_pytester: pytest.Pytester) -> None:
    """-m perf runs the perf test and deselects the rest."""
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf
        def test_fast_enough(perf_recorder):
            perf_recorder.run("store", lambda i: None, 10)

        def test_plain():
            pass
        """
    )
    result = bench_pytester.runpytest("-m", "perf", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_fast_enough PASSED*"])


def test_storage_mode_ids(bench_pytester: pytest.Pytester) -> None:
    """storage_mode parametrizes with the ids memory, file, redis, cascade."""
    bench_pytester.makepyfile(MODE_TEST)
    result = bench_pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "*::test_modes[[]memory[]]",
            "*::test_modes[[]file[]]",
            "*::test_modes[[]redis[]]",
            "*::test_modes[[]cascade[]]",
        ]
    )


def test_redis_modes_skip_without_a_configured_redis(
    bench_pytester: pytest.Pytester,
) -> None:
    """With no URL anywhere, redis and cascade skip and say how to configure one."""
    bench_pytester.makepyfile(MODE_TEST)
    result = bench_pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *no Redis configured*--redis-url*"])


def test_redis_modes_skip_when_redis_does_not_answer(
    bench_pytester: pytest.Pytester, dead_redis_url: str
) -> None:
    """A URL nothing answers on skips the Redis modes, password redacted."""
    bench_pytester.makepyfile(MODE_TEST)
    result = bench_pytester.runpytest("-rs", "--redis-url", dead_redis_url)
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]2[]] *no Redis answers at redis://alice:***@127.0.0.1:*"]
    )
    assert "hunter2" not in result.stdout.str() + result.stderr.str()


def test_require_redis_turns_the_skips_into_failures(
    bench_pytester: pytest.Pytester, dead_redis_url: str
) -> None:
    """--alertbench-require-redis fails the Redis modes instead of skipping them."""
    bench_pytester.makepyfile(MODE_TEST)
    result = bench_pytester.runpytest(
        "--redis-url", dead_redis_url, "--alertbench-require-redis"
    )
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*no Redis answers at*(--alertbench-require-redis)*"])
    assert "hunter2" not in result.stdout.str()


@pytest.mark.redis
def test_all_four_modes_run_against_real_redis(
    bench_pytester: pytest.Pytester, redis_url: str, tmp_path: Path
) -> None:
    """With Redis answering, every mode runs and reaches the summary and JSON."""
    pytest.importorskip("alert_storage.cascade")
    bench_pytester.makepyfile(MODE_TEST)
    out = tmp_path / "perf.json"

    result = bench_pytester.runpytest(
        "--redis-url", redis_url, "--alertbench-json", str(out), "--quick"
    )

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_modes[[]cascade[]] (cascade mode): PASSED"])
    tests = {test["mode"]: test for test in load(out)["tests"]}
    assert set(tests) == {"memory", "file", "redis", "cascade"}
    for test in tests.values():
        assert test["verdict"] == "pass"
        assert test["operations"]["store"]["count"] == 4
        assert test["operations"]["get"]["p95_ms"] > 0


def test_json_holds_figures_targets_and_verdicts(
    bench_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """--alertbench-json writes every perf test with its figures and checks."""
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf_target(store_p95_ms=60000)
        def test_meets(perf_recorder):
            perf_recorder.run("store", lambda i: None, 50, threads=2)

        @pytest.mark.perf_target(store_p95_ms=1e-9)
        def test_misses(perf_recorder):
            perf_recorder.run("store", lambda i: sum(range(100)), 50)
        """
    )
    out = tmp_path / "nested" / "perf.json"

    result = bench_pytester.runpytest(
        "--alertbench-json", str(out), "--redis-url", "redis://u:pw@h:1/0"
    )

    result.assert_outcomes(passed=1, failed=1)
    document = load(out)
    assert document["schema"] == "alertbench-pytest/1"
    assert document["redis_url"] == "redis://u:***@h:1/0"
    tests = {test["nodeid"].rpartition("::")[2]: test for test in document["tests"]}
    meets, misses = tests["test_meets"], tests["test_misses"]
    assert (meets["outcome"], meets["verdict"]) == ("passed", "pass")
    assert (misses["outcome"], misses["verdict"]) == ("failed", "fail")
    store = meets["operations"]["store"]
    assert store["threads"] == 2
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "throughput_ops"):
        assert store[key] > 0
    assert misses["checks"][0]["limit"] == pytest.approx(1e-9)
    assert misses["checks"][0]["passed"] is False


BENCH_TEST = """
import pytest

@pytest.mark.perf
def test_with_fixture(benchmark, perf_recorder):
    perf_recorder.run("store", lambda i: None, 20)
    benchmark.pedantic(sum, args=(range(10),), rounds=3, iterations=1)

@pytest.mark.perf
def test_without_fixture(perf_recorder):
    perf_recorder.run("store", lambda i: None, 30)
"""


def test_benchmark_json_carries_our_figures(
    bench_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Our percentiles reach pytest-benchmark's JSON: extra_info and own entries."""
    bench_pytester.makepyfile(BENCH_TEST)
    out = tmp_path / "bench.json"

    result = bench_pytester.runpytest(f"--benchmark-json={out}")

    result.assert_outcomes(passed=2)
    entries = {entry["fullname"]: entry for entry in load(out)["benchmarks"]}
    with_fixture = next(v for k, v in entries.items() if k.endswith("with_fixture"))
    info = with_fixture["extra_info"]["alertbench"]
    assert info["operations"]["store"]["count"] == 20
    assert info["operations"]["store"]["p95_ms"] > 0
    own = next(v for k, v in entries.items() if k.endswith("without_fixture::store"))
    assert own["stats"]["rounds"] == 30
    assert own["extra_info"]["alertbench"]["operations"]["store"]["p99_ms"] > 0


def test_benchmark_json_compares_with_alertbench_compare(
    bench_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """A pytest-benchmark file with our figures feeds alertbench compare."""
    from pytest_alertbench import cli

    bench_pytester.makepyfile(BENCH_TEST)
    out = tmp_path / "bench.json"
    bench_pytester.runpytest(f"--benchmark-json={out}").assert_outcomes(passed=2)

    assert cli.main(["compare", str(out), str(out), "--fail-on", "p95:1%"]) == 0


def test_limitation_benchmark_json_needs_one_benchmark_fixture_test(
    bench_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Known limitation: with no test using ``benchmark``, nothing reaches its JSON.

    pytest-benchmark skips saving (with a warning) when it timed nothing, so
    our entries have no file to go into; --alertbench-json still has them.
    """
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf
        def test_without_fixture(perf_recorder):
            perf_recorder.run("store", lambda i: None, 30)
        """
    )
    bench_out, ours = tmp_path / "bench.json", tmp_path / "perf.json"

    result = bench_pytester.runpytest(
        f"--benchmark-json={bench_out}",
        f"--alertbench-json={ours}",
        "-W",
        "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
    )

    result.assert_outcomes(passed=1)
    assert not bench_out.exists()
    assert load(ours)["tests"][0]["operations"]["store"]["count"] == 30
