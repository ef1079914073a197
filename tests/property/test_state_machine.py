"""Every backend, driven by random operations, answers exactly as the model does."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .machine import StorageMachine


def _run(kind: str, redis_url: str | None = None) -> None:
    machine = type(
        f"StorageMachine_{kind}",
        (StorageMachine,),
        {"kind": kind, "redis_url": redis_url},
    )
    # A deadline would bound a whole run of many steps, not one operation.
    run_state_machine_as_test(machine, settings=settings(deadline=None))


@pytest.mark.memory
def test_memory_matches_model() -> None:
    """MemoryStorage agrees with the model after every step."""
    _run("memory")


@pytest.mark.file
def test_file_matches_model() -> None:
    """FileStorage agrees with the model after every step."""
    _run("file")


@pytest.mark.fakeredis
def test_fakeredis_matches_model() -> None:
    """RedisStorage on fakeredis (Lua scripts) agrees with the model."""
    _run("fakeredis")


@pytest.mark.redis
def test_real_redis_matches_model(redis_url: str) -> None:
    """RedisStorage on the shared Redis server agrees with the model."""
    _run("redis", redis_url)
