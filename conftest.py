"""Shared fixtures: real Redis (shared server, own namespace), clocks, backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from alert_storage import (
    AlertStorage,
    CascadeStorage,
    FileStorage,
    MemoryStorage,
    RedisStorage,
    StoragePolicy,
    redact_url,
)
from alert_storage.testing import ManualClock
from pytest_alertbench.config import redis_required, resolve_redis_url
from pytest_alertbench.servers import RedisServer, redis_server_available

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ("memory", "file", "fakeredis", "redis", "cascade")

StorageFactory = Callable[..., AlertStorage]


def _must_have_real_services(config: pytest.Config) -> bool:
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return ci or redis_required(config)


def _unavailable(config: pytest.Config, reason: str) -> None:
    if _must_have_real_services(config):
        pytest.fail(f"{reason} (required: CI or --alertbench-require-redis)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    """The shared Redis server's URL; skips (fails in CI) when it does not answer."""
    url = resolve_redis_url(pytestconfig) or os.environ.get("REDIS_URL")
    url = url or DEFAULT_REDIS_URL
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(
            pytestconfig,
            f"no Redis answers at {redact_url(url)} ({type(exc).__name__})",
        )
    finally:
        client.close()
    return url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the shared Redis server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace() -> str:
    """A key namespace no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock tests move by hand."""
    return ManualClock()


@pytest.fixture
def private_redis(pytestconfig: pytest.Config) -> Iterator[Callable[..., RedisServer]]:
    """Start private ``redis-server`` processes; all are stopped at teardown."""
    if not redis_server_available():
        _unavailable(pytestconfig, "redis-server is not on PATH")
    servers: list[RedisServer] = []

    def start(**options: Any) -> RedisServer:
        server = RedisServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.cleanup()


@pytest.fixture
def make_storage(
    request: pytest.FixtureRequest, tmp_path: Path, namespace: str
) -> Iterator[StorageFactory]:
    """Build a storage of a kind in ``BACKENDS``, isolated, closed at teardown."""
    opened: list[AlertStorage] = []

    def make(
        kind: str,
        *,
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
        **options: Any,
    ) -> AlertStorage:
        storage = _build(request, tmp_path, namespace, kind, policy, clock, options)
        opened.append(storage)
        return storage

    yield make
    for storage in opened:
        redis_tier = (
            storage.tiers[0] if isinstance(storage, CascadeStorage) else storage
        )
        if isinstance(redis_tier, RedisStorage):
            redis_tier.drop()
        storage.close()


def _build(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    namespace: str,
    kind: str,
    policy: StoragePolicy | None,
    clock: Callable[[], float] | None,
    options: dict[str, Any],
) -> AlertStorage:
    if kind == "memory":
        return MemoryStorage(policy=policy, clock=clock, **options)
    if kind == "file":
        return FileStorage(tmp_path / "alerts", policy=policy, clock=clock, **options)
    if kind == "fakeredis":
        import fakeredis

        server = request.getfixturevalue("_fake_redis_server")
        client = fakeredis.FakeRedis(server=server)
        return RedisStorage(client, namespace=namespace, policy=policy, clock=clock)
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        return RedisStorage(url, namespace=namespace, policy=policy, clock=clock)
    if kind == "cascade":
        url = request.getfixturevalue("redis_url")
        return CascadeStorage.from_url(
            url,
            fallback_dir=tmp_path / "fallback",
            namespace=namespace,
            policy=policy,
            clock=clock,
            **options,
        )
    raise ValueError(f"unknown backend kind {kind!r}")


@pytest.fixture
def _fake_redis_server() -> Any:
    import fakeredis

    return fakeredis.FakeServer()


# --- hypothesis profiles ---
# dev: quick local runs; ci: more examples, reproducible, no deadline since
# real I/O on a busy machine is slow at random; thorough: thousands of steps.
# HYPOTHESIS_PROFILE picks one; ``--hypothesis-profile`` on the command line
# wins because hypothesis's own plugin loads it after this file.
def _register_hypothesis_profiles() -> None:
    from datetime import timedelta

    from hypothesis import HealthCheck, settings

    slow_ok = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile(
        "dev",
        max_examples=10,
        stateful_step_count=20,
        deadline=timedelta(seconds=2),
        suppress_health_check=slow_ok,
    )
    settings.register_profile(
        "ci",
        max_examples=100,
        stateful_step_count=30,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=slow_ok,
    )
    settings.register_profile(
        "thorough",
        max_examples=300,
        stateful_step_count=100,
        deadline=None,
        suppress_health_check=slow_ok,
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_register_hypothesis_profiles()
