"""The terminal summary of perf tests, in the shape of the seed benchmark report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_alertbench.results import PerfResult
from pytest_alertbench.targets import format_ms, format_value

TITLE = "alertbench performance summary"


def render_summary(
    results: Sequence[PerfResult],
    *,
    redis_url: str | None,
    quick: bool,
    workers: int = 0,
) -> list[str]:
    """Return the summary's lines (without the title separator).

    Args:
        results: Every perf test's result, in the order to show them.
        redis_url: The configured Redis URL, already redacted.
        quick: Whether ``--quick`` was on.
        workers: pytest-xdist workers that ran tests (0 without xdist).
    """
    lines = [
        f"Redis URL: {redis_url or 'not configured (redis and cascade skipped)'}",
        f"Operations: {'quick (--quick)' if quick else 'full'}",
    ]
    if workers:
        lines.append(
            f"Note: measured on {workers} pytest-xdist workers sharing the machine; "
            "for figures you compare, run with -p no:xdist"
        )
    for result in results:
        lines.append("")
        lines.extend(_render_result(result))
    lines.append("")
    lines.append(_overall(results))
    return lines


def _render_result(result: PerfResult) -> list[str]:
    mode = f" ({result.mode} mode)" if result.mode else ""
    lines = [f"[PERF] {result.nodeid}{mode}: {result.outcome.upper()}"]
    if not result.operations:
        lines.append("  no operations recorded")
    for name, figures in result.operations.items():
        lines.append(f"  {_operation_line(name, figures)}")
    lines += [f"  {check.describe()}" for check in result.checks]
    return lines


def _operation_line(name: str, figures: Mapping[str, Any]) -> str:
    threads = int(figures.get("threads", 1))
    on_threads = f" on {threads} threads" if threads > 1 else ""
    errors = int(figures.get("errors", 0))
    failed = f", {errors} errors" if errors else ""
    return (
        f"{name}: {int(figures['count'])} ops{on_threads}{failed}  "
        f"P50: {format_ms(figures['p50_ms'])}, P95: {format_ms(figures['p95_ms'])}, "
        f"P99: {format_ms(figures['p99_ms'])}, max: {format_ms(figures['max_ms'])}  "
        f"throughput: {format_value(figures['throughput_ops'], 'ops/s')}"
    )


def _overall(results: Sequence[PerfResult]) -> str:
    with_targets = [result for result in results if result.checks]
    missed = [result for result in with_targets if result.verdict == "fail"]
    failed = sum(result.outcome == "failed" for result in results)
    failures = f" ({failed} failed)" if failed else ""
    counts = f"{len(results)} perf tests{failures}, {len(with_targets)} with targets"
    if not with_targets:
        return f"[OVERALL] {counts}: NO TARGETS SET"
    if missed:
        return f"[OVERALL] {counts}: MISSES TARGETS ({len(missed)} tests)"
    return f"[OVERALL] {counts}: MEETS TARGETS"
