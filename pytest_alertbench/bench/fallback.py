"""The cascade through a real outage: a private redis-server killed and restarted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alert_storage import Alert, AlertStorage, FileStorage, StoreResult, StoreStatus
from pytest_alertbench.bench import workload
from pytest_alertbench.bench.settings import Workload
from pytest_alertbench.bench.timing import (
    INTERLEAVE_BLOCKS,
    Loop,
    Measurement,
    run_interleaved,
    run_serial,
)
from pytest_alertbench.servers import RedisServer, redis_server_available

# Probe a failed Redis often, so that the recovery time measures detection and
# replay rather than a long back-off; the report states these settings.
RETRY_INTERVAL = 0.05
MAX_RETRY_INTERVAL = 0.5
RECOVERY_DEADLINE = 30.0
# Alerts keep arriving while Redis comes back, about one per this many seconds.
ARRIVAL_GAP = 0.002
FILE_TIER_FSYNC = "batch"
CASCADE_SUMMARY = (
    "fallbacks",
    "transitions_total",
    "degraded_seconds",
    "pending_replay",
    "replayed",
    "replay_failures",
)


def open_cascade(url: str, directory: Path, namespace: str) -> AlertStorage:
    """Open Redis -> file -> memory with the benchmark's policy and probe timing.

    Raises:
        ImportError: the cascade module is not there yet.
    """
    from alert_storage.cascade import CascadeStorage

    return CascadeStorage.from_url(
        url,
        fallback_dir=directory / "tier",
        namespace=namespace,
        policy=workload.BENCH_POLICY,
        retry_interval=RETRY_INTERVAL,
        max_retry_interval=MAX_RETRY_INTERVAL,
        fsync=FILE_TIER_FSYNC,
    )


def fallback_section(load: Workload, directory: Path, namespace: str) -> dict[str, Any]:
    """Store before, during and after an outage of a private redis-server.

    The server runs without persistence, so it comes back empty: what Redis
    held before the kill is Redis's durability, not ours. What the cascade
    accepted during the outage must all be readable after recovery.

    Raises:
        NotImplementedError: no ``redis-server`` on PATH (the section is skipped).
    """
    if not redis_server_available():
        raise NotImplementedError("redis-server is not on PATH")
    server = RedisServer().start()
    try:
        cascade = open_cascade(server.url, directory, namespace)
        try:
            return _outage(cascade, server, load, directory / "reference")
        finally:
            cascade.close()
    finally:
        server.cleanup()


def _outage(
    cascade: AlertStorage, server: RedisServer, load: Workload, reference: Path
) -> dict[str, Any]:
    def alerts(prefix: str, seed: int) -> list[Alert]:
        return workload.make_alerts(
            load.outage_operations, dup_ratio=load.dup_ratio, seed=seed, prefix=prefix
        )

    cascade.store_many(workload.make_alerts(50, dup_ratio=0.0, seed=20, prefix="fw"))
    before = run_serial("store", cascade.store, alerts("fb", 21))
    server.kill()
    results: list[StoreResult] = []
    degraded = _degraded(
        cascade, alerts("fd", 22), alerts("fd", 22), reference, results
    )
    replayed_before = _metric(cascade, "replayed")
    server.start()
    recovery = _recover(cascade, alerts("fr", 23))
    replayed = _metric(cascade, "replayed") - replayed_before
    after = run_serial("store", cascade.store, alerts("fa", 24))
    section: dict[str, Any] = {
        "retry_interval": RETRY_INTERVAL,
        "max_retry_interval": MAX_RETRY_INTERVAL,
        "before": before.as_dict(),
        "degraded": degraded["store"].as_dict(),
        "first_degraded_call_ms": _first_ms(degraded["store"]),
        "paired_file_store": degraded["file_store"].as_dict(),
        "after": after.as_dict(),
        "replayed": replayed,
        **recovery,
        "lost": _lost(cascade, results),
        "cascade_metrics": cascade.metrics(),
    }
    if recovery.get("replay_call_seconds"):
        section["replay_rate"] = replayed / recovery["replay_call_seconds"]
    return section


def _degraded(
    cascade: AlertStorage,
    down: list[Alert],
    same: list[Alert],
    reference: Path,
    results: list[StoreResult],
) -> dict[str, Measurement]:
    """Store while Redis is down, in alternation with a plain file backend.

    The plain ``FileStorage`` (the cascade's file tier settings, the same
    alerts) is the fair reference for what the cascade adds while degraded.
    """

    def store_kept(alert: Alert) -> StoreResult:
        result = cascade.store(alert)
        results.append(result)
        return result

    plain = FileStorage(reference, policy=workload.BENCH_POLICY, fsync=FILE_TIER_FSYNC)
    try:
        loops: dict[str, Loop] = {
            "store": (store_kept, down),
            "file_store": (plain.store, same),
        }
        return run_interleaved(loops, INTERLEAVE_BLOCKS)
    finally:
        plain.close()


def _recover(cascade: AlertStorage, arriving: list[Alert]) -> dict[str, Any]:
    """Keep storing until a store is served by Redis; time it from the restart."""
    restarted = time.perf_counter()
    calls = 0
    for alert in arriving * 100:
        before = time.perf_counter()
        result = cascade.store(alert)
        done = time.perf_counter()
        calls += 1
        if result.backend == "redis":
            return {
                "recovery_seconds": done - restarted,
                "recovery_calls": calls,
                "replay_call_seconds": done - before,
            }
        if done - restarted > RECOVERY_DEADLINE:
            break
        time.sleep(ARRIVAL_GAP)
    return {"recovery_seconds": None, "recovery_calls": calls}


def _first_ms(measured: Measurement) -> float | None:
    """Latency of the first call after the kill: it meets the failure first."""
    return measured.latencies[0] * 1000 if measured.latencies else None


def _metric(cascade: AlertStorage, name: str) -> int:
    value = cascade.metrics().get(name, 0)
    return int(value) if isinstance(value, (int, float)) else 0


def _lost(cascade: AlertStorage, results: list[StoreResult]) -> int:
    """Count alerts accepted during the outage that cannot be read back."""
    ids = {r.alert_id for r in results if r.status is not StoreStatus.RATE_LIMITED}
    return sum(1 for alert_id in ids if alert_id and cascade.get(alert_id) is None)


def degradation_summary(section: dict[str, Any]) -> dict[str, Any]:
    """Return the cascade's degradation figures worth a line in the report."""
    metrics = section.get("cascade_metrics") or {}
    return {name: metrics.get(name) for name in CASCADE_SUMMARY if name in metrics}
