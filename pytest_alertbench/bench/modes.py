"""One storage mode measured section by section: store, get, threads, batches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from alert_storage import Alert, AlertStorage
from pytest_alertbench.bench import floor, workload
from pytest_alertbench.bench.legacy import DedupCheck, dedup_check
from pytest_alertbench.bench.progress import Progress
from pytest_alertbench.bench.settings import Workload
from pytest_alertbench.bench.timing import (
    INTERLEAVE_BLOCKS,
    Loop,
    Measurement,
    run_interleaved,
    run_serial,
    run_threads,
)

logger = logging.getLogger(__name__)

WARMUP = 50
DEDUP_THREADS = 8
DEDUP_STORES = 25

# What a backend that is not there yet, or not built for this option, raises.
UNBUILDABLE = (NotImplementedError, ImportError, TypeError)


@dataclass
class ModeSpec:
    """How to build one mode and what to run on it.

    Attributes:
        key: Name in the results file (``redis``, ``file_fsync_always``...).
        label: Name in the report (``Redis_Cascade``...).
        build: Returns a fresh, empty storage.
        store_only: Only the single-threaded store section (fsync variants).
        operations: Stores for a store-only mode (default: the workload's).
        redis_client: Returns the client whose server counts script time.
        paired: Returns floor loops to interleave with the store loop (their
            figures are kept as ``paired_<name>``), given the storage and the
            number of calls.
    """

    key: str
    label: str
    build: Callable[[], AlertStorage]
    store_only: bool = False
    operations: int | None = None
    redis_client: Callable[[AlertStorage], redis.Redis | None] | None = None
    paired: Callable[[AlertStorage, int], Paired] | None = None


@dataclass
class Paired:
    """Floor loops measured in alternation with a mode's stores.

    Attributes:
        loops: Name to (call, arguments).
        close: Releases what the loops use.
    """

    loops: dict[str, Loop]
    close: Callable[[], None]


@dataclass
class ModeResult:
    """What one mode measured, or why it was not measured.

    Attributes:
        key: As in ``ModeSpec``. ``label`` likewise.
        status: ``measured``, ``skipped`` (could not be built) or ``error``
            (failed mid-run; the figures so far are kept).
        reason: Why it was skipped or failed.
        measurements: By operation name.
        metrics: The storage's own ``metrics()`` at the end.
        dedup: Our dedup under concurrency, checked like the legacy ways.
        script_cost: Server time per script call during ``store_many``.
    """

    key: str
    label: str
    status: str = "measured"
    reason: str | None = None
    measurements: dict[str, Measurement] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    dedup: DedupCheck | None = None
    script_cost: dict[str, Any] | None = None


def run_mode(
    spec: ModeSpec, load: Workload, skip: frozenset[str], progress: Progress
) -> ModeResult:
    """Build ``spec``'s storage, run its sections, close it, and return results."""
    result = ModeResult(spec.key, spec.label)
    try:
        storage = spec.build()
    except UNBUILDABLE as exc:
        return _skipped(result, exc)
    # A backend that cannot open (a directory it may not write...) is a
    # finding of the run, reported as an error of this mode.
    except Exception as exc:
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
        return result
    try:
        _run_sections(spec, storage, load, skip, progress, result)
        result.metrics = storage.metrics()
    # A backend that breaks mid-run is reported as an error, not a traceback.
    except Exception as exc:
        logger.warning("mode %s failed: %s", spec.key, type(exc).__name__)
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        close_quietly(storage)
    return result


def close_quietly(storage: AlertStorage) -> None:
    """Delete a Redis namespace (when the storage has one) and close."""
    drop = getattr(storage, "drop", None)
    try:
        if callable(drop):
            drop()
    except (redis.RedisError, OSError) as exc:
        logger.warning("could not drop a namespace: %s", type(exc).__name__)
    finally:
        storage.close()


def _skipped(result: ModeResult, exc: BaseException) -> ModeResult:
    result.status = "skipped"
    detail = str(exc) or "not implemented yet"
    result.reason = f"{type(exc).__name__}: {detail}"
    return result


def _run_sections(
    spec: ModeSpec,
    storage: AlertStorage,
    load: Workload,
    skip: frozenset[str],
    progress: Progress,
    result: ModeResult,
) -> None:
    seed = sum(map(ord, spec.key))
    ops = spec.operations or load.operations
    warm = workload.make_alerts(WARMUP, dup_ratio=0.0, seed=seed, prefix="warm")
    storage.store_many(warm)
    alerts = workload.make_alerts(ops, dup_ratio=load.dup_ratio, seed=seed, prefix="s")
    _run_stores(spec, storage, alerts, result)
    progress.step(f"{spec.label} store")
    if spec.store_only:
        return
    _run_reads(storage, load, result)
    progress.step(f"{spec.label} get")
    if "concurrent" not in skip:
        result.measurements["concurrent_store"] = _concurrent(storage, load, seed)
        result.dedup = _our_dedup(storage, spec.key)
        progress.step(f"{spec.label} concurrent")
    if "store_many" not in skip:
        _store_many(spec, storage, load, seed, result)
        progress.step(f"{spec.label} store_many")


def _run_stores(
    spec: ModeSpec, storage: AlertStorage, alerts: list[Alert], result: ModeResult
) -> None:
    if spec.paired is None:
        result.measurements["store"] = run_serial("store", storage.store, alerts)
        return
    paired = spec.paired(storage, len(alerts))
    try:
        loops: dict[str, Loop] = {"store": (storage.store, alerts), **paired.loops}
        measured = run_interleaved(loops, INTERLEAVE_BLOCKS)
    finally:
        paired.close()
    for name, item in measured.items():
        result.measurements[name if name == "store" else f"paired_{name}"] = item


def _run_reads(storage: AlertStorage, load: Workload, result: ModeResult) -> None:
    queries = workload.GET_QUERIES
    calls = [queries[i % len(queries)] for i in range(load.get_operations)]
    result.measurements["get"] = run_serial(
        "get", lambda q: storage.get_active(**q), calls
    )
    sizes: list[int] = []

    def newest_100(_: int) -> None:
        sizes.append(len(storage.get_active(limit=100)))

    measured = run_serial("get_active_100", newest_100, range(load.get_operations))
    measured.statuses["returned_min"] = min(sizes, default=0)
    result.measurements["get_active_100"] = measured


def _concurrent(storage: AlertStorage, load: Workload, seed: int) -> Measurement:
    per_thread = [
        workload.make_alerts(
            load.ops_per_thread, dup_ratio=load.dup_ratio, seed=seed + i, prefix=f"t{i}"
        )
        for i in range(load.threads)
    ]
    return run_threads("concurrent_store", storage.store, per_thread)


def _our_dedup(storage: AlertStorage, key: str) -> DedupCheck:
    copies = workload.same_alert(DEDUP_STORES, f"dedup-{key}")
    probe = copies[0]

    def held() -> tuple[int, int]:
        found = storage.get_active(source=probe.source, limit=1000)
        mine = [a for a in found if a.fingerprint == probe.fingerprint]
        return len(mine), sum(a.count for a in mine)

    return dedup_check(
        lambda alert: storage.store(alert).status.value,
        held,
        [copies] * DEDUP_THREADS,
    )


def _store_many(
    spec: ModeSpec, storage: AlertStorage, load: Workload, seed: int, result: ModeResult
) -> None:
    count = load.batch_size * load.batches
    alerts = workload.make_alerts(
        count, dup_ratio=load.dup_ratio, seed=seed, prefix="b"
    )
    chunks = workload.batches(alerts, load.batch_size)
    client = spec.redis_client(storage) if spec.redis_client else None
    before = floor.script_stats(client) if client is not None else None
    measured = run_serial("store_many", storage.store_many, chunks, items_per_call=len)
    if client is not None and before is not None:
        after = floor.script_stats(client)
        result.script_cost = floor.server_cost(before, after, len(chunks))
    result.measurements["store_many"] = measured
