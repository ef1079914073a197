"""Fixtures for the plugin's own tests."""

from __future__ import annotations

import pytest

from pytest_alertbench.config import ENV_REDIS_URL
from pytest_alertbench.servers import free_port


@pytest.fixture
def bench_pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose runs see no Redis URL from the environment."""
    monkeypatch.delenv(ENV_REDIS_URL, raising=False)
    return pytester


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL with a password, on a port nothing listens on."""
    return f"redis://alice:hunter2@127.0.0.1:{free_port()}/0"
