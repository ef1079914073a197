"""The legacy implementations and the dedup-under-concurrency check."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from alert_storage import Alert, MemoryStorage
from pytest_alertbench.bench import workload
from pytest_alertbench.bench.legacy import (
    DedupCheck,
    LegacyJsonStore,
    dedup_check,
    json_held,
)


def test_json_store_dedups_when_used_from_one_thread(tmp_path: Path) -> None:
    """One writer at a time: the first store is new, the repeats count up."""
    store = LegacyJsonStore(tmp_path / "alerts.json")
    copies = workload.same_alert(5, "one-thread")

    statuses = [store.store(alert) for alert in copies]

    assert statuses == ["stored"] + ["duplicate"] * 4
    assert json_held(store, copies[0]) == (1, 5)


def test_json_store_loses_dedup_when_two_writers_interleave(tmp_path: Path) -> None:
    """Two stores that both read before either writes leave one alert, count 1.

    The hook forces the interleaving unsynchronised writers may have: both
    read, then one writes, then the other overwrites it. The check reports
    the lost sighting.
    """
    both_read = threading.Barrier(2)
    one_wrote = threading.Event()

    def between() -> None:
        if both_read.wait(timeout=10) == 0:
            one_wrote.wait(timeout=10)

    racing = LegacyJsonStore(tmp_path / "alerts.json", between=between)
    copies = workload.same_alert(2, "race")

    def store(alert: Alert) -> str:
        status = racing.store(alert)
        one_wrote.set()
        return status

    check = dedup_check(
        store, lambda: json_held(racing, copies[0]), [[copies[0]], [copies[1]]]
    )

    assert check.stored == 2
    assert (check.alerts_held, check.final_count) == (1, 1)
    assert check.lost_updates == 1
    assert not check.correct


def test_our_storage_passes_the_same_check() -> None:
    """The check calls MemoryStorage correct under real threads."""
    storage = MemoryStorage()
    copies = workload.same_alert(20, "ours")
    probe = copies[0]

    def held() -> tuple[int, int]:
        found = [
            a
            for a in storage.get_active(limit=1000)
            if a.fingerprint == probe.fingerprint
        ]
        return len(found), sum(a.count for a in found)

    check = dedup_check(lambda a: storage.store(a).status.value, held, [copies] * 4)

    assert check.correct
    assert (check.stored, check.final_count) == (1, 80)


@pytest.mark.parametrize(
    ("fields", "correct"),
    [
        ({"stored": 1, "alerts_held": 1, "final_count": 10}, True),
        ({"stored": 2, "alerts_held": 2, "final_count": 10}, False),
        ({"stored": 1, "alerts_held": 1, "final_count": 9}, False),
        ({"stored": 1, "alerts_held": 1, "final_count": 10, "failed": 1}, False),
        ({"stored": 1, "alerts_held": 1, "final_count": 10, "corrupted": True}, False),
    ],
    ids=["exact", "two-alerts", "lost-update", "failed-store", "corrupted"],
)
def test_dedup_check_verdict(fields: dict[str, Any], correct: bool) -> None:
    """Correct means one STORED, one alert, count equal to the stores, no failure."""
    check = DedupCheck(stores=10, **fields)

    assert check.correct is correct
    assert check.as_dict()["correct"] is correct


def test_make_alerts_mixes_repeats_and_is_reproducible() -> None:
    """About dup_ratio of the alerts repeat an earlier one; a seed gives one list."""
    first = workload.make_alerts(400, dup_ratio=0.3, seed=1, prefix="x")
    again = workload.make_alerts(400, dup_ratio=0.3, seed=1, prefix="x")

    repeats = 400 - len({a.fingerprint for a in first})

    assert [a.fingerprint for a in first] == [a.fingerprint for a in again]
    assert 80 < repeats < 160
