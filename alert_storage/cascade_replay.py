"""The cascade's breaker transitions, recovery probes and replay into a tier."""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from alert_storage.base import MAX_BATCH, ReplayItem, replay_time
from alert_storage.cascade_parts import TierState, Transition, _Tier, describe
from alert_storage.errors import AlertStorageError, StorageUnavailableError

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"
# Bulk replay passes before the gated one, and the size at which to stop early.
BULK_PASSES = 3
STRAGGLERS = 100


class RecoveryMixin:
    """Trips and probes tiers, and replays what lower tiers hold into a higher one.

    Mixed into ``CascadeStorage``, which sets every attribute declared here.
    Methods whose docstring says "lock held" expect ``_lock`` (the lock of
    ``_cond``) to be held; the probe lock serialises recoveries.
    """

    retry_interval: float
    max_retry_interval: float
    jitter: float
    drain_timeout: float
    _timer: Callable[[], float]
    _random: random.Random
    _lock: threading.Lock
    _cond: threading.Condition
    _probe_lock: threading.Lock
    _gate_open: bool
    _tiers: list[_Tier]
    _mode: str
    _transitions: deque[Transition]
    _transition_counts: dict[tuple[str, str], int]
    _replayed: int
    _replay_failures: int
    _degraded_total: float
    _degraded_since: float | None
    _sweep_at: float
    _due: float

    # -- breaker transitions ----------------------------------------------------

    def _trip(self, tier: _Tier, exc: BaseException, why: str) -> None:
        now = self._timer()
        with self._lock:
            tier.last_error = describe(exc)
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

    def _sweep_soon(self) -> None:
        """Schedule a replay one retry interval from now (lock held)."""
        self._sweep_at = min(self._sweep_at, self._timer() + self.retry_interval)
        self._reschedule()

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
        with self._lock:
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
        with self._lock:
            self._reschedule()

    def _probe_tier(self, tier: _Tier) -> None:
        if tier.storage.ping():
            with self._lock:
                tier.state = TierState.RECOVERING
                tier.changed_at = self._timer()
            logger.info("alert storage tier %s answers again", tier.name)
            return
        now = self._timer()
        with self._lock:
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
            with self._lock:
                self._replay_failures += 1
            logger.warning(
                "replay into alert storage tier %s failed: %s",
                target.name,
                describe(exc),
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
            with self._lock:
                self._sweep_soon()

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
        merged = _merged(exported)
        for start in range(0, len(merged), MAX_BATCH):
            target.storage.import_replayed(merged[start : start + MAX_BATCH])
        for source, items in exported:
            try:
                source.storage.discard_replayed(items)
            except StorageUnavailableError as exc:
                # Imports are idempotent: what was not discarded is merged
                # again, without double counting, on the next replay.
                self._trip(source, exc, f"discard in {source.name} failed")
        with self._lock:
            self._replayed += len(merged)
        return len(merged)

    @contextlib.contextmanager
    def _gated(self, sources: list[_Tier]) -> Iterator[None]:
        """Hold new calls back and wait for calls running on ``sources``."""
        with self._lock:
            self._gate_open = False
            drained = self._cond.wait_for(
                lambda: all(t.in_flight == 0 for t in sources), self.drain_timeout
            )
        if not drained:
            logger.info("replay went ahead with calls still running below")
        try:
            yield
        finally:
            with self._lock:
                self._gate_open = True
                self._cond.notify_all()

    def _promote(self, target: _Tier, sources: list[_Tier], moved: int) -> None:
        now = self._timer()
        with self._lock:
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
                self._trip(tier, exc, f"{tier.name} failed: {describe(exc)}")
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
        with self._lock:
            self._reschedule()

    def _count_pending_all(self) -> int:
        total = 0
        for tier in self._tiers[1:]:
            if tier.state is not TierState.DOWN:
                try:
                    tier.pending = tier.storage.count_pending()
                except StorageUnavailableError as exc:
                    self._trip(tier, exc, f"{tier.name} failed: {describe(exc)}")
            total += tier.pending
        return total


def _merged(exported: list[tuple[_Tier, list[ReplayItem]]]) -> list[ReplayItem]:
    """The sources' items in one list, in replay order (stable across sources)."""
    if len(exported) == 1:
        # Each source exports in replay order already.
        return exported[0][1]
    return list(heapq.merge(*(items for _, items in exported), key=replay_time))
