"""Realistic alerts for perf tests, with a controllable share of duplicates."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alert_storage import Alert, Severity

NAMES = (
    "HighCPUUsage",
    "HighMemoryUsage",
    "DiskSpaceLow",
    "ServiceDown",
    "HighErrorRate",
    "SlowResponses",
    "CertificateExpiring",
    "QueueBacklog",
    "ReplicationLag",
    "PodCrashLooping",
)
SOURCES = (
    "api-gateway",
    "auth",
    "billing",
    "checkout",
    "inventory",
    "notifications",
    "payments",
    "search",
    "shipping",
    "web-frontend",
)
# Real fleets raise far more warnings than pages.
SEVERITY_WEIGHTS = (
    (Severity.CRITICAL, 1),
    (Severity.ERROR, 2),
    (Severity.WARNING, 4),
    (Severity.INFO, 3),
)
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
ENVIRONMENTS = ("prod", "staging")
RECENT = 512


@dataclass(frozen=True, slots=True)
class _Identity:
    name: str
    severity: Severity
    source: str
    labels: tuple[tuple[str, str], ...]


class AlertFactory:
    """Makes varied alerts: names, sources, severities, labels, annotations.

    Every new alert has a label set no earlier alert of this factory had; a
    duplicate repeats the identity of one of the last ``RECENT`` new alerts
    with a fresh message, so a storage deduplicates it.

    Args:
        seed: Seed of the factory's own random generator (same seed, same
            alerts).
        duplicate_ratio: The share of duplicates, from 0 to 1, that
            ``__call__`` draws at random and ``batch`` produces exactly.
        sources: The sources to spread alerts over.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        duplicate_ratio: float = 0.0,
        sources: Sequence[str] = SOURCES,
    ) -> None:
        if not sources:
            raise ValueError("sources must not be empty")
        self.duplicate_ratio = _check_ratio(duplicate_ratio)
        self.sources = tuple(sources)
        self._random = random.Random(seed)
        self._serial = 0
        self._recent: deque[_Identity] = deque(maxlen=RECENT)

    def __repr__(self) -> str:
        return (
            f"AlertFactory(duplicate_ratio={self.duplicate_ratio}, made={self._serial})"
        )

    def __call__(self, **overrides: Any) -> Alert:
        """Return a new alert, or a duplicate with ``duplicate_ratio`` odds.

        Args:
            **overrides: ``Alert`` fields to set on a new alert (for example
                ``source="payments"``); given any, no duplicate is drawn.
        """
        wants_duplicate = self._random.random() < self.duplicate_ratio
        if wants_duplicate and self._recent and not overrides:
            return self.duplicate()
        return self.unique(**overrides)

    def unique(self, **overrides: Any) -> Alert:
        """Return an alert with a label set never made before.

        Args:
            **overrides: ``Alert`` fields to set instead of generated ones.
        """
        self._serial += 1
        pick = self._random.choice
        severity = self._random.choices(
            [s for s, _ in SEVERITY_WEIGHTS], [w for _, w in SEVERITY_WEIGHTS]
        )[0]
        labels = {
            "instance": f"node-{self._serial:06d}:9100",
            "region": pick(REGIONS),
            "env": pick(ENVIRONMENTS),
            "job": pick(("node", "app", "db", "queue")),
        }
        fields: dict[str, Any] = {
            "name": pick(NAMES),
            "severity": severity,
            "source": pick(self.sources),
            "labels": labels,
        }
        fields.update(overrides)
        fields.setdefault("message", self._message(fields["name"]))
        fields.setdefault("annotations", self._annotations())
        alert = Alert(**fields)
        self._recent.append(
            _Identity(
                alert.name, alert.severity, alert.source, tuple(alert.labels.items())
            )
        )
        return alert

    def duplicate(self) -> Alert:
        """Return an alert with the identity of a recent one and a new message.

        Falls back to a new alert when nothing was made yet.
        """
        if not self._recent:
            return self.unique()
        identity = self._random.choice(self._recent)
        return Alert(
            identity.name,
            identity.severity,
            identity.source,
            self._message(identity.name),
            dict(identity.labels),
            self._annotations(),
        )

    def batch(self, count: int, *, duplicate_ratio: float | None = None) -> list[Alert]:
        """Return ``count`` alerts of which exactly ``round(count * ratio)`` repeat.

        The duplicates sit at random positions, never before the first new
        alert this factory made.

        Args:
            count: How many alerts.
            duplicate_ratio: Overrides the factory's ratio for this batch.
        """
        ratio = self.duplicate_ratio if duplicate_ratio is None else duplicate_ratio
        ratio = _check_ratio(ratio)
        if count < 0:
            raise ValueError("count must not be negative")
        first = 0 if self._recent else 1
        slots = range(first, count)
        wanted = min(round(count * ratio), len(slots))
        duplicates = set(self._random.sample(slots, wanted))
        return [
            self.duplicate() if index in duplicates else self.unique()
            for index in range(count)
        ]

    def _message(self, name: str) -> str:
        value = self._random.uniform(50, 99.9)
        return f"{name}: observed {value:.1f} on the last check"

    def _annotations(self) -> dict[str, str]:
        return {
            "summary": "raised by the alertbench factory",
            "runbook_url": "https://runbooks.example.com/alerts",
        }


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise ValueError(f"duplicate_ratio must be a number, not {ratio!r}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"duplicate_ratio must be between 0 and 1, not {ratio!r}")
    return float(ratio)
