"""The Phase 1 ways of storing alerts, kept only to be measured against ours.

``LegacyJsonStore`` rewrites one JSON file per store; ``LegacyRedisStore`` uses
plain redis-py commands in separate round trips, without Lua. Both check for a
duplicate and then write, with nothing making the two steps atomic: that is
what the dedup check below shows under concurrency.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from alert_storage import Alert

DEDUP_WINDOW = 300.0
RATE_WINDOW = 60.0
RATE_LIMIT = 1_000_000


class LegacyError(Exception):
    """A legacy store failed (for example it read a half-written file)."""


class LegacyJsonStore:
    """One JSON document holding every alert, read and rewritten per store.

    Args:
        path: The JSON file.
        between: Called after the read and before the write; tests use it to
            force the interleaving two unsynchronised writers can have.
    """

    def __init__(
        self, path: Path, *, between: Callable[[], object] | None = None
    ) -> None:
        self.path = path
        self.between = between
        if not path.exists():
            self._write({"alerts": []})

    def store(self, alert: Alert) -> str:
        """Store ``alert`` the Phase 1 way; return ``stored`` or ``duplicate``.

        Raises:
            LegacyError: the file was unreadable (another writer mid-rewrite).
        """
        data = self._read()
        now = time.time()
        if self.between is not None:
            self.between()
        for record in data["alerts"]:
            if record["fingerprint"] != alert.fingerprint:
                continue
            if now < record["last_seen"] + DEDUP_WINDOW:
                record["count"] += 1
                record["last_seen"] = now
                record["message"] = alert.message
                self._write(data)
                return "duplicate"
        data["alerts"].append(_record(alert, now))
        self._write(data)
        return "stored"

    def prefill(self, alerts: Sequence[Alert]) -> None:
        """Write ``alerts`` as stored records at once (untimed set-up)."""
        now = time.time()
        data = self._read()
        data["alerts"].extend(_record(alert, now) for alert in alerts)
        self._write(data)

    def records(self) -> list[dict[str, Any]]:
        """Return every stored record."""
        alerts: list[dict[str, Any]] = self._read()["alerts"]
        return alerts

    def _read(self) -> dict[str, Any]:
        try:
            with self.path.open(encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except json.JSONDecodeError as exc:
            raise LegacyError(f"unreadable JSON file: {exc}") from exc
        return data

    def _write(self, data: dict[str, Any]) -> None:
        # Straight to the final path, as Phase 1 did: a reader can see it torn.
        with self.path.open("w", encoding="utf-8") as handle:
            json.dump(data, handle)


class LegacyRedisStore:
    """Alerts in Redis hashes, written with one command per round trip.

    Args:
        client: The redis-py client.
        prefix: Prefix of every key this store writes.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def store(self, alert: Alert) -> str:
        """Store ``alert``: ``stored``, ``duplicate`` or ``rate_limited``."""
        client, now = self.client, time.time()
        fp_key = self._key("fp", alert.fingerprint)
        alert_id = client.get(fp_key)
        if alert_id is not None:
            alert_key = self._key("alert", _text(alert_id))
            last_seen = client.hget(alert_key, "last_seen")
            if last_seen is not None and now < float(last_seen) + DEDUP_WINDOW:
                client.hincrby(alert_key, "count", 1)
                client.hset(
                    alert_key, mapping={"last_seen": now, "message": alert.message}
                )
                return "duplicate"
        rate_key = self._key("rate", alert.source)
        client.zremrangebyscore(rate_key, "-inf", now - RATE_WINDOW)
        if client.zcard(rate_key) >= RATE_LIMIT:
            return "rate_limited"
        new_id = secrets.token_hex(12)
        record: dict[Any, Any] = {
            k: json.dumps(v) for k, v in _record(alert, now).items()
        }
        client.hset(self._key("alert", new_id), mapping=record)
        client.set(fp_key, new_id)
        client.zadd(self._key("active"), {new_id: now})
        client.zadd(rate_key, {new_id: now})
        return "stored"

    def count_of(self, alert: Alert) -> tuple[int, int]:
        """Return (alerts indexed for ``alert``'s fingerprint, its stored count)."""
        ids = [_text(m) for m in self.client.zrange(self._key("active"), 0, -1)]
        counts = []
        for alert_id in ids:
            record = self.client.hgetall(self._key("alert", alert_id))
            if json.loads(record[b"fingerprint"]) == alert.fingerprint:
                counts.append(int(record[b"count"]))
        return len(counts), sum(counts)

    def drop(self) -> None:
        """Delete every key this store wrote."""
        with self._lock:
            keys = list(self._keys)
            self._keys.clear()
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])

    def _key(self, *parts: str) -> str:
        key = ":".join((self.prefix, *parts))
        with self._lock:
            self._keys.add(key)
        return key


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(alert: Alert, now: float) -> dict[str, Any]:
    return {
        "id": secrets.token_hex(12),
        "fingerprint": alert.fingerprint,
        "name": alert.name,
        "severity": alert.severity.value,
        "source": alert.source,
        "message": alert.message,
        "labels": dict(alert.labels),
        "count": 1,
        "first_seen": now,
        "last_seen": now,
    }


@dataclass
class DedupCheck:
    """What became of N stores of one alert from several threads at once.

    Correct means what our backends guarantee: exactly one STORED, one alert
    held, its count equal to the number of stores, and no store failing.

    Attributes:
        stores: How many stores were attempted.
        stored: Stores that answered ``stored``.
        failed: Stores that raised.
        alerts_held: Alerts the store holds for the fingerprint afterwards.
        final_count: Their counts added up.
        corrupted: The store could not be read back at all afterwards.
        failures: The first few failure messages.
    """

    stores: int
    stored: int = 0
    failed: int = 0
    alerts_held: int = 0
    final_count: int = 0
    corrupted: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        """True when dedup held: one alert, counted once per store."""
        return (
            not self.corrupted
            and self.failed == 0
            and self.stored == 1
            and self.alerts_held == 1
            and self.final_count == self.stores
        )

    @property
    def lost_updates(self) -> int:
        """Stores that left no trace in the final count."""
        return max(self.stores - self.final_count, 0)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures for the results file."""
        return {
            "stores": self.stores,
            "stored": self.stored,
            "failed": self.failed,
            "alerts_held": self.alerts_held,
            "final_count": self.final_count,
            "lost_updates": self.lost_updates,
            "corrupted": self.corrupted,
            "correct": self.correct,
            "failures": list(self.failures),
        }


def dedup_check(
    store: Callable[[Alert], str],
    held: Callable[[], tuple[int, int]],
    per_thread: Sequence[Sequence[Alert]],
) -> DedupCheck:
    """Store the alerts of each list from its own thread, all at once, and check.

    Args:
        store: The legacy (or our) store call; returns the status value.
        held: Returns (alerts held for the fingerprint, their total count).
        per_thread: One list of copies of the same alert per thread.
    """
    check = DedupCheck(stores=sum(len(alerts) for alerts in per_thread))
    lock = threading.Lock()
    barrier = threading.Barrier(len(per_thread))

    def work(alerts: Sequence[Alert]) -> None:
        barrier.wait()
        for alert in alerts:
            try:
                status = store(alert)
            # The legacy ways fail under concurrency; that is the finding.
            except (LegacyError, OSError, redis.RedisError, KeyError) as exc:
                with lock:
                    check.failed += 1
                    if len(check.failures) < 3:
                        check.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if status == "stored":
                with lock:
                    check.stored += 1

    threads = [threading.Thread(target=work, args=(a,)) for a in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        check.alerts_held, check.final_count = held()
    except LegacyError as exc:
        # Writers that truncate and rewrite in place can interleave bytes.
        check.corrupted = True
        check.failures.append(str(exc))
    return check


def json_held(store: LegacyJsonStore, alert: Alert) -> tuple[int, int]:
    """Return (records, total count) the JSON file holds for ``alert``."""
    records = [r for r in store.records() if r["fingerprint"] == alert.fingerprint]
    return len(records), sum(int(r["count"]) for r in records)
