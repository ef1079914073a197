"""Racing stores on threads and processes end in a state the model can reach.

Random workloads of rounds (the clock stands still within a round) are run
by several workers at once. Every backend must hand out dedup counts without
gaps, never admit more than the rate limit in any window, and give results
(and a final state) that a sequential order of the same stores gives in the
model.
"""

from __future__ import annotations

import multiprocessing
import queue
from contextlib import ExitStack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alert_storage import StoragePolicy
from alert_storage.testing import ManualClock

from .backends import (
    ALL_KINDS,
    open_backend,
    open_file_backend,
    open_redis_backend,
    temp_dir,
    unique_namespace,
)
from .concurrency import (
    Outcome,
    Round,
    check_final_state,
    check_workload,
    merge_outcomes,
    process_worker,
    run_threads,
)
from .strategies import START, policies, pool_alerts

THREADS = 4
PROCESSES = 3
ROUND_STEPS = (0.5, 2.0, 7.0)


def _examples(fraction: float) -> int:
    """Return a share of the active profile's ``max_examples`` (at least 2)."""
    current = settings.default or settings()
    return max(2, int(current.max_examples * fraction))


@st.composite
def workloads(draw: st.DrawFn, workers: int) -> list[Round]:
    """Return one to three rounds of up to 24 stores spread over ``workers``."""
    rounds: list[Round] = []
    when = START
    for index in range(draw(st.integers(1, 3))):
        if index:
            when += draw(st.sampled_from(ROUND_STEPS))
        ops = draw(
            st.lists(
                st.tuples(st.integers(0, workers - 1), pool_alerts()),
                min_size=1,
                max_size=24,
            )
        )
        rounds.append(Round(when, tuple(ops)))
    return rounds


def _kind_params(kinds: tuple[str, ...]) -> list[object]:
    marks = {"cascade": [pytest.mark.cascade, pytest.mark.fakeredis]}
    return [
        pytest.param(k, marks=marks.get(k, [getattr(pytest.mark, k)])) for k in kinds
    ]


@pytest.mark.parametrize("kind", _kind_params(ALL_KINDS))
def test_threads_reach_a_model_state(kind: str, request: pytest.FixtureRequest) -> None:
    """Threads sharing one storage: counts, limits and results as in the model."""
    url = request.getfixturevalue("redis_url") if kind == "redis" else None

    @settings(max_examples=_examples(0.5), deadline=None)
    @given(policy=policies(), rounds=workloads(THREADS))
    def run(policy: StoragePolicy, rounds: list[Round]) -> None:
        clock = ManualClock(rounds[0].when)
        with ExitStack() as stack:
            storage = open_backend(
                kind, stack, policy=policy, clock=clock, redis_url=url
            )
            outcomes = run_threads(storage, clock, rounds, THREADS)
            model = check_workload(policy, rounds, outcomes)
            check_final_state(storage, model, clock())

    run()


@pytest.mark.parametrize("kind", _kind_params(("file", "redis")))
def test_processes_reach_a_model_state(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Processes, each with its own storage on one directory or namespace."""
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    context = multiprocessing.get_context("spawn")

    @settings(max_examples=_examples(0.05), deadline=None)
    @given(policy=policies(), rounds=workloads(PROCESSES))
    def run(policy: StoragePolicy, rounds: list[Round]) -> None:
        with ExitStack() as stack:
            clock = ManualClock(rounds[-1].when)
            if kind == "file":
                directory = temp_dir(stack)
                target = (str(directory), "")
                storage = open_file_backend(
                    stack, directory, policy=policy, clock=clock
                )
            else:
                target = (url, unique_namespace())
                storage = open_redis_backend(
                    stack, url, target[1], policy=policy, clock=clock
                )
            outcomes = _run_processes(context, kind, target, policy, rounds)
            model = check_workload(policy, rounds, outcomes)
            check_final_state(storage, model, clock())

    run()


def _run_processes(
    context: multiprocessing.context.SpawnContext,
    kind: str,
    target: tuple[str, str],
    policy: StoragePolicy,
    rounds: list[Round],
) -> list[list[Outcome]]:
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(
            target=process_worker,
            args=(kind, target, policy, rounds, w, barrier, results),
        )
        for w in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    per_worker: dict[int, list[list[Outcome]]] = {}
    try:
        for _ in workers:
            w, out = results.get(timeout=120)
            per_worker[w] = out
    except queue.Empty:
        pytest.fail("a worker process did not report")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert all(w.exitcode == 0 for w in workers)
    return merge_outcomes(rounds, per_worker)
