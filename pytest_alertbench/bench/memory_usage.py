"""Memory figures: Python heap per alert, process RSS, Redis bytes per alert."""

from __future__ import annotations

import gc
import resource
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import redis

from alert_storage import AlertStorage, MemoryStorage
from pytest_alertbench.bench import workload


def rss_bytes() -> int | None:
    """Return this process's resident set size, or None without psutil."""
    try:
        import psutil
    except ImportError:
        return None
    rss: int = psutil.Process().memory_info().rss
    return rss


def peak_rss_bytes() -> int:
    """Return the largest RSS this process has had (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def python_heap(alerts: int) -> dict[str, Any]:
    """Store ``alerts`` new alerts in a fresh ``MemoryStorage`` under tracemalloc.

    Returns:
        The traced peak, what stays allocated, and bytes per alert held.
    """
    batch = workload.make_alerts(alerts, dup_ratio=0.0, seed=7, prefix="heap")
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        storage = MemoryStorage(policy=workload.BENCH_POLICY)
        for chunk in workload.batches(batch, 500):
            storage.store_many(chunk)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = current - start
    storage.close()
    return {
        "alerts": alerts,
        "python_peak_bytes": peak - start,
        "python_held_bytes": held,
        "python_bytes_per_alert": held / alerts if alerts else 0.0,
    }


def redis_bytes(
    build: Callable[[], AlertStorage],
    client: redis.Redis,
    namespace: str,
    alerts: int,
) -> dict[str, Any]:
    """Store ``alerts`` new alerts in a fresh namespace and weigh its keys.

    ``MEMORY USAGE`` of each key of the namespace is exact for our keys; the
    ``used_memory`` difference from INFO is what the server as a whole grew
    by, which other clients of a shared server blur.
    """
    batch = workload.make_alerts(alerts, dup_ratio=0.0, seed=11, prefix="weigh")
    before = int(client.info("memory")["used_memory"])
    storage = build()
    try:
        for chunk in workload.batches(batch, 500):
            storage.store_many(chunk)
        after = int(client.info("memory")["used_memory"])
        keys, key_bytes = namespace_bytes(client, namespace)
    finally:
        drop = getattr(storage, "drop", None)
        if callable(drop):
            drop()
        storage.close()
    return {
        "alerts": alerts,
        "keys": keys,
        "key_bytes": key_bytes,
        "bytes_per_alert": key_bytes / alerts if alerts else 0.0,
        "info_used_memory_delta": after - before,
        "info_bytes_per_alert": (after - before) / alerts if alerts else 0.0,
    }


def namespace_bytes(client: redis.Redis, namespace: str) -> tuple[int, int]:
    """Return the number of keys naming ``namespace`` and their ``MEMORY USAGE``."""
    keys = list(client.scan_iter(match=f"*{namespace}*", count=1000))
    total = 0
    for start in range(0, len(keys), 500):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + 500]:
            pipe.memory_usage(key, samples=0)
        total += sum(int(size or 0) for size in pipe.execute())
    return len(keys), total


def sweep_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete every key naming ``namespace`` (never anything else); return count."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"*{namespace}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted
