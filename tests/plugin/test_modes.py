"""Storage modes: opening each, dropping Redis namespaces, probing Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from alert_storage import Alert, FileStorage, MemoryStorage, RedisStorage, Severity
from pytest_alertbench.modes import (
    NO_REDIS_CONFIGURED,
    PERF_POLICY,
    close_mode,
    open_mode,
    redis_unavailable_reason,
    unique_namespace,
)

ALERT = Alert("DiskFull", Severity.WARNING, "db", "disk at 91%", {"instance": "db-1"})


def _keys_of(client: redis.Redis, namespace: str) -> list[bytes]:
    return list(client.scan_iter(match=f"*{namespace}*", count=1000))


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("memory", MemoryStorage), ("file", FileStorage)],
    ids=["memory", "file"],
)
def test_local_modes_open_the_matching_backend(
    tmp_path: Path, mode: str, kind: type
) -> None:
    """memory and file open their backend with the perf policy and store alerts."""
    storage = open_mode(mode, directory=tmp_path)
    try:
        assert isinstance(storage, kind)
        assert storage.policy == PERF_POLICY
        assert storage.store(ALERT).count == 1
    finally:
        close_mode(storage, mode)


def test_unknown_mode_and_redis_mode_without_url_are_value_errors(
    tmp_path: Path,
) -> None:
    """A typo in the mode, or a Redis mode with no URL, is refused."""
    with pytest.raises(ValueError, match="unknown storage mode 'redsi'"):
        open_mode("redsi", directory=tmp_path)
    with pytest.raises(ValueError, match="needs a Redis URL"):
        open_mode("redis", directory=tmp_path, namespace="x")


@pytest.mark.redis
def test_redis_mode_drops_its_namespace_at_close(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """After close_mode no key of the test's namespace is left in Redis."""
    namespace = unique_namespace()
    storage = open_mode(
        "redis", directory=tmp_path, redis_url=redis_url, namespace=namespace
    )
    assert isinstance(storage, RedisStorage)
    storage.store(ALERT)
    assert _keys_of(redis_client, namespace)

    close_mode(storage, "redis", redis_url=redis_url, namespace=namespace)

    assert _keys_of(redis_client, namespace) == []


@pytest.mark.cascade
@pytest.mark.redis
def test_cascade_mode_serves_from_redis_and_drops_its_namespace(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """The cascade stores in Redis first; close_mode removes its namespace."""
    pytest.importorskip("alert_storage.cascade")
    namespace = unique_namespace()
    storage = open_mode(
        "cascade", directory=tmp_path, redis_url=redis_url, namespace=namespace
    )
    result = storage.store(ALERT)
    assert result.backend == "redis"
    assert _keys_of(redis_client, namespace)

    close_mode(storage, "cascade", redis_url=redis_url, namespace=namespace)

    assert _keys_of(redis_client, namespace) == []


def test_no_url_means_not_configured() -> None:
    """Without a URL the reason tells how to configure one."""
    assert redis_unavailable_reason(None) == NO_REDIS_CONFIGURED
    assert "--redis-url" in NO_REDIS_CONFIGURED


def test_dead_redis_reason_names_the_redacted_url(dead_redis_url: str) -> None:
    """A port nothing listens on gives a reason with the password masked."""
    reason = redis_unavailable_reason(dead_redis_url, timeout=0.5)
    assert reason is not None
    assert reason.startswith("no Redis answers at redis://alice:***@127.0.0.1:")
    assert "hunter2" not in reason


def test_malformed_url_reason_does_not_leak_the_password() -> None:
    """A URL redis-py cannot parse is reported, redacted."""
    reason = redis_unavailable_reason("redis://bob:s3cret@127.0.0.1:notaport/0")
    assert reason is not None
    assert "s3cret" not in reason


@pytest.mark.redis
def test_live_redis_has_no_reason(redis_url: str) -> None:
    """A Redis that answers PING gives no reason to skip."""
    assert redis_unavailable_reason(redis_url) is None
