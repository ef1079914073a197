"""Timing loops and the progress bar."""

from __future__ import annotations

import io

from alert_storage import MemoryStorage
from pytest_alertbench.bench import workload
from pytest_alertbench.bench.progress import Progress
from pytest_alertbench.bench.timing import run_interleaved, run_serial, run_threads


def test_run_serial_counts_errors_and_keeps_going() -> None:
    """A call that raises is an error; the loop measures every call anyway."""

    def flaky(n: int) -> int:
        if n % 3 == 0:
            raise ConnectionError(f"redis://user:pw@host failed on {n}")
        return n

    measured = run_serial("op", flaky, range(9))
    figures = measured.as_dict()

    assert (measured.calls, measured.errors, measured.items) == (9, 3, 6)
    assert figures["error_rate"] == 3 / 9
    assert all("pw" not in sample for sample in figures["error_samples"])


def test_run_serial_counts_items_per_call_and_statuses() -> None:
    """store_many counts alerts, not calls, and tallies the store outcomes."""
    storage = MemoryStorage()
    alerts = workload.make_alerts(30, dup_ratio=0.0, seed=2, prefix="t")

    measured = run_serial(
        "store_many",
        storage.store_many,
        workload.batches(alerts, 10),
        items_per_call=len,
    )

    assert (measured.calls, measured.items) == (3, 30)
    assert measured.statuses["stored"] == 30
    assert measured.statuses["backend:memory"] == 30


def test_run_threads_merges_every_thread() -> None:
    """All threads' calls end up in one measurement with one wall time."""
    storage = MemoryStorage()
    per_thread = [
        workload.make_alerts(20, dup_ratio=0.0, seed=i, prefix=f"p{i}")
        for i in range(4)
    ]

    measured = run_threads("concurrent_store", storage.store, per_thread)

    assert measured.calls == 80
    assert measured.wall_seconds > 0
    assert storage.count_active() == 80


def test_progress_is_silent_when_not_a_terminal() -> None:
    """A pipe or file gets no progress bar."""
    stream = io.StringIO()
    progress = Progress(4, stream=stream)

    progress.step("store")
    progress.close()

    assert stream.getvalue() == ""


def test_progress_draws_and_erases_when_enabled() -> None:
    """On a terminal the bar redraws one line and erases it at the end."""
    stream = io.StringIO()
    progress = Progress(4, stream=stream, enabled=True)

    progress.step("Memory store")
    progress.step("Memory get")
    progress.close()

    assert progress.render("x").startswith("[" + "#" * 15 + "-" * 15 + "]  50%")
    assert "\r[#######" in stream.getvalue()
    assert stream.getvalue().endswith("\r")


def test_run_interleaved_alternates_blocks() -> None:
    """Loops run in alternating blocks; each keeps its own calls and wall time."""
    order: list[str] = []
    loops = {
        "a": (lambda n: order.append(f"a{n}"), list(range(4))),
        "b": (lambda n: order.append(f"b{n}"), list(range(4))),
    }

    measured = run_interleaved(loops, 2)

    assert order == ["a0", "a1", "b0", "b1", "a2", "a3", "b2", "b3"]
    assert (measured["a"].calls, measured["b"].calls) == (4, 4)
    assert measured["a"].wall_seconds > 0
