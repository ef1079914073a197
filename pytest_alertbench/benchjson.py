"""Our figures in pytest-benchmark's data: ``extra_info`` and whole entries.

pytest-benchmark keeps min, max, mean, median and quartiles but computes no
tail percentiles. A perf test that uses the ``benchmark`` fixture gets our
figures in that benchmark's ``extra_info``; a perf test that does not gets
entries of its own in the saved JSON, one per operation, whose ``stats`` are
computed from the raw timings so ``pytest-benchmark compare`` can read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from pytest_alertbench.results import PerfResult

EXTRA_KEY = "alertbench"
GROUP = "alertbench"
REPORTED = (
    "count",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "mean_ms",
    "throughput_ops",
)


def extra_info(
    result: PerfResult, operations: Iterable[str] | None = None
) -> dict[str, Any]:
    """Return the value stored under ``extra_info["alertbench"]``.

    Args:
        result: The perf test's result.
        operations: Only these operations; all of them if omitted.
    """
    names = list(result.operations) if operations is None else list(operations)
    figures = {
        name: {key: result.operations[name][key] for key in REPORTED} for name in names
    }
    return {
        "nodeid": result.nodeid,
        "mode": result.mode,
        "operations": figures,
        "targets": dict(result.targets),
        "verdict": result.verdict,
    }


def benchmark_stats(durations: Sequence[float]) -> dict[str, Any]:
    """Return pytest-benchmark ``stats`` fields for raw durations in seconds.

    pytest-benchmark's own statistics class does the computing, so the
    quartiles and outlier counts mean exactly what its reports say.
    """
    # pytest-benchmark is optional and untyped: reach it only when used.
    stats_module: Any = importlib.import_module("pytest_benchmark.stats")
    stats = stats_module.Stats()
    for duration in durations:
        stats.update(duration)
    figures: dict[str, Any] = dict(stats.as_dict())
    figures["iterations"] = 1
    return figures


def entries_for(result: PerfResult) -> list[dict[str, Any]]:
    """Return pytest-benchmark entries for a perf test, one per operation.

    Operations without raw durations (results from xdist workers) and without
    any successful call are left out.
    """
    entries = []
    for name, durations in result.durations.items():
        if not durations:
            continue
        entries.append(
            {
                "group": GROUP,
                "name": f"{_test_name(result.nodeid)}::{name}",
                "fullname": f"{result.nodeid}::{name}",
                "params": {"storage_mode": result.mode} if result.mode else None,
                "param": result.mode,
                "extra_info": {EXTRA_KEY: extra_info(result, [name])},
                "options": {"timer": "perf_counter", "source": "pytest_alertbench"},
                "stats": benchmark_stats(durations),
            }
        )
    return entries


def add_to_benchmark_json(
    output_json: MutableMapping[str, Any], results: Iterable[PerfResult]
) -> int:
    """Add entries for perf tests that pytest-benchmark did not time itself.

    Args:
        output_json: The document pytest-benchmark is about to save.
        results: Every perf test's result from this process.

    Returns:
        How many entries were added.
    """
    benchmarks: list[dict[str, Any]] = output_json.setdefault("benchmarks", [])
    timed = {str(entry.get("fullname")) for entry in benchmarks}
    added = 0
    for result in results:
        if result.nodeid in timed:
            continue
        new = entries_for(result)
        benchmarks.extend(new)
        added += len(new)
    return added


def set_extra_info(benchmark: Any, result: PerfResult) -> None:
    """Store our figures in a ``benchmark`` fixture's ``extra_info``."""
    info: Mapping[str, Any] | None = getattr(benchmark, "extra_info", None)
    if isinstance(info, MutableMapping):
        info[EXTRA_KEY] = extra_info(result)


def _test_name(nodeid: str) -> str:
    return nodeid.rpartition("::")[2] or nodeid
