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


def measure_hits(redis_url: str, prefix: str, operations: int) -> Measurement:
    """Time ``MovingWindowRateLimiter.hit`` one call at a time, across sources.

    The limit is high enough never to reject, so every call records a hit,
    as every new alert of ours records an admission.

    Raises:
        ImportError: ``limits`` is not installed.
    """
    from limits import RateLimitItemPerMinute
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    storage = storage_from_string(limits_url(redis_url), key_prefix=prefix)
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(1_000_000)
    keys = [SOURCES[i % len(SOURCES)] for i in range(operations)]
    try:
        for key in keys[:WARMUP]:
            limiter.hit(item, key)
        return run_serial("hit", lambda key: limiter.hit(item, key), keys)
    finally:
        for key in SOURCES:
            limiter.clear(item, key)
