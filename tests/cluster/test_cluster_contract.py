"""The core semantics on a real Redis Cluster and a real Sentinel setup."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from alert_storage import (
    Alert,
    AlertStatus,
    MemoryStorage,
    RedisStorage,
    Severity,
    StoragePolicy,
    StoreStatus,
    open_storage,
)
from alert_storage.testing import ManualClock
from pytest_alertbench.cluster_servers import RedisClusterProcesses

pytestmark = pytest.mark.cluster

WINDOW = 10.0
RATE_WINDOW = 60.0
TINY = 1e-3
POLICY = StoragePolicy(
    dedup_window=WINDOW, rate_limit=3, rate_window=RATE_WINDOW, retention=100.0
)

Make = Callable[..., RedisStorage]


@pytest.fixture(params=["cluster", "sentinel"])
def scaled_url(request: pytest.FixtureRequest) -> str:
    """The URL of the module's cluster or Sentinel setup."""
    setup = "redis_cluster" if request.param == "cluster" else "sentinel_setup"
    url: str = request.getfixturevalue(setup).url
    return url


@pytest.fixture
def clock() -> ManualClock:
    """A clock tests move by hand."""
    return ManualClock()


@pytest.fixture
def storage(scaled_url: str, make_scaled: Make, clock: ManualClock) -> RedisStorage:
    """A storage with a 10 s window and 3 new alerts per source per minute."""
    return make_scaled(scaled_url, policy=POLICY, clock=clock)


def alert(name: str = "HighCPU", source: str = "api", **fields: str) -> Alert:
    """An alert with defaults; ``severity`` and ``message`` may be overridden."""
    return Alert(
        name=name,
        severity=Severity.parse(fields.get("severity", "critical")),
        source=source,
        message=fields.get("message", "cpu above 90%"),
        labels={"instance": "web-1"},
    )


def test_scaled_urls_build_the_right_clients(
    scaled_url: str, storage: RedisStorage
) -> None:
    """A cluster URL gives a RedisCluster client, a Sentinel URL a master client."""
    if scaled_url.startswith("redis+cluster"):
        assert isinstance(storage.client, RedisCluster)
    else:
        assert type(storage.client) is redis.Redis
        assert "SentinelConnectionPool" in repr(storage.client)
    assert storage.ping()


def test_store_get_and_dedup(storage: RedisStorage, clock: ManualClock) -> None:
    """A store reads back; a repeat inside the window is a DUPLICATE with count 2."""
    first = storage.store(alert(message="one"))
    clock.advance(3)
    second = storage.store(alert(message="two"))
    assert first.status is StoreStatus.STORED
    assert second.status is StoreStatus.DUPLICATE
    assert second.alert_id == first.alert_id
    got = storage.get(first.alert_id or "")
    assert got is not None
    assert (got.count, got.message, got.first_seen) == (2, "two", clock() - 3)


def test_dedup_window_edge_is_exclusive(
    storage: RedisStorage, clock: ManualClock
) -> None:
    """Just before last_seen + window: duplicate; exactly at it: a new alert."""
    first = storage.store(alert())
    clock.advance(WINDOW - TINY)
    assert storage.store(alert()).status is StoreStatus.DUPLICATE
    clock.advance(WINDOW)
    fresh = storage.store(alert())
    assert fresh.status is StoreStatus.STORED
    assert fresh.alert_id != first.alert_id


def test_rate_limit_per_source(storage: RedisStorage, clock: ManualClock) -> None:
    """The 4th new alert of a source in the window is RATE_LIMITED, others pass."""
    start = clock()
    for i in range(3):
        assert storage.store(alert(f"A{i}")).status is StoreStatus.STORED
        clock.advance(1)
    limited = storage.store(alert("A3"))
    assert limited.status is StoreStatus.RATE_LIMITED
    assert limited.retry_after == start + RATE_WINDOW - clock()
    assert storage.store(alert("A3", source="quiet")).status is StoreStatus.STORED
    clock.set(start + RATE_WINDOW)
    assert storage.store(alert("A3")).status is StoreStatus.STORED


def test_resolve_once(storage: RedisStorage) -> None:
    """resolve() is True once, then False; the alert stays readable, resolved."""
    result = storage.store(alert())
    assert storage.resolve(result.fingerprint) is True
    assert storage.resolve(result.fingerprint) is False
    got = storage.get(result.alert_id or "")
    assert got is not None and got.status is AlertStatus.RESOLVED
    assert storage.count_active() == 0


def test_get_active_filters(storage: RedisStorage, clock: ManualClock) -> None:
    """Newest first; severity, source, since, until and limit filter."""
    t0 = clock()
    a = storage.store(alert("A", source="s1"))
    clock.advance(1)
    b = storage.store(alert("B", source="s2", severity="warning"))
    clock.advance(1)
    c = storage.store(alert("C", source="s1", severity="warning"))

    def ids(**query: object) -> list[str | None]:
        return [x.id for x in storage.get_active(**query)]  # type: ignore[arg-type]

    assert ids() == [c.alert_id, b.alert_id, a.alert_id]
    assert ids(severity="warning") == [c.alert_id, b.alert_id]
    assert ids(source="s1", severity="warning") == [c.alert_id]
    assert ids(since=t0 + 0.5, until=t0 + 1.5) == [b.alert_id]
    assert ids(limit=1) == [c.alert_id]


def test_store_many_equals_memory(storage: RedisStorage, clock: ManualClock) -> None:
    """A batch on the cluster gives the statuses and counts memory gives."""
    reference = MemoryStorage(policy=POLICY, clock=clock)
    alerts = [alert(f"N{i % 7}", source=f"s{i % 2}") for i in range(30)]
    got = storage.store_many(alerts)
    want = [reference.store(a) for a in alerts]
    assert [(r.status, r.count) for r in got] == [(r.status, r.count) for r in want]
    assert storage.count_active() == reference.count_active()


def test_import_replayed_merges(storage: RedisStorage, clock: ManualClock) -> None:
    """Replayed alerts from a lower tier merge into the namespace, idempotently."""
    existing = storage.store(alert())
    lower = MemoryStorage(policy=POLICY, clock=clock)
    for _ in range(3):
        lower.store(alert(message="from outage"))
    items = lower.export_pending()
    storage.import_replayed(items)
    storage.import_replayed(items)
    merged = storage.get(existing.alert_id or "")
    assert merged is not None and merged.count == 4


def test_drop_removes_only_its_namespace(scaled_url: str, make_scaled: Make) -> None:
    """drop() scans every master and deletes this namespace's keys, no others."""
    mine, other = make_scaled(scaled_url), make_scaled(scaled_url)
    for i in range(5):
        mine.store(alert(f"M{i}", source=f"s{i}"))
    other.store(alert())
    assert mine.drop() > 5
    assert mine.count_active() == 0
    assert other.count_active() == 1


def test_namespaces_spread_over_every_master(
    redis_cluster: RedisClusterProcesses,
    make_scaled: Make,
    fresh_namespace: Callable[[], str],
) -> None:
    """Each namespace's keys share one slot, held by the master that owns it.

    One namespace is picked per master (by its hash tag's slot), so every
    master holds a namespace's data and none holds a key of another's.
    """
    masters = {node.port: node for node in redis_cluster.master_nodes()}
    chosen: dict[int, str] = {}
    base = fresh_namespace()
    for i in range(10_000):
        namespace = f"{base}-{i}"
        port = redis_cluster.node_for_key(f"as:{{{namespace}}}:i").port
        chosen.setdefault(port, namespace)
        if len(chosen) == len(masters):
            break
    assert set(chosen) == set(masters)
    for port, namespace in chosen.items():
        storage = make_scaled(redis_cluster.url, namespace=namespace)
        storage.store(alert(source="a"))
        storage.store(alert("Other", source="b", severity="info"))
        keys = list(storage.client.scan_iter(match=storage.prefix + "*"))
        assert len(keys) >= 5
        assert len({key_slot(key) for key in keys}) == 1
        with redis.Redis(port=port) as node:
            assert set(node.scan_iter(match=storage.prefix + "*")) == set(keys)
        for other in set(masters) - {port}:
            with redis.Redis(port=other) as node:
                assert list(node.scan_iter(match=storage.prefix + "*")) == []
    assert len(masters) == 3


def test_open_storage_accepts_scaled_urls(scaled_url: str) -> None:
    """open_storage builds a RedisStorage for cluster and Sentinel URLs."""
    storage = open_storage(scaled_url, namespace="cl-open", clock=ManualClock())
    try:
        assert isinstance(storage, RedisStorage)
        assert storage.store(alert()).status is StoreStatus.STORED
    finally:
        assert isinstance(storage, RedisStorage)
        storage.drop()
        storage.close()
