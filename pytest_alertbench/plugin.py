"""pytest hooks, options and fixtures of the alertbench plugin."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the alertbench option group and ini keys."""
    group = parser.getgroup("alertbench", "alert storage performance")
    group.addoption(
        "--redis-url",
        dest="alertbench_redis_url",
        default=None,
        help="Redis URL for redis/cascade modes (beats $ALERTBENCH_REDIS_URL "
        "and the alertbench_redis_url ini key).",
    )
    group.addoption(
        "--quick",
        dest="alertbench_quick",
        action="store_true",
        default=False,
        help="Run fewer operations per perf test (CI smoke runs).",
    )
    group.addoption(
        "--alertbench-json",
        dest="alertbench_json",
        default=None,
        metavar="PATH",
        help="Write the results of every perf test to PATH as JSON.",
    )
    group.addoption(
        "--alertbench-require-redis",
        dest="alertbench_require_redis",
        action="store_true",
        default=False,
        help="Fail, instead of skip, tests that need Redis when none answers.",
    )
    parser.addini("alertbench_redis_url", "Redis URL for redis/cascade modes.")


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line("markers", "perf: a performance test (select: -m perf)")
    config.addinivalue_line(
        "markers",
        "perf_target(store_p95_ms=None, get_p95_ms=None, throughput_ops=None, "
        "fallback_p95_ms=None): thresholds the test's measurements must meet",
    )
