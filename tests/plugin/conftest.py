"""Fixtures for the plugin's own tests."""

from __future__ import annotations

import pytest

from pytest_alertbench.config import ENV_REDIS_URL
from pytest_alertbench.servers import free_port


@pytest.fixture
def bench_pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose runs see no Redis URL from the environment.

    Its runs leave out the hypothesis plugin: pytester drops the modules a run
    imported, so every run would import and assertion-rewrite hypothesis anew,
    which costs seconds per run and tests nothing of ours.
    """
    monkeypatch.delenv(ENV_REDIS_URL, raising=False)
    # Warnings are errors, as in the project's own runs, except the one that
    # says the already imported project cannot be assertion-rewritten again.
    monkeypatch.setenv(
        "PYTEST_ADDOPTS",
        "-p no:hypothesispytest -W error -W ignore::pytest.PytestAssertRewriteWarning",
    )
    return pytester


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL with a password, on a port nothing listens on."""
    return f"redis://alice:hunter2@127.0.0.1:{free_port()}/0"
