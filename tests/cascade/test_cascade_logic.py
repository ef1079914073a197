"""Breaker, probing and replay logic of the cascade, over switchable memory tiers."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from typing import Any

import pytest

from alert_storage import (
    Alert,
    AlertStatus,
    InvalidAlertError,
    MemoryStorage,
    StoragePolicy,
    StorageUnavailableError,
    StoreStatus,
)
from alert_storage.cascade import CascadeStorage
from alert_storage.cascade_parts import TierState
from alert_storage.errors import ConfigurationError, StorageFullError
from alert_storage.testing import ManualClock

from .doubles import FlakyStorage

pytestmark = pytest.mark.cascade

RETRY = 1.0


def make_alert(n: int = 0, source: str = "api", **extra: Any) -> Alert:
    return Alert(
        "HighLatency", "warning", source, f"latency high on {n}", {"n": str(n)}, **extra
    )


class Setup:
    """Two or three flaky tiers, a cascade over them, and its clocks."""

    def __init__(self, tiers: int = 2, policy: StoragePolicy | None = None) -> None:
        self.clock = ManualClock()
        self.timer = ManualClock(0.0)
        names = ["primary", "secondary", "tertiary"][:tiers]
        self.tiers = [
            FlakyStorage(name, policy=policy, clock=self.clock) for name in names
        ]
        self.cascade = CascadeStorage(
            self.tiers,
            retry_interval=RETRY,
            max_retry_interval=8.0,
            jitter=0.0,
            timer=self.timer,
        )

    @property
    def top(self) -> FlakyStorage:
        return self.tiers[0]

    @property
    def low(self) -> FlakyStorage:
        return self.tiers[1]

    def recover(self) -> None:
        """Bring every tier back and let the next call probe them."""
        for tier in self.tiers:
            tier.up = True
        self.timer.advance(1000.0)
        self.cascade.count_active()


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_healthy_cascade_serves_from_first_tier(setup: Setup) -> None:
    """With every tier up, calls go to the first tier only."""
    result = setup.cascade.store(make_alert())

    assert result.backend == "primary"
    assert setup.cascade.mode == "primary"
    assert setup.low.calls == 0
    assert setup.top.count_active() == 1


def test_failure_falls_back_within_the_same_call(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing tier's call is served by the next tier, and a WARNING is logged."""
    setup.top.up = False
    caplog.set_level(logging.WARNING, logger="alert_storage.cascade")

    result = setup.cascade.store(make_alert())

    assert result.status is StoreStatus.STORED
    assert result.backend == "secondary"
    assert setup.cascade.mode == "secondary"
    transitions = setup.cascade.metrics()["transitions"]
    assert [(t["from"], t["to"]) for t in transitions] == [("primary", "secondary")]
    assert "switched off" in transitions[0]["why"]
    assert any(
        r.levelno == logging.WARNING and "secondary" in r.getMessage()
        for r in caplog.records
    )


def test_breaker_skips_a_failed_tier_until_the_retry_interval(setup: Setup) -> None:
    """After one failure the tier is not called again before its probe is due."""
    setup.top.up = False
    setup.cascade.store(make_alert(0))
    calls_after_trip = setup.top.calls

    for n in range(1, 20):
        setup.cascade.store(make_alert(n))
    setup.timer.advance(RETRY * 0.99)
    setup.cascade.store(make_alert(99))

    assert setup.top.calls == calls_after_trip
    assert setup.top.pings == 0
    assert setup.low.count_active() == 21


def test_probes_back_off_up_to_the_maximum(setup: Setup) -> None:
    """Probe delays double from retry_interval and stop growing at the maximum."""
    setup.top.up = False
    setup.cascade.store(make_alert())
    probe_times: list[float] = []

    for _ in range(200):
        setup.timer.advance(0.25)
        before = setup.top.pings
        setup.cascade.count_active()
        if setup.top.pings > before:
            probe_times.append(setup.timer())

    gaps = [b - a for a, b in itertools.pairwise(probe_times)]
    assert probe_times[0] == pytest.approx(RETRY)
    assert gaps[:4] == pytest.approx([2.0, 4.0, 8.0, 8.0])
    assert max(gaps) == pytest.approx(8.0)


def test_jitter_shortens_delays_within_its_fraction() -> None:
    """With jitter, a delay lies between (1 - jitter) of its base and the base."""
    cascade = CascadeStorage(
        [FlakyStorage("a"), FlakyStorage("b")],
        retry_interval=1.0,
        max_retry_interval=60.0,
        jitter=0.5,
    )

    delays = [cascade._delay(3) for _ in range(500)]

    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100
    assert all(cascade._delay(0) == 1.0 for _ in range(20))


def test_only_one_caller_probes_and_the_others_do_not_wait(setup: Setup) -> None:
    """While one call probes a slow tier, other calls are served by the lower tier."""
    setup.top.up = False
    setup.cascade.store(make_alert(0))
    setup.timer.advance(RETRY)
    setup.top.ping_release = threading.Event()
    prober = threading.Thread(target=setup.cascade.count_active)
    prober.start()
    assert setup.top.ping_started.wait(5)

    results = [setup.cascade.store(make_alert(n)) for n in range(1, 6)]

    setup.top.ping_release.set()
    prober.join(5)
    assert setup.top.pings == 1
    assert {r.backend for r in results} == {"secondary"}


def test_recovery_replays_then_serves_from_the_higher_tier(setup: Setup) -> None:
    """What the lower tier accepted is in the higher tier once it serves again."""
    setup.top.up = False
    stored = [setup.cascade.store(make_alert(n)) for n in range(5)]
    setup.cascade.store(make_alert(0))

    setup.recover()

    assert setup.cascade.mode == "primary"
    assert setup.low.count_pending() == 0
    assert setup.top.count_active() == 5
    first = setup.top.get(stored[0].alert_id or "")
    assert first is not None
    assert first.count == 2
    assert setup.cascade.store(make_alert(0)).count == 3
    assert setup.cascade.metrics()["replayed"] == 5


def test_stores_during_the_replay_are_replayed_before_switching(
    setup: Setup,
) -> None:
    """A store that lands below while the bulk replay runs still goes up."""
    setup.top.up = False
    setup.cascade.store(make_alert(1))
    late: list[Any] = []

    def store_meanwhile() -> None:
        worker = threading.Thread(
            target=lambda: late.append(setup.cascade.store(make_alert(2)))
        )
        worker.start()
        worker.join(5)

    setup.top.on_import = store_meanwhile
    setup.recover()

    assert [r.backend for r in late] == ["secondary"]
    assert sorted(a.labels["n"] for a in setup.top.get_active()) == ["1", "2"]
    assert setup.low.count_pending() == 0


def test_replay_keeps_the_original_order(setup: Setup) -> None:
    """Alerts replayed into the higher tier keep their first_seen order."""
    setup.top.up = False
    for n in range(4):
        setup.cascade.store(make_alert(n))
        setup.clock.advance(1.0)

    setup.recover()

    active = setup.top.get_active(limit=10)
    assert [a.labels["n"] for a in active] == ["3", "2", "1", "0"]
    assert [a.first_seen for a in active] == sorted(
        (a.first_seen for a in active), reverse=True
    )


def test_replayed_duplicate_adds_counts_to_the_firing_alert(setup: Setup) -> None:
    """An alert firing in the higher tier absorbs the outage's counts: one alert."""
    for _ in range(3):
        setup.cascade.store(make_alert(7))
    setup.top.up = False
    told = [setup.cascade.store(make_alert(7)).count for _ in range(2)]

    setup.recover()

    assert told == [1, 2]
    active = setup.top.get_active()
    assert len(active) == 1
    assert active[0].count == 5


def test_replaying_twice_changes_nothing(setup: Setup) -> None:
    """A second replay of the same items leaves the higher tier unchanged."""
    setup.top.up = False
    setup.cascade.store(make_alert(1))
    setup.cascade.store(make_alert(1))
    items = setup.low.export_pending()

    setup.recover()
    setup.top.import_replayed(items)
    setup.cascade.probe()

    active = setup.top.get_active()
    assert [(a.count, a.labels["n"]) for a in active] == [(2, "1")]


def test_interrupted_replay_resumes_without_loss_or_double_count(
    setup: Setup,
) -> None:
    """A failure halfway through the replay is retried later; counts stay exact."""
    setup.top.up = False
    for n in range(6):
        for _ in range(n + 1):
            setup.cascade.store(make_alert(n))
    setup.top.up = True
    setup.top.fail_import_after = 3
    setup.timer.advance(RETRY)

    setup.cascade.count_active()

    assert setup.cascade.mode == "secondary"
    assert setup.cascade.metrics()["replay_failures"] == 1
    assert setup.cascade.health()["tiers"][0]["state"] == "down"
    setup.cascade.store(make_alert(0))
    setup.recover()
    assert setup.cascade.mode == "primary"
    counts = {a.labels["n"]: a.count for a in setup.top.get_active()}
    assert counts == {"0": 2, "1": 2, "2": 3, "3": 4, "4": 5, "5": 6}
    assert setup.low.count_pending() == 0


def test_resolve_during_an_outage_is_replayed(setup: Setup) -> None:
    """Resolving an alert only the unreachable tier holds resolves it on recovery."""
    fingerprint = setup.cascade.store(make_alert(1)).fingerprint
    setup.top.up = False

    answer = setup.cascade.resolve(fingerprint)

    assert answer is False
    setup.clock.advance(1.0)
    setup.recover()
    assert setup.top.get_active() == []
    assert setup.cascade.store(make_alert(1)).status is StoreStatus.STORED


def test_resolve_of_an_alert_stored_during_the_outage(setup: Setup) -> None:
    """An alert stored and resolved during the outage arrives resolved."""
    setup.cascade.store(make_alert(2))
    setup.top.up = False
    result = setup.cascade.store(make_alert(2))
    setup.clock.advance(1.0)

    assert setup.cascade.resolve(result.fingerprint) is True

    setup.recover()
    assert setup.top.get_active() == []
    merged = setup.cascade.get(result.alert_id or "")
    assert merged is not None
    assert merged.status is AlertStatus.RESOLVED
    assert merged.count == 2


def test_caller_errors_propagate_without_fallback(setup: Setup) -> None:
    """An InvalidAlertError from a tier is the caller's: no fallback, no trip."""
    setup.top.reject_stores = True

    with pytest.raises(InvalidAlertError):
        setup.cascade.store(make_alert())

    assert setup.cascade.mode == "primary"
    assert setup.low.calls == 0
    assert setup.cascade.metrics()["fallbacks"] == 0


def test_invalid_alert_is_refused_before_any_tier(setup: Setup) -> None:
    """The cascade checks the policy itself, so no tier is called."""
    huge = Alert("Big", "info", "api", "x" * 20000)

    with pytest.raises(InvalidAlertError):
        setup.cascade.store(huge)

    assert setup.top.calls == 0


def test_every_tier_failing_raises_unavailable(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Only when every tier fails does the caller get StorageUnavailableError."""
    setup.top.up = False
    setup.low.up = False

    with pytest.raises(StorageUnavailableError, match="every storage tier failed"):
        setup.cascade.store(make_alert())

    assert setup.cascade.mode == "unavailable"
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    with pytest.raises(StorageUnavailableError):
        setup.cascade.count_active()


def test_full_tier_falls_back_without_opening_its_breaker() -> None:
    """StorageFullError passes the call down but leaves the tier serving."""
    full = MemoryStorage(max_alerts=1)
    cascade = CascadeStorage([full, MemoryStorage()], jitter=0.0)
    cascade.store(make_alert(1))

    result = cascade.store(make_alert(2))

    assert result.backend == "memory-2"
    assert cascade.mode == "memory"
    assert cascade.store(make_alert(1)).status is StoreStatus.DUPLICATE
    single = CascadeStorage([MemoryStorage(max_alerts=1)])
    single.store(make_alert(1))
    with pytest.raises(StorageUnavailableError) as info:
        single.store(make_alert(2))
    assert StorageFullError.__name__ in str(info.value)


def test_three_tiers_recover_from_the_bottom_up() -> None:
    """Memory replays into the middle tier first, then the middle into the top."""
    s = Setup(tiers=3)
    s.tiers[0].up = False
    s.cascade.store(make_alert(1))
    s.tiers[1].up = False
    s.cascade.store(make_alert(1))
    s.cascade.store(make_alert(2))
    assert s.cascade.mode == "tertiary"

    s.tiers[1].up = True
    s.timer.advance(1000.0)
    s.cascade.count_active()

    assert s.cascade.mode == "secondary"
    assert {a.labels["n"]: a.count for a in s.tiers[1].get_active()} == {
        "1": 2,
        "2": 1,
    }
    s.recover()
    assert s.cascade.mode == "primary"
    assert {a.labels["n"]: a.count for a in s.tiers[0].get_active()} == {
        "1": 2,
        "2": 1,
    }
    assert s.tiers[1].count_pending() == s.tiers[2].count_pending() == 0


def test_lower_tier_down_at_recovery_is_replayed_when_it_returns() -> None:
    """Items of a tier still down when the top recovers arrive once it is back."""
    s = Setup(tiers=3)
    s.tiers[0].up = False
    s.cascade.store(make_alert(1))
    s.tiers[1].up = False
    s.cascade.store(make_alert(2))
    s.tiers[0].up = True
    s.timer.advance(1000.0)
    s.cascade.count_active()
    assert s.cascade.mode == "primary"
    assert [a.labels["n"] for a in s.tiers[0].get_active()] == ["2"]

    s.recover()

    assert sorted(a.labels["n"] for a in s.tiers[0].get_active()) == ["1", "2"]
    assert s.tiers[1].count_pending() == 0


def test_rate_limit_window_restarts_in_the_lower_tier() -> None:
    """A source's rate window starts afresh in the lower tier; replay drops nothing."""
    s = Setup(policy=StoragePolicy(rate_limit=2, rate_window=60))
    first = [s.cascade.store(make_alert(n)).status for n in range(3)]
    s.top.up = False

    during = [s.cascade.store(make_alert(n)).status for n in range(10, 13)]

    assert first[2] is StoreStatus.RATE_LIMITED
    assert during == [StoreStatus.STORED, StoreStatus.STORED, StoreStatus.RATE_LIMITED]
    s.recover()
    assert s.top.count_active() == 4
    again = s.cascade.store(make_alert(20))
    assert again.status is StoreStatus.RATE_LIMITED


def test_dedup_restarts_in_the_lower_tier(setup: Setup) -> None:
    """During an outage a fingerprint firing above is STORED anew below (count 1)."""
    setup.cascade.store(make_alert(5))
    setup.top.up = False

    result = setup.cascade.store(make_alert(5))

    assert (result.status, result.count) == (StoreStatus.STORED, 1)
    setup.recover()
    assert [a.count for a in setup.top.get_active()] == [2]


def test_reads_during_an_outage_come_from_the_serving_tier(setup: Setup) -> None:
    """Reads see only the serving tier; ids from either tier resolve after recovery."""
    before = setup.cascade.store(make_alert(1))
    setup.top.up = False
    during = setup.cascade.store(make_alert(2))

    assert setup.cascade.get(before.alert_id or "") is None
    assert [a.labels["n"] for a in setup.cascade.get_active()] == ["2"]
    assert setup.cascade.count_active() == 1

    setup.recover()
    assert setup.cascade.count_active() == 2
    found = setup.cascade.get(during.alert_id or "")
    assert found is not None
    assert found.labels["n"] == "2"


def test_leftovers_are_replayed_before_the_higher_tier_serves() -> None:
    """Items a lower tier holds at start (an earlier outage) go up first."""
    clock = ManualClock()
    low = FlakyStorage("secondary", clock=clock)
    low.store(make_alert(1))
    top = FlakyStorage("primary", clock=clock)

    cascade = CascadeStorage([top, low], jitter=0.0, timer=ManualClock(0.0))

    assert cascade.mode == "secondary"
    assert cascade.health()["tiers"][0]["state"] == "recovering"
    assert cascade.store(make_alert(1)).backend == "primary"
    assert [a.count for a in top.get_active()] == [2]
    assert low.count_pending() == 0


def test_metrics_and_health_report_the_outage(setup: Setup) -> None:
    """metrics() and health() give counts, transitions, degraded time and pending."""
    setup.cascade.store(make_alert(0))
    setup.top.up = False
    setup.cascade.store(make_alert(1))
    setup.cascade.store(make_alert(2))
    setup.timer.advance(2.5)
    health = setup.cascade.health()
    degraded = setup.cascade.metrics()

    setup.recover()
    healed = setup.cascade.metrics()

    assert health["mode"] == "secondary"
    assert health["degraded"] is True
    assert health["tiers"][0]["state"] == "down"
    assert "switched off" in health["tiers"][0]["last_error"]
    assert health["tiers"][0]["seconds_since_change"] == pytest.approx(2.5)
    assert degraded["pending_replay"] == 2
    assert degraded["degraded_seconds"] == pytest.approx(2.5)
    assert degraded["fallbacks"] == 1
    assert degraded["tiers"]["primary"]["operations"]["store"]["errors"] == 1
    assert degraded["tiers"]["secondary"]["operations"]["store"]["count"] == 2
    assert set(degraded["operations"]["store"]) >= {"count", "p50_ms", "p95_ms"}
    assert healed["pending_replay"] == 0
    assert healed["replayed"] == 2
    assert healed["transitions_total"] == 2
    assert healed["degraded_seconds"] == pytest.approx(1002.5)
    assert [t["to"] for t in healed["transitions"]] == ["secondary", "primary"]
    assert setup.cascade.health()["degraded"] is False


def test_concurrent_stores_through_outages_keep_exact_counts() -> None:
    """Threads storing while the top tier flaps: one alert per fingerprint, exact.

    Each replay empties the lower tier, so the next outage stores the same
    fingerprints there as new alerts again, each one an admission against the
    source's limit there: the limit is set out of reach so that every store is
    accepted and the counts can be exact.
    """
    s = Setup(policy=StoragePolicy(rate_limit=1_000_000))
    told: Counter[str] = Counter()
    highest: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(seed: int) -> None:
        for i in range(300):
            result = s.cascade.store(make_alert((seed * 7 + i) % 10))
            assert result.status is not StoreStatus.RATE_LIMITED
            with lock:
                told[result.fingerprint] += 1
                highest[result.fingerprint] = max(
                    highest.get(result.fingerprint, 0), result.count
                )

    def flapper() -> None:
        while not stop.is_set():
            s.top.up = not s.top.up
            s.timer.advance(RETRY)
            stop.wait(0.002)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    flap = threading.Thread(target=flapper)
    flap.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stop.set()
    flap.join(5)
    s.recover()
    s.cascade.probe()

    active = s.top.get_active(limit=100)
    assert len(active) == len({a.fingerprint for a in active}) == 10
    assert {a.fingerprint: a.count for a in active} == dict(told)
    assert all(a.count >= highest[a.fingerprint] for a in active)
    assert s.low.count_pending() == 0
    assert s.cascade.metrics()["transitions_total"] >= 2


def test_configuration_is_checked() -> None:
    """Bad tiers and intervals raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        CascadeStorage([])
    with pytest.raises(ConfigurationError, match="policy"):
        CascadeStorage([MemoryStorage(), MemoryStorage(policy=StoragePolicy(10))])
    with pytest.raises(ConfigurationError):
        CascadeStorage([MemoryStorage()], retry_interval=0)
    with pytest.raises(ConfigurationError):
        CascadeStorage([MemoryStorage()], retry_interval=5, max_retry_interval=1)
    with pytest.raises(ConfigurationError):
        CascadeStorage([MemoryStorage()], jitter=2)


def test_close_logs_what_memory_still_holds(caplog: pytest.LogCaptureFixture) -> None:
    """Closing while memory holds unreplayed alerts says how many are lost."""
    cascade = CascadeStorage([FlakyStorage("a"), MemoryStorage()])
    cascade.tiers[0].up = False  # type: ignore[attr-defined]
    cascade.store(make_alert(1))

    cascade.close()

    assert "1 items pending replay in tier memory" in caplog.text
    assert [t.state for t in cascade._tiers] == [TierState.DOWN, TierState.UP]


def test_close_replays_memory_into_a_tier_that_came_back() -> None:
    """close() makes one last replay, so memory's alerts reach a recovered tier."""
    top = FlakyStorage("a")
    cascade = CascadeStorage([top, MemoryStorage()], timer=ManualClock(0.0))
    top.up = False
    cascade.store(make_alert(1))
    top.up = True

    cascade.close()

    assert [a.labels["n"] for a in top.get_active()] == ["1"]


def test_a_call_held_past_the_drain_timeout_is_replayed_later() -> None:
    """A store that gives up waiting at the switch lands below; a sweep moves it."""
    s = Setup()
    s.cascade.drain_timeout = 0.01
    s.top.up = False
    s.cascade.store(make_alert(1))
    late: list[Any] = []

    def store_in_a_thread(n: int) -> None:
        worker = threading.Thread(
            target=lambda: late.append(s.cascade.store(make_alert(n)))
        )
        worker.start()
        worker.join(5)

    def during_the_bulk_pass() -> None:
        store_in_a_thread(2)  # gives the gated pass something to import
        s.top.on_import = lambda: store_in_a_thread(3)

    s.top.on_import = during_the_bulk_pass
    s.recover()
    assert [r.backend for r in late] == ["secondary", "secondary"]
    assert s.cascade.mode == "primary"
    assert s.low.count_pending() == 1

    s.timer.advance(RETRY)
    s.cascade.count_active()

    assert sorted(a.labels["n"] for a in s.top.get_active()) == ["1", "2", "3"]
    assert s.low.count_pending() == 0


def test_ping_answers_for_the_cascade_and_trips_a_silent_tier(setup: Setup) -> None:
    """ping is True while any tier answers; a tier that does not is skipped."""
    setup.top.up = False

    assert setup.cascade.ping() is True
    assert setup.cascade.mode == "secondary"
    setup.low.up = False
    assert setup.cascade.ping() is False


def test_import_replayed_goes_to_the_serving_tier(setup: Setup) -> None:
    """A cascade takes replays like a backend: into the tier serving now."""
    donor = MemoryStorage(clock=setup.clock)
    donor.store(make_alert(4))
    setup.top.up = False

    setup.cascade.import_replayed(donor.export_pending())

    assert [a.labels["n"] for a in setup.low.get_active()] == ["4"]
    setup.recover()
    assert [a.labels["n"] for a in setup.top.get_active()] == ["4"]
