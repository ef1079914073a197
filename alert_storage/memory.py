"""The in-memory backend: fast, thread-safe, bounded, and gone with the process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from alert_storage.base import ActiveQuery, AlertStorage, ReplayItem
from alert_storage.engine import AlertState
from alert_storage.errors import ConfigurationError
from alert_storage.model import Alert, StoreResult
from alert_storage.policy import StoragePolicy


class MemoryStorage(AlertStorage):
    """Alerts kept in this process's memory.

    Thread-safe (one lock per storage). When ``max_alerts`` alerts are held,
    the oldest resolved alerts are dropped first; if every held alert is
    firing, a new one is refused with ``StorageFullError``.

    Args:
        policy: Windows and limits.
        clock: Time source in epoch seconds.
        max_alerts: Most alerts (firing and resolved) held at once.
    """

    backend_name = "memory"

    def __init__(
        self,
        *,
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
        max_alerts: int = 100_000,
    ) -> None:
        super().__init__(policy=policy, clock=clock)
        if isinstance(max_alerts, bool) or not isinstance(max_alerts, int):
            raise ConfigurationError("max_alerts must be a positive integer")
        if max_alerts < 1:
            raise ConfigurationError("max_alerts must be a positive integer")
        self._lock = threading.Lock()
        self._state = AlertState(self.policy, backend="memory", max_entries=max_alerts)

    def __repr__(self) -> str:
        return f"MemoryStorage(alerts={len(self._state.entries)})"

    def ping(self) -> bool:
        """Return True: memory is always there."""
        return True

    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]:
        with self._lock:
            return self._state.store_batch(alerts, self.clock())

    def _store_single(self, alert: Alert) -> StoreResult:
        with self._lock:
            return self._state.store(alert, self.clock())

    def _get(self, alert_id: str) -> Alert | None:
        with self._lock:
            return self._state.get(alert_id, self.clock())

    def _get_active(self, query: ActiveQuery) -> list[Alert]:
        with self._lock:
            return self._state.get_active(query, self.clock())

    def _resolve(self, fingerprint: str) -> bool:
        with self._lock:
            return self._state.resolve(fingerprint, self.clock())

    def _count_active(self) -> int:
        with self._lock:
            return self._state.count_active(self.clock())

    def export_pending(self) -> list[ReplayItem]:
        """Return every alert and resolve intent held, in original order."""
        with self._lock:
            return self._state.export_pending(self.clock())

    def count_pending(self) -> int:
        """Return how many alerts and resolve intents are held."""
        with self._lock:
            return self._state.count_pending()

    def discard_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Forget replayed items unchanged since their export."""
        with self._lock:
            self._state.discard(items)

    def record_resolve_intent(self, fingerprint: str, at: float) -> None:
        """Keep a resolve of an alert not held here, for replay."""
        with self._lock:
            self._state.record_intent(fingerprint, at)

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge items replayed from a lower tier, idempotently."""
        with self._lock:
            self._state.import_items(items, self.clock())
