"""The interface every storage backend implements, with shared validation."""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from alert_storage.errors import InvalidAlertError, InvalidQueryError
from alert_storage.metrics import OperationMetrics
from alert_storage.model import (
    Alert,
    ResolveIntent,
    Severity,
    StoreResult,
    text_profile,
)
from alert_storage.policy import StoragePolicy

MAX_LIMIT = 10_000
MAX_BATCH = 1_000
_FINGERPRINT = re.compile(r"[0-9a-f]{16}\Z")
_ALERT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}\Z")

ReplayItem = Alert | ResolveIntent
_T = TypeVar("_T")
_Self = TypeVar("_Self", bound="AlertStorage")


class AlertStorage(ABC):
    """Stores alerts with deduplication, rate limiting and retention.

    Every backend (memory, file, Redis) and the cascade implement this
    interface with the same semantics; see the README for the rules.

    Args:
        policy: Windows and limits; ``StoragePolicy()`` if omitted.
        clock: Returns the current time in epoch seconds; ``time.time`` if
            omitted. Tests pass a controllable clock. It must not go backwards.
    """

    backend_name: ClassVar[str] = "abstract"

    def __init__(
        self,
        *,
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.policy = policy or StoragePolicy()
        self.clock: Callable[[], float] = clock or time.time
        self._metrics = OperationMetrics()

    # -- public API ---------------------------------------------------------

    def store(self, alert: Alert) -> StoreResult:
        """Store one alert: dedup, expiry, rate limit, atomically.

        Args:
            alert: The alert to store.

        Returns:
            STORED, DUPLICATE or RATE_LIMITED, with the alert id and count.

        Raises:
            InvalidAlertError: the alert breaks the policy; nothing is stored.
            StorageUnavailableError: the backend cannot be reached.
        """
        self.check_alert(alert)
        return self.store_checked(alert)

    def store_checked(self, alert: Alert) -> StoreResult:
        """Store an alert that ``check_alert`` of an equal policy already passed.

        For wrappers such as the cascade, which check once for all tiers.
        """
        # The hot path, timed inline rather than through ``_timed``: on small
        # machines every Python call is a measurable share of a memory store.
        start = perf_counter()
        try:
            result = self._store_single(alert)
        except BaseException:
            self._metrics.record("store", perf_counter() - start, error=True)
            raise
        self._metrics.record("store", perf_counter() - start)
        return result

    def store_many(self, alerts: Iterable[Alert]) -> list[StoreResult]:
        """Store alerts in order, as ``store`` would one by one.

        On Redis a batch is one round trip (per ``MAX_BATCH`` alerts). If any
        alert is invalid, nothing of the batch is stored.

        Args:
            alerts: The alerts, in the order to apply them.

        Returns:
            One result per alert, in the same order.

        Raises:
            InvalidAlertError: an alert breaks the policy; nothing is stored.
            StorageUnavailableError: the backend cannot be reached.
        """
        batch = list(alerts)
        for alert in batch:
            self.check_alert(alert)
        results: list[StoreResult] = []
        for start in range(0, len(batch), MAX_BATCH):
            chunk = batch[start : start + MAX_BATCH]
            results.extend(self._timed("store_many", self._store_batch, chunk))
        return results

    def get(self, alert_id: str) -> Alert | None:
        """Return the alert with this id, firing or resolved, or None.

        Resolved alerts are readable for ``policy.retention`` seconds.

        Raises:
            InvalidQueryError: ``alert_id`` is not a well-formed id.
        """
        if not isinstance(alert_id, str) or not _ALERT_ID.match(alert_id):
            raise InvalidQueryError(f"malformed alert id {alert_id!r:.80}")
        return self._timed("get", self._get, alert_id)

    def get_active(
        self,
        *,
        severity: Severity | str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Return firing alerts, newest ``last_seen`` first.

        Ties on ``last_seen`` are ordered by id, descending.

        Args:
            severity: Only alerts of this severity.
            source: Only alerts from this source.
            since: Only alerts with ``last_seen >= since``.
            until: Only alerts with ``last_seen <= until``.
            limit: At most this many alerts (1 to 10,000).

        Raises:
            InvalidQueryError: a filter or the limit is malformed.
        """
        query = ActiveQuery.build(severity, source, since, until, limit)
        return self._timed("get_active", self._get_active, query)

    def resolve(self, fingerprint: str) -> bool:
        """Mark the firing alert with this fingerprint resolved.

        Returns:
            True if an alert was firing and is now resolved, else False.

        Raises:
            InvalidQueryError: ``fingerprint`` is not 16 lowercase hex digits.
        """
        check_fingerprint(fingerprint)
        return self._timed("resolve", self._resolve, fingerprint)

    def count_active(self) -> int:
        """Return how many alerts are firing now."""
        return self._timed("count_active", self._count_active)

    @abstractmethod
    def ping(self) -> bool:
        """Return True if the backend can serve calls now (never raises)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files. Further calls are not allowed."""

    def metrics(self) -> dict[str, Any]:
        """Return per-operation counts, errors and latency percentiles (ms)."""
        return {"backend": self.backend_name, "operations": self._metrics.snapshot()}

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def check_alert(self, alert: object) -> None:
        """Check an alert against this storage's policy.

        Raises:
            InvalidAlertError: naming the first field that breaks the policy.
        """
        if not isinstance(alert, Alert):
            raise InvalidAlertError("alert", f"expected Alert, not {type(alert)}")
        policy = self.policy
        name_bytes = policy.max_name_bytes
        text_bytes = policy.max_message_bytes
        name_chars, text_chars, pairs = _text_profile(alert)
        # A character is at most 4 UTF-8 bytes: most alerts pass on lengths
        # alone, without encoding anything.
        if (
            4 * name_chars <= name_bytes
            and 4 * text_chars <= text_bytes
            and pairs <= policy.max_labels
        ):
            return
        _check_size("name", alert.name, name_bytes)
        _check_size("source", alert.source, name_bytes)
        _check_size("message", alert.message, text_bytes)
        _check_pairs("labels", alert.labels, policy.max_labels, name_bytes, name_bytes)
        _check_pairs(
            "annotations", alert.annotations, policy.max_labels, name_bytes, text_bytes
        )

    # -- replay hooks used by the cascade -----------------------------------

    def export_pending(self) -> list[ReplayItem]:
        """Return what this tier holds, for replay into a higher tier.

        Alerts (firing and resolved) come in ``first_seen`` order; an alert
        resolved by ``resolve`` is followed by a ``ResolveIntent``; resolves
        recorded with ``record_resolve_intent`` come as ``ResolveIntent``.
        """
        raise NotImplementedError(f"{self.backend_name} cannot be a lower tier")

    def count_pending(self) -> int:
        """Return how many replay items ``export_pending`` would return."""
        raise NotImplementedError(f"{self.backend_name} cannot be a lower tier")

    def discard_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Forget replayed items that have not changed since they were exported.

        An alert seen again after the export is kept; the next replay merges
        only the difference.
        """
        raise NotImplementedError(f"{self.backend_name} cannot be a lower tier")

    def record_resolve_intent(self, fingerprint: str, at: float) -> None:
        """Keep a resolve of an alert this tier does not hold, for replay."""
        raise NotImplementedError(f"{self.backend_name} cannot be a lower tier")

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge items exported by a lower tier, idempotently.

        For each alert ``r``: let ``delta`` be ``r.count`` minus the count
        already merged from ``r.id`` (a marker this tier keeps). If positive:
        a firing alert with ``r.fingerprint`` gets ``count += delta`` (and
        ``r``'s ``last_seen``, message and annotations if newer); otherwise the
        alert a previous merge of ``r.id`` went to is updated the same way;
        otherwise ``r`` is created with its own id and ``count = delta``,
        counting one admission at ``r.first_seen`` against its source. Merging
        the same items twice changes nothing; ``get(r.id)`` finds the alert
        ``r`` was merged into. A ``ResolveIntent(fp, at)`` resolves the alert
        firing with ``fp`` if its ``last_seen <= at``.
        """
        raise NotImplementedError(f"{self.backend_name} cannot import replays")

    # -- what a backend implements ------------------------------------------

    @abstractmethod
    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]: ...

    def _store_single(self, alert: Alert) -> StoreResult:
        return self._store_batch([alert])[0]

    @abstractmethod
    def _get(self, alert_id: str) -> Alert | None: ...

    @abstractmethod
    def _get_active(self, query: ActiveQuery) -> list[Alert]: ...

    @abstractmethod
    def _resolve(self, fingerprint: str) -> bool: ...

    @abstractmethod
    def _count_active(self) -> int: ...

    def _timed(self, operation: str, func: Callable[..., _T], *args: Any) -> _T:
        start = time.perf_counter()
        try:
            result = func(*args)
        except BaseException:
            self._metrics.record(operation, time.perf_counter() - start, error=True)
            raise
        self._metrics.record(operation, time.perf_counter() - start)
        return result


def replay_time(item: ReplayItem) -> float:
    """When a replay item happened: an alert's ``first_seen``, a resolve's time.

    Each tier exports its items in their original order; merging the lists of
    several tiers by this time (stably, as ``heapq.merge`` does) keeps that
    order.
    """
    if isinstance(item, ResolveIntent):
        return item.at
    return item.first_seen or 0.0


class ActiveQuery:
    """A validated ``get_active`` query."""

    __slots__ = ("limit", "severity", "since", "source", "until")

    def __init__(
        self,
        severity: Severity | None,
        source: str | None,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> None:
        self.severity = severity
        self.source = source
        self.since = since
        self.until = until
        self.limit = limit

    @classmethod
    def build(
        cls,
        severity: Severity | str | None,
        source: str | None,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> ActiveQuery:
        """Validate the arguments of ``get_active``.

        Raises:
            InvalidQueryError: naming the malformed argument.
        """
        parsed: Severity | None = None
        if severity is not None:
            try:
                parsed = Severity.parse(severity)
            except InvalidAlertError as exc:
                raise InvalidQueryError(f"severity: {exc.reason}") from exc
        if source is not None and (not isinstance(source, str) or not source):
            raise InvalidQueryError("source must be a non-empty str")
        for name, value in (("since", since), ("until", until)):
            if value is not None and not _is_finite_number(value):
                raise InvalidQueryError(f"{name} must be a finite number")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidQueryError("limit must be an int")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidQueryError(f"limit must be between 1 and {MAX_LIMIT}")
        return cls(parsed, source, since, until, limit)

    def matches(self, alert: Alert) -> bool:
        """Return True if a firing alert passes the filters (not the limit)."""
        if self.severity is not None and alert.severity is not self.severity:
            return False
        if self.source is not None and alert.source != self.source:
            return False
        seen = alert.last_seen if alert.last_seen is not None else 0.0
        if self.since is not None and seen < self.since:
            return False
        return self.until is None or seen <= self.until


def retained(alert: Alert, now: float, retention: float) -> Alert | None:
    """Return ``alert`` unless it was resolved ``retention`` seconds ago or more."""
    if alert.resolved_at is not None and now >= alert.resolved_at + retention:
        return None
    return alert


def check_fingerprint(fingerprint: object) -> None:
    """Raise ``InvalidQueryError`` unless ``fingerprint`` is 16 lowercase hex."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise InvalidQueryError(f"malformed fingerprint {fingerprint!r:.80}")


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _check_size(field_name: str, text: str, limit: int) -> None:
    if len(text) * 4 > limit and len(text.encode()) > limit:
        raise InvalidAlertError(field_name, f"longer than {limit} bytes")


def _check_pairs(
    field_name: str,
    pairs: Any,
    max_items: int,
    max_key_bytes: int,
    max_value_bytes: int,
) -> None:
    if len(pairs) > max_items:
        raise InvalidAlertError(field_name, f"more than {max_items} entries")
    for key, value in pairs.items():
        _check_size(field_name, key, max_key_bytes)
        _check_size(field_name, value, max_value_bytes)


def _text_profile(alert: Alert) -> tuple[int, int, int]:
    """Bounds for the size checks, in characters and entries.

    The longest of name, source, label keys and values; the longest of
    message and annotation values (and keys); the larger of the label and
    annotation counts. Alerts are immutable, so ``Alert`` computes this once
    and keeps it; alerts built without validation get it here.
    """
    cached: tuple[int, int, int] | None = alert.__dict__.get("_text_profile")
    if cached is None:
        cached = text_profile(alert)
        alert.__dict__["_text_profile"] = cached
    return cached
