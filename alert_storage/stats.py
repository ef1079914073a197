"""Percentiles and latency summaries shared by metrics, the plugin and the benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) with linear interpolation.

    Args:
        sorted_values: Values in ascending order; must not be empty.
        q: The percentile, from 0 to 100.

    Returns:
        The interpolated value, as numpy's default ``linear`` method gives it.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = (len(sorted_values) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of a set of latencies, in milliseconds.

    Attributes:
        count: How many latencies were summarised.
        p50_ms: Median. ``p95_ms``, ``p99_ms`` likewise.
        max_ms: Largest latency. ``mean_ms``: arithmetic mean.
    """

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def from_seconds(cls, latencies: Sequence[float]) -> LatencySummary:
        """Summarise latencies given in seconds (an empty input gives zeros)."""
        if not latencies:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ms = sorted(value * 1000.0 for value in latencies)
        return cls(
            count=len(ms),
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
            max_ms=ms[-1],
            mean_ms=sum(ms) / len(ms),
        )

    def as_dict(self) -> dict[str, float]:
        """Return the summary as a plain dict (for JSON and metrics)."""
        return {
            "count": self.count,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "mean_ms": self.mean_ms,
        }
