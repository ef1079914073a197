"""Timing of operations in perf tests: latencies, percentiles and throughput."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alert_storage.stats import LatencySummary
from pytest_alertbench.config import DEFAULT_OPERATIONS, QUICK_DIVISOR

Timer = Callable[[], float]


@dataclass(frozen=True, slots=True)
class OperationStats:
    """What a perf test measured for one named operation.

    Attributes:
        operation: The name the test gave it (``"store"``, ``"get"``...).
        latency: Percentiles, max and mean of the individual calls.
        throughput_ops: Calls per second of elapsed time: for ``run`` batches
            the batch's wall time (all threads together), for ``measure`` the
            time spent inside the measured blocks.
        errors: Measured blocks that raised.
        threads: The most threads any ``run`` batch of it used (1 otherwise).
        wall_s: The elapsed time the throughput is based on, in seconds.
    """

    operation: str
    latency: LatencySummary
    throughput_ops: float
    errors: int
    threads: int
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as a flat JSON-ready dict."""
        figures: dict[str, Any] = dict(self.latency.as_dict())
        figures.update(
            throughput_ops=self.throughput_ops,
            errors=self.errors,
            threads=self.threads,
            wall_s=self.wall_s,
        )
        return figures


@dataclass(slots=True)
class _Samples:
    durations: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    threads: int = 1


class PerfRecorder:
    """Collects the latencies of the operations a perf test performs.

    Time single calls with ``measure`` or let ``run`` call a function N times,
    optionally on several threads. Percentiles come from
    ``alert_storage.stats.LatencySummary`` over every recorded call.

    Args:
        quick: Divide the operation counts of ``run`` by ``QUICK_DIVISOR``.
        mode: The storage mode under test, shown in reports.
        default_operations: What ``run`` does when given no count.
        timer: A monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        quick: bool = False,
        mode: str | None = None,
        default_operations: int = DEFAULT_OPERATIONS,
        timer: Timer = time.perf_counter,
    ) -> None:
        self.quick = quick
        self.mode = mode
        self.default_operations = default_operations
        self._timer = timer
        self._lock = threading.Lock()
        self._samples: dict[str, _Samples] = {}

    def __repr__(self) -> str:
        return f"PerfRecorder(mode={self.mode!r}, operations={self.operations!r})"

    @property
    def operations(self) -> tuple[str, ...]:
        """The names of the operations recorded so far, in first-seen order."""
        with self._lock:
            return tuple(self._samples)

    def scaled(self, count: int) -> int:
        """Return ``count``, or ``count // QUICK_DIVISOR`` (at least 1) with quick.

        Args:
            count: The number of operations of a full run.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"operation count must be a positive int, not {count!r}")
        return max(1, count // QUICK_DIVISOR) if self.quick else count

    @contextmanager
    def measure(self, operation: str) -> Iterator[None]:
        """Time the block as one call of ``operation``.

        A block that raises is counted as an error, not as a latency, and the
        exception propagates.

        Args:
            operation: The operation's name.
        """
        start = self._timer()
        try:
            yield
        except BaseException:
            self._add(operation, errors=1)
            raise
        elapsed = self._timer() - start
        self._add(operation, durations=[elapsed], wall_s=elapsed)

    def record(self, operation: str, seconds: float) -> None:
        """Record one call of ``operation`` timed elsewhere.

        Args:
            operation: The operation's name.
            seconds: How long the call took.
        """
        if not seconds >= 0:
            raise ValueError(f"a duration must be >= 0 seconds, not {seconds!r}")
        self._add(operation, durations=[seconds], wall_s=seconds)

    def run(
        self,
        operation: str,
        func: Callable[[int], object],
        count: int | None = None,
        *,
        threads: int = 1,
    ) -> OperationStats:
        """Call ``func(i)`` for ``i`` in ``range(n)`` and time every call.

        ``n`` is ``scaled(count)``, so ``--quick`` shortens the run. With
        several threads, call ``i`` runs on thread ``i % threads``; all
        threads start together and the throughput is ``n`` over the time
        until the last one finishes. The first exception raised by ``func``
        stops its thread and is raised here once every thread has ended.

        Args:
            operation: The operation's name.
            func: The operation; receives the call index.
            count: Calls in a full run; ``default_operations`` if omitted.
            threads: How many threads share the calls.

        Returns:
            The operation's figures so far, this batch included.
        """
        total = self.scaled(self.default_operations if count is None else count)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, not {threads!r}")
        threads = min(threads, total)
        durations, wall_s, error = self._run_threads(func, total, threads)
        self._add(operation, durations=durations, wall_s=wall_s, threads=threads)
        if error is not None:
            raise error
        return self.stats(operation)

    def stats(self, operation: str) -> OperationStats:
        """Return the figures of one operation.

        Raises:
            KeyError: nothing was recorded for ``operation``.
        """
        with self._lock:
            samples = self._samples[operation]
            durations = list(samples.durations)
            errors, wall_s, threads = samples.errors, samples.wall_s, samples.threads
        throughput = len(durations) / wall_s if wall_s > 0 else 0.0
        return OperationStats(
            operation=operation,
            latency=LatencySummary.from_seconds(durations),
            throughput_ops=throughput,
            errors=errors,
            threads=threads,
            wall_s=wall_s,
        )

    def results(self) -> dict[str, OperationStats]:
        """Return the figures of every recorded operation."""
        return {name: self.stats(name) for name in self.operations}

    def durations(self, operation: str) -> list[float]:
        """Return a copy of the raw durations (seconds) of one operation."""
        with self._lock:
            return list(self._samples[operation].durations)

    def _add(
        self,
        operation: str,
        *,
        durations: list[float] | None = None,
        wall_s: float = 0.0,
        errors: int = 0,
        threads: int = 1,
    ) -> None:
        with self._lock:
            samples = self._samples.setdefault(operation, _Samples())
            samples.durations.extend(durations or ())
            samples.wall_s += wall_s
            samples.errors += errors
            samples.threads = max(samples.threads, threads)

    def _run_threads(
        self, func: Callable[[int], object], total: int, threads: int
    ) -> tuple[list[float], float, BaseException | None]:
        timer = self._timer
        per_thread: list[list[float]] = [[] for _ in range(threads)]
        failures: list[BaseException] = []
        barrier = threading.Barrier(threads + 1)

        def worker(slot: int) -> None:
            own = per_thread[slot]
            barrier.wait()
            try:
                for index in range(slot, total, threads):
                    start = timer()
                    func(index)
                    own.append(timer() - start)
            except Exception as exc:  # re-raised by run() after the join
                failures.append(exc)

        workers = [
            threading.Thread(target=worker, args=(slot,), name=f"perf-{slot}")
            for slot in range(threads)
        ]
        for thread in workers:
            thread.start()
        barrier.wait()
        start = timer()
        for thread in workers:
            thread.join()
        wall_s = timer() - start
        durations = [value for own in per_thread for value in own]
        return durations, wall_s, failures[0] if failures else None
