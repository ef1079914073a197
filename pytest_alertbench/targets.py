"""The ``perf_target`` thresholds: parsing the marker and checking measurements."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class TargetError(ValueError):
    """A ``perf_target`` marker has a positional, unknown or invalid argument."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """What one ``perf_target`` keyword checks.

    Attributes:
        operation: The recorded operation it reads.
        metric: The figure of that operation (a key of ``OperationStats.as_dict``).
        upper: True when the figure must stay below the limit (latency), False
            when it must stay above it (throughput).
        label: How the seed report names it.
        unit: ``"ms"`` or ``"ops/s"``.
    """

    operation: str
    metric: str
    upper: bool
    label: str
    unit: str


TARGETS: dict[str, TargetSpec] = {
    "store_p95_ms": TargetSpec("store", "p95_ms", True, "Store P95", "ms"),
    "get_p95_ms": TargetSpec("get", "p95_ms", True, "Get P95", "ms"),
    "throughput_ops": TargetSpec(
        "store", "throughput_ops", False, "Throughput", "ops/s"
    ),
    "fallback_p95_ms": TargetSpec("fallback", "p95_ms", True, "Fallback P95", "ms"),
}


def parse_target(
    args: Sequence[object], kwargs: Mapping[str, object]
) -> dict[str, float]:
    """Validate the arguments of one ``perf_target`` marker.

    Args:
        args: Positional arguments (none are allowed).
        kwargs: Keyword arguments; ``None`` values mean "no target".

    Returns:
        The thresholds that were set, by keyword.

    Raises:
        TargetError: a positional argument, an unknown keyword, or a value that
            is not a positive finite number.
    """
    allowed = ", ".join(TARGETS)
    if args:
        raise TargetError(
            f"perf_target takes keyword arguments only ({allowed}), "
            f"got positional {list(args)!r}"
        )
    targets: dict[str, float] = {}
    for name, value in kwargs.items():
        if name not in TARGETS:
            raise TargetError(
                f"perf_target: unknown argument {name!r}; expected one of {allowed}"
            )
        if value is None:
            continue
        targets[name] = _positive_number(name, value)
    return targets


def merge_targets(
    markers: Iterable[tuple[Sequence[object], Mapping[str, object]]],
) -> dict[str, float]:
    """Combine several ``perf_target`` markers, the closest first.

    A keyword set on the test function beats the same keyword on its class or
    module; keywords set only further out still apply.

    Args:
        markers: ``(args, kwargs)`` of each marker, closest first.

    Returns:
        The combined thresholds.

    Raises:
        TargetError: any marker is invalid.
    """
    merged: dict[str, float] = {}
    for args, kwargs in markers:
        for name, limit in parse_target(args, kwargs).items():
            merged.setdefault(name, limit)
    return merged


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold compared with what was measured.

    Attributes:
        target: The ``perf_target`` keyword.
        limit: The threshold.
        measured: The measured figure, or None when the test never recorded
            the operation the target reads (which fails the check).
    """

    target: str
    limit: float
    measured: float | None

    @property
    def spec(self) -> TargetSpec:
        """What the keyword checks."""
        return TARGETS[self.target]

    @property
    def passed(self) -> bool:
        """Whether the measurement meets the threshold."""
        if self.measured is None:
            return False
        if self.spec.upper:
            return self.measured < self.limit
        return self.measured > self.limit

    def describe(self) -> str:
        """Return a line like ``Store P95 Target:  < 100ms  PASS (0.41ms)``."""
        spec = self.spec
        sign = "<" if spec.upper else ">"
        unit = spec.unit if spec.unit == "ms" else f" {spec.unit}"
        bound = f"{sign} {self.limit:g}{unit}"
        verdict = "PASS" if self.passed else "FAIL"
        if self.measured is None:
            seen = f"no {spec.operation!r} operation recorded"
        else:
            seen = format_value(self.measured, spec.unit)
        return f"{spec.label + ' Target:':<22}{bound:<16}{verdict} ({seen})"

    def as_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready values."""
        spec = self.spec
        return {
            "target": self.target,
            "operation": spec.operation,
            "metric": spec.metric,
            "limit": self.limit,
            "measured": self.measured,
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """Rebuild a check from ``as_dict`` output."""
        measured = data.get("measured")
        return cls(
            target=str(data["target"]),
            limit=float(data["limit"]),
            measured=None if measured is None else float(measured),
        )


def check_targets(
    targets: Mapping[str, float], operations: Mapping[str, Mapping[str, Any]]
) -> list[Check]:
    """Compare every threshold with the figures of the operation it reads.

    Args:
        targets: Thresholds by ``perf_target`` keyword.
        operations: Figures by operation name (``OperationStats.as_dict``).

    Returns:
        One check per threshold, in ``TARGETS`` order.
    """
    checks = []
    for name in TARGETS:
        if name not in targets:
            continue
        spec = TARGETS[name]
        figures = operations.get(spec.operation)
        measured = None if figures is None else float(figures[spec.metric])
        checks.append(Check(name, targets[name], measured))
    return checks


def failure_message(nodeid: str, checks: Sequence[Check]) -> str:
    """Return the message a test fails with when a threshold is missed.

    Every figure is listed, met or not, so the reader sees the whole picture.
    """
    missed = sum(not check.passed for check in checks)
    lines = [f"perf_target missed ({missed} of {len(checks)}) in {nodeid}:"]
    lines += [f"  {check.describe()}" for check in checks]
    return "\n".join(lines)


def format_value(value: float, unit: str) -> str:
    """Format a latency (``"ms"``) or a throughput (``"ops/s"``) for people."""
    if unit == "ms":
        return format_ms(value)
    return f"{value:,.0f} ops/s" if value >= 10 else f"{value:.2f} ops/s"


def format_ms(value: float) -> str:
    """Format milliseconds with precision that fits their size."""
    if value >= 100:
        return f"{value:.0f}ms"
    if value >= 1:
        return f"{value:.2f}ms"
    return f"{value:.3f}ms"


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetError(f"perf_target: {name} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise TargetError(
            f"perf_target: {name} must be a positive finite number, not {value!r}"
        )
    return number
