"""Measure the cascade through a real Redis outage (kill, wait, restart).

Prints store latency percentiles before, during and after the outage, and the
time from Redis answering again to the cascade serving from it. Not a test:
run it by hand, e.g.::

    .venv/bin/python tests/cascade/measure_outage.py --outage 3 --runs 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from load import Load

from alert_storage import StoragePolicy
from alert_storage.cascade import CascadeStorage
from alert_storage.stats import LatencySummary
from pytest_alertbench.servers import RedisServer


def measure(outage: float, threads: int, options: dict[str, float]) -> dict[str, float]:
    """Run one kill/restart cycle under load; return the figures (ms, s)."""
    with RedisServer(appendonly=True) as server, tempfile.TemporaryDirectory() as tmp:
        cascade = CascadeStorage.from_url(
            server.url,
            fallback_dir=tmp,
            namespace=f"measure-{uuid.uuid4().hex[:8]}",
            policy=StoragePolicy(rate_limit=1_000_000),
            **options,
        )
        with Load(cascade, threads=threads, pause=0.001) as load:
            time.sleep(1.0)
            mark_kill = len(load.latencies)
            server.kill()
            time.sleep(outage)
            mark_start = len(load.latencies)
            server.start()
            back = time.perf_counter()
            while cascade.mode != "redis":
                time.sleep(0.001)
            recovered = time.perf_counter() - back
            mark_recovered = len(load.latencies)
            time.sleep(1.0)
        figures = cascade.metrics()
        cascade.close()
    lat = load.latencies
    return {
        "before_p95_ms": _p95(lat[:mark_kill]),
        "outage_p50_ms": _summary(lat[mark_kill:mark_start]).p50_ms,
        "outage_p95_ms": _p95(lat[mark_kill:mark_start]),
        "outage_p99_ms": _summary(lat[mark_kill:mark_start]).p99_ms,
        "outage_max_ms": _summary(lat[mark_kill:mark_start]).max_ms,
        "outage_stores": mark_start - mark_kill,
        "recovery_s": recovered,
        "after_p95_ms": _p95(lat[mark_recovered:]),
        "replayed": figures["replayed"],
        "errors": len(load.errors),
    }


def _summary(values: list[float]) -> LatencySummary:
    return LatencySummary.from_seconds(values)


def _p95(values: list[float]) -> float:
    return _summary(values).p95_ms


def main() -> None:
    """Parse the options, run the cycles, print one line per cycle."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=3.0, help="seconds down")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--retry-interval", type=float, help="cascade default")
    parser.add_argument("--max-retry-interval", type=float, help="cascade default")
    args = parser.parse_args()
    options = {
        name: value
        for name, value in (
            ("retry_interval", args.retry_interval),
            ("max_retry_interval", args.max_retry_interval),
        )
        if value is not None
    }
    for run in range(1, args.runs + 1):
        figures = measure(args.outage, args.threads, options)
        shown = " ".join(f"{k}={v:.2f}" for k, v in figures.items())
        print(f"run {run}: {shown}", flush=True)


if __name__ == "__main__":
    main()
