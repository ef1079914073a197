"""Building a cascade: URLs, client settings that would slow fallbacks, secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alert_storage import (
    Alert,
    FileStorage,
    MemoryStorage,
    RedisStorage,
    StorageUnavailableError,
    open_storage,
)
from alert_storage.cascade import CascadeStorage
from alert_storage.cascade_parts import FallbackDelayWarning, slow_client_settings
from alert_storage.errors import ConfigurationError
from pytest_alertbench.servers import free_port

pytestmark = pytest.mark.cascade

SECRET = "s3cr3t-Pa55"


def alert() -> Alert:
    return Alert("CertExpiry", "warning", "edge", "certificate expires soon")


def test_default_redis_client_is_flagged() -> None:
    """redis-py's defaults (10 retries, 5 s timeouts) are reported."""
    client = redis.Redis(port=free_port())

    findings = slow_client_settings(client)

    assert "retries=10" in findings
    assert "socket_timeout=5" in findings
    client.close()


def test_fast_client_is_not_flagged() -> None:
    """No retries and sub-second timeouts give no findings."""
    client = redis.Redis(
        port=free_port(),
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), 0),
    )

    assert slow_client_settings(client) == []
    assert slow_client_settings(fakeredis.FakeRedis()) == []
    assert slow_client_settings(object()) == []
    client.close()


def test_cascade_warns_once_about_a_slow_caller_client() -> None:
    """A caller's client with retries or long timeouts draws one warning."""
    storage = RedisStorage(redis.Redis(port=free_port()), namespace="warned")

    with pytest.warns(FallbackDelayWarning, match="retries=10") as caught:
        cascade = CascadeStorage([storage, MemoryStorage()])

    assert len(caught) == 1
    assert "Retry(NoBackoff(), 0)" in str(caught[0].message)
    cascade.close()


def test_clients_built_from_a_url_draw_no_warning(tmp_path: Path) -> None:
    """from_url builds a fast client (warnings are errors in this suite)."""
    url = f"redis://127.0.0.1:{free_port()}/0"

    cascade = CascadeStorage.from_url(url, fallback_dir=tmp_path)

    client = cascade.tiers[0].client  # type: ignore[attr-defined]
    assert slow_client_settings(client) == []
    cascade.close()


def test_open_storage_with_fallback_dir_builds_the_three_tiers(tmp_path: Path) -> None:
    """open_storage(redis URL, fallback_dir=...) gives Redis, file, memory."""
    url = f"redis://127.0.0.1:{free_port()}/0"

    storage = open_storage(url, fallback_dir=tmp_path / "fb", namespace="ns1")

    assert isinstance(storage, CascadeStorage)
    kinds = [type(t) for t in storage.tiers]
    assert kinds == [RedisStorage, FileStorage, MemoryStorage]
    assert storage.store(alert()).backend == "file"
    storage.close()


def test_redis_below_the_first_tier_is_refused() -> None:
    """Redis cannot export, so it can only be the first tier."""
    fake = RedisStorage(fakeredis.FakeRedis(), namespace="below")

    with pytest.raises(ConfigurationError, match="cannot be a lower tier"):
        CascadeStorage([MemoryStorage(), fake])


def test_cascade_over_fakeredis_serves_from_redis() -> None:
    """A healthy Redis tier serves, and the result says so."""
    fake = RedisStorage(fakeredis.FakeRedis(), namespace="fake")
    cascade = CascadeStorage([fake, MemoryStorage()])

    result = cascade.store(alert())

    assert result.backend == "redis"
    assert cascade.get(result.alert_id or "") is not None
    assert cascade.ping() is True


def test_no_password_in_logs_errors_health_or_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A password in the URL never shows in logs, errors, health or metrics."""
    caplog.set_level(logging.DEBUG)
    url = f"redis://alice:{SECRET}@127.0.0.1:{free_port()}/0"
    cascade = CascadeStorage.from_url(url, fallback_dir=tmp_path)
    cascade.store(alert())
    only_redis = CascadeStorage([RedisStorage(url, namespace="lonely")])

    with pytest.raises(StorageUnavailableError) as failure:
        only_redis.store(alert())

    seen = [
        caplog.text,
        str(failure.value),
        repr(cascade),
        repr(cascade.tiers[0]),
        str(cascade.health()),
        str(cascade.metrics()),
    ]
    assert "connecting to 127.0.0.1" in caplog.text
    assert not [text for text in seen if SECRET in text]
    cascade.close()
    only_redis.close()


def test_unusable_fallback_directory_fails_at_open(tmp_path: Path) -> None:
    """A fallback directory that cannot be made stops the cascade from opening."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = f"redis://127.0.0.1:{free_port()}/0"

    with pytest.raises(StorageUnavailableError):
        CascadeStorage.from_url(url, fallback_dir=blocker / "alerts")
