"""The cascade: Redis first, then a file, then memory, with replay on recovery."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from alert_storage.base import ActiveQuery, AlertStorage, ReplayItem
from alert_storage.cascade_parts import (
    FallbackDelayWarning,
    TierState,
    Transition,
    _Tier,
    check_intervals,
    check_tiers,
    describe,
    slow_client_settings,
    tier_names,
    warn_if_slow_client,
)
from alert_storage.cascade_replay import (
    BULK_PASSES,
    STRAGGLERS,
    UNAVAILABLE,
    RecoveryMixin,
)
from alert_storage.errors import StorageFullError, StorageUnavailableError
from alert_storage.file import FileStorage
from alert_storage.memory import MemoryStorage
from alert_storage.model import Alert, StoreResult
from alert_storage.policy import StoragePolicy
from alert_storage.redis_storage import RedisStorage

logger = logging.getLogger(__name__)

MAX_TRANSITIONS = 100
__all__ = [
    "BULK_PASSES",
    "MAX_TRANSITIONS",
    "STRAGGLERS",
    "UNAVAILABLE",
    "CascadeStorage",
    "FallbackDelayWarning",
    "Transition",
    "slow_client_settings",
]
_T = TypeVar("_T")
_A = TypeVar("_A")
# A module global is several times cheaper to read than an enum member, and
# the routing checks it on every call.
_UP = TierState.UP


class CascadeStorage(RecoveryMixin, AlertStorage):
    """Serves every call from the highest healthy tier, and replays on recovery.

    A connection error or timeout (``StorageUnavailableError``) from a tier
    opens its circuit breaker: the call is served by the next tier at once and
    later calls skip the tier until a probe (``ping``) succeeds. Probes start
    ``retry_interval`` seconds after a failure and back off, with jitter, up to
    ``max_retry_interval``; one caller probes while the others carry on. When a
    tier answers again, what the lower tiers accepted meanwhile is replayed
    into it, in the original order, before it serves again. Errors that are the
    caller's (``InvalidAlertError``, ``InvalidQueryError``...) propagate from
    the first tier tried, without fallback.

    Args:
        tiers: Highest first, e.g. ``[RedisStorage, FileStorage, MemoryStorage]``.
            Every tier below the first must support export (memory, file);
            every tier above the last must support ``import_replayed``. All
            tiers must share one policy.
        retry_interval: Seconds before the first probe of a failed tier.
        max_retry_interval: Longest wait between probes.
        jitter: Fraction (0 to 1) of a probe delay drawn at random and taken
            off it, so that processes do not probe in step.
        drain_timeout: Most seconds a switch back to a higher tier waits for
            calls still running on lower tiers.
        timer: Monotonic seconds for breaker timing; ``time.monotonic`` if
            omitted (tests pass a controllable one).

    Raises:
        ConfigurationError: no tiers, a tier that cannot take its place, or
            tiers with different policies.
    """

    backend_name = "cascade"

    def __init__(
        self,
        tiers: Sequence[AlertStorage],
        *,
        retry_interval: float = 0.5,
        max_retry_interval: float = 5.0,
        jitter: float = 0.2,
        drain_timeout: float = 2.0,
        timer: Callable[[], float] | None = None,
    ) -> None:
        storages = list(tiers)
        check_tiers(storages)
        check_intervals(retry_interval, max_retry_interval, jitter, drain_timeout)
        super().__init__(policy=storages[0].policy, clock=storages[0].clock)
        self.retry_interval = float(retry_interval)
        self.max_retry_interval = float(max_retry_interval)
        self.jitter = float(jitter)
        self.drain_timeout = float(drain_timeout)
        self._timer = timer or time.monotonic
        self._random = random.Random()
        # The hot paths take the bare lock; waits and wake-ups go through the
        # condition built on it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._probe_lock = threading.Lock()
        self._gate_open = True
        now = self._timer()
        self._tiers = [
            _Tier(i, name, storage, now)
            for i, (name, storage) in enumerate(
                zip(tier_names(storages), storages, strict=True)
            )
        ]
        self._transitions: deque[Transition] = deque(maxlen=MAX_TRANSITIONS)
        self._transition_counts: dict[tuple[str, str], int] = {}
        self._replayed = 0
        self._replay_failures = 0
        self._degraded_total = 0.0
        self._degraded_since: float | None = None
        self._sweep_at = float("inf")
        self._due = float("inf")
        self._mode = self._tiers[0].name
        for tier in self._tiers:
            warn_if_slow_client(tier)
        self._adopt_leftovers()
        self._mode = self._serving_name()
        if self._mode != self._tiers[0].name:
            self._degraded_since = now

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        fallback_dir: str | os.PathLike[str],
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
        namespace: str = "alerts",
        fsync: str = "batch",
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
        max_alerts: int = 100_000,
        **options: Any,
    ) -> CascadeStorage:
        """Build Redis (from ``url``), then a file tier, then a memory tier.

        The Redis client gets ``socket_timeout`` and ``connect_timeout`` and no
        retries, so a failing call falls back within about one timeout.

        Args:
            url: A ``redis://``, ``rediss://`` or ``unix://`` URL.
            fallback_dir: Directory of the file tier (created if missing).
            policy: Windows and limits for every tier.
            clock: Time source for every tier.
            namespace: Redis key namespace.
            fsync: The file tier's durability policy.
            socket_timeout: Seconds Redis may take to reply.
            connect_timeout: Seconds to connect to Redis.
            max_alerts: Bound of the memory tier.
            **options: ``retry_interval``, ``max_retry_interval``, ``jitter``,
                ``drain_timeout``, ``timer`` for the cascade.

        Raises:
            ConfigurationError: bad URL or options.
        """
        redis_tier = RedisStorage(
            url,
            namespace=namespace,
            policy=policy,
            clock=clock,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
        )
        opened: list[AlertStorage] = [redis_tier]
        try:
            opened.append(
                FileStorage(fallback_dir, policy=policy, clock=clock, fsync=fsync)
            )
            opened.append(
                MemoryStorage(policy=policy, clock=clock, max_alerts=max_alerts)
            )
            return cls(opened, **options)
        except BaseException:
            for storage in opened:
                storage.close()
            raise

    def __repr__(self) -> str:
        names = ", ".join(tier.name for tier in self._tiers)
        return f"CascadeStorage(tiers=[{names}], mode={self.mode!r})"

    # -- state ----------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The name of the tier serving calls now, or ``"unavailable"``."""
        return self._mode

    @property
    def tiers(self) -> tuple[AlertStorage, ...]:
        """The tier storages, highest first."""
        return tuple(tier.storage for tier in self._tiers)

    def health(self) -> dict[str, Any]:
        """Return the mode and, per tier, its state, last error and timings.

        Returns:
            ``{"mode", "degraded", "tiers": [{"name", "state", "serving",
            "last_error", "seconds_since_change", "next_probe_in",
            "probe_failures"}, ...]}``. Errors are redacted.
        """
        now = self._timer()
        with self._lock:
            tiers = [
                {
                    "name": t.name,
                    "state": t.state.value,
                    "serving": t.name == self._mode,
                    "last_error": t.last_error,
                    "seconds_since_change": now - t.changed_at,
                    "next_probe_in": (
                        max(0.0, t.next_probe - now)
                        if t.state is TierState.DOWN
                        else None
                    ),
                    "probe_failures": t.probe_failures,
                }
                for t in self._tiers
            ]
            mode = self._mode
        return {"mode": mode, "degraded": mode != tiers[0]["name"], "tiers": tiers}

    def metrics(self) -> dict[str, Any]:
        """Return cascade-level and per-tier figures.

        Returns:
            ``operations`` (as every backend), ``mode``, ``tiers`` (per tier:
            ``state``, ``served``, ``fallbacks``, ``pending`` (None for the
            first) and its own ``operations`` with count, errors and
            P50/P95/P99), ``fallbacks``,
            ``transitions_total``, ``transitions`` (the latest, oldest first),
            ``transition_counts``, ``degraded_seconds``, ``pending_replay``,
            ``replayed`` and ``replay_failures``.
        """
        pending = self._count_pending_all()
        tier_figures = {
            t.name: {
                "state": t.state.value,
                "served": t.served,
                "fallbacks": t.fallbacks,
                "pending": t.pending if t.index else None,
                "operations": t.storage.metrics().get("operations", {}),
            }
            for t in self._tiers
        }
        with self._lock:
            degraded = self._degraded_total
            if self._degraded_since is not None:
                degraded += self._timer() - self._degraded_since
            counts = [
                {"from": a, "to": b, "count": n}
                for (a, b), n in self._transition_counts.items()
            ]
            return {
                "backend": self.backend_name,
                "mode": self._mode,
                "operations": self._metrics.snapshot(),
                "tiers": tier_figures,
                "fallbacks": sum(t.fallbacks for t in self._tiers),
                "transitions_total": sum(self._transition_counts.values()),
                "transitions": [t.as_dict() for t in self._transitions],
                "transition_counts": counts,
                "degraded_seconds": degraded,
                "pending_replay": pending,
                "replayed": self._replayed,
                "replay_failures": self._replay_failures,
            }

    def ping(self) -> bool:
        """Return True if some tier can serve calls now (never raises).

        A tier that does not answer is treated like one that failed a call.
        """
        for tier in self._tiers:
            if tier.state is not TierState.UP:
                continue
            if tier.storage.ping():
                return True
            failure = StorageUnavailableError(f"{tier.name} does not answer ping")
            self._trip(tier, failure, f"{tier.name} does not answer ping")
        return False

    def probe(self) -> str:
        """Probe every failed tier now, replay what is due, and return the mode.

        Calls do this on their own when a probe is due; this is for operators
        and tests that do not want to wait for the schedule.
        """
        with self._probe_lock:
            self._recover(force=True)
        return self._mode

    def close(self) -> None:
        """Close every tier, after one last attempt to replay what memory holds.

        Alerts still pending in a memory tier after that attempt are lost, and
        a WARNING says how many.

        Raises:
            StorageUnavailableError: a tier failed to close (the others are
                closed anyway).
        """
        with self._probe_lock:
            if self._memory_pending():
                self._recover(force=True)
            for tier, lost in self._memory_pending():
                logger.warning(
                    "closing alert storage with %d items pending replay in tier "
                    "%s; they are lost",
                    lost,
                    tier.name,
                )
            failure: StorageUnavailableError | None = None
            for tier in self._tiers:
                try:
                    tier.storage.close()
                except StorageUnavailableError as exc:
                    failure = failure or exc
        if failure is not None:
            raise failure

    def _memory_pending(self) -> list[tuple[_Tier, int]]:
        held = [
            (t, t.storage.count_pending())
            for t in self._tiers[1:]
            if type(t.storage) is MemoryStorage
        ]
        return [(tier, n) for tier, n in held if n]

    # -- operations -----------------------------------------------------------

    def _store_single(self, alert: Alert) -> StoreResult:
        return self._route("store", _store_one, alert)

    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]:
        return self._route("store", _store_all, alerts)

    def _get(self, alert_id: str) -> Alert | None:
        return self._route("get", _get_one, alert_id)

    def _get_active(self, query: ActiveQuery) -> list[Alert]:
        return self._route("get_active", _get_active, query)

    def _resolve(self, fingerprint: str) -> bool:
        return self._route("resolve", _resolve, fingerprint)

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge replayed items into the serving tier (see ``AlertStorage``)."""
        self._route("import_replayed", _import, list(items))

    def _count_active(self) -> int:
        return self._route("count_active", _count_active, None)

    # -- routing and the breaker ------------------------------------------------

    def _route(self, operation: str, call: Callable[[_Tier, _A], _T], arg: _A) -> _T:
        """Serve ``call(tier, arg)`` from the highest tier that is up."""
        if self._timer() >= self._due:
            self._maybe_recover()
        errors: list[str] | None = None  # made on the first failure only
        start = 0
        while True:
            tier = self._enter(start)
            if tier is None:
                break
            try:
                result = call(tier, arg)
            except StorageUnavailableError as exc:
                try:
                    errors = errors or []
                    errors.append(f"{tier.name}: {describe(exc)}")
                    self._failed(tier, exc)
                finally:
                    self._leave(tier)
                start = tier.index + 1
                continue
            except BaseException:
                self._leave(tier)
                raise
            self._served(tier, errors is not None)
            return result
        self._all_failed(operation, errors or [])

    def _enter(self, start: int) -> _Tier | None:
        with self._lock:
            if not self._gate_open:
                self._cond.wait_for(lambda: self._gate_open, self.drain_timeout)
            for tier in self._tiers[start:] if start else self._tiers:
                if tier.state is _UP:
                    tier.in_flight += 1
                    return tier
        return None

    def _leave(self, tier: _Tier) -> None:
        with self._lock:
            self._release(tier)

    def _release(self, tier: _Tier) -> None:
        """Count a call on ``tier`` as finished (lock held)."""
        tier.in_flight -= 1
        # Only a replay waits for calls to drain, and it closes the gate first.
        if tier.in_flight == 0 and not self._gate_open:
            self._cond.notify_all()

    def _served(self, tier: _Tier, fell_back: bool) -> None:
        """Leave ``tier`` after it served the call (one lock for both)."""
        with self._lock:
            # As ``_release``, inline: this runs on every call.
            tier.in_flight -= 1
            if tier.in_flight == 0 and not self._gate_open:
                self._cond.notify_all()
            tier.served += 1
            if fell_back:
                return
            for higher in self._tiers:
                if higher is tier:
                    break
                if higher.state is _UP:
                    # A call under way while a higher tier took over again
                    # wrote below it: schedule a replay of what it left there.
                    self._sweep_soon()
                    break

    def _failed(self, tier: _Tier, exc: StorageUnavailableError) -> None:
        with self._lock:
            lower = self._tiers[tier.index + 1 :]
            if any(t.state is TierState.UP for t in lower):
                tier.fallbacks += 1
        if isinstance(exc, StorageFullError):
            # Full is a capacity limit, not an outage: the tier still serves
            # duplicates and reads, so its breaker stays closed.
            return
        self._trip(tier, exc, f"{tier.name} failed: {describe(exc)}")

    def _all_failed(self, operation: str, errors: list[str]) -> NoReturn:
        with self._lock:
            states = [f"{t.name}: {t.state.value}" for t in self._tiers]
        detail = "; ".join(errors) if errors else ", ".join(states)
        logger.error("alert storage %s failed on every tier (%s)", operation, detail)
        raise StorageUnavailableError(
            f"every storage tier failed for {operation} ({detail})"
        )


# -- what a call does on one tier (module functions: no closure per call) ------


def _store_one(tier: _Tier, alert: Alert) -> StoreResult:
    # Every tier has the cascade's policy: the alert was checked.
    result = tier.storage.store_checked(alert)
    if result.backend != tier.name:
        result = replace(result, backend=tier.name)
    return result


def _store_all(tier: _Tier, alerts: list[Alert]) -> list[StoreResult]:
    if len(alerts) == 1:
        return [_store_one(tier, alerts[0])]
    results = tier.storage.store_many(alerts)
    if results and results[0].backend != tier.name:
        results = [replace(r, backend=tier.name) for r in results]
    return results


def _get_one(tier: _Tier, alert_id: str) -> Alert | None:
    return tier.storage.get(alert_id)


def _get_active(tier: _Tier, query: ActiveQuery) -> list[Alert]:
    return tier.storage.get_active(
        severity=query.severity,
        source=query.source,
        since=query.since,
        until=query.until,
        limit=query.limit,
    )


def _resolve(tier: _Tier, fingerprint: str) -> bool:
    resolved = tier.storage.resolve(fingerprint)
    if not resolved and tier.index > 0:
        # A higher tier that is out of reach may hold the alert: keep the
        # resolve so that the replay applies it there.
        tier.storage.record_resolve_intent(fingerprint, tier.storage.clock())
    return resolved


def _import(tier: _Tier, items: list[ReplayItem]) -> None:
    tier.storage.import_replayed(items)


def _count_active(tier: _Tier, _: None) -> int:
    return tier.storage.count_active()
