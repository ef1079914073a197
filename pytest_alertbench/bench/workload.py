"""Realistic alerts for the benchmark: varied sources and severities, some repeats."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from alert_storage import Alert, Severity, StoragePolicy

SOURCES = (
    "api-gateway",
    "payments",
    "checkout",
    "search",
    "auth",
    "inventory",
    "billing",
    "notifications",
)
NAMES = (
    "HighLatency",
    "ErrorRateHigh",
    "DiskFillingUp",
    "PodCrashLooping",
    "CertificateExpiring",
    "QueueBacklog",
    "MemoryPressure",
    "ReplicaLag",
)
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
# Alert streams skew to warnings; a plain cycle would hide filter selectivity.
SEVERITY_WEIGHTS = (
    (Severity.CRITICAL, 1),
    (Severity.ERROR, 2),
    (Severity.WARNING, 4),
    (Severity.INFO, 3),
)

# The benchmark measures the rate-limit check on every new alert, but a
# source must not run out of admissions mid-run, or later stores would be
# cheap rejections instead of real writes.
BENCH_POLICY = StoragePolicy(rate_limit=1_000_000)

# Filters the "get" operation cycles through: what a dashboard asks for.
GET_QUERIES: tuple[dict[str, Any], ...] = (
    {},
    {"severity": Severity.WARNING},
    {"source": "payments"},
    {"severity": Severity.ERROR, "source": "checkout"},
    {"severity": Severity.CRITICAL},
)


def make_alerts(count: int, *, dup_ratio: float, seed: int, prefix: str) -> list[Alert]:
    """Return ``count`` alerts in store order, about ``dup_ratio`` of them repeats.

    A repeat has the labels of an earlier alert of the list (so it
    deduplicates while that alert fires) and a new message.

    Args:
        count: How many alerts.
        dup_ratio: Share of repeats, from 0 to below 1.
        seed: Makes the list reproducible.
        prefix: Goes into every ``instance`` label, so lists made with
            different prefixes never share a fingerprint.
    """
    rng = random.Random(seed)
    alerts: list[Alert] = []
    fresh: list[Alert] = []
    for index in range(count):
        if fresh and rng.random() < dup_ratio:
            alerts.append(repeat(rng.choice(fresh), index))
            continue
        alert = new_alert(rng, f"{prefix}-{index}")
        fresh.append(alert)
        alerts.append(alert)
    return alerts


def new_alert(rng: random.Random, instance: str) -> Alert:
    """Return a new alert of a random name, source and severity."""
    severities = [s for s, _ in SEVERITY_WEIGHTS]
    weights = [w for _, w in SEVERITY_WEIGHTS]
    name = rng.choice(NAMES)
    return Alert(
        name,
        rng.choices(severities, weights)[0],
        rng.choice(SOURCES),
        f"{name} on {instance}: threshold exceeded",
        labels={"instance": instance, "region": rng.choice(REGIONS), "team": "sre"},
        annotations={"runbook": f"https://runbooks.example/{name}"},
    )


def repeat(alert: Alert, index: int) -> Alert:
    """Return ``alert`` seen again: same identity, newer message."""
    return Alert(
        alert.name,
        alert.severity,
        alert.source,
        f"{alert.message} (repeat {index})",
        labels=alert.labels,
        annotations=alert.annotations,
    )


def same_alert(count: int, instance: str) -> list[Alert]:
    """Return ``count`` copies of one alert (for dedup-under-concurrency checks)."""
    base = Alert(
        "DedupProbe",
        Severity.CRITICAL,
        "dedup-check",
        "the same alert from many threads",
        labels={"instance": instance},
    )
    return [repeat(base, index) for index in range(count)]


def batches(alerts: Sequence[Alert], size: int) -> list[list[Alert]]:
    """Split ``alerts`` into consecutive lists of ``size`` (the last may be short)."""
    return [list(alerts[i : i + size]) for i in range(0, len(alerts), size)]
