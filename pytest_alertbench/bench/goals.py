"""Our own performance goals: ratios to the floor measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MET, NOT_MET, NOT_MEASURED = "MET", "NOT MET", "N/A"

Document = dict[str, Any]
Getter = Callable[[Document], float | None]


@dataclass(frozen=True)
class Goal:
    """One goal: ``value`` must be ``relation`` ``factor`` x ``reference``.

    Attributes:
        name: Key in the results file.
        label: What the report prints.
        value: Reads our figure from the results document.
        reference: Reads the floor figure (None: ``factor`` is absolute).
        relation: ``<=`` or ``>=``.
        factor: Multiplies the reference (or is the bound itself).
        unit: Unit of ``value`` and the bound.
        note: Returns a caveat about the figures of a run, if any.
    """

    name: str
    label: str
    value: Getter
    reference: Getter | None
    relation: str
    factor: float
    unit: str
    note: Callable[[Document], str | None] | None = None


def figure(*path: str) -> Getter:
    """Return a getter of ``document[path[0]][path[1]]...``, or None if absent."""

    def get(document: Document) -> float | None:
        node: Any = document
        for part in path:
            if not isinstance(node, dict) or node.get(part) is None:
                return None
            node = node[part]
        return float(node) if isinstance(node, (int, float)) else None

    return get


def first(*getters: Getter) -> Getter:
    """Return a getter of the first figure that is present."""

    def get(document: Document) -> float | None:
        for getter in getters:
            value = getter(document)
            if value is not None:
                return value
        return None

    return get


def _server_allows(document: Document) -> float | None:
    """Alerts/s the server's own time per ``store_many`` script call allows."""
    cost = figure("modes", "redis", "script_cost", "usec_per_call")(document)
    batch = figure("workload", "batch_size")(document)
    if not cost or not batch:
        return None
    return batch * 1_000_000 / cost


def _shared_server(document: Document) -> str | None:
    cost = document.get("modes", {}).get("redis", {}).get("script_cost") or {}
    if not cost.get("shared"):
        return None
    return (
        "other clients ran scripts on this server meanwhile: the server time"
        " per call includes theirs, so the bound is approximate (lower)"
    )


def _mode(key: str, operation: str, name: str) -> Getter:
    return figure("modes", key, "operations", operation, name)


GOALS = (
    Goal(
        "redis_store_p95_vs_ping",
        "Redis store P95 <= 2x PING P95",
        _mode("redis", "store", "p95_ms"),
        first(
            _mode("redis", "paired_ping", "p95_ms"), figure("floor", "ping", "p95_ms")
        ),
        "<=",
        2.0,
        "ms",
    ),
    Goal(
        "redis_store_throughput_vs_ping",
        "Redis store throughput >= 0.5x PING throughput",
        _mode("redis", "store", "throughput_ops"),
        first(
            _mode("redis", "paired_ping", "throughput_ops"),
            figure("floor", "ping", "throughput_ops"),
        ),
        ">=",
        0.5,
        "ops/s",
    ),
    Goal(
        "store_many_vs_server",
        "store_many >= 60% of what server script time allows",
        _mode("redis", "store_many", "throughput_ops"),
        _server_allows,
        ">=",
        0.6,
        "alerts/s",
        note=_shared_server,
    ),
    Goal(
        "store_many_vs_single",
        "store_many >= 5x single stores",
        _mode("redis", "store_many", "throughput_ops"),
        _mode("redis", "store", "throughput_ops"),
        ">=",
        5.0,
        "alerts/s",
    ),
    Goal(
        "get_active_100_vs_store",
        "Redis get_active(100) P95 <= 3x store P95",
        _mode("redis", "get_active_100", "p95_ms"),
        _mode("redis", "store", "p95_ms"),
        "<=",
        3.0,
        "ms",
    ),
    Goal(
        "store_vs_limits",
        "Redis store throughput >= limits hit() throughput",
        _mode("redis", "store", "throughput_ops"),
        first(
            _mode("redis", "paired_limits_hit", "throughput_ops"),
            figure("limits", "hit", "throughput_ops"),
        ),
        ">=",
        1.0,
        "ops/s",
    ),
    Goal(
        "file_never_p95",
        'File fsync="never" store P95 < 100us',
        _mode("file_fsync_never", "store", "p95_ms"),
        None,
        "<=",
        0.1,
        "ms",
    ),
    Goal(
        "file_always_vs_fsync",
        'File fsync="always" store P95 <= 1.5x append+fsync P95',
        _mode("file_fsync_always", "store", "p95_ms"),
        first(
            _mode("file_fsync_always", "paired_append_fsync", "p95_ms"),
            figure("floor", "append_fsync", "p95_ms"),
        ),
        "<=",
        1.5,
        "ms",
    ),
    Goal(
        "memory_store_p95",
        "Memory store P95 < 20us",
        _mode("memory", "store", "p95_ms"),
        None,
        "<=",
        0.02,
        "ms",
    ),
    Goal(
        "cascade_degraded_vs_file",
        "Cascade store P95 while Redis is down <= 1.2x file mode",
        figure("fallback", "degraded", "p95_ms"),
        first(
            figure("fallback", "paired_file_store", "p95_ms"),
            _mode("file", "store", "p95_ms"),
        ),
        "<=",
        1.2,
        "ms",
    ),
    Goal(
        "replay_rate",
        "Replay after recovery >= 10,000 alerts/s",
        figure("fallback", "replay_rate"),
        None,
        ">=",
        10_000.0,
        "alerts/s",
    ),
    Goal(
        "legacy_json_ratio",
        "Legacy JSON rewrite at 1,000 alerts >= 50x slower than ours",
        figure("legacy", "json_rewrite", "speed_ratio"),
        None,
        ">=",
        50.0,
        "x",
    ),
)


def evaluate_goals(document: Document) -> list[dict[str, Any]]:
    """Return one row per goal with its value, bound and verdict."""
    return [evaluate(goal, document) for goal in GOALS]


def evaluate(goal: Goal, document: Document) -> dict[str, Any]:
    """Judge one goal on a results document."""
    value = goal.value(document)
    reference = goal.reference(document) if goal.reference else None
    row: dict[str, Any] = {
        "name": goal.name,
        "label": goal.label,
        "relation": goal.relation,
        "factor": goal.factor,
        "unit": goal.unit,
        "value": value,
        "reference": reference,
        "note": goal.note(document) if goal.note else None,
    }
    if value is None or (goal.reference is not None and not reference):
        row.update(bound=None, verdict=NOT_MEASURED)
        return row
    bound = goal.factor * reference if reference is not None else goal.factor
    met = value <= bound if goal.relation == "<=" else value >= bound
    row.update(bound=bound, verdict=MET if met else NOT_MET)
    if reference:
        row["ratio"] = value / reference
    return row
