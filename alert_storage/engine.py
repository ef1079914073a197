"""The in-process alert state behind the memory and file backends.

Every mutation is expressed as an event (a JSON-ready dict) and applied with
``apply``; the file backend journals those events and rebuilds its state by
applying them again, so both backends share one implementation of the rules.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import os
import secrets
from collections import deque
from collections.abc import Sequence
from typing import Any

from alert_storage.base import ActiveQuery, ReplayItem, retained
from alert_storage.errors import StorageFullError
from alert_storage.model import (
    Alert,
    AlertStatus,
    ResolveIntent,
    StoreResult,
    StoreStatus,
    make_stored_alert,
    store_result,
)
from alert_storage.policy import StoragePolicy

Event = dict[str, Any]

_FIELDS = (
    "id",
    "fingerprint",
    "name",
    "severity",
    "source",
    "message",
    "labels",
    "annotations",
    "timestamp",
    "count",
    "first_seen",
    "last_seen",
    "resolved_at",
)


class _IdSource:
    """Alert ids: a random 64-bit prefix per process, then a counter.

    24 lowercase hex digits, unique across processes (and so across cascade
    tiers) with overwhelming probability, and cheaper than 12 random bytes per
    id. A forked child draws a new prefix.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(secrets.randbits(20))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"


new_alert_id = _IdSource()


class Entry:
    """The mutable record of one stored alert.

    ``resolved_at`` is set only by an explicit resolve; expiry by timeout is
    computed from ``last_seen``.
    """

    # ``seq`` is the order in which this state learnt of the alert; it is not
    # journaled but follows from the journal's order when rebuilt.
    __slots__ = (*_FIELDS, "seq")

    id: str
    fingerprint: str
    name: str
    severity: str
    source: str
    message: str
    labels: dict[str, str]
    annotations: dict[str, str]
    timestamp: float
    count: int
    first_seen: float
    last_seen: float
    resolved_at: float | None
    seq: int

    def to_event(self) -> dict[str, Any]:
        """Return the record as a plain dict."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> Entry:
        """Build a record from ``to_event`` output."""
        entry = cls()
        for name in _FIELDS:
            setattr(entry, name, data[name])
        return entry


class AlertState:
    """Alerts, indexes and rate-limit windows, with the storage semantics.

    Not thread-safe: the backends hold a lock around every call.

    Args:
        policy: Windows and limits.
        backend: The name put in ``StoreResult.backend``.
        max_entries: Most alerts kept; the oldest resolved go first, and a new
            alert is refused with ``StorageFullError`` when all are firing.
        journal: Keep the events of each call in ``events`` for the caller.
    """

    def __init__(
        self,
        policy: StoragePolicy,
        *,
        backend: str,
        max_entries: int | None = None,
        journal: bool = False,
    ) -> None:
        self.policy = policy
        self.backend = backend
        self.max_entries = max_entries
        self.journal = journal
        self.events: list[Event] = []
        self.entries: dict[str, Entry] = {}
        self.current: dict[str, Entry] = {}
        self.firing: dict[str, Entry] = {}
        self.admissions: dict[str, deque[float]] = {}
        self.markers: dict[str, tuple[str, int]] = {}
        self.intents: dict[tuple[str, float], tuple[ResolveIntent, int]] = {}
        self._seq = itertools.count()
        self._next_sweep = float("-inf")

    # -- events ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Apply one event, live or while rebuilding from a journal."""
        kind = event["t"]
        if kind == "dup":
            self._apply_dup(event)
        elif kind == "put":
            self._apply_put(event)
        elif kind == "mark":
            self.markers[event["o"]] = (event["to"], event["n"])
        elif kind == "intent":
            intent = ResolveIntent(event["fp"], event["at"])
            self.intents[(intent.fingerprint, intent.at)] = (intent, next(self._seq))
        elif kind == "drop":
            self._drop(event["id"])
        elif kind == "unintent":
            self.intents.pop((event["fp"], event["at"]), None)
        elif kind == "adm":
            self.admissions[event["s"]] = deque(event["at"])

    def _emit(self, event: Event) -> None:
        if self.journal:
            self.events.append(event)
        self.apply(event)

    def _apply_put(self, event: Event) -> None:
        data = event["a"]
        entry = self.entries.get(data["id"])
        if entry is None:
            entry = Entry.from_event(data)
        else:
            for name in _FIELDS:
                setattr(entry, name, data[name])
        self._install(entry, event.get("adm"))

    def _install(self, entry: Entry, admitted: float | None) -> None:
        held = self.entries.get(entry.id)
        if held is None:
            entry.seq = next(self._seq)
            self.entries[entry.id] = entry
        elif held is not entry:
            for name in _FIELDS:
                setattr(held, name, getattr(entry, name))
            entry = held
        current = self.current.get(entry.fingerprint)
        if current is None or current.last_seen <= entry.last_seen:
            self.current[entry.fingerprint] = entry
        if entry.resolved_at is None:
            self.firing[entry.id] = entry
        else:
            self.firing.pop(entry.id, None)
        if admitted is not None:
            window = self.admissions.get(entry.source)
            if window is None:
                window = self.admissions[entry.source] = deque()
            if window and admitted < window[-1]:
                window.insert(bisect.bisect_right(window, admitted), admitted)
            else:
                window.append(admitted)

    def _apply_dup(self, event: Event) -> None:
        entry = self.entries[event["id"]]
        self._bump(entry, event["n"], event["ls"], event["msg"], event["ann"])

    def _bump(
        self,
        entry: Entry,
        count: int,
        now: float,
        message: str,
        annotations: dict[str, str],
    ) -> None:
        # A duplicate changes four fields of a firing alert, which stays the
        # current one for its fingerprint.
        entry.count = count
        entry.last_seen = now
        entry.message = message
        entry.annotations = annotations
        self.current[entry.fingerprint] = entry
        self.firing[entry.id] = entry

    def _put(self, entry: Entry, admitted: float | None = None) -> None:
        # The same change as applying the event, without rebuilding the entry
        # from it: a new alert is the most common write.
        if self.journal:
            event: Event = {"t": "put", "a": entry.to_event()}
            if admitted is not None:
                event["adm"] = admitted
            self.events.append(event)
        self._install(entry, admitted)

    def _drop(self, alert_id: str) -> None:
        entry = self.entries.pop(alert_id, None)
        if entry is None:
            return
        self.firing.pop(alert_id, None)
        if self.current.get(entry.fingerprint) is entry:
            del self.current[entry.fingerprint]

    # -- semantics ------------------------------------------------------------

    def is_firing(self, entry: Entry, now: float) -> bool:
        """Return True if ``entry`` is firing at ``now``."""
        return (
            entry.resolved_at is None
            and now < entry.last_seen + self.policy.dedup_window
        )

    def store_batch(self, alerts: Sequence[Alert], now: float) -> list[StoreResult]:
        """Store alerts in order at time ``now``."""
        self.sweep(now)
        return [self._store_one(alert, now) for alert in alerts]

    def store(self, alert: Alert, now: float) -> StoreResult:
        """Store one alert at time ``now``."""
        if now >= self._next_sweep:
            self.sweep(now)
        return self._store_one(alert, now)

    def _store_one(self, alert: Alert, now: float) -> StoreResult:
        current = self.current.get(alert.fingerprint)
        if current is not None and self.is_firing(current, now):
            count = current.count + 1
            annotations = dict(alert.annotations)
            if self.journal:
                self.events.append(
                    {
                        "t": "dup",
                        "id": current.id,
                        "n": count,
                        "ls": now,
                        "msg": alert.message,
                        "ann": annotations,
                    }
                )
            self._bump(current, count, now, alert.message, annotations)
            return store_result(
                StoreStatus.DUPLICATE,
                current.id,
                alert.fingerprint,
                count,
                None,
                self.backend,
            )
        retry_after = self._rate_check(alert.source, now)
        if retry_after is not None:
            return store_result(
                StoreStatus.RATE_LIMITED,
                None,
                alert.fingerprint,
                0,
                retry_after,
                self.backend,
            )
        most = self.max_entries
        if most is not None and len(self.entries) >= most:
            self._make_room(most)
        entry = _new_entry(alert, now)
        self._put(entry, admitted=now)
        return store_result(
            StoreStatus.STORED, entry.id, alert.fingerprint, 1, None, self.backend
        )

    def _rate_check(self, source: str, now: float) -> float | None:
        window = self.admissions.get(source)
        if window is None:
            return None
        floor = now - self.policy.rate_window
        while window and window[0] <= floor:
            window.popleft()
        if len(window) < self.policy.rate_limit:
            return None
        return window[0] + self.policy.rate_window - now

    def _make_room(self, most: int) -> None:
        resolved = [e for e in self.entries.values() if e.id not in self.firing]
        excess = len(self.entries) - most + 1
        oldest = heapq.nsmallest(excess, resolved, key=_resolved_key)
        for entry in oldest:
            self._emit({"t": "drop", "id": entry.id})
        if len(self.entries) >= most:
            self.sweep(self._next_sweep, force=True)
        if len(self.entries) >= most:
            raise StorageFullError(
                f"{self.backend} storage holds {len(self.entries)} firing alerts, "
                "its configured maximum"
            )

    def resolve(self, fingerprint: str, now: float) -> bool:
        """Resolve the alert firing with ``fingerprint``; False if none is."""
        current = self.current.get(fingerprint)
        if current is None or not self.is_firing(current, now):
            return False
        data = current.to_event()
        data["resolved_at"] = now
        self._emit({"t": "put", "a": data})
        return True

    def get(self, alert_id: str, now: float) -> Alert | None:
        """Return the alert with this id (or merged under it), if retained."""
        entry = self.entries.get(alert_id)
        if entry is None and alert_id in self.markers:
            entry = self.entries.get(self.markers[alert_id][0])
        if entry is None:
            return None
        return retained(self.view(entry, now), now, self.policy.retention)

    def get_active(self, query: ActiveQuery, now: float) -> list[Alert]:
        """Return firing alerts matching ``query``, newest ``last_seen`` first."""
        window = self.policy.dedup_window
        candidates = [
            e
            for e in self.firing.values()
            if now < e.last_seen + window and _entry_matches(query, e)
        ]
        newest = heapq.nlargest(query.limit, candidates, key=_recency_key)
        return [self.view(e, now) for e in newest]

    def count_active(self, now: float) -> int:
        """Return how many alerts are firing at ``now``."""
        window = self.policy.dedup_window
        return sum(1 for e in self.firing.values() if now < e.last_seen + window)

    def view(self, entry: Entry, now: float) -> Alert:
        """Return the caller's view of ``entry`` at ``now``."""
        resolved_at = entry.resolved_at
        if resolved_at is None and now >= entry.last_seen + self.policy.dedup_window:
            resolved_at = entry.last_seen + self.policy.dedup_window
        return make_stored_alert(
            alert_id=entry.id,
            fingerprint=entry.fingerprint,
            name=entry.name,
            severity=entry.severity,
            source=entry.source,
            message=entry.message,
            labels=dict(entry.labels),
            annotations=dict(entry.annotations),
            timestamp=entry.timestamp,
            count=entry.count,
            first_seen=entry.first_seen,
            last_seen=entry.last_seen,
            status=AlertStatus.FIRING if resolved_at is None else AlertStatus.RESOLVED,
            resolved_at=resolved_at,
        )

    def sweep(self, now: float, *, force: bool = False) -> None:
        """Drop expired alerts from the firing index and delete old resolved ones.

        Runs at most once per ``min(dedup_window, 60 s)`` of clock time unless
        forced; the rules never depend on it, only memory use does.
        """
        if now < self._next_sweep and not force:
            return
        policy = self.policy
        self._next_sweep = now + min(policy.dedup_window, 60.0)
        for entry in [e for e in self.firing.values() if not self.is_firing(e, now)]:
            del self.firing[entry.id]
        window = policy.dedup_window
        for entry in list(self.entries.values()):
            if entry.id in self.firing:
                continue
            resolved_at = entry.resolved_at
            if resolved_at is None:
                resolved_at = entry.last_seen + window
            if now >= resolved_at + policy.retention:
                self._forget(entry, now)
        for key, (intent, _) in list(self.intents.items()):
            # A resolve at ``at`` only applies to an alert last seen by then,
            # and no such alert fires past ``at + dedup_window``.
            if now >= intent.at + window:
                del self.intents[key]
        for origin, (target, _) in list(self.markers.items()):
            if target not in self.entries:
                del self.markers[origin]

    def _forget(self, entry: Entry, now: float) -> None:
        # Past retention the alert is gone, but a resolve made by a call may
        # still matter to a higher tier that holds the alert firing: keep it.
        at = entry.resolved_at
        if at is not None and now < at + self.policy.dedup_window:
            intent = ResolveIntent(entry.fingerprint, at)
            self.intents[(intent.fingerprint, at)] = (intent, entry.seq)
        self._drop(entry.id)

    # -- replay ---------------------------------------------------------------

    def export_pending(self, now: float) -> list[ReplayItem]:
        """Return every alert held and every resolve intent, in original order.

        Items are ordered by time, and items at the same time by the order in
        which this state learnt of them: an alert resolved and stored again at
        one clock reading replays as alert, resolve, new alert.
        """
        self.sweep(now, force=True)
        keyed: list[tuple[float, int, int, ReplayItem]] = []
        for entry in self.entries.values():
            keyed.append((entry.first_seen, entry.seq, 0, self.view(entry, now)))
            if entry.resolved_at is not None:
                intent = ResolveIntent(entry.fingerprint, entry.resolved_at)
                keyed.append((entry.resolved_at, entry.seq, 1, intent))
        for intent, seq in self.intents.values():
            keyed.append((intent.at, seq, 0, intent))
        keyed.sort(key=lambda k: k[:3])
        return [item for *_, item in keyed]

    def count_pending(self) -> int:
        """Return how many alerts and intents are held."""
        return len(self.entries) + len(self.intents)

    def discard(self, items: Sequence[ReplayItem]) -> None:
        """Forget exported items that have not changed since the export."""
        for item in items:
            if isinstance(item, ResolveIntent):
                if (item.fingerprint, item.at) in self.intents:
                    self._emit({"t": "unintent", "fp": item.fingerprint, "at": item.at})
                continue
            entry = self.entries.get(item.id or "")
            if entry is None or entry.count != item.count:
                continue
            if entry.last_seen != item.last_seen:
                continue
            if entry.resolved_at not in (None, item.resolved_at):
                continue
            self._emit({"t": "drop", "id": entry.id})

    def record_intent(self, fingerprint: str, at: float) -> None:
        """Keep a resolve of an alert this state does not hold."""
        self._emit({"t": "intent", "fp": fingerprint, "at": at})

    def import_items(self, items: Sequence[ReplayItem], now: float) -> None:
        """Merge replayed items idempotently (see ``AlertStorage.import_replayed``)."""
        for item in items:
            if isinstance(item, ResolveIntent):
                self._import_intent(item, now)
            else:
                self._import_alert(item, now)

    def _import_intent(self, intent: ResolveIntent, now: float) -> None:
        current = self.current.get(intent.fingerprint)
        if current is None or not self.is_firing(current, now):
            return
        if current.last_seen > intent.at:
            return
        data = current.to_event()
        data["resolved_at"] = intent.at
        self._emit({"t": "put", "a": data})

    def _import_alert(self, record: Alert, now: float) -> None:
        origin = record.id or ""
        target_id, merged = self.markers.get(origin, ("", 0))
        delta = record.count - merged
        if delta <= 0:
            return
        target = self.current.get(record.fingerprint)
        if target is None or not self.is_firing(target, now):
            target = self.entries.get(target_id) if target_id else None
        if target is None:
            entry = _entry_from_record(record, delta)
            self._put(entry, admitted=entry.first_seen)
            target_id = entry.id
        else:
            data = target.to_event()
            data["count"] = target.count + delta
            if record.last_seen is not None and record.last_seen >= target.last_seen:
                data["last_seen"] = record.last_seen
                data["message"] = record.message
                data["annotations"] = dict(record.annotations)
            self._emit({"t": "put", "a": data})
            target_id = target.id
        self._emit({"t": "mark", "o": origin, "to": target_id, "n": record.count})

    def snapshot(self) -> list[Event]:
        """Return events that rebuild the current state (for compaction).

        Alerts and intents come in the order this state learnt of them, so a
        rebuilt state exports them in the same order.
        """
        ordered: list[tuple[int, Event]] = [
            (e.seq, {"t": "put", "a": e.to_event()}) for e in self.entries.values()
        ]
        for intent, seq in self.intents.values():
            ordered.append(
                (seq, {"t": "intent", "fp": intent.fingerprint, "at": intent.at})
            )
        ordered.sort(key=lambda pair: pair[0])
        events = [event for _, event in ordered]
        for source, window in self.admissions.items():
            if window:
                events.append({"t": "adm", "s": source, "at": list(window)})
        for origin, (target, count) in self.markers.items():
            events.append({"t": "mark", "o": origin, "to": target, "n": count})
        return events


def _new_entry(alert: Alert, now: float) -> Entry:
    entry = Entry()
    entry.id = new_alert_id()
    entry.fingerprint = alert.fingerprint
    entry.name = alert.name
    entry.severity = alert.severity.value
    entry.source = alert.source
    entry.message = alert.message
    entry.labels = dict(alert.labels)
    entry.annotations = dict(alert.annotations)
    entry.timestamp = alert.timestamp if alert.timestamp is not None else now
    entry.count = 1
    entry.first_seen = now
    entry.last_seen = now
    entry.resolved_at = None
    return entry


def _entry_from_record(record: Alert, count: int) -> Entry:
    entry = _new_entry(record, record.first_seen or 0.0)
    entry.id = record.id or new_alert_id()
    entry.count = count
    entry.last_seen = record.last_seen if record.last_seen is not None else 0.0
    return entry


def _entry_matches(query: ActiveQuery, entry: Entry) -> bool:
    if query.severity is not None and entry.severity != query.severity.value:
        return False
    if query.source is not None and entry.source != query.source:
        return False
    if query.since is not None and entry.last_seen < query.since:
        return False
    return query.until is None or entry.last_seen <= query.until


def _recency_key(entry: Entry) -> tuple[float, str]:
    return (entry.last_seen, entry.id)


def _resolved_key(entry: Entry) -> float:
    return entry.resolved_at if entry.resolved_at is not None else entry.last_seen
