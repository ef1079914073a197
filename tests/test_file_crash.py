"""Crashes of the file backend: killed writers and journals cut at any byte."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alert_storage import Alert, FileStorage, ResolveIntent, StoragePolicy
from alert_storage.engine import AlertState
from alert_storage.testing import ManualClock

pytestmark = pytest.mark.file

JOURNAL = "journal.jsonl"
POLICY = StoragePolicy(rate_limit=1_000_000, retention=10**7)

# Stores batches (one journal record each) of new alerts and duplicates and
# prints "<id> <count>" for every result, flushed after each batch.
_WRITER = """
import sys
from alert_storage import Alert, FileStorage, StoragePolicy
policy = StoragePolicy(rate_limit=1_000_000, retention=10**7)
storage = FileStorage(sys.argv[1], policy=policy, fsync=sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    batch = [
        Alert(f"Crash{i}-{j}", "error", f"src{j}", "x" * 2000, {"round": str(i)})
        for j in range(4)
    ]
    batch.append(Alert("Repeated", "warning", "src0", "seen again"))
    for result in storage.store_many(batch):
        sys.stdout.write(f"{result.alert_id} {result.count}\\n")
    sys.stdout.flush()
    i += 1
"""


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
def test_sigkill_keeps_every_reported_store(tmp_path: Path, fsync: str) -> None:
    """A writer killed mid-load loses nothing it reported stored before the kill."""
    directory = tmp_path / "alerts"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory), fsync],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "ready\n"
    lines = [writer.stdout.readline() for _ in range(150)]
    writer.send_signal(signal.SIGKILL)
    rest, _ = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    reported = [line.split() for line in lines if line.endswith("\n")]
    assert len(reported) >= 150

    with FileStorage(directory, policy=POLICY) as storage:
        for alert_id, count in reported:
            alert = storage.get(alert_id)
            assert alert is not None
            assert alert.count >= int(count)
        assert storage.metrics()["journal"]["skipped_records"] == 0
    raw = (directory / JOURNAL).read_bytes()
    assert raw.endswith(b"\n")
    assert all(json.loads(line) for line in raw.splitlines())


def _build_journal(directory: Path) -> None:
    """Write a journal holding every kind of record."""
    clock = ManualClock()
    lower_dir = directory.parent / "lower"
    with FileStorage(lower_dir, policy=POLICY, clock=clock) as lower:
        lower.store(Alert("Imported", "info", "edge", "from below"))
        lower.store(Alert("Imported", "info", "edge", "from below"))
        exported = lower.export_pending()
    with FileStorage(directory, policy=POLICY, clock=clock) as storage:
        for i in range(12):
            storage.store(Alert(f"Cut{i % 5}", "critical", "db", f"msg {i}"))
            clock.advance(7)
            if i % 4 == 3:
                storage.resolve(Alert(f"Cut{i % 5}", "critical", "db", "m").fingerprint)
        storage.store_many(
            [Alert(f"Batch{j}", "warning", "api", "in a batch") for j in range(3)]
        )
        storage.record_resolve_intent("00000000000000ff", clock())
        storage.import_replayed(exported)
        merged = [
            a for a in storage.export_pending() if not isinstance(a, ResolveIntent)
        ]
        storage.discard_replayed(merged[:1])
        storage.store(Alert("Last", "error", "db", "the end"))


def _model(prefix: bytes) -> AlertState:
    """The state the complete lines of ``prefix`` describe, rebuilt independently."""
    state = AlertState(POLICY, backend="file")
    complete = prefix[: prefix.rfind(b"\n") + 1]
    for line in complete.splitlines():
        for event in json.loads(line):
            state.apply(event)
    return state


def test_journal_cut_anywhere_keeps_the_complete_records(tmp_path: Path) -> None:
    """Reopening a journal cut at 30 random offsets keeps exactly the whole lines."""
    _build_journal(tmp_path / "full")
    data = (tmp_path / "full" / JOURNAL).read_bytes()
    assert data.count(b"\n") > 15
    rng = random.Random(20240607)
    line_ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    offsets = rng.sample(range(len(data)), 30) + rng.sample(line_ends, 3) + [0]
    now = ManualClock().advance(200)

    for offset in offsets:
        directory = tmp_path / f"cut-{offset}"
        directory.mkdir(mode=0o700)
        (directory / JOURNAL).write_bytes(data[:offset])
        model = _model(data[:offset])
        with FileStorage(directory, policy=POLICY, clock=lambda: now) as storage:
            assert storage.export_pending() == model.export_pending(now), offset
            assert storage.count_active() == model.count_active(now)
            assert storage.metrics()["journal"]["skipped_records"] == 0
        kept = data[: data.rfind(b"\n", 0, offset) + 1]
        assert (directory / JOURNAL).read_bytes() == kept


def test_writer_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    """The next writer removes a torn last line, so its record follows whole lines."""
    directory = tmp_path / "alerts"
    with FileStorage(directory, policy=POLICY) as storage:
        first = storage.store(Alert("Whole", "info", "db", "kept"))
    journal = directory / JOURNAL
    with journal.open("ab") as handle:
        handle.write(b'[{"t":"put","a":{"id":"torn')

    with FileStorage(directory, policy=POLICY) as storage:
        second = storage.store(Alert("After", "info", "db", "appended"))
    lines = journal.read_bytes().splitlines()
    assert [len(json.loads(line)) for line in lines] == [1, 1]
    with FileStorage(directory, policy=POLICY) as storage:
        assert storage.get(first.alert_id or "") is not None
        assert storage.get(second.alert_id or "") is not None


def test_reader_ignores_a_torn_tail_it_may_not_cut(tmp_path: Path) -> None:
    """A reading storage skips a torn tail without error and sees later records."""
    directory = tmp_path / "alerts"
    reader = FileStorage(directory, policy=POLICY)
    writer = FileStorage(directory, policy=POLICY)
    try:
        writer.store(Alert("Before", "info", "db", "m"))
        with (directory / JOURNAL).open("ab") as handle:
            handle.write(b'[{"t":"pu')
        assert reader.count_active() == 1
        writer.store(Alert("After", "info", "db", "m"))
        assert reader.count_active() == 2
    finally:
        reader.close()
        writer.close()


def test_interrupted_compaction_leaves_the_journal_intact(tmp_path: Path) -> None:
    """A temp file from a compaction that died is removed; the journal is used."""
    directory = tmp_path / "alerts"
    with FileStorage(directory, policy=POLICY) as storage:
        stored = storage.store(Alert("Survivor", "info", "db", "m"))
    leftover = directory / f"{JOURNAL}.4242.deadbeef.tmp"
    leftover.write_bytes(b'[{"t":"put"')

    with FileStorage(directory, policy=POLICY) as storage:
        assert storage.get(stored.alert_id or "") is not None
    assert not leftover.exists()
