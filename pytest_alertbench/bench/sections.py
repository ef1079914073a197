"""The sections beside the modes: floor, ``limits``, legacy ways, memory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from alert_storage import AlertStorage
from alert_storage.redact import redact_text
from pytest_alertbench.bench import floor, legacy, limits_ref, memory_usage, workload
from pytest_alertbench.bench.settings import Workload
from pytest_alertbench.bench.timing import Measurement, run_serial

logger = logging.getLogger(__name__)

Section = dict[str, Any]
LEGACY_DEDUP_STORES = 10
HEAP_ALERTS = 2000


def skipped(reason: str) -> Section:
    """Return a section that did not run, with the reason."""
    return {"status": "skipped", "reason": reason}


def guarded(name: str, func: Callable[[], Section]) -> Section:
    """Run one section; a failure becomes its status instead of ending the run."""
    try:
        section = func()
    except (ImportError, NotImplementedError) as exc:
        return skipped(redact_text(f"{type(exc).__name__}: {exc}"))
    # One broken section must not cost the figures of all the others.
    except Exception as exc:
        logger.warning("section %s failed: %s", name, type(exc).__name__)
        return {
            "status": "error",
            "reason": redact_text(f"{type(exc).__name__}: {exc}"),
        }
    section.setdefault("status", "measured")
    return section


def floor_section(
    client: redis.Redis | None, work_dir: Path, load: Workload
) -> Section:
    """Measure PING, a trivial EVALSHA (with Redis) and file appends."""
    section: Section = {}
    if client is not None:
        before = floor.script_stats(client)
        measured = floor.redis_floor(client, load.operations)
        after = floor.script_stats(client)
        own = measured["evalsha"].calls
        section["server_script_cost"] = floor.server_cost(before, after, own)
        section.update(_dicts(measured))
    files = floor.file_floor(work_dir, load.operations, load.fsync_operations)
    section.update(_dicts(files))
    return section


def limits_section(redis_url: str, prefix: str, load: Workload) -> Section:
    """Measure the ``limits`` moving-window ``hit()`` on the same server."""
    hit = limits_ref.measure_hits(redis_url, prefix, load.operations)
    return {"hit": hit.as_dict()}


def legacy_json_section(
    work_dir: Path, load: Workload, ours: Section | None
) -> Section:
    """Time the JSON-rewrite store at ``legacy_prefill`` alerts and check its dedup."""
    store = legacy.LegacyJsonStore(work_dir / "legacy.json")
    store.prefill(
        workload.make_alerts(load.legacy_prefill, dup_ratio=0.0, seed=3, prefix="pre")
    )
    alerts = workload.make_alerts(
        load.legacy_operations, dup_ratio=load.dup_ratio, seed=4, prefix="lj"
    )
    measured = run_serial("store", store.store, alerts)
    race = legacy.LegacyJsonStore(work_dir / "legacy-race.json")
    copies = workload.same_alert(LEGACY_DEDUP_STORES, "legacy-json")
    check = legacy.dedup_check(
        race.store,
        lambda: legacy.json_held(race, copies[0]),
        [copies] * load.threads,
    )
    return _legacy_result(measured, check, ours, prefill=load.legacy_prefill)


def legacy_redis_section(
    client: redis.Redis, prefix: str, load: Workload, ours: Section | None
) -> Section:
    """Time plain redis-py stores (no Lua, one command per round trip)."""
    store = legacy.LegacyRedisStore(client, prefix)
    try:
        alerts = workload.make_alerts(
            load.operations, dup_ratio=load.dup_ratio, seed=5, prefix="lr"
        )
        for alert in workload.make_alerts(20, dup_ratio=0.0, seed=6, prefix="lw"):
            store.store(alert)
        measured = run_serial("store", store.store, alerts)
        copies = workload.same_alert(LEGACY_DEDUP_STORES, "legacy-redis")
        check = legacy.dedup_check(
            store.store, lambda: store.count_of(copies[0]), [copies] * load.threads
        )
    finally:
        store.drop()
    return _legacy_result(measured, check, ours)


def _legacy_result(
    measured: Measurement, check: legacy.DedupCheck, ours: Section | None, **extra: Any
) -> Section:
    """Put a legacy store's figures beside ours (``ours``: our store figures)."""
    result: Section = {"store": measured.as_dict(), "dedup": check.as_dict(), **extra}
    theirs = measured.summary().mean_ms
    if ours and ours.get("mean_ms"):
        result["ours_mean_ms"] = ours["mean_ms"]
        result["speed_ratio"] = theirs / ours["mean_ms"]
    return result


def memory_section(
    rss_start: int | None,
    redis_build: Callable[[], AlertStorage] | None,
    client: redis.Redis | None,
    namespace: str,
) -> Section:
    """Python heap per alert, RSS, and (with Redis) server bytes per alert."""
    section: Section = {
        "python": memory_usage.python_heap(HEAP_ALERTS),
        "rss_start_bytes": rss_start,
        "rss_end_bytes": memory_usage.rss_bytes(),
        "peak_rss_bytes": memory_usage.peak_rss_bytes(),
    }
    if redis_build is not None and client is not None:
        section["redis"] = guarded(
            "redis memory",
            lambda: memory_usage.redis_bytes(
                redis_build, client, namespace, HEAP_ALERTS
            ),
        )
    return section


def _dicts(measured: dict[str, Measurement]) -> Section:
    return {name: item.as_dict() for name, item in measured.items()}
