"""A reference model of the cascade: two tier models and the documented replay.

While Redis is up the cascade is the plain model ``upper``. During an
outage calls go to the file tier, modelled by ``lower``: it knows nothing of
what Redis holds, so dedup and the rate window restart there (as
``docs/cascade.md`` says callers will see). On recovery the lower tier's
alerts and resolves are merged into ``upper`` following the contract of
``AlertStorage.import_replayed``, and the lower tier forgets its alerts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from alert_storage import Alert, StoreStatus

from .model import ModelAlert, ModelResult, ReferenceModel


@dataclass
class CascadeModel:
    """The cascade as two reference models and a replay between them.

    Attributes:
        upper: The Redis tier.
        lower: The file tier.
        degraded: True while Redis is down and the file tier serves.
        merged: For each replayed lower-tier id, the count merged so far.
        merged_into: For each replayed lower-tier id, the upper alert's id.
        intents: Resolves the lower tier answered False, as (event number,
            fingerprint, at).
        created: For each alert the lower tier created, its event number.
        resolved: For each lower-tier alert resolved by a call, its event
            number. Event numbers give the original order of what happened
            in the lower tier, even when several things happened at the same
            clock reading.
    """

    upper: ReferenceModel
    lower: ReferenceModel
    degraded: bool = False
    merged: dict[str, int] = field(default_factory=dict)
    merged_into: dict[str, str] = field(default_factory=dict)
    intents: list[tuple[int, str, float]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)
    events: Iterator[int] = field(default_factory=itertools.count)

    @property
    def serving(self) -> ReferenceModel:
        """The tier model that answers calls now."""
        return self.lower if self.degraded else self.upper

    @property
    def alerts(self) -> dict[str, ModelAlert]:
        """Every alert either tier holds, by id."""
        return {**self.upper.alerts, **self.lower.alerts}

    # -- the calls ------------------------------------------------------------

    def store(self, alert: Alert, now: float, new_id: str) -> ModelResult:
        """Store in the serving tier."""
        return self.store_many([alert], now, [new_id])[0]

    def store_many(
        self, alerts: Sequence[Alert], now: float, new_ids: Sequence[str]
    ) -> list[ModelResult]:
        """Store a batch in the serving tier, noting what the lower tier creates."""
        results = []
        for alert, new_id in zip(alerts, new_ids, strict=True):
            result = self.serving.store(alert, now, new_id)
            if self.degraded and result.status is StoreStatus.STORED:
                self.created[new_id] = next(self.events)
            results.append(result)
        return results

    def resolve(self, fingerprint: str, now: float) -> bool:
        """Resolve in the serving tier; a miss during an outage is kept for replay."""
        if not self.degraded:
            return self.upper.resolve(fingerprint, now)
        firing = self.lower.firing_with(fingerprint, now)
        if firing is None:
            self.intents.append((next(self.events), fingerprint, now))
            return False
        self.resolved[firing.id] = next(self.events)
        return self.lower.resolve(fingerprint, now)

    def get(self, alert_id: str, now: float) -> dict[str, Any] | None:
        """Read from the serving tier; replayed ids find what they merged into."""
        if self.degraded:
            return self.lower.get(alert_id, now)
        return self.upper.get(self.merged_into.get(alert_id, alert_id), now)

    def get_active(self, now: float, **query: Any) -> list[dict[str, Any]]:
        """List firing alerts of the serving tier."""
        return self.serving.get_active(now, **query)

    def count_active(self, now: float) -> int:
        """Count firing alerts of the serving tier."""
        return self.serving.count_active(now)

    def edges(self, now: float) -> list[float]:
        """Instants where either tier's answers change."""
        return sorted(set(self.upper.edges(now)) | set(self.lower.edges(now)))

    # -- outage and recovery --------------------------------------------------

    def go_down(self) -> None:
        """Redis stops answering: the file tier serves from now on."""
        self.degraded = True

    def recover(self, now: float) -> None:
        """Redis is back: replay the lower tier in original order, then serve."""
        for _, item in sorted(self._export(now), key=lambda pair: pair[0]):
            if isinstance(item, ModelAlert):
                self._merge(item, now)
            else:
                self._apply_intent(item[0], item[1], now)
        self.lower.alerts.clear()
        self.intents.clear()
        self.created.clear()
        self.resolved.clear()
        self.degraded = False

    def _export(self, now: float) -> list[tuple[int, Any]]:
        """Return what the lower tier hands over, numbered in original order.

        An alert whose retention ended in the lower tier is gone from it, so
        it is not replayed; the resolve that ended it still is.
        """
        items: list[tuple[int, Any]] = []
        for alert in self.lower.alerts.values():
            if self.lower.is_readable(alert, now):
                items.append((self.created[alert.id], alert))
            if alert.resolved_by_call is not None:
                resolve = (alert.fingerprint, alert.resolved_by_call)
                items.append((self.resolved[alert.id], resolve))
        items += [(event, (fp, at)) for event, fp, at in self.intents]
        return items

    def _merge(self, replayed: ModelAlert, now: float) -> None:
        delta = replayed.count - self.merged.get(replayed.id, 0)
        if delta <= 0:
            return
        target = self.upper.firing_with(replayed.fingerprint, now)
        if target is None and replayed.id in self.merged_into:
            target = self.upper.alerts[self.merged_into[replayed.id]]
        if target is None:
            target = self._create(replayed, delta)
        else:
            target.count += delta
            # At equal times the replayed alert is the later event.
            if replayed.last_seen >= target.last_seen:
                target.last_seen = replayed.last_seen
                target.message = replayed.message
                target.annotations = dict(replayed.annotations)
        self.merged[replayed.id] = replayed.count
        self.merged_into[replayed.id] = target.id

    def _create(self, replayed: ModelAlert, count: int) -> ModelAlert:
        created = ModelAlert(
            id=replayed.id,
            fingerprint=replayed.fingerprint,
            template=replayed.template,
            message=replayed.message,
            annotations=dict(replayed.annotations),
            timestamp=replayed.timestamp,
            count=count,
            first_seen=replayed.first_seen,
            last_seen=replayed.last_seen,
        )
        self.upper.alerts[created.id] = created
        source = replayed.template.source
        self.upper.admissions.setdefault(source, []).append(replayed.first_seen)
        return created

    def _apply_intent(self, fingerprint: str, at: float, now: float) -> None:
        target = self.upper.firing_with(fingerprint, now)
        if target is not None and target.last_seen <= at:
            target.resolved_by_call = at
