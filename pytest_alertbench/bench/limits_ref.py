"""The ``limits`` library's moving window on the same Redis, as a reference."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pytest_alertbench.bench.timing import Measurement, run_serial
from pytest_alertbench.bench.workload import SOURCES

WARMUP = 20


def limits_url(redis_url: str) -> str:
    """Return the ``limits`` storage URL for a redis-py URL (unix sockets differ)."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return urlunsplit(("redis+unix", *parts[1:]))
    return redis_url


class LimitsHits:
    """``MovingWindowRateLimiter.hit`` on one Redis, under its own key prefix.

    The limit is high enough never to reject, so every call records a hit,
    as every new alert of ours records an admission.

    Raises:
        ImportError: ``limits`` is not installed.
    """

    def __init__(self, redis_url: str, prefix: str) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        storage = storage_from_string(limits_url(redis_url), key_prefix=prefix)
        self.limiter = MovingWindowRateLimiter(storage)
        self.item = RateLimitItemPerMinute(1_000_000)
        for key in source_keys(WARMUP):
            self.hit(key)

    def hit(self, key: str) -> bool:
        """Record one hit for ``key`` (a source name)."""
        return bool(self.limiter.hit(self.item, key))

    def close(self) -> None:
        """Delete this prefix's windows."""
        for key in SOURCES:
            self.limiter.clear(self.item, key)


def source_keys(operations: int) -> list[str]:
    """Return one source name per call, cycling through the sources."""
    return [SOURCES[i % len(SOURCES)] for i in range(operations)]


def measure_hits(redis_url: str, prefix: str, operations: int) -> Measurement:
    """Time ``hit()`` one call at a time, across sources."""
    hits = LimitsHits(redis_url, prefix)
    try:
        return run_serial("hit", hits.hit, source_keys(operations))
    finally:
        hits.close()
