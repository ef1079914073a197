"""Store throughput on 1 and on 3 cluster masters, measured side by side.

Run: ``.venv/bin/python tests/cluster/throughput.py [--seconds 3] [--threads 6]``.
Not a test: it asserts nothing about speed, it prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

from alert_storage import Alert, RedisStorage, Severity, StoragePolicy
from pytest_alertbench.cluster_servers import RedisClusterProcesses

# High limits: the point is the store path, not the rate limiter's rejections.
POLICY = StoragePolicy(dedup_window=300, rate_limit=1_000_000, rate_window=60)


def alerts(thread: int) -> Iterator[Alert]:
    """An endless stream: 50 distinct alerts per thread, so most stores dedup."""
    i = 0
    while True:
        yield Alert(
            f"Alert{i % 50}", Severity.WARNING, f"svc-{thread}-{i % 7}", "load high"
        )
        i += 1


def measure(url: str, namespaces: int, threads: int, seconds: float) -> float:
    """Return stores per second of ``threads`` threads over ``namespaces``."""
    run = uuid.uuid4().hex[:8]
    storages = [
        RedisStorage(url, namespace=f"tp-{run}-{i}", policy=POLICY, socket_timeout=5)
        for i in range(namespaces)
    ]
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        mine = storages[index::threads] or [storages[index % namespaces]]
        stream = alerts(index)
        done = 0
        while time.monotonic() < deadline:
            mine[done % len(mine)].store(next(stream))
            done += 1
        counts[index] = done

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    for storage in storages:
        storage.drop()
        storage.close()
    return sum(counts) / elapsed


def main() -> None:
    """Start both clusters, alternate the runs, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--namespaces", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with ExitStack() as stack:
        one = stack.enter_context(RedisClusterProcesses(masters=1, replicas=0))
        three = stack.enter_context(RedisClusterProcesses(masters=3, replicas=0))
        results: dict[str, list[float]] = {"1 master": [], "3 masters": []}
        for _ in range(options.rounds):
            for label, cluster in (("1 master", one), ("3 masters", three)):
                rate = measure(
                    cluster.url, options.namespaces, options.threads, options.seconds
                )
                results[label].append(rate)
    print(
        f"threads={options.threads} namespaces={options.namespaces} "
        f"seconds={options.seconds} rounds={options.rounds}"
    )
    for label, rates in results.items():
        shown = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"{label:>10}: median {statistics.median(rates):,.0f} stores/s ({shown})")


if __name__ == "__main__":
    main()
