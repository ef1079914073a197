"""Cluster and Sentinel URL parsing, and explicit reads across namespaces."""

from __future__ import annotations

import pytest

from alert_storage import (
    Alert,
    ConfigurationError,
    MemoryStorage,
    RedisStorage,
    Severity,
)
from alert_storage.scaling import get_active_across, parse_scaling_url
from alert_storage.testing import ManualClock

pytestmark = pytest.mark.cluster


def test_cluster_url_with_several_seeds() -> None:
    """Every seed node is kept; credentials go to the data nodes; db is 0."""
    parts = parse_scaling_url(
        "redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002"
    )
    assert parts.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (parts.username, parts.password, parts.service, parts.db) == (
        "u",
        "p@ss",
        "",
        0,
    )


def test_sentinel_url_with_service_and_db() -> None:
    """Sentinels default to port 26379; the path names the service and the db."""
    parts = parse_scaling_url("REDIS+SENTINEL://s1,s2:5000/mymaster/2")
    assert parts.scheme == "redis+sentinel"
    assert parts.nodes == (("s1", 26379), ("s2", 5000))
    assert (parts.service, parts.db, parts.password) == ("mymaster", 2, None)


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://:hunter2@h:1/3",
        "redis+cluster://:hunter2@h:notaport",
        "redis+cluster://:hunter2@h:1,,h:2",
        "redis+cluster://:hunter2@h:1?ssl=true",
        "redis+sentinel://:hunter2@h:1",
        "redis+sentinel://:hunter2@h:1/svc/x",
        "redis+sentinel://:hunter2@h:1/svc/0/extra",
        "redis://:hunter2@h:1",
    ],
    ids=[
        "cluster-db",
        "bad-port",
        "empty-node",
        "query",
        "no-service",
        "bad-db",
        "long-path",
        "plain-scheme",
    ],
)
def test_bad_urls_are_rejected_without_the_password(url: str) -> None:
    """A malformed URL raises ConfigurationError whose message hides the password."""
    with pytest.raises(ConfigurationError) as info:
        parse_scaling_url(url)
    assert "hunter2" not in str(info.value)


def test_unreachable_cluster_is_a_configuration_error() -> None:
    """No answering seed node: ConfigurationError, not a raw driver error."""
    with pytest.raises(ConfigurationError, match="no seed node") as info:
        RedisStorage(
            "redis+cluster://:hunter2@127.0.0.1:1",
            socket_timeout=0.1,
            connect_timeout=0.1,
        )
    assert "hunter2" not in str(info.value)


def test_get_active_across_merges_newest_first() -> None:
    """The explicit cross-namespace read merges by last_seen, then id, descending."""
    clock = ManualClock()
    tenants = [MemoryStorage(clock=clock) for _ in range(3)]
    stored = []
    for step in range(6):
        tenant = tenants[step % 3]
        stored.append(tenant.store(Alert(f"A{step}", Severity.CRITICAL, "api", "m")))
        clock.advance(1 if step != 3 else 0)
    got = get_active_across(tenants, limit=4)
    want = sorted(
        (a for t in tenants for a in t.get_active()),
        key=lambda a: (a.last_seen, a.id),
        reverse=True,
    )[:4]
    assert [a.id for a in got] == [a.id for a in want]
    assert got[0].id == stored[5].alert_id
    assert len(get_active_across(tenants, severity="warning")) == 0
