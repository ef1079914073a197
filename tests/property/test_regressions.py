"""Minimal failing examples the property tests found, kept as plain tests.

Each test pins a bug the state machines found, now fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from alert_storage import Alert, AlertStatus, Severity, StoragePolicy, StoreStatus
from alert_storage.testing import ManualClock

from .backends import open_cascade_backend


class _Outage:
    """A cascade over fakeredis whose Redis can be switched off and on."""

    def __init__(self, stack: ExitStack, policy: StoragePolicy) -> None:
        self.clock = ManualClock()
        self.cascade, self.server = open_cascade_backend(
            stack, policy=policy, clock=self.clock
        )

    def redis_down(self) -> None:
        self.server.connected = False

    def redis_back(self) -> None:
        self.server.connected = True
        assert self.cascade.probe() == "redis"


@pytest.fixture
def outage() -> Iterator[_Outage]:
    """A cascade with Redis up; the test takes it down and brings it back."""
    with ExitStack() as stack:
        yield _Outage(stack, StoragePolicy())


ALERT = Alert("disk_full", Severity.WARNING, "api", "disk is full")


@pytest.mark.cascade
@pytest.mark.fakeredis
def test_store_after_resolve_at_one_instant_stays_firing_after_replay(
    outage: _Outage,
) -> None:
    """A new alert stored after a resolve, at the same instant, is still firing.

    Found by the cascade state machine. During an outage the file tier
    resolves an alert and creates a new one for the same fingerprint at the
    same clock reading; the replay puts alerts before resolves of equal time,
    so the new alert is merged into the old one and resolved with it.
    """
    outage.redis_down()
    first = outage.cascade.store(ALERT)
    assert outage.cascade.resolve(ALERT.fingerprint)
    second = outage.cascade.store(ALERT)
    assert (first.status, second.status) == (StoreStatus.STORED, StoreStatus.STORED)

    outage.redis_back()

    [firing] = outage.cascade.get_active()
    assert firing.count == 1
    again = outage.cascade.get(str(second.alert_id))
    assert again is not None
    assert again.status is AlertStatus.FIRING


@pytest.mark.cascade
@pytest.mark.fakeredis
def test_missed_resolve_then_store_at_one_instant_stays_firing(
    outage: _Outage,
) -> None:
    """The same ordering bug through a resolve the file tier could not serve.

    The alert fires in Redis; during the outage a resolve is recorded as an
    intent, then the alert is stored again at the same clock reading. After
    the replay the new store must be firing.
    """
    outage.cascade.store(ALERT)
    outage.redis_down()
    assert not outage.cascade.resolve(ALERT.fingerprint)
    again = outage.cascade.store(ALERT)
    assert again.status is StoreStatus.STORED

    outage.redis_back()

    assert [a.fingerprint for a in outage.cascade.get_active()] == [ALERT.fingerprint]


@pytest.mark.cascade
@pytest.mark.fakeredis
def test_alert_past_retention_is_not_replayed_but_its_resolve_is() -> None:
    """An alert gone from the file tier by retention adds no admission in Redis.

    Found by the thorough profile: with ``retention=0`` an alert stored and
    resolved during an outage was still exported, so the replay created it in
    Redis with an admission at its first sighting, and the next new alert of
    its source was rate limited although the source had no live admission.
    """
    policy = StoragePolicy(dedup_window=2.0, rate_limit=1, rate_window=1.5, retention=0)
    with ExitStack() as stack:
        outage = _Outage(stack, policy)
        outage.redis_down()
        assert outage.cascade.store(ALERT).status is StoreStatus.STORED
        assert outage.cascade.resolve(ALERT.fingerprint)
        outage.redis_back()
        outage.redis_down()
        outage.redis_back()

        again = outage.cascade.store(ALERT)

    assert again.status is StoreStatus.STORED
    assert again.count == 1
