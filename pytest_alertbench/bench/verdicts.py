"""Targets (which decide the exit code) and the overall verdict of a run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from pytest_alertbench.bench.settings import Targets

PASS, FAIL, NOT_MEASURED = "PASS", "FAIL", "N/A"
MEETS, MISSES = "MEETS TARGETS", "MISSES TARGETS"

Document = dict[str, Any]

# name, report label, how the value compares with the threshold, operation
_TARGETS = (
    ("store_p95_ms", "Store P95", "<", "store"),
    ("get_p95_ms", "Get P95", "<", "get"),
    ("throughput_ops", "Throughput", ">", "concurrent_store"),
    ("fallback_p95_ms", "Fallback P95", "<", "fallback"),
)


def main_modes(document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (key, mode) for every measured mode the targets apply to.

    Store-only variants (the fsync settings) feed goals, not targets.
    """
    for key, mode in document.get("modes", {}).items():
        if mode.get("role") == "mode" and mode.get("status") == "measured":
            yield key, mode


def evaluate_targets(document: Document, targets: Targets) -> list[dict[str, Any]]:
    """Return one verdict per target, judged on the worst mode.

    Store and get P95 are the single-threaded figures of every main mode;
    throughput is the concurrent section's (single-threaded if that section
    was skipped); fallback P95 is store P95 while Redis was down.
    """
    thresholds = asdict(targets)
    rows = []
    for name, label, relation, operation in _TARGETS:
        values = _values(
            document, operation, "throughput_ops" if relation == ">" else "p95_ms"
        )
        rows.append(_verdict(name, label, relation, thresholds[name], values))
    return rows


def _values(document: Document, operation: str, figure: str) -> dict[str, float]:
    if operation == "fallback":
        degraded = document.get("fallback", {}).get("degraded")
        return {"redis_cascade": degraded[figure]} if degraded else {}
    values = {}
    for key, mode in main_modes(document):
        ops = mode.get("operations", {})
        entry = ops.get(operation) or (
            ops.get("store") if figure == "throughput_ops" else None
        )
        if entry:
            values[key] = entry[figure]
    return values


def _verdict(
    name: str, label: str, relation: str, threshold: float, values: dict[str, float]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "label": label,
        "relation": relation,
        "threshold": threshold,
        "unit": "ops/s" if relation == ">" else "ms",
        "values": values,
    }
    if not values:
        row.update(value=None, mode=None, verdict=NOT_MEASURED)
        return row
    pick = min if relation == ">" else max
    mode = pick(values, key=lambda k: values[k])
    value = values[mode]
    passed = value > threshold if relation == ">" else value < threshold
    row.update(value=value, mode=mode, verdict=PASS if passed else FAIL)
    return row


def problems(document: Document) -> list[str]:
    """Return why the run cannot count as meeting its targets, beside misses.

    A mode or section that failed mid-run, and calls that raised in a main
    mode, are problems: a run whose storage errors out must not exit 0.
    Modes skipped because their backend cannot be built are not.
    """
    found = []
    for key, mode in document.get("modes", {}).items():
        if mode.get("status") == "error":
            found.append(f"mode {key} failed: {mode.get('reason')}")
    for key, _ in main_modes(document):
        for op, entry in document["modes"][key].get("operations", {}).items():
            # Paired floor loops are references, not our storage's calls.
            if entry.get("errors") and not op.startswith("paired_"):
                found.append(f"mode {key}: {entry['errors']} {op} call(s) raised")
    for name in ("floor", "limits", "legacy", "fallback", "memory"):
        section = document.get(name) or {}
        if section.get("status") == "error":
            found.append(f"section {name} failed: {section.get('reason')}")
    return found


def overall(
    target_rows: list[dict[str, Any]],
    goal_rows: list[dict[str, Any]],
    found: list[str],
    *,
    strict_goals: bool,
) -> dict[str, Any]:
    """Return the overall verdict and exit code.

    Exit code 1 when a target fails or a problem was found; with
    ``strict_goals`` also when a measured goal is not met. Goals that could
    not be measured never fail a run.
    """
    failed = [row["name"] for row in target_rows if row["verdict"] == FAIL]
    missed = [row["name"] for row in goal_rows if row["verdict"] == "NOT MET"]
    bad = bool(failed or found or (strict_goals and missed))
    return {
        "verdict": MISSES if bad else MEETS,
        "exit_code": 1 if bad else 0,
        "targets_failed": failed,
        "targets_not_measured": [
            row["name"] for row in target_rows if row["verdict"] == NOT_MEASURED
        ],
        "problems": found,
        "goals_met": sum(1 for row in goal_rows if row["verdict"] == "MET"),
        "goals_missed": missed,
        "goals_not_measured": [
            row["name"] for row in goal_rows if row["verdict"] == NOT_MEASURED
        ],
        "strict_goals": strict_goals,
    }
