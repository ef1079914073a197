"""Per-operation counters and latency percentiles kept by every backend."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from alert_storage.stats import LatencySummary

SAMPLE_SIZE = 4096


class OperationMetrics:
    """Counts, errors and the latest latencies of each operation.

    Latencies are kept in a bounded ring (the most recent ``SAMPLE_SIZE`` per
    operation), so the percentiles describe recent behaviour.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._latencies: dict[str, deque[float]] = {}

    def record(self, operation: str, seconds: float, *, error: bool = False) -> None:
        """Record one call of ``operation`` that took ``seconds``."""
        with self._lock:
            ring = self._latencies.get(operation)
            if ring is None:
                ring = self._latencies[operation] = deque(maxlen=SAMPLE_SIZE)
                self._counts[operation] = 0
                self._errors[operation] = 0
            ring.append(seconds)
            self._counts[operation] += 1
            if error:
                self._errors[operation] += 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Return ``{operation: {count, errors, p50_ms, p95_ms, ...}}``."""
        with self._lock:
            items = [
                (op, n, self._errors[op], list(self._latencies[op]))
                for op, n in self._counts.items()
            ]
        result: dict[str, dict[str, Any]] = {}
        for op, count, errors, latencies in items:
            summary = LatencySummary.from_seconds(latencies).as_dict()
            summary.update(count=count, errors=errors)
            result[op] = summary
        return result
