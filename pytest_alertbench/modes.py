"""The storage modes perf tests run against, and whether Redis is there for them."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import redis

from alert_storage import (
    AlertStorage,
    FileStorage,
    MemoryStorage,
    RedisStorage,
    StoragePolicy,
    open_storage,
    redact_url,
)

logger = logging.getLogger(__name__)

MODES = ("memory", "file", "redis", "cascade")
REDIS_MODES = frozenset({"redis", "cascade"})
NO_REDIS_CONFIGURED = (
    "no Redis configured for the redis and cascade modes: pass --redis-url, "
    "set ALERTBENCH_REDIS_URL or the alertbench_redis_url ini key"
)
PROBE_TIMEOUT = 1.0

# Perf runs store thousands of alerts from a handful of sources; the default
# limit of 100 per minute would turn most of them into cheap rejections.
PERF_POLICY = StoragePolicy(rate_limit=1_000_000)


def unique_namespace(prefix: str = "alertbench") -> str:
    """Return a Redis key namespace no other test run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def redis_unavailable_reason(
    url: str | None, *, timeout: float = PROBE_TIMEOUT
) -> str | None:
    """Return why Redis cannot serve the redis modes, or None when it answers.

    Args:
        url: The configured URL, or None.
        timeout: Seconds to wait for the connection and the PING.

    Returns:
        A reason fit for a skip message (the URL redacted), or None.
    """
    if not url:
        return NO_REDIS_CONFIGURED
    shown = redact_url(url)
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    except ValueError:
        # The parser's message may quote the URL, secrets included.
        return f"not a usable Redis URL: {shown}"
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis answers at {shown} ({type(exc).__name__})"
    finally:
        client.close()
    return None


def open_mode(
    mode: str,
    *,
    directory: Path,
    redis_url: str | None = None,
    namespace: str | None = None,
    policy: StoragePolicy | None = None,
) -> AlertStorage:
    """Open a fresh storage of one mode.

    Args:
        mode: One of ``MODES``.
        directory: An empty directory the file and cascade modes may use.
        redis_url: Needed by the redis and cascade modes.
        namespace: Redis key namespace of the redis and cascade modes.
        policy: Windows and limits; ``PERF_POLICY`` if omitted.

    Returns:
        The storage; release it with ``close_mode``.

    Raises:
        ValueError: unknown mode, or a Redis mode without URL or namespace.
    """
    policy = policy or PERF_POLICY
    if mode == "memory":
        return MemoryStorage(policy=policy)
    if mode == "file":
        return FileStorage(directory, policy=policy)
    if mode not in REDIS_MODES:
        raise ValueError(f"unknown storage mode {mode!r}; expected one of {MODES}")
    if not redis_url or not namespace:
        raise ValueError(f"the {mode} mode needs a Redis URL and a namespace")
    if mode == "redis":
        return RedisStorage(redis_url, namespace=namespace, policy=policy)
    return open_storage(
        redis_url, fallback_dir=directory, namespace=namespace, policy=policy
    )


def close_mode(
    storage: AlertStorage,
    mode: str,
    *,
    redis_url: str | None = None,
    namespace: str | None = None,
) -> None:
    """Close a storage from ``open_mode`` and delete its Redis namespace.

    The redis mode drops its own namespace; the cascade's namespace is dropped
    through a ``RedisStorage`` of its own, which needs nothing from the
    cascade's internals.

    Args:
        storage: The storage to close.
        mode: The mode it was opened with.
        redis_url: The URL it was opened with.
        namespace: The namespace it was opened with.
    """
    try:
        if isinstance(storage, RedisStorage):
            storage.drop()
        elif mode in REDIS_MODES and redis_url and namespace:
            drop_namespace(redis_url, namespace)
    finally:
        storage.close()


def drop_namespace(redis_url: str, namespace: str) -> int:
    """Delete every key of a namespace; return how many were deleted."""
    cleaner = RedisStorage(redis_url, namespace=namespace, socket_timeout=2.0)
    try:
        deleted = cleaner.drop()
    finally:
        cleaner.close()
    logger.debug("dropped %d keys of namespace %s", deleted, namespace)
    return deleted
