"""Target verdicts, goals and the exit code, on crafted results documents."""

from __future__ import annotations

from typing import Any

import pytest

from alert_storage import StorageUnavailableError
from pytest_alertbench.bench.goals import GOALS, evaluate, evaluate_goals
from pytest_alertbench.bench.modes import ModeSpec, run_mode
from pytest_alertbench.bench.progress import Progress
from pytest_alertbench.bench.settings import Targets, Workload
from pytest_alertbench.bench.verdicts import evaluate_targets, overall, problems

from .docs_builders import document, mode, op


def _rows(doc: dict[str, Any], targets: Targets | None = None) -> dict[str, Any]:
    return {row["name"]: row for row in evaluate_targets(doc, targets or Targets())}


def test_targets_judge_the_worst_main_mode() -> None:
    """Store P95 is judged on the slowest mode; a store-only variant is ignored."""
    doc = document(
        modes={
            "memory": mode("Memory", store=op(0.02), get=op(1.0)),
            "file": mode("File", store=op(150.0), get=op(2.0)),
            "file_fsync_always": mode("F", role="variant", store=op(900.0)),
        }
    )

    rows = _rows(doc)

    assert rows["store_p95_ms"]["verdict"] == "FAIL"
    assert rows["store_p95_ms"]["mode"] == "file"
    assert rows["store_p95_ms"]["value"] == 150.0
    assert rows["get_p95_ms"]["verdict"] == "PASS"


def test_throughput_uses_concurrent_then_single_threaded() -> None:
    """Throughput comes from the concurrent section, or store when it was skipped."""
    doc = document(
        modes={
            "memory": mode(
                "Memory",
                store=op(throughput=5.0),
                concurrent_store=op(throughput=400.0),
            ),
            "file": mode("File", store=op(throughput=50.0)),
        }
    )

    row = _rows(doc)["throughput_ops"]

    assert row["values"] == {"memory": 400.0, "file": 50.0}
    assert (row["mode"], row["verdict"]) == ("file", "FAIL")


def test_unmeasured_targets_are_not_failures() -> None:
    """No fallback section and a skipped mode give N/A, and exit code 0."""
    doc = document(modes={"redis": mode("Redis", status="skipped")})

    rows = evaluate_targets(doc, Targets())
    result = overall(rows, [], problems(doc), strict_goals=False)

    assert {row["verdict"] for row in rows} == {"N/A"}
    assert result["exit_code"] == 0
    assert result["verdict"] == "MEETS TARGETS"


def test_fallback_target_reads_degraded_store() -> None:
    """The fallback target is the store P95 measured while Redis was down."""
    doc = document(fallback={"status": "measured", "degraded": op(250.0)})

    row = _rows(doc)["fallback_p95_ms"]

    assert (row["value"], row["verdict"]) == (250.0, "FAIL")


def test_target_override_changes_verdict() -> None:
    """A stricter store target turns a pass into a miss."""
    doc = document(modes={"memory": mode("Memory", store=op(0.5))})

    assert _rows(doc)["store_p95_ms"]["verdict"] == "PASS"
    strict = Targets(store_p95_ms=0.1)
    assert _rows(doc, strict)["store_p95_ms"]["verdict"] == "FAIL"


@pytest.mark.parametrize(
    ("store_p95", "strict", "goal_missed", "code"),
    [
        (1.0, False, True, 0),
        (500.0, False, False, 1),
        (1.0, True, True, 1),
        (1.0, True, False, 0),
    ],
    ids=[
        "goal-missed-lenient",
        "target-missed",
        "goal-missed-strict",
        "all-good-strict",
    ],
)
def test_exit_code(
    store_p95: float, strict: bool, goal_missed: bool, code: int
) -> None:
    """Targets decide the exit code; goals only with --strict-goals."""
    doc = document(modes={"memory": mode("Memory", store=op(store_p95))})
    goal_rows = [{"name": "g", "verdict": "NOT MET" if goal_missed else "MET"}]

    result = overall(
        evaluate_targets(doc, Targets()), goal_rows, [], strict_goals=strict
    )

    assert result["exit_code"] == code


def test_errors_in_a_mode_fail_the_run() -> None:
    """A mode that failed mid-run, or calls that raised, exit 1 even if fast."""
    doc = document(
        modes={
            "memory": mode("Memory", store=op(0.1, errors=3)),
            "redis": mode("Redis", status="error"),
        },
        legacy={"status": "error", "reason": "boom"},
    )

    found = problems(doc)
    result = overall(evaluate_targets(doc, Targets()), [], found, strict_goals=False)

    assert len(found) == 3
    assert result["exit_code"] == 1
    assert result["verdict"] == "MISSES TARGETS"


def _goal(name: str) -> Any:
    return next(goal for goal in GOALS if goal.name == name)


def test_ratio_goal_against_the_floor() -> None:
    """Redis store P95 is compared with twice the PING P95 of the same run."""
    doc = document(
        floor={"ping": op(0.2)}, modes={"redis": mode("Redis", store=op(0.35))}
    )

    row = evaluate(_goal("redis_store_p95_vs_ping"), doc)

    assert row["bound"] == pytest.approx(0.4)
    assert row["ratio"] == pytest.approx(1.75)
    assert row["verdict"] == "MET"


def test_store_many_goal_uses_server_script_time() -> None:
    """The server's time per batch call sets the alerts/s ceiling."""
    store_many = op(throughput=5000.0)
    redis_mode = mode("Redis", store=op(throughput=600.0), store_many=store_many)
    redis_mode["script_cost"] = {"usec_per_call": 10_000.0}
    doc = document(modes={"redis": redis_mode})

    row = evaluate(_goal("store_many_vs_server"), doc)

    assert row["reference"] == pytest.approx(10_000.0)
    assert row["verdict"] == "NOT MET"
    assert evaluate(_goal("store_many_vs_single"), doc)["verdict"] == "MET"


def test_absolute_goal_and_missing_figures() -> None:
    """Memory store P95 has a fixed bound; goals without figures are N/A."""
    doc = document(modes={"memory": mode("Memory", store=op(0.019))})

    rows = {row["name"]: row for row in evaluate_goals(doc)}

    assert rows["memory_store_p95"]["verdict"] == "MET"
    assert rows["replay_rate"]["verdict"] == "N/A"
    assert rows["redis_store_p95_vs_ping"]["verdict"] == "N/A"
    assert len(rows) == len(GOALS)


def test_interleaved_floor_is_preferred_to_the_floor_section() -> None:
    """A PING measured in alternation with the stores beats the earlier floor."""
    doc = document(
        floor={"ping": op(0.1)},
        modes={"redis": mode("Redis", store=op(0.5), paired_ping=op(0.3))},
    )

    row = evaluate(_goal("redis_store_p95_vs_ping"), doc)

    assert row["reference"] == 0.3
    assert row["verdict"] == "MET"


def test_paired_floor_errors_are_not_problems() -> None:
    """A failing reference loop (limits) does not fail our run."""
    doc = document(
        modes={"redis": mode("Redis", store=op(0.5), paired_limits_hit=op(errors=5))}
    )

    assert problems(doc) == []


def test_shared_server_adds_a_note() -> None:
    """Script time read on a busy shared server is flagged as approximate."""
    redis_mode = mode("Redis", store_many=op(throughput=1000.0))
    redis_mode["script_cost"] = {"usec_per_call": 5000.0, "shared": True}

    row = evaluate(_goal("store_many_vs_server"), document(modes={"redis": redis_mode}))

    assert "approximate" in row["note"]


def test_a_mode_that_cannot_open_is_an_error_not_a_skip() -> None:
    """A backend raising on open fails the run; one not built yet is skipped."""

    def broken() -> Any:
        raise StorageUnavailableError("disk gone")

    def missing() -> Any:
        raise NotImplementedError

    progress = Progress(1, enabled=False)
    failed = run_mode(
        ModeSpec("file", "File", broken), Workload(), frozenset(), progress
    )
    absent = run_mode(
        ModeSpec("redis", "Redis", missing), Workload(), frozenset(), progress
    )

    assert (failed.status, failed.reason) == (
        "error",
        "StorageUnavailableError: disk gone",
    )
    assert absent.status == "skipped"
