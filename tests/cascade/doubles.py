"""A memory tier that can be switched off, for unit tests of the cascade logic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from alert_storage import InvalidAlertError, MemoryStorage, StorageUnavailableError
from alert_storage.base import ReplayItem


class FlakyStorage(MemoryStorage):
    """A ``MemoryStorage`` that fails like an unreachable server when ``up`` is off.

    A failing call raises ``StorageUnavailableError`` before touching any state,
    so counts in tests are exact. ``calls`` counts the calls that reached the
    tier (not ``count_pending``, which metrics use), ``pings`` every probe.
    """

    def __init__(self, name: str = "primary", **options: Any) -> None:
        super().__init__(**options)
        self.backend_name = name
        self._state.backend = name
        self.up = True
        self.calls = 0
        self.pings = 0
        self.reject_stores = False
        self.fail_import_after: int | None = None
        self.ping_started = threading.Event()
        self.ping_release: threading.Event | None = None
        self.on_import: Callable[[], None] | None = None

    def _check(self) -> None:
        self.calls += 1
        if not self.up:
            raise StorageUnavailableError(f"{self.backend_name} is switched off")

    def ping(self) -> bool:
        self.pings += 1
        self.ping_started.set()
        if self.ping_release is not None:
            self.ping_release.wait(10)
        return self.up

    def _store_batch(self, alerts: list[Any]) -> list[Any]:
        self._check()
        if self.reject_stores:
            raise InvalidAlertError("message", "rejected by the test double")
        return super()._store_batch(alerts)

    def _store_single(self, alert: Any) -> Any:
        return self._store_batch([alert])[0]

    def _get(self, alert_id: str) -> Any:
        self._check()
        return super()._get(alert_id)

    def _get_active(self, query: Any) -> Any:
        self._check()
        return super()._get_active(query)

    def _resolve(self, fingerprint: str) -> bool:
        self._check()
        return super()._resolve(fingerprint)

    def _count_active(self) -> int:
        self._check()
        return super()._count_active()

    def export_pending(self) -> list[ReplayItem]:
        self._check()
        return super().export_pending()

    def count_pending(self) -> int:
        if not self.up:
            raise StorageUnavailableError(f"{self.backend_name} is switched off")
        return super().count_pending()

    def discard_replayed(self, items: Sequence[ReplayItem]) -> None:
        self._check()
        super().discard_replayed(items)

    def record_resolve_intent(self, fingerprint: str, at: float) -> None:
        self._check()
        super().record_resolve_intent(fingerprint, at)

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        self._check()
        hook, self.on_import = self.on_import, None
        if hook is not None:
            hook()
        budget = self.fail_import_after
        if budget is not None and len(items) > budget:
            # One-shot: merge part of the batch, then lose the connection.
            super().import_replayed(items[:budget])
            self.fail_import_after = None
            self.up = False
            raise StorageUnavailableError("connection lost during the replay")
        if budget is not None:
            self.fail_import_after = budget - len(items)
        super().import_replayed(items)
