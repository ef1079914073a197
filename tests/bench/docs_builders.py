"""Results documents crafted for the verdict, goal and report tests."""

from __future__ import annotations

from typing import Any


def op(p95: float = 1.0, throughput: float = 1000.0, **extra: Any) -> dict[str, Any]:
    """Return one operation's figures as the runner writes them."""
    figures: dict[str, Any] = {
        "count": 100,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "p99_ms": p95 * 1.5,
        "max_ms": p95 * 2,
        "mean_ms": p95 / 2,
        "calls": 100,
        "items": 100,
        "errors": 0,
        "error_rate": 0.0,
        "wall_seconds": 0.1,
        "throughput_ops": throughput,
        "statuses": {"stored": 70, "duplicate": 30},
    }
    figures.update(extra)
    return figures


def mode(
    label: str, role: str = "mode", status: str = "measured", **ops: dict[str, Any]
) -> dict[str, Any]:
    """Return one mode's entry."""
    return {
        "label": label,
        "role": role,
        "status": status,
        "reason": None,
        "operations": ops,
    }


def document(**sections: Any) -> dict[str, Any]:
    """Return a minimal results document with the given sections."""
    doc: dict[str, Any] = {
        "schema": "alertbench.phase2a/1",
        "start_time": "2025-09-10 14:30:00",
        "redis_url": None,
        "quick": True,
        "workload": {
            "batch_size": 100,
            "batches": 5,
            "threads": 10,
            "ops_per_thread": 50,
        },
        "machine": {"cpu_count": 2, "python": "3.11.7", "load_average_start": [1.0]},
        "modes": {},
    }
    doc.update(sections)
    return doc
