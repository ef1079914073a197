"""A reference model of the storage semantics, written for clarity, not speed.

The model restates the rules of the core storage issue in the plainest
Python we could write, so that property tests can compare every backend
against it. It deliberately shares no code with ``alert_storage.engine``:
a bug there cannot hide in here too. It keeps every alert it ever created,
derives expiry and retention from the clock at each question instead of
mutating state on a timer, and computes fingerprints with its own FNV-1a.

Alert ids are random in the backends, so the model does not invent them: the
caller hands it the id the backend chose for each new alert, and checks
separately that a backend never reuses an id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alert_storage import Alert, StoragePolicy, StoreStatus

_OFFSET_BASIS = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_SEPARATOR = b"\xff"


def fnv1a_fingerprint(labels: Mapping[str, str]) -> str:
    """Return the Prometheus fingerprint of a label set, computed from scratch.

    Prometheus drops labels whose value is empty, sorts the remaining names
    by their UTF-8 bytes, and hashes ``name 0xFF value 0xFF`` for each pair
    with 64-bit FNV-1a.

    Args:
        labels: Label names to values.

    Returns:
        The hash as 16 lowercase hexadecimal digits.
    """
    present = [(k.encode(), v.encode()) for k, v in labels.items() if v]
    stream = b"".join(k + _SEPARATOR + v + _SEPARATOR for k, v in sorted(present))
    digest = _OFFSET_BASIS
    for byte in stream:
        digest = ((digest ^ byte) * _PRIME) % 2**64
    return format(digest, "016x")


def identity_of(alert: Alert) -> dict[str, str]:
    """Return the label set that identifies ``alert`` (labels plus reserved)."""
    return {
        **alert.labels,
        "alertname": alert.name,
        "source": alert.source,
        "severity": alert.severity.value,
    }


@dataclass(frozen=True)
class ModelResult:
    """What the model expects one ``store`` to return."""

    status: StoreStatus
    alert_id: str | None
    fingerprint: str
    count: int
    retry_after: float | None = None


@dataclass
class ModelAlert:
    """One alert as the model remembers it, including after it was resolved.

    ``resolved_by_call`` is set only by ``resolve``; a timeout resolution is
    never stored but derived from ``last_seen`` when asked (see
    ``ReferenceModel.resolved_at``).
    """

    id: str
    fingerprint: str
    template: Alert
    message: str
    annotations: dict[str, str]
    timestamp: float
    count: int
    first_seen: float
    last_seen: float
    resolved_by_call: float | None = None


@dataclass
class ReferenceModel:
    """The storage semantics over explicit time.

    Every method takes ``now``, the one clock reading the backend would use.

    Args:
        policy: The windows and limits the backend under test uses.
    """

    policy: StoragePolicy
    alerts: dict[str, ModelAlert] = field(default_factory=dict)
    admissions: dict[str, list[float]] = field(default_factory=dict)

    # -- derived state --------------------------------------------------------

    def resolved_at(self, alert: ModelAlert, now: float) -> float | None:
        """Return when ``alert`` was resolved, or None while it is firing.

        An alert not seen for ``dedup_window`` seconds is resolved by
        timeout at ``last_seen + dedup_window``, from that very instant on.
        """
        if alert.resolved_by_call is not None:
            return alert.resolved_by_call
        expiry = alert.last_seen + self.policy.dedup_window
        return expiry if now >= expiry else None

    def is_firing(self, alert: ModelAlert, now: float) -> bool:
        """Return True if ``alert`` is firing at ``now``."""
        return self.resolved_at(alert, now) is None

    def is_readable(self, alert: ModelAlert, now: float) -> bool:
        """Return True if ``get`` still finds ``alert`` at ``now``."""
        resolved = self.resolved_at(alert, now)
        return resolved is None or now < resolved + self.policy.retention

    def firing_with(self, fingerprint: str, now: float) -> ModelAlert | None:
        """Return the firing alert with this fingerprint, if there is one."""
        for alert in self.alerts.values():
            if alert.fingerprint == fingerprint and self.is_firing(alert, now):
                return alert
        return None

    def admissions_in_window(self, source: str, now: float) -> list[float]:
        """Return the admissions of ``source`` in ``(now - rate_window, now]``."""
        window = self.policy.rate_window
        return [t for t in self.admissions.get(source, []) if now - window < t <= now]

    # -- operations -----------------------------------------------------------

    def store(self, alert: Alert, now: float, new_id: str) -> ModelResult:
        """Apply one store and return its expected result.

        Args:
            alert: The alert to store.
            now: The clock reading of the store.
            new_id: The id to give the alert if this store creates one.
        """
        fingerprint = fnv1a_fingerprint(identity_of(alert))
        existing = self.firing_with(fingerprint, now)
        if existing is not None:
            existing.count += 1
            existing.last_seen = now
            existing.message = alert.message
            existing.annotations = dict(alert.annotations)
            return ModelResult(
                StoreStatus.DUPLICATE, existing.id, fingerprint, existing.count
            )

        in_window = self.admissions_in_window(alert.source, now)
        if len(in_window) >= self.policy.rate_limit:
            retry_after = min(in_window) + self.policy.rate_window - now
            return ModelResult(
                StoreStatus.RATE_LIMITED, None, fingerprint, 0, retry_after
            )

        self.admissions.setdefault(alert.source, []).append(now)
        timestamp = now if alert.timestamp is None else alert.timestamp
        self.alerts[new_id] = ModelAlert(
            id=new_id,
            fingerprint=fingerprint,
            template=alert,
            message=alert.message,
            annotations=dict(alert.annotations),
            timestamp=timestamp,
            count=1,
            first_seen=now,
            last_seen=now,
        )
        return ModelResult(StoreStatus.STORED, new_id, fingerprint, 1)

    def store_many(
        self, alerts: Sequence[Alert], now: float, new_ids: Sequence[str]
    ) -> list[ModelResult]:
        """Store alerts one by one, in order, all at the same ``now``."""
        return [self.store(a, now, i) for a, i in zip(alerts, new_ids, strict=True)]

    def resolve(self, fingerprint: str, now: float) -> bool:
        """Resolve the firing alert with ``fingerprint``; False if none fires."""
        alert = self.firing_with(fingerprint, now)
        if alert is None:
            return False
        alert.resolved_by_call = now
        return True

    def get(self, alert_id: str, now: float) -> dict[str, Any] | None:
        """Return the alert with this id as ``Alert.to_dict`` would, or None."""
        alert = self.alerts.get(alert_id)
        if alert is None or not self.is_readable(alert, now):
            return None
        return self.as_dict(alert, now)

    def get_active(
        self,
        now: float,
        *,
        severity: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Return firing alerts that pass the filters, newest ``last_seen`` first.

        Ties on ``last_seen`` go to the larger id (plain string comparison).
        """
        chosen = []
        for alert in self.alerts.values():
            if not self.is_firing(alert, now):
                continue
            if severity is not None and alert.template.severity.value != severity:
                continue
            if source is not None and alert.template.source != source:
                continue
            if since is not None and alert.last_seen < since:
                continue
            if until is not None and alert.last_seen > until:
                continue
            chosen.append(alert)
        chosen.sort(key=lambda a: (a.last_seen, a.id), reverse=True)
        return [self.as_dict(a, now) for a in chosen[:limit]]

    def count_active(self, now: float) -> int:
        """Return how many alerts are firing at ``now``."""
        return sum(1 for a in self.alerts.values() if self.is_firing(a, now))

    # -- helpers --------------------------------------------------------------

    def as_dict(self, alert: ModelAlert, now: float) -> dict[str, Any]:
        """Render ``alert`` in the shape of ``Alert.to_dict``."""
        resolved = self.resolved_at(alert, now)
        template = alert.template
        return {
            "id": alert.id,
            "fingerprint": alert.fingerprint,
            "name": template.name,
            "severity": template.severity.value,
            "source": template.source,
            "message": alert.message,
            "labels": dict(template.labels),
            "annotations": dict(alert.annotations),
            "timestamp": alert.timestamp,
            "count": alert.count,
            "first_seen": alert.first_seen,
            "last_seen": alert.last_seen,
            "status": "firing" if resolved is None else "resolved",
            "resolved_at": resolved,
        }

    def edges(self, now: float) -> list[float]:
        """Return the future instants at which the model's answers change.

        They are: expiries of firing alerts, the moments admissions leave
        their rate window, and the ends of retention of resolved alerts.
        """
        times = set()
        for alert in self.alerts.values():
            resolved = self.resolved_at(alert, now)
            if resolved is None:
                times.add(alert.last_seen + self.policy.dedup_window)
            else:
                times.add(resolved + self.policy.retention)
        for stamps in self.admissions.values():
            times.update(t + self.policy.rate_window for t in stamps)
        return sorted(t for t in times if t > now)
