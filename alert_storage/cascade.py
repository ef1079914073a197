"""The cascade: Redis first, then a file, then memory, with replay on recovery."""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from alert_storage.base import (
    MAX_BATCH,
    ActiveQuery,
    AlertStorage,
    ReplayItem,
    replay_time,
)
from alert_storage.cascade_parts import (
    TierState,
    Transition,
    _Tier,
    check_intervals,
    check_tiers,
    tier_names,
    warn_if_slow_client,
)
from alert_storage.errors import (
    AlertStorageError,
    StorageFullError,
    StorageUnavailableError,
)
from alert_storage.file import FileStorage
from alert_storage.memory import MemoryStorage
from alert_storage.model import Alert, StoreResult
from alert_storage.policy import StoragePolicy
from alert_storage.redact import redact_text
from alert_storage.redis_storage import RedisStorage

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"
MAX_TRANSITIONS = 100
# Bulk replay passes before the gated one, and the size at which to stop early.
BULK_PASSES = 3
STRAGGLERS = 100
_T = TypeVar("_T")


class CascadeStorage(AlertStorage):
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
        self._cond = threading.Condition(threading.Lock())
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
        with self._cond:
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
        with self._cond:
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

    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]:
        def call(tier: _Tier) -> list[StoreResult]:
            if len(alerts) == 1:
                # Every tier has the cascade's policy: the alert was checked.
                results = [tier.storage.store_checked(alerts[0])]
            else:
                results = tier.storage.store_many(alerts)
            if results and results[0].backend != tier.name:
                results = [replace(r, backend=tier.name) for r in results]
            return results

        return self._route("store", call)

    def _get(self, alert_id: str) -> Alert | None:
        return self._route("get", lambda tier: tier.storage.get(alert_id))

    def _get_active(self, query: ActiveQuery) -> list[Alert]:
        def call(tier: _Tier) -> list[Alert]:
            return tier.storage.get_active(
                severity=query.severity,
                source=query.source,
                since=query.since,
                until=query.until,
                limit=query.limit,
            )

        return self._route("get_active", call)

    def _resolve(self, fingerprint: str) -> bool:
        def call(tier: _Tier) -> bool:
            resolved = tier.storage.resolve(fingerprint)
            if not resolved and tier.index > 0:
                # A higher tier that is out of reach may hold the alert: keep
                # the resolve so that the replay applies it there.
                tier.storage.record_resolve_intent(fingerprint, tier.storage.clock())
            return resolved

        return self._route("resolve", call)

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge replayed items into the serving tier (see ``AlertStorage``)."""
        batch = list(items)
        self._route("import_replayed", lambda t: t.storage.import_replayed(batch))

    def _count_active(self) -> int:
        return self._route("count_active", lambda tier: tier.storage.count_active())

    # -- routing and the breaker ------------------------------------------------

    def _route(self, operation: str, call: Callable[[_Tier], _T]) -> _T:
        if self._timer() >= self._due:
            self._maybe_recover()
        errors: list[str] = []
        start = 0
        while True:
            tier = self._enter(start)
            if tier is None:
                break
            try:
                result = call(tier)
            except StorageUnavailableError as exc:
                errors.append(f"{tier.name}: {_describe(exc)}")
                self._failed(tier, exc)
                start = tier.index + 1
                continue
            finally:
                self._leave(tier)
            self._served(tier, fell_back=bool(errors))
            return result
        self._all_failed(operation, errors)

    def _served(self, tier: _Tier, *, fell_back: bool) -> None:
        with self._cond:
            tier.served += 1
            higher = self._tiers[: tier.index]
            if not fell_back and any(t.state is TierState.UP for t in higher):
                # A call under way while a higher tier took over again wrote
                # below it: schedule a replay of what it left there.
                self._sweep_at = min(
                    self._sweep_at, self._timer() + self.retry_interval
                )
                self._reschedule()

    def _enter(self, start: int) -> _Tier | None:
        with self._cond:
            if not self._gate_open:
                self._cond.wait_for(lambda: self._gate_open, self.drain_timeout)
            for tier in self._tiers[start:]:
                if tier.state is TierState.UP:
                    tier.in_flight += 1
                    return tier
        return None

    def _leave(self, tier: _Tier) -> None:
        with self._cond:
            tier.in_flight -= 1
            if tier.in_flight == 0:
                self._cond.notify_all()

    def _failed(self, tier: _Tier, exc: StorageUnavailableError) -> None:
        with self._cond:
            lower = self._tiers[tier.index + 1 :]
            if any(t.state is TierState.UP for t in lower):
                tier.fallbacks += 1
        if isinstance(exc, StorageFullError):
            # Full is a capacity limit, not an outage: the tier still serves
            # duplicates and reads, so its breaker stays closed.
            return
        self._trip(tier, exc, f"{tier.name} failed: {_describe(exc)}")

    def _all_failed(self, operation: str, errors: list[str]) -> NoReturn:
        with self._cond:
            states = [f"{t.name}: {t.state.value}" for t in self._tiers]
        detail = "; ".join(errors) if errors else ", ".join(states)
        logger.error("alert storage %s failed on every tier (%s)", operation, detail)
        raise StorageUnavailableError(
            f"every storage tier failed for {operation} ({detail})"
        )

    def _trip(self, tier: _Tier, exc: BaseException, why: str) -> None:
        now = self._timer()
        with self._cond:
            tier.last_error = _describe(exc)
            if tier.state is TierState.DOWN:
                return
            tier.state = TierState.DOWN
            tier.changed_at = now
            tier.next_probe = now + self._delay(tier.probe_failures)
            logger.warning(
                "alert storage tier %s is unavailable: %s", tier.name, tier.last_error
            )
            self._update_mode(why)
            self._reschedule()

    def _delay(self, failures: int) -> float:
        growth = 2.0 ** min(failures, 32)
        base = min(self.max_retry_interval, self.retry_interval * growth)
        jittered = base * (1.0 - self.jitter * self._random.random())
        return max(min(self.retry_interval, base), jittered)

    def _serving_name(self) -> str:
        tier = next((t for t in self._tiers if t.state is TierState.UP), None)
        return tier.name if tier is not None else UNAVAILABLE

    def _update_mode(self, why: str) -> None:
        """Record a transition if the serving tier changed (lock held)."""
        new = self._serving_name()
        old = self._mode
        if new == old:
            return
        now = self._timer()
        self._mode = new
        self._transitions.append(Transition(old, new, time.time(), why))
        key = (old, new)
        self._transition_counts[key] = self._transition_counts.get(key, 0) + 1
        degraded = new != self._tiers[0].name
        if degraded and self._degraded_since is None:
            self._degraded_since = now
        elif not degraded and self._degraded_since is not None:
            self._degraded_total += now - self._degraded_since
            self._degraded_since = None
        logger.warning("alert storage now served by %s (was %s): %s", new, old, why)

    def _reschedule(self) -> None:
        """Compute when the next probe or replay is due (lock held)."""
        due = self._sweep_at
        for tier in self._tiers:
            if tier.state is TierState.DOWN:
                due = min(due, tier.next_probe)
            elif tier.state is TierState.RECOVERING:
                due = float("-inf")
        self._due = due

    # -- probes and replay --------------------------------------------------------

    def _maybe_recover(self) -> None:
        if not self._probe_lock.acquire(blocking=False):
            return
        try:
            self._recover(force=False)
        finally:
            self._probe_lock.release()

    def _recover(self, *, force: bool) -> None:
        """Probe due tiers and replay into the highest reachable one (probe lock)."""
        now = self._timer()
        for tier in self._tiers:
            if tier.state is TierState.DOWN and (force or tier.next_probe <= now):
                self._probe_tier(tier)
        with self._cond:
            sweep = force or self._sweep_at <= now
            self._sweep_at = float("inf")
        while True:
            target = next(
                (t for t in self._tiers if t.state is not TierState.DOWN), None
            )
            if target is None:
                break
            sources = [
                t
                for t in self._tiers[target.index + 1 :]
                if t.state is not TierState.DOWN
            ]
            settled = target.state is TierState.UP and all(
                t.state is TierState.UP for t in sources
            )
            if (settled and not sweep) or self._replay(target, sources):
                break
        with self._cond:
            self._reschedule()

    def _probe_tier(self, tier: _Tier) -> None:
        if tier.storage.ping():
            with self._cond:
                tier.state = TierState.RECOVERING
                tier.changed_at = self._timer()
            logger.info("alert storage tier %s answers again", tier.name)
            return
        now = self._timer()
        with self._cond:
            tier.probe_failures += 1
            tier.next_probe = now + self._delay(tier.probe_failures)

    def _replay(self, target: _Tier, sources: list[_Tier]) -> bool:
        """Replay ``sources`` into ``target`` and let it serve; False on failure."""
        moved = 0
        switching = target.state is not TierState.UP
        try:
            for _ in range(BULK_PASSES if switching else 0):
                # Bulk passes while the lower tier keeps serving, so that the
                # gated pass below only has the stragglers left to move.
                bulk = self._replay_pass(target, sources)
                moved += bulk
                if bulk <= STRAGGLERS:
                    break
            with self._gated(sources) if switching else contextlib.nullcontext():
                moved += self._replay_pass(target, sources)
                self._promote(target, sources, moved)
        except AlertStorageError as exc:
            with self._cond:
                self._replay_failures += 1
            logger.warning(
                "replay into alert storage tier %s failed: %s",
                target.name,
                _describe(exc),
            )
            self._trip(target, exc, f"replay into {target.name} failed")
            return False
        self._sweep_if_left(sources)
        return True

    def _sweep_if_left(self, sources: list[_Tier]) -> None:
        """Schedule another replay if calls wrote below after the last pass."""
        left = 0
        for source in sources:
            with contextlib.suppress(StorageUnavailableError):
                left += source.storage.count_pending()
        if left:
            with self._cond:
                self._sweep_at = min(
                    self._sweep_at, self._timer() + self.retry_interval
                )
                self._reschedule()

    def _replay_pass(self, target: _Tier, sources: list[_Tier]) -> int:
        """Export from every source, import into target, discard; return count."""
        exported: list[tuple[_Tier, list[ReplayItem]]] = []
        for source in sources:
            try:
                items = source.storage.export_pending()
            except StorageUnavailableError as exc:
                self._trip(source, exc, f"export from {source.name} failed")
                continue
            if items:
                exported.append((source, items))
        merged = list(heapq.merge(*(items for _, items in exported), key=replay_time))
        for start in range(0, len(merged), MAX_BATCH):
            target.storage.import_replayed(merged[start : start + MAX_BATCH])
        for source, items in exported:
            try:
                source.storage.discard_replayed(items)
            except StorageUnavailableError as exc:
                # Imports are idempotent: what was not discarded is merged
                # again, without double counting, on the next replay.
                self._trip(source, exc, f"discard in {source.name} failed")
        with self._cond:
            self._replayed += len(merged)
        return len(merged)

    @contextlib.contextmanager
    def _gated(self, sources: list[_Tier]) -> Iterator[None]:
        """Hold new calls back and wait for calls running on ``sources``."""
        with self._cond:
            self._gate_open = False
            drained = self._cond.wait_for(
                lambda: all(t.in_flight == 0 for t in sources), self.drain_timeout
            )
        if not drained:
            logger.info("replay went ahead with calls still running below")
        try:
            yield
        finally:
            with self._cond:
                self._gate_open = True
                self._cond.notify_all()

    def _promote(self, target: _Tier, sources: list[_Tier], moved: int) -> None:
        now = self._timer()
        with self._cond:
            for tier in [target, *sources]:
                if tier.state is TierState.RECOVERING:
                    tier.state = TierState.UP
                    tier.probe_failures = 0
                    tier.changed_at = now
            self._update_mode(f"{target.name} recovered; replayed {moved} items")
            self._reschedule()

    def _adopt_leftovers(self) -> None:
        """Hold back the tiers above one that still holds items (a past outage)."""
        lowest = -1
        for tier in self._tiers[1:]:
            try:
                tier.pending = tier.storage.count_pending()
            except StorageUnavailableError as exc:
                self._trip(tier, exc, f"{tier.name} failed: {_describe(exc)}")
                continue
            if tier.pending:
                lowest = tier.index
        for tier in self._tiers[: max(lowest, 0)]:
            if tier.state is TierState.UP:
                tier.state = TierState.RECOVERING
        if lowest > 0:
            logger.warning(
                "alert storage tier %s holds %d items from an earlier outage; "
                "they are replayed before the higher tiers serve",
                self._tiers[lowest].name,
                self._tiers[lowest].pending,
            )
        with self._cond:
            self._reschedule()

    def _count_pending_all(self) -> int:
        total = 0
        for tier in self._tiers[1:]:
            if tier.state is not TierState.DOWN:
                try:
                    tier.pending = tier.storage.count_pending()
                except StorageUnavailableError as exc:
                    self._trip(tier, exc, f"{tier.name} failed: {_describe(exc)}")
            total += tier.pending
        return total


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
