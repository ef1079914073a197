"""PerfRecorder: what it times, how it scales with --quick, how it summarises."""

from __future__ import annotations

import threading

import pytest

from alert_storage.stats import LatencySummary
from pytest_alertbench.config import QUICK_DIVISOR
from pytest_alertbench.recorder import PerfRecorder


class FakeTimer:
    """A perf_counter stand-in that moves by a set step on every call."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def test_measure_records_each_block_as_one_call() -> None:
    """Three measured blocks give three latencies, summarised by LatencySummary."""
    timer = FakeTimer(0.002)
    recorder = PerfRecorder(timer=timer)

    for _ in range(3):
        with recorder.measure("store"):
            pass

    stats = recorder.stats("store")
    assert stats.latency == LatencySummary.from_seconds([0.002] * 3)
    assert stats.throughput_ops == pytest.approx(3 / 0.006)
    assert recorder.operations == ("store",)


def test_measure_counts_a_raising_block_as_an_error_not_a_latency() -> None:
    """The exception propagates; the block adds an error and no latency."""
    recorder = PerfRecorder(timer=FakeTimer(0.001))

    with pytest.raises(KeyError), recorder.measure("get"):
        raise KeyError("boom")
    with recorder.measure("get"):
        pass

    stats = recorder.stats("get")
    assert (stats.errors, stats.latency.count) == (1, 1)


def test_record_takes_external_timings_and_rejects_negative_ones() -> None:
    """record() adds a duration measured elsewhere; a negative one is refused."""
    recorder = PerfRecorder()

    recorder.record("fallback", 0.010)
    recorder.record("fallback", 0.030)

    assert recorder.stats("fallback").latency.max_ms == pytest.approx(30.0)
    with pytest.raises(ValueError, match=">= 0"):
        recorder.record("fallback", -1.0)


def test_run_calls_func_once_per_index() -> None:
    """run() calls func(i) for every i below the count, exactly once."""
    seen: list[int] = []
    recorder = PerfRecorder()

    stats = recorder.run("store", seen.append, 250)

    assert sorted(seen) == list(range(250))
    assert stats.latency.count == 250
    assert stats.threads == 1


def test_run_spreads_calls_over_threads() -> None:
    """With threads=4 every index runs once, on four distinct threads."""
    seen: dict[int, str] = {}
    lock = threading.Lock()

    def call(index: int) -> None:
        with lock:
            seen[index] = threading.current_thread().name

    stats = PerfRecorder().run("store", call, 200, threads=4)

    assert sorted(seen) == list(range(200))
    assert len(set(seen.values())) == 4
    assert (stats.threads, stats.latency.count) == (4, 200)


def test_run_throughput_is_count_over_wall_time() -> None:
    """Throughput divides the calls by the batch's elapsed time, not their sum."""
    recorder = PerfRecorder(timer=FakeTimer(0.001))

    stats = recorder.run("store", lambda i: None, 10)

    assert stats.throughput_ops == pytest.approx(10 / stats.wall_s)
    assert stats.wall_s > 0


@pytest.mark.parametrize(
    ("quick", "count", "expected"),
    [
        (False, 1000, 1000),
        (True, 1000, 1000 // QUICK_DIVISOR),
        (True, 5, 1),
        (False, 5, 5),
    ],
    ids=["full", "quick", "quick-floor", "full-small"],
)
def test_scaled_divides_counts_only_when_quick(
    quick: bool, count: int, expected: int
) -> None:
    """--quick divides operation counts, never below one."""
    assert PerfRecorder(quick=quick).scaled(count) == expected


def test_run_without_count_uses_the_scaled_default() -> None:
    """run() with no count does default_operations, divided under --quick."""
    calls: list[int] = []
    recorder = PerfRecorder(quick=True, default_operations=300)

    recorder.run("store", calls.append)

    assert len(calls) == 300 // QUICK_DIVISOR


@pytest.mark.parametrize("bad", [0, -3, 1.5, True], ids=str)
def test_run_rejects_bad_counts_and_threads(bad: object) -> None:
    """A count or thread number that is not a positive int is a ValueError."""
    recorder = PerfRecorder()
    with pytest.raises(ValueError, match="positive int"):
        recorder.run("store", lambda i: None, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive int"):
        recorder.run("store", lambda i: None, 10, threads=bad)  # type: ignore[arg-type]


def test_run_reraises_the_first_error_after_all_threads_end() -> None:
    """An exception in func stops its thread; run() raises it after the join."""
    done: list[int] = []

    def call(index: int) -> None:
        if index == 3:
            raise RuntimeError("call 3 failed")
        done.append(index)

    with pytest.raises(RuntimeError, match="call 3 failed"):
        PerfRecorder().run("store", call, 40, threads=2)
    # Thread 1 (odd indices) stopped at 3; thread 0 carried on to its end.
    assert sorted(i for i in done if i % 2 == 0) == list(range(0, 40, 2))
    assert [i for i in done if i % 2] == [1]


def test_results_and_durations_cover_every_operation() -> None:
    """results() holds every operation; durations() the raw seconds of one."""
    recorder = PerfRecorder(timer=FakeTimer(0.5))
    with recorder.measure("store"):
        pass
    recorder.record("get", 0.25)

    assert set(recorder.results()) == {"store", "get"}
    assert recorder.durations("get") == [0.25]
    assert recorder.results()["store"].as_dict()["p95_ms"] == pytest.approx(500.0)


def test_stats_of_an_unknown_operation_is_a_key_error() -> None:
    """Asking for an operation never recorded raises KeyError."""
    recorder = PerfRecorder()
    recorder.run("store", lambda i: None, 1)
    with pytest.raises(KeyError):
        recorder.stats("get")
