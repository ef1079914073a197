"""Timing loops: one call at a time, or many threads at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alert_storage import StoreResult
from alert_storage.redact import redact_text
from alert_storage.stats import LatencySummary

_A = TypeVar("_A")
MAX_ERROR_SAMPLES = 3
# Blocks per loop when loops are interleaved (see ``run_interleaved``).
INTERLEAVE_BLOCKS = 10


@dataclass
class Measurement:
    """The latencies and outcomes of one operation in one mode.

    Attributes:
        operation: What was timed (``store``, ``get``...).
        latencies: Seconds per call.
        wall_seconds: Elapsed time of the whole loop (all threads).
        items: Units of work done (alerts for ``store_many``, else calls).
        errors: Calls that raised.
        statuses: Store outcomes by ``StoreStatus`` value, and which backend
            served them (``backend:redis``...).
        error_samples: The first few error messages, redacted.
    """

    operation: str
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    items: int = 0
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """How many calls were made (including those that raised)."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Work units per second of wall time (0 when nothing was timed)."""
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> LatencySummary:
        """Return the latency percentiles of this measurement."""
        return LatencySummary.from_seconds(self.latencies)

    def record_outcome(self, outcome: object) -> None:
        """Count store statuses and serving backends found in ``outcome``."""
        results = outcome if isinstance(outcome, list) else [outcome]
        for result in results:
            if isinstance(result, StoreResult):
                self.statuses[result.status.value] += 1
                self.statuses[f"backend:{result.backend}"] += 1

    def record_error(self, exc: BaseException) -> None:
        """Count a failed call and keep its message if it is among the first."""
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(redact_text(f"{type(exc).__name__}: {exc}"))

    def merge(self, other: Measurement) -> None:
        """Add another thread's calls to this measurement (not its wall time)."""
        self.latencies.extend(other.latencies)
        self.items += other.items
        self.errors += other.errors
        self.statuses.update(other.statuses)
        room = MAX_ERROR_SAMPLES - len(self.error_samples)
        self.error_samples.extend(other.error_samples[: max(room, 0)])

    def as_dict(self) -> dict[str, Any]:
        """Return the figures written to the results file."""
        data: dict[str, Any] = dict(self.summary().as_dict())
        data.update(
            calls=self.calls,
            items=self.items,
            errors=self.errors,
            error_rate=self.errors / self.calls if self.calls else 0.0,
            wall_seconds=self.wall_seconds,
            throughput_ops=self.throughput,
            statuses=dict(sorted(self.statuses.items())),
        )
        if self.error_samples:
            data["error_samples"] = list(self.error_samples)
        return data


def run_serial(
    operation: str,
    func: Callable[[_A], object],
    args: Sequence[_A],
    *,
    items_per_call: Callable[[_A], int] | None = None,
) -> Measurement:
    """Call ``func(arg)`` for each arg in order and time every call.

    A call that raises is counted as an error and the loop goes on: the
    benchmark reports error rates instead of stopping at the first failure.

    Args:
        operation: Name of what is timed.
        func: The call to time.
        args: One argument per call, prepared before timing starts.
        items_per_call: Work units of a call (default 1).
    """
    result = Measurement(operation)
    latencies = result.latencies
    clock = time.perf_counter
    started = clock()
    for arg in args:
        before = clock()
        try:
            outcome = func(arg)
        # A failing call is a measured outcome (an error rate), not a crash.
        except Exception as exc:
            latencies.append(clock() - before)
            result.record_error(exc)
            continue
        latencies.append(clock() - before)
        result.items += items_per_call(arg) if items_per_call else 1
        result.record_outcome(outcome)
    result.wall_seconds = clock() - started
    return result


def run_threads(
    operation: str, func: Callable[[_A], object], per_thread: Sequence[Sequence[_A]]
) -> Measurement:
    """Run ``run_serial`` on one thread per argument list, all started together.

    Throughput is the work of all threads over the wall time from the common
    start to the last thread's end.
    """
    barrier = threading.Barrier(len(per_thread) + 1)
    parts: list[Measurement] = [Measurement(operation) for _ in per_thread]

    def work(index: int) -> None:
        barrier.wait()
        parts[index] = run_serial(operation, func, per_thread[index])

    threads = [
        threading.Thread(target=work, args=(i,), name=f"bench-{operation}-{i}")
        for i in range(len(per_thread))
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    total = Measurement(operation, wall_seconds=time.perf_counter() - started)
    for part in parts:
        total.merge(part)
    return total


Loop = tuple[Callable[[Any], object], Sequence[Any]]


def run_interleaved(loops: Mapping[str, Loop], blocks: int) -> dict[str, Measurement]:
    """Run several loops in alternating blocks and time each call.

    On a machine that other work shares, two loops run one after the other
    meet different conditions; alternating blocks of each exposes both to the
    same ones, so their ratio means something.

    Args:
        loops: Name to (call, arguments), as for ``run_serial``.
        blocks: How many blocks each loop's arguments are cut into.

    Returns:
        One measurement per name; wall time is the sum of its blocks.
    """
    totals = {name: Measurement(name) for name in loops}
    for block in range(blocks):
        for name, (func, args) in loops.items():
            size = len(args)
            chunk = args[block * size // blocks : (block + 1) * size // blocks]
            part = run_serial(name, func, chunk)
            totals[name].merge(part)
            totals[name].wall_seconds += part.wall_seconds
    return totals
