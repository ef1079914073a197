"""Private Redis Cluster and Sentinel fixtures, one setup per test module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alert_storage import RedisStorage, StoragePolicy
from alert_storage.testing import ManualClock
from pytest_alertbench.cluster_servers import (
    RedisClusterProcesses,
    SentinelSetup,
    cluster_tools_available,
)
from pytest_alertbench.config import redis_required

MakeScaled = Callable[..., RedisStorage]


def require_cluster_tools(config: pytest.Config) -> None:
    """Skip without redis-server and redis-cli; fail instead in CI."""
    if cluster_tools_available():
        return
    reason = "redis-server or redis-cli is not on PATH"
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if ci or redis_required(config):
        pytest.fail(f"{reason} (required: CI or --alertbench-require-redis)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_cluster(pytestconfig: pytest.Config) -> Iterator[RedisClusterProcesses]:
    """Three masters with one replica each, shared by the tests of one module."""
    require_cluster_tools(pytestconfig)
    with RedisClusterProcesses(masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def sentinel_setup(pytestconfig: pytest.Config) -> Iterator[SentinelSetup]:
    """One master, one replica, three sentinels, shared by one module's tests."""
    require_cluster_tools(pytestconfig)
    with SentinelSetup(service="alerts", replicas=1, sentinels=3) as setup:
        yield setup


@pytest.fixture
def fresh_namespace() -> Callable[[], str]:
    """Make namespaces no other test uses."""
    return lambda: f"cl-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_scaled(
    fresh_namespace: Callable[[], str],
) -> Iterator[Callable[..., RedisStorage]]:
    """Build ``RedisStorage`` objects on a URL; dropped and closed at teardown."""
    opened: list[RedisStorage] = []

    def make(
        url: str,
        *,
        namespace: str | None = None,
        policy: StoragePolicy | None = None,
        clock: ManualClock | None = None,
        **options: Any,
    ) -> RedisStorage:
        storage = RedisStorage(
            url,
            namespace=namespace or fresh_namespace(),
            policy=policy,
            clock=clock or ManualClock(),
            **options,
        )
        opened.append(storage)
        return storage

    yield make
    for storage in opened:
        storage.drop()
        storage.close()
