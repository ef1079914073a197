"""Every backend, driven by random operations, answers exactly as the model does."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .cascade_machine import CascadeMachine
from .machine import StorageMachine


def _run(kind: str, share: float, redis_url: str | None = None) -> None:
    """Run the machine on ``kind`` for ``share`` of the profile's examples.

    Memory gets the full share because it is cheap and shares its engine
    with the file backend; fakeredis runs the same Lua as real Redis but
    slowly, so it gets the smallest share.
    """
    machine = type(
        f"StorageMachine_{kind}",
        (StorageMachine,),
        {"kind": kind, "redis_url": redis_url},
    )
    _run_machine(machine, share)


def _run_machine(machine: type[StorageMachine], share: float) -> None:
    current = settings.default or settings()
    examples = max(5, int(current.max_examples * share))
    machine.tally = Counter()
    # A deadline would bound a whole run of many steps, not one operation.
    run_state_machine_as_test(
        machine, settings=settings(max_examples=examples, deadline=None)
    )
    # Shown with -rP: how much work the run did, for docs/testing.md.
    tally = machine.tally
    print(f"{machine.__name__}: {tally['runs']} runs, {tally['steps']} steps")


@pytest.mark.memory
def test_memory_matches_model() -> None:
    """MemoryStorage agrees with the model after every step."""
    _run("memory", 1.0)


@pytest.mark.file
def test_file_matches_model() -> None:
    """FileStorage agrees with the model after every step."""
    _run("file", 0.5)


@pytest.mark.fakeredis
def test_fakeredis_matches_model() -> None:
    """RedisStorage on fakeredis (Lua scripts) agrees with the model."""
    _run("fakeredis", 0.3)


@pytest.mark.redis
def test_real_redis_matches_model(redis_url: str) -> None:
    """RedisStorage on the shared Redis server agrees with the model."""
    _run("redis", 0.6, redis_url)


@pytest.mark.cascade
@pytest.mark.fakeredis
def test_cascade_without_outages_matches_model() -> None:
    """With every tier up, the cascade is indistinguishable from one backend."""
    machine = type("CascadeAlwaysUp", (CascadeMachine,), {"outages": False})
    _run_machine(machine, 0.3)


@pytest.mark.cascade
@pytest.mark.fakeredis
def test_cascade_with_outages_matches_model() -> None:
    """Redis going down and back: the file tier serves, then is replayed."""
    _run_machine(CascadeMachine, 0.5)
