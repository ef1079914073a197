"""Where the plugin's settings come from: command line, environment, ini file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV_REDIS_URL = "ALERTBENCH_REDIS_URL"

#: Operations a perf test runs by default, and the divisor ``--quick`` applies.
DEFAULT_OPERATIONS = 1000
QUICK_DIVISOR = 10

_BENCHMARK_SAVE_OPTIONS = ("benchmark_json", "benchmark_save", "benchmark_autosave")


def resolve_redis_url(config: pytest.Config) -> str | None:
    """Return the Redis URL: ``--redis-url``, then the env var, then the ini.

    Returns:
        The URL, or None when none is configured.
    """
    cli = config.getoption("alertbench_redis_url", default=None)
    if cli:
        return str(cli)
    env = os.environ.get(ENV_REDIS_URL)
    if env:
        return env
    ini = config.getini("alertbench_redis_url")
    return str(ini) if ini else None


def redis_required(config: pytest.Config) -> bool:
    """Return True when a missing Redis must fail tests instead of skipping."""
    return bool(config.getoption("alertbench_require_redis", default=False))


@dataclass(frozen=True, slots=True)
class Settings:
    """The plugin's settings for one pytest session.

    Attributes:
        redis_url: The Redis URL for the redis and cascade modes, or None.
        quick: ``--quick``: run ``1/QUICK_DIVISOR`` of the operations.
        json_path: ``--alertbench-json``: where to write the results, or None.
        require_redis: ``--alertbench-require-redis``: fail instead of skip.
        benchmark_saving: pytest-benchmark will write JSON (``--benchmark-json``,
            ``--benchmark-save`` or ``--benchmark-autosave``).
    """

    redis_url: str | None
    quick: bool
    json_path: Path | None
    require_redis: bool
    benchmark_saving: bool


def load_settings(config: pytest.Config) -> Settings:
    """Read the plugin's settings from a pytest config.

    Args:
        config: The session's config, after option parsing.

    Returns:
        The settings, with the Redis URL resolved by ``resolve_redis_url``.
    """
    json_option = config.getoption("alertbench_json", default=None)
    return Settings(
        redis_url=resolve_redis_url(config),
        quick=bool(config.getoption("alertbench_quick", default=False)),
        json_path=Path(json_option) if json_option else None,
        require_redis=redis_required(config),
        benchmark_saving=_benchmark_saving(config),
    )


def _benchmark_saving(config: pytest.Config) -> bool:
    # The options exist only when pytest-benchmark is installed and enabled.
    return any(config.getoption(name, default=None) for name in _BENCHMARK_SAVE_OPTIONS)
