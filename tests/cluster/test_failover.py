"""A master killed with SIGKILL: redis-py's failover and the cascade lose nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alert_storage import Alert, Severity, StoragePolicy, StoreStatus
from alert_storage.cascade import CascadeStorage
from alert_storage.testing import ManualClock
from pytest_alertbench.cluster_servers import (
    RedisClusterProcesses,
    SentinelSetup,
    wait_replicated,
)

pytestmark = pytest.mark.cluster

# Rate limits and windows large enough that every distinct alert is STORED and
# stays firing for the whole test, so "not lost" means "still active".
POLICY = StoragePolicy(dedup_window=3600, rate_limit=10_000, rate_window=60)

OpenCascade = Callable[[str, str], CascadeStorage]


@pytest.fixture
def open_cascade(tmp_path: Path) -> Iterator[OpenCascade]:
    """Open cascades (Redis URL, file, memory) on one clock; closed at teardown."""
    clock = ManualClock()
    opened: list[CascadeStorage] = []

    def make(url: str, namespace: str) -> CascadeStorage:
        cascade = CascadeStorage.from_url(
            url,
            fallback_dir=tmp_path / namespace,
            namespace=namespace,
            policy=POLICY,
            clock=clock,
            retry_interval=0.05,
            max_retry_interval=0.2,
        )
        opened.append(cascade)
        return cascade

    yield make
    for cascade in opened:
        cascade.close()


def store_stream(cascade: CascadeStorage, tag: str, count: int) -> dict[str, str]:
    """Store ``count`` distinct alerts; return fingerprint -> backend per STORED."""
    stored = {}
    for i in range(count):
        result = cascade.store(
            Alert(f"{tag}-{i}", Severity.WARNING, f"src-{i % 5}", "disk filling")
        )
        assert result.status is StoreStatus.STORED
        stored[result.fingerprint] = result.backend
    return stored


def active_in_redis(cascade: CascadeStorage) -> set[str]:
    """Fingerprints firing in the cascade's Redis tier itself."""
    redis_tier = cascade.tiers[0]
    return {a.fingerprint for a in redis_tier.get_active(limit=10_000)}


def probe_until_redis(cascade: CascadeStorage, timeout: float = 10.0) -> str:
    """Probe until the Redis tier serves again (or the time is up).

    After a failover the first call on a pooled connection may still hit the
    dead master and fail; the next probe gets a fresh connection.
    """
    deadline = time.monotonic() + timeout
    mode = cascade.probe()
    while mode != cascade.health()["tiers"][0]["name"] and time.monotonic() < deadline:
        time.sleep(0.1)
        mode = cascade.probe()
    return mode


def test_cluster_master_killed_loses_no_stored_alert(
    redis_cluster: RedisClusterProcesses, open_cascade: OpenCascade
) -> None:
    """Only the dead shard's namespaces fall back; after failover all is in Redis."""
    cascades = {f"fo-{i}": open_cascade(redis_cluster.url, f"fo-{i}") for i in range(9)}
    owner = {ns: redis_cluster.node_for_key(f"as:{{{ns}}}:i").port for ns in cascades}
    victim = redis_cluster.node_for_key("as:{fo-0}:i")
    hit = {ns for ns, port in owner.items() if port == victim.port}
    assert hit and len(hit) < len(cascades)
    stored = {ns: store_stream(c, "before", 20) for ns, c in cascades.items()}
    wait_replicated(redis_cluster.nodes)

    victim.kill()
    during = {ns: store_stream(c, "during", 20) for ns, c in cascades.items()}
    redis_cluster.wait_failover()
    after = {ns: store_stream(c, "after", 5) for ns, c in cascades.items()}

    for ns, cascade in cascades.items():
        backends = set(during[ns].values())
        assert backends == ({"file"} if ns in hit else {"redis"}), ns
        assert probe_until_redis(cascade) == cascade.health()["tiers"][0]["name"]
        wanted = {**stored[ns], **during[ns], **after[ns]}
        assert set(wanted) <= active_in_redis(cascade), ns
        assert len(wanted) == 45


def test_sentinel_master_killed_loses_no_stored_alert(
    sentinel_setup: SentinelSetup, open_cascade: OpenCascade
) -> None:
    """The cascade covers the Sentinel failover; master_for finds the new master."""
    cascade = open_cascade(sentinel_setup.url, "fo-sentinel")
    stored = store_stream(cascade, "before", 20)
    old = sentinel_setup.master()
    wait_replicated(sentinel_setup.data_nodes)

    old.kill()
    during = store_stream(cascade, "during", 20)
    new = sentinel_setup.wait_failover(old)
    after = store_stream(cascade, "after", 5)

    assert new.port != old.port
    assert set(during.values()) == {"file"}
    assert probe_until_redis(cascade) == cascade.health()["tiers"][0]["name"]
    assert {**stored, **during, **after}.keys() <= active_in_redis(cascade)
    assert active_in_redis(cascade) >= set(after)
