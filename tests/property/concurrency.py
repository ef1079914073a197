"""Concurrent workloads: run them on threads or processes, check them against the model.

A workload is a list of rounds. In a round the clock stands still at one
instant and several workers race their stores; rounds run one after the
other. Because time does not move within a round, a correct backend's
results in that round can always be reproduced sequentially in this order:
the STORED ones, then the DUPLICATEs by increasing count, then the
RATE_LIMITED ones. ``check_workload`` replays that order into the model and
demands the very same results, which is exactly "the final state is one the
model can reach by some order of the same operations".
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Protocol

from alert_storage import Alert, AlertStorage, StoragePolicy, StoreResult, StoreStatus
from alert_storage.testing import ManualClock

from .backends import open_file_backend, open_redis_backend
from .model import ReferenceModel

#: (status value, alert id, fingerprint, count, retry_after): picklable.
Outcome = tuple[str, str | None, str, int, float | None]


class _Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class Round:
    """Stores racing at one instant.

    Attributes:
        when: The clock reading of every store in the round.
        ops: (worker index, alert) pairs; each worker runs its own in order.
    """

    when: float
    ops: tuple[tuple[int, Alert], ...]

    def for_worker(self, worker: int) -> list[Alert]:
        """Return the alerts ``worker`` stores in this round, in order."""
        return [alert for w, alert in self.ops if w == worker]


def outcome(result: StoreResult) -> Outcome:
    """Return a store result as plain, picklable values."""
    return (
        result.status.value,
        result.alert_id,
        result.fingerprint,
        result.count,
        result.retry_after,
    )


def run_worker(
    storage: AlertStorage,
    clock: ManualClock | None,
    rounds: Sequence[Round],
    worker: int,
    barrier: _Barrier,
) -> list[list[Outcome]]:
    """Run one worker's stores round by round, in step with the other workers.

    Args:
        storage: The storage this worker uses (shared or its own).
        clock: This worker's clock, set at each round; None if the caller
            moves a clock shared by every worker.
        rounds: The whole workload.
        worker: This worker's index.
        barrier: Shared by every worker (and, with a shared clock, the caller).

    Returns:
        This worker's outcomes, one list per round.
    """
    out: list[list[Outcome]] = []
    for round_ in rounds:
        if clock is not None:
            clock.set(round_.when)
        barrier.wait(timeout=60)
        out.append([outcome(storage.store(a)) for a in round_.for_worker(worker)])
        barrier.wait(timeout=60)
    return out


def process_worker(
    kind: str,
    target: tuple[str, str],
    policy: StoragePolicy,
    rounds: Sequence[Round],
    worker: int,
    barrier: _Barrier,
    results: Any,
) -> None:
    """Entry point of a worker process: open its own storage, run, report.

    Args:
        kind: ``"file"`` or ``"redis"``.
        target: ``(directory, "")`` for a file, ``(url, namespace)`` for Redis.
        policy: The policy shared by every worker.
        rounds: The whole workload.
        worker: This worker's index.
        barrier: A multiprocessing barrier shared by the workers.
        results: A multiprocessing queue receiving ``(worker, outcomes)``.
    """
    clock = ManualClock(rounds[0].when)
    with ExitStack() as stack:
        if kind == "file":
            storage = open_file_backend(
                stack, Path(target[0]), policy=policy, clock=clock
            )
        else:
            storage = open_redis_backend(
                stack, target[0], target[1], policy=policy, clock=clock, drop=False
            )
        results.put((worker, run_worker(storage, clock, rounds, worker, barrier)))


def run_threads(
    storage: AlertStorage, clock: ManualClock, rounds: Sequence[Round], workers: int
) -> list[list[Outcome]]:
    """Run a workload on ``workers`` threads sharing one storage and clock.

    Returns:
        Per round, the outcomes in the order of the round's ops.
    """
    barrier = threading.Barrier(workers + 1)
    per_worker: dict[int, list[list[Outcome]]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            per_worker[worker] = run_worker(storage, None, rounds, worker, barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
            raise

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for round_ in rounds:
            clock.set(round_.when)
            barrier.wait(timeout=60)
            barrier.wait(timeout=60)
    finally:
        for thread in threads:
            thread.join(timeout=60)
    if errors:
        raise errors[0]
    return merge_outcomes(rounds, per_worker)


def merge_outcomes(
    rounds: Sequence[Round], per_worker: dict[int, list[list[Outcome]]]
) -> list[list[Outcome]]:
    """Put each worker's outcomes back in the order of each round's ops."""
    merged: list[list[Outcome]] = []
    for index, round_ in enumerate(rounds):
        queues = {w: list(rounds_out[index]) for w, rounds_out in per_worker.items()}
        merged.append([queues[w].pop(0) for w, _ in round_.ops])
    return merged


def check_workload(
    policy: StoragePolicy, rounds: Sequence[Round], outcomes: list[list[Outcome]]
) -> ReferenceModel:
    """Check the point-5 invariants, then replay the canonical order into the model.

    Returns:
        The model after the replay, to compare the final state with.
    """
    check_dedup_counts(rounds, outcomes)
    check_admission_windows(policy, rounds, outcomes)
    model = ReferenceModel(policy)
    for round_, results in zip(rounds, outcomes, strict=True):
        order = sorted(range(len(results)), key=lambda i: _rank(results[i]))
        for i in order:
            got = results[i]
            new_id = got[1] or f"<no id #{i}>"
            want = astuple(model.store(round_.ops[i][1], round_.when, new_id))
            want = (want[0].value, *want[1:])
            assert got == want, f"at {round_.when}: backend {got}, model {want}"
    return model


def check_dedup_counts(rounds: Sequence[Round], outcomes: list[list[Outcome]]) -> None:
    """One new alert per fingerprint and round; counts per alert without gaps."""
    counts: dict[str, list[int]] = defaultdict(list)
    for round_, results in zip(rounds, outcomes, strict=True):
        stored = Counter(r[2] for r in results if r[0] == StoreStatus.STORED.value)
        twice = [fp for fp, n in stored.items() if n > 1]
        assert not twice, f"at {round_.when}: two alerts created for {twice}"
        for status, alert_id, _, count, _ in results:
            if status != StoreStatus.RATE_LIMITED.value:
                counts[str(alert_id)].append(count)
    for alert_id, seen in counts.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), (alert_id, seen)


def check_admission_windows(
    policy: StoragePolicy, rounds: Sequence[Round], outcomes: list[list[Outcome]]
) -> None:
    """No source gets more than ``rate_limit`` admissions in any rate window."""
    admitted: Counter[tuple[str, float]] = Counter()
    for round_, results in zip(rounds, outcomes, strict=True):
        for (_, alert), result in zip(round_.ops, results, strict=True):
            if result[0] == StoreStatus.STORED.value:
                admitted[(alert.source, round_.when)] += 1
    for (source, end), _ in admitted.items():
        in_window = sum(
            n
            for (s, t), n in admitted.items()
            if s == source and end - policy.rate_window < t <= end
        )
        assert in_window <= policy.rate_limit, (source, end, in_window)


def check_final_state(storage: AlertStorage, model: ReferenceModel, now: float) -> None:
    """The storage holds exactly what the model holds, in the same order."""
    everything = 10_000
    got = [a.to_dict() for a in storage.get_active(limit=everything)]
    assert got == model.get_active(now, limit=everything)
    assert storage.count_active() == model.count_active(now)
    for alert_id in model.alerts:
        found = storage.get(alert_id)
        assert (found.to_dict() if found else None) == model.get(alert_id, now)


def _rank(result: Outcome) -> tuple[int, int]:
    order = {"stored": 0, "duplicate": 1, "rate_limited": 2}
    return (order[result[0]], result[3])
