"""The project's own performance tests, measured and judged by the alertbench plugin.

Run them with ``pytest -m perf --quick --redis-url redis://127.0.0.1:6379/0``;
the thresholds are the seed's targets. They are generous on purpose: these
tests guard against gross regressions, the benchmark measures the real figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alert_storage import AlertStorage, Severity, StoreStatus, open_storage
from pytest_alertbench.alerts import AlertFactory
from pytest_alertbench.modes import PERF_POLICY, unique_namespace
from pytest_alertbench.recorder import PerfRecorder
from pytest_alertbench.servers import RedisServer

pytestmark = pytest.mark.perf

DUPLICATE_RATIO = 0.2


@pytest.mark.perf_target(store_p95_ms=100)
def test_store_latency_with_duplicates(
    alert_storage: AlertStorage,
    alert_factory: AlertFactory,
    perf_recorder: PerfRecorder,
) -> None:
    """Single-threaded stores of a mix with 20% duplicates meet the store P95."""
    alerts = alert_factory.batch(
        perf_recorder.scaled(1000), duplicate_ratio=DUPLICATE_RATIO
    )
    results = []

    perf_recorder.run("store", lambda i: results.append(alert_storage.store(alerts[i])))

    duplicates = sum(r.status is StoreStatus.DUPLICATE for r in results)
    assert duplicates == round(len(alerts) * DUPLICATE_RATIO)
    assert alert_storage.count_active() == len(alerts) - duplicates


@pytest.mark.perf_target(get_p95_ms=50)
def test_get_active_latency_with_filters(
    alert_storage: AlertStorage,
    alert_factory: AlertFactory,
    perf_recorder: PerfRecorder,
) -> None:
    """get_active with severity, source and time filters meets the get P95."""
    alerts = alert_factory.batch(perf_recorder.scaled(1000), duplicate_ratio=0)
    for start in range(0, len(alerts), 500):
        alert_storage.store_many(alerts[start : start + 500])
    since = time.time() - 3600
    queries: list[dict[str, Any]] = [
        {"limit": 100},
        {"severity": Severity.WARNING, "limit": 100},
        {"source": alerts[0].source, "since": since, "limit": 100},
        {"severity": Severity.CRITICAL, "source": alerts[1].source, "limit": 50},
    ]
    found: list[int] = []

    def query(index: int) -> None:
        found.append(len(alert_storage.get_active(**queries[index % len(queries)])))

    perf_recorder.run("get", query, 300)

    assert found[0] == min(100, len(alerts))
    assert found[2] >= 1


@pytest.mark.perf_target(store_p95_ms=100, throughput_ops=100)
def test_concurrent_store_throughput(
    alert_storage: AlertStorage,
    alert_factory: AlertFactory,
    perf_recorder: PerfRecorder,
) -> None:
    """10 threads storing 50 alerts each keep the throughput target."""
    alerts = alert_factory.batch(
        perf_recorder.scaled(500), duplicate_ratio=DUPLICATE_RATIO
    )

    perf_recorder.run(
        "store", lambda i: alert_storage.store(alerts[i]), 500, threads=10
    )

    duplicates = round(len(alerts) * DUPLICATE_RATIO)
    assert alert_storage.count_active() == len(alerts) - duplicates


def test_store_benchmark(
    alert_storage: AlertStorage,
    alert_factory: AlertFactory,
    perf_recorder: PerfRecorder,
    benchmark: Any,
) -> None:
    """pytest-benchmark times stores too; our percentiles land in its extra_info."""
    alerts = iter(alert_factory.batch(perf_recorder.scaled(500), duplicate_ratio=0))

    def store_next() -> None:
        with perf_recorder.measure("store"):
            alert_storage.store(next(alerts))

    rounds = perf_recorder.scaled(500)
    benchmark.pedantic(store_next, rounds=rounds, iterations=1, warmup_rounds=0)

    assert alert_storage.count_active() == len(perf_recorder.durations("store"))


@pytest.mark.redis
@pytest.mark.cascade
@pytest.mark.perf_target(fallback_p95_ms=200)
def test_cascade_store_latency_while_redis_is_down(
    private_redis: Callable[..., RedisServer],
    alert_factory: AlertFactory,
    perf_recorder: PerfRecorder,
    tmp_path: Path,
) -> None:
    """With its Redis killed, the cascade stores on the file tier within target."""
    pytest.importorskip("alert_storage.cascade")
    server = private_redis()
    storage = open_storage(
        server.url,
        fallback_dir=tmp_path / "fallback",
        namespace=unique_namespace(),
        policy=PERF_POLICY,
    )
    perf_recorder.mode = "cascade"
    alerts = alert_factory.batch(perf_recorder.scaled(500))
    backends: list[str] = []
    try:
        assert storage.store(alert_factory.unique()).backend == "redis"
        server.kill()

        perf_recorder.run(
            "fallback", lambda i: backends.append(storage.store(alerts[i]).backend), 500
        )
    finally:
        storage.close()

    assert "redis" not in backends
    assert len(backends) == len(alerts)
