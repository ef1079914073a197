"""perf_target: argument validation, merging, checks and the failure message."""

from __future__ import annotations

import math

import pytest

from pytest_alertbench.targets import (
    TARGETS,
    Check,
    TargetError,
    check_targets,
    failure_message,
    merge_targets,
    parse_target,
)

FIGURES = {
    "store": {"p95_ms": 0.4, "throughput_ops": 2500.0},
    "get": {"p95_ms": 0.8, "throughput_ops": 900.0},
}


def test_parse_target_keeps_set_values_and_drops_none() -> None:
    """Numbers become floats; None means no target for that figure."""
    parsed = parse_target((), {"store_p95_ms": 100, "get_p95_ms": None})
    assert parsed == {"store_p95_ms": 100.0}


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((100,), {}, "keyword arguments only"),
        ((), {"store_p99_ms": 5}, "unknown argument 'store_p99_ms'"),
        ((), {"store_p95_ms": "fast"}, "must be a number, not 'fast'"),
        ((), {"throughput_ops": True}, "must be a number, not True"),
        ((), {"get_p95_ms": -1}, "positive finite"),
        ((), {"get_p95_ms": 0}, "positive finite"),
        ((), {"fallback_p95_ms": math.inf}, "positive finite"),
        ((), {"fallback_p95_ms": math.nan}, "positive finite"),
    ],
    ids=[
        "positional",
        "unknown",
        "string",
        "bool",
        "negative",
        "zero",
        "inf",
        "nan",
    ],
)
def test_parse_target_rejects_misuse_with_a_clear_message(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    """Each misuse raises TargetError naming the problem."""
    with pytest.raises(TargetError, match=message):
        parse_target(args, kwargs)


def test_unknown_argument_message_lists_the_allowed_ones() -> None:
    """The error for a typo lists every accepted keyword."""
    with pytest.raises(TargetError) as excinfo:
        parse_target((), {"store_p59_ms": 1})
    for name in TARGETS:
        assert name in str(excinfo.value)


def test_merge_targets_prefers_the_closest_marker() -> None:
    """The function's value beats the module's; keys set only outside still apply."""
    function_level = ((), {"store_p95_ms": 5})
    module_level = ((), {"store_p95_ms": 100, "throughput_ops": 50})
    assert merge_targets([function_level, module_level]) == {
        "store_p95_ms": 5.0,
        "throughput_ops": 50.0,
    }


def test_check_targets_passes_latency_below_and_throughput_above() -> None:
    """An upper bound passes below it; a lower bound passes above it."""
    checks = check_targets({"store_p95_ms": 1.0, "throughput_ops": 1000}, FIGURES)
    assert [(c.target, c.passed) for c in checks] == [
        ("store_p95_ms", True),
        ("throughput_ops", True),
    ]


def test_check_targets_fails_misses_and_unrecorded_operations() -> None:
    """A missed bound fails; so does a target whose operation was never timed."""
    checks = check_targets(
        {"get_p95_ms": 0.5, "throughput_ops": 5000, "fallback_p95_ms": 200}, FIGURES
    )
    by_name = {check.target: check for check in checks}
    assert not by_name["get_p95_ms"].passed
    assert not by_name["throughput_ops"].passed
    assert by_name["fallback_p95_ms"].measured is None
    assert not by_name["fallback_p95_ms"].passed


def test_failure_message_lists_measured_against_target_for_every_figure() -> None:
    """The message shows each figure with its bound, verdict and measurement."""
    checks = check_targets({"store_p95_ms": 0.1, "get_p95_ms": 50}, FIGURES)
    message = failure_message("test_x.py::test_store", checks)
    assert "missed (1 of 2) in test_x.py::test_store" in message
    assert "Store P95 Target:" in message
    assert "< 0.1ms" in message
    assert "FAIL (0.400ms)" in message
    assert "Get P95 Target:" in message
    assert "PASS (0.800ms)" in message


def test_check_round_trips_through_a_dict() -> None:
    """as_dict/from_dict keep a check's target, limit and measurement."""
    check = Check("throughput_ops", 100.0, 2500.0)
    data = check.as_dict()
    assert data["operation"] == "store"
    assert data["passed"] is True
    assert Check.from_dict(data) == check
