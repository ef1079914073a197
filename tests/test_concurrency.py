"""Stores racing on one fingerprint or one source keep the exact counts (point 5)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from alert_storage import Alert, AlertStorage, RedisStorage, StoragePolicy, StoreStatus

Make = Callable[..., AlertStorage]
THREADED = [
    pytest.param("memory", marks=pytest.mark.memory),
    pytest.param("file", marks=pytest.mark.file),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cascade", marks=[pytest.mark.cascade, pytest.mark.redis]),
]


def _same_alert() -> Alert:
    return Alert("Contended", "error", "racer", "same alert from everyone")


def _check_one_fingerprint(statuses: list[StoreStatus], counts: list[int]) -> None:
    n = len(statuses)
    assert statuses.count(StoreStatus.STORED) == 1
    assert statuses.count(StoreStatus.DUPLICATE) == n - 1
    assert sorted(counts) == list(range(1, n + 1))


@pytest.mark.parametrize("kind", THREADED)
def test_threads_storing_one_fingerprint(kind: str, make_storage: Make) -> None:
    """8 threads x 40 stores of one alert: one STORED, N-1 DUPLICATE, counts 1..N."""
    storage = make_storage(kind)
    barrier = threading.Barrier(8)

    def worker(_: int) -> list[tuple[StoreStatus, int]]:
        barrier.wait()
        return [
            (r.status, r.count)
            for r in (storage.store(_same_alert()) for _ in range(40))
        ]

    with ThreadPoolExecutor(8) as pool:
        results = [pair for chunk in pool.map(worker, range(8)) for pair in chunk]
    _check_one_fingerprint([s for s, _ in results], [c for _, c in results])
    [only] = storage.get_active()
    assert only.count == 320


@pytest.mark.parametrize("kind", THREADED)
def test_threads_never_exceed_a_source_limit(kind: str, make_storage: Make) -> None:
    """Threads storing distinct alerts of one source get exactly rate_limit admitted."""
    storage = make_storage(kind, policy=StoragePolicy(rate_limit=25))
    barrier = threading.Barrier(6)

    def worker(t: int) -> list[StoreStatus]:
        barrier.wait()
        alerts = [Alert(f"A{t}-{i}", "info", "one-source", "m") for i in range(20)]
        return [storage.store(a).status for a in alerts]

    with ThreadPoolExecutor(6) as pool:
        statuses = [s for chunk in pool.map(worker, range(6)) for s in chunk]
    assert statuses.count(StoreStatus.STORED) == 25
    assert statuses.count(StoreStatus.RATE_LIMITED) == 95
    assert storage.count_active() == 25


def _process_worker(url: str, namespace: str, rounds: int, queue: object) -> None:
    storage = RedisStorage(
        url, namespace=namespace, policy=StoragePolicy(rate_limit=30)
    )
    out = []
    for i in range(rounds):
        same = storage.store(_same_alert())
        other = storage.store(Alert(f"P{i}", "info", "shared-source", "m"))
        out.append((same.status.value, same.count, other.status.value))
    storage.close()
    queue.put(out)  # type: ignore[attr-defined]


@pytest.mark.redis
def test_processes_on_real_redis(
    redis_url: str, make_storage: Make, namespace: str
) -> None:
    """4 processes race on one fingerprint and one source: exact counts, limit held."""
    storage = make_storage("redis", policy=StoragePolicy(rate_limit=30))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(redis_url, namespace, 50, queue))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    rows = [row for _ in procs for row in queue.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    _check_one_fingerprint(
        [StoreStatus(s) for s, _, _ in rows], [c for _, c, _ in rows]
    )
    others = [StoreStatus(o) for _, _, o in rows]
    stored_other = others.count(StoreStatus.STORED)
    duplicates = others.count(StoreStatus.DUPLICATE)
    assert stored_other == 30
    assert stored_other + duplicates + others.count(StoreStatus.RATE_LIMITED) == 200
    assert storage.count_active() == 31
