"""Where the plugin's settings come from: command line, environment, ini file."""

from __future__ import annotations

import os

import pytest

ENV_REDIS_URL = "ALERTBENCH_REDIS_URL"


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
