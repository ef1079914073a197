"""What only the file backend promises: persistence, sharing, compaction, faults."""

from __future__ import annotations

import errno
import fcntl
import json
import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alert_storage import (
    Alert,
    FileStorage,
    ResolveIntent,
    StoragePolicy,
    StorageUnavailableError,
    StoreStatus,
)
from alert_storage.errors import ConfigurationError
from alert_storage.testing import ManualClock

pytestmark = pytest.mark.file

JOURNAL = "journal.jsonl"


def _alert(name: str = "DiskFull", source: str = "db", **labels: str) -> Alert:
    return Alert(name, "critical", source, f"{name} on {source}", labels)


def _journal_lines(directory: Path) -> list[Any]:
    raw = (directory / JOURNAL).read_bytes()
    assert raw.endswith(b"\n") or not raw
    return [json.loads(line) for line in raw.splitlines()]


def _shape(storage: FileStorage) -> list[tuple[Any, ...]]:
    """Everything a storage holds, independent of the random alert ids."""
    rows: list[tuple[Any, ...]] = []
    for item in storage.export_pending():
        if isinstance(item, ResolveIntent):
            rows.append(("intent", item.fingerprint, item.at))
        else:
            rows.append((item.fingerprint, item.count, item.first_seen, item.last_seen))
            rows.append((item.fingerprint, item.status, item.resolved_at))
    return sorted(rows, key=repr)


@pytest.fixture
def clock() -> ManualClock:
    """A clock moved by hand, shared by every storage a test opens."""
    return ManualClock()


@pytest.fixture
def open_file(
    tmp_path: Path, clock: ManualClock
) -> Iterator[Callable[..., FileStorage]]:
    """Open file storages on ``tmp_path / "alerts"`` (by default); close at teardown."""
    opened: list[FileStorage] = []

    def make(directory: Path | None = None, **options: Any) -> FileStorage:
        options.setdefault("clock", clock)
        storage = FileStorage(directory or tmp_path / "alerts", **options)
        opened.append(storage)
        return storage

    yield make
    for storage in opened:
        storage.close()


# -- persistence -------------------------------------------------------------


def test_reopen_keeps_stores_duplicates_and_resolves(
    open_file: Callable[..., FileStorage], clock: ManualClock
) -> None:
    """A reopened storage holds the same alerts, counts and resolutions."""
    first = open_file()
    stored = first.store(_alert("A"))
    first.store(_alert("A"))
    clock.advance(1)
    first.store(_alert("A"))
    resolved = first.store(_alert("B"))
    assert first.resolve(resolved.fingerprint)
    before = _shape(first)
    first.close()

    second = open_file()
    assert _shape(second) == before
    again = second.get(stored.alert_id or "")
    assert again is not None and again.count == 3
    assert second.count_active() == 1
    assert second.store(_alert("A")).status is StoreStatus.DUPLICATE


def test_reopen_keeps_the_rate_limit_window(
    open_file: Callable[..., FileStorage], clock: ManualClock
) -> None:
    """Admissions survive a reopen: the limit and its retry_after are unchanged."""
    policy = StoragePolicy(rate_limit=3, rate_window=60)
    first = open_file(policy=policy)
    for i in range(3):
        first.store(_alert(f"R{i}"))
        clock.advance(10)
    limited = first.store(_alert("R3"))
    first.close()

    second = open_file(policy=policy)
    again = second.store(_alert("R3"))
    assert again.status is StoreStatus.RATE_LIMITED
    assert again.retry_after == limited.retry_after == 30
    clock.advance(30)
    assert second.store(_alert("R3")).status is StoreStatus.STORED


def test_reopen_keeps_replay_markers_and_intents(
    open_file: Callable[..., FileStorage], clock: ManualClock, tmp_path: Path
) -> None:
    """Merge markers, resolve intents and discards are journaled like stores."""
    lower = open_file(tmp_path / "lower")
    lower.store(_alert("Replayed"))
    lower.store(_alert("Replayed"))
    exported = lower.export_pending()
    first = open_file(tmp_path / "upper")
    first.import_replayed(exported)
    first.record_resolve_intent("0123456789abcdef", clock())
    kept = first.store(_alert("Kept"))
    mine = [i for i in first.export_pending() if isinstance(i, Alert)]
    first.discard_replayed([i for i in mine if i.id == kept.alert_id])
    first.close()

    second = open_file(tmp_path / "upper")
    second.import_replayed(exported)
    [merged] = [a for a in second.export_pending() if isinstance(a, Alert)]
    assert merged.count == 2
    assert second.get(exported[0].id or "") == merged
    assert ResolveIntent("0123456789abcdef", clock()) in second.export_pending()
    assert second.get(kept.alert_id or "") is None
    assert second.count_pending() == 2


def test_one_line_per_call(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """Each mutating call is one JSON array on one line, so it survives whole or not."""
    storage = open_file()
    storage.store_many([_alert("L1"), _alert("L2"), _alert("L1")])
    storage.store(_alert("L3"))
    storage.resolve(_alert("L3").fingerprint)
    assert storage.resolve(_alert("none").fingerprint) is False
    lines = _journal_lines(tmp_path / "alerts")
    assert [len(line) for line in lines] == [3, 1, 1]
    assert [[event["t"] for event in line] for line in lines] == [
        ["put", "put", "dup"],
        ["put"],
        ["put"],
    ]


# -- sharing -----------------------------------------------------------------


def test_two_storages_in_one_process_see_each_other(
    open_file: Callable[..., FileStorage],
) -> None:
    """Two storages on one directory read each other's stores and resolves."""
    left, right = open_file(), open_file()
    stored = left.store(_alert("Shared"))
    assert right.store(_alert("Shared")).status is StoreStatus.DUPLICATE
    seen = left.get(stored.alert_id or "")
    assert seen is not None and seen.count == 2
    assert right.resolve(stored.fingerprint)
    assert left.count_active() == 0
    assert left.resolve(stored.fingerprint) is False


def _race(directory: str, mode: str, rounds: int, barrier: Any, queue: Any) -> None:
    policy = StoragePolicy(rate_limit=25, rate_window=3600)
    with FileStorage(directory, policy=policy, fsync="never") as storage:
        barrier.wait()
        out = []
        for i in range(rounds):
            name = "Same" if mode == "same" else f"N{os.getpid()}-{i}"
            result = storage.store(Alert(name, "info", "one-source", "m"))
            out.append((result.status.value, result.count))
    queue.put(out)


def _run_processes(directory: Path, mode: str, procs: int, rounds: int) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_race, args=(str(directory), mode, rounds, barrier, queue))
        for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    rows = [row for _ in workers for row in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return rows


def test_processes_storing_one_fingerprint(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """3 processes x 40 stores of one alert: one STORED, 119 DUPLICATE, count 120."""
    rows = _run_processes(tmp_path / "alerts", "same", 3, 40)
    statuses = [StoreStatus(s) for s, _ in rows]
    assert statuses.count(StoreStatus.STORED) == 1
    assert statuses.count(StoreStatus.DUPLICATE) == 119
    assert sorted(c for _, c in rows) == list(range(1, 121))
    [only] = open_file(clock=None).get_active()
    assert only.count == 120


def test_processes_never_exceed_the_rate_limit(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """3 processes storing 20 new alerts each from one source admit exactly 25."""
    rows = _run_processes(tmp_path / "alerts", "many", 3, 20)
    statuses = [StoreStatus(s) for s, _ in rows]
    assert statuses.count(StoreStatus.STORED) == 25
    assert statuses.count(StoreStatus.RATE_LIMITED) == 35
    assert open_file(clock=None).count_active() == 25


def test_forked_child_uses_its_own_descriptors(
    open_file: Callable[..., FileStorage],
) -> None:
    """After fork, parent and child exclude each other: no duplicate lost."""
    storage = open_file()
    storage.store(_alert("Forked"))
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork in a process with threads; the child
        # only stores alerts and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            counts = [storage.store(_alert("Forked")).count for _ in range(300)]
            code = 0 if counts == sorted(set(counts)) else 2
        finally:
            os._exit(code)
    counts = [storage.store(_alert("Forked")).count for _ in range(300)]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counts == sorted(set(counts))
    [alert] = storage.get_active()
    assert alert.count == 601


# -- compaction --------------------------------------------------------------


def test_compaction_keeps_the_state(
    open_file: Callable[..., FileStorage], clock: ManualClock, tmp_path: Path
) -> None:
    """A small compact_bytes rewrites the journal; state is the same, also reopened."""
    policy = StoragePolicy(dedup_window=30, retention=60)
    small = open_file(tmp_path / "small", policy=policy, compact_bytes=2048)
    large = open_file(tmp_path / "large", policy=policy)
    for i in range(600):
        for storage in (small, large):
            storage.store(_alert(f"C{i % 25}", source=f"s{i % 25 % 3}"))
            if i % 7 == 0:
                storage.resolve(
                    _alert(f"C{(i + 1) % 25}", f"s{(i + 1) % 25 % 3}").fingerprint
                )
        clock.advance(0.5)
    assert small.metrics()["journal"]["compactions"] > 2
    assert large.metrics()["journal"]["compactions"] == 0
    size_small = (tmp_path / "small" / JOURNAL).stat().st_size
    assert size_small < (tmp_path / "large" / JOURNAL).stat().st_size / 2
    assert _shape(small) == _shape(large)
    small.close()
    assert _shape(open_file(tmp_path / "small", policy=policy)) == _shape(large)
    assert not [p for p in (tmp_path / "small").iterdir() if p.suffix == ".tmp"]


_COMPACTING_WRITER = """
import sys
from alert_storage import Alert, FileStorage, StoragePolicy
policy = StoragePolicy(rate_limit=10_000)
with FileStorage(sys.argv[1], policy=policy, compact_bytes=4096) as storage:
    for i in range(int(sys.argv[2])):
        storage.store(Alert(f"Child{i}", "info", "child", "m" * 200))
        storage.store(Alert(f"Child{i}", "info", "child", "m" * 200))
    print(storage.metrics()["journal"]["compactions"])
"""


def test_other_process_keeps_working_across_compaction(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """A storage open while another process compacts sees and keeps every alert."""
    policy = StoragePolicy(rate_limit=10_000)
    parent = open_file(policy=policy, clock=None, compact_bytes=4096)
    child = subprocess.Popen(
        [sys.executable, "-c", _COMPACTING_WRITER, str(tmp_path / "alerts"), "150"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stored = [parent.store(_alert(f"Parent{i}")).alert_id for i in range(150)]
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    assert int(out) > 0
    assert parent.count_active() == 300
    assert all(parent.get(alert_id or "") is not None for alert_id in stored)
    assert parent.store(_alert("Parent0")).count == 2
    reopened = open_file(policy=policy, clock=None)
    assert reopened.count_active() == 300
    assert {a.count for a in reopened.get_active(source="child", limit=200)} == {2}


_WITHOUT_ORJSON = """
import sys
sys.modules["orjson"] = None  # the import fails: the json fallback is used
from alert_storage import Alert, FileStorage
with FileStorage(sys.argv[1]) as storage:
    print(storage.store(Alert("Écho", "info", "db", "naïve ✓", {"k": "v\\n{x}"})).count)
"""


def test_journal_is_the_same_with_and_without_orjson(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """Records written with the json fallback and with orjson read back alike."""
    storage = open_file(clock=None)
    storage.store(Alert("Écho", "info", "db", "naïve ✓", {"k": "v\n{x}"}))
    command = [sys.executable, "-c", _WITHOUT_ORJSON, str(tmp_path / "alerts")]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
    [alert] = storage.get_active()
    assert (alert.count, alert.message, alert.labels) == (2, "naïve ✓", {"k": "v\n{x}"})
    assert len(_journal_lines(tmp_path / "alerts")) == 2


# -- options, files, lifecycle -----------------------------------------------


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_fsync_policies_are_accepted(
    open_file: Callable[..., FileStorage], policy: str
) -> None:
    """Each documented fsync policy opens and stores."""
    storage = open_file(fsync=policy)
    assert storage.store(_alert()).status is StoreStatus.STORED
    assert f"fsync={policy!r}" in repr(storage)


@pytest.mark.parametrize(
    "options",
    [
        {"fsync": "sometimes"},
        {"fsync": "ALWAYS"},
        {"fsync": None},
        {"fsync_interval": -1},
        {"fsync_interval": float("inf")},
        {"fsync_interval": True},
        {"compact_bytes": 0},
        {"compact_bytes": 1.5},
    ],
    ids=repr,
)
def test_bad_options_are_rejected(tmp_path: Path, options: dict[str, Any]) -> None:
    """Unknown fsync policies and bad numbers raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        FileStorage(tmp_path / "alerts", **options)
    assert not (tmp_path / "alerts").exists()


def _count_syncs(monkeypatch: pytest.MonkeyPatch, journal: Path) -> list[int]:
    calls: list[int] = []
    inode = journal.stat().st_ino
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def counting(fd: int, real: Callable[[int], None] = real) -> None:
            if os.fstat(fd).st_ino == inode:
                calls.append(fd)
            real(fd)

        monkeypatch.setattr(os, name, counting)
    return calls


@pytest.mark.parametrize(
    ("policy", "interval", "expected"),
    [("always", 0.05, 5), ("batch", 0, 5), ("batch", 3600, 1), ("never", 0, 0)],
)
def test_fsync_calls_follow_the_policy(
    open_file: Callable[..., FileStorage],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    policy: str,
    interval: float,
    expected: int,
) -> None:
    """always syncs each write, batch per interval and on close, never not at all."""
    storage = open_file(fsync=policy, fsync_interval=interval)
    calls = _count_syncs(monkeypatch, tmp_path / "alerts" / JOURNAL)
    for i in range(5):
        storage.store(_alert(f"S{i}"))
    storage.close()
    assert len(calls) == expected


def test_files_are_private(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """The directory is created 0o700 and every file in it 0o600."""
    storage = open_file(tmp_path / "deep" / "alerts", compact_bytes=1)
    storage.store(_alert())
    storage.store(_alert("Other"))
    assert stat.S_IMODE((tmp_path / "deep" / "alerts").stat().st_mode) == 0o700
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in (tmp_path / "deep" / "alerts").iterdir()
    }
    assert modes == {JOURNAL: 0o600, "journal.lock": 0o600}


def test_repr_and_close(open_file: Callable[..., FileStorage], tmp_path: Path) -> None:
    """repr shows directory and fsync only; closed calls raise; close is idempotent."""
    storage = open_file(fsync="never")
    assert repr(storage) == (
        f"FileStorage(directory={str(tmp_path / 'alerts')!r}, fsync='never')"
    )
    stored = storage.store(_alert())
    storage.close()
    storage.close()
    assert storage.ping() is False
    for call in (
        lambda: storage.store(_alert()),
        lambda: storage.get(stored.alert_id or ""),
        lambda: storage.count_active(),
        lambda: storage.resolve(stored.fingerprint),
        lambda: storage.export_pending(),
    ):
        with pytest.raises(StorageUnavailableError, match="closed"):
            call()


def test_directory_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    """A path that cannot be a directory raises StorageUnavailableError on open."""
    (tmp_path / "taken").write_text("not a directory")
    with pytest.raises(StorageUnavailableError) as info:
        FileStorage(tmp_path / "taken")
    assert isinstance(info.value.__cause__, OSError)


# -- faults ------------------------------------------------------------------


def _fail_journal_writes(
    monkeypatch: pytest.MonkeyPatch, journal: Path, *, after_bytes: int = 0
) -> None:
    """Make writes to the journal fail with ENOSPC after ``after_bytes`` more bytes."""
    inode = journal.stat().st_ino
    real_write = os.write
    budget = [after_bytes]

    def write(fd: int, data: Any) -> int:
        if os.fstat(fd).st_ino != inode:
            return real_write(fd, data)
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = real_write(fd, bytes(data)[: budget[0]])
        budget[0] -= written
        return written

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("after_bytes", [0, 40], ids=["no-byte", "short-write"])
def test_disk_full_changes_nothing_and_recovers(
    open_file: Callable[..., FileStorage],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    after_bytes: int,
) -> None:
    """ENOSPC is StorageUnavailableError, applies nothing, heals when space is back."""
    storage = open_file()
    kept = storage.store(_alert("Kept"))
    journal = tmp_path / "alerts" / JOURNAL
    size = journal.stat().st_size
    _fail_journal_writes(monkeypatch, journal, after_bytes=after_bytes)

    with pytest.raises(StorageUnavailableError, match="ENOSPC") as info:
        storage.store(_alert("Lost"))
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StorageUnavailableError):
        storage.store(_alert("Kept"))
    assert journal.stat().st_size == size
    assert storage.count_active() == 1
    still = storage.get(kept.alert_id or "")
    assert still is not None and still.count == 1

    monkeypatch.undo()
    assert storage.store(_alert("Kept")).count == 2
    assert storage.store(_alert("Lost")).status is StoreStatus.STORED
    assert _shape(open_file()) == _shape(storage)


def test_failed_sync_is_taken_back(
    open_file: Callable[..., FileStorage],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """With fsync="always" an fsync error fails the call and removes its record."""
    storage = open_file(fsync="always")
    storage.store(_alert("Kept"))
    journal = tmp_path / "alerts" / JOURNAL
    size = journal.stat().st_size

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(StorageUnavailableError, match="EIO"):
        storage.resolve(_alert("Kept").fingerprint)
    assert journal.stat().st_size == size
    monkeypatch.undo()
    assert storage.count_active() == 1
    assert storage.resolve(_alert("Kept").fingerprint) is True


def test_removed_directory_is_unavailable_until_it_is_back(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """With its directory gone the storage raises and pings False; then works again."""
    directory = tmp_path / "alerts"
    storage = open_file()
    storage.store(_alert("Before"))
    shutil.rmtree(directory)

    assert storage.ping() is False
    with pytest.raises(StorageUnavailableError, match="ENOENT"):
        storage.store(_alert("During"))
    with pytest.raises(StorageUnavailableError, match=r"cannot read.*ENOENT"):
        storage.count_active()

    directory.mkdir(mode=0o700)
    assert storage.ping() is True
    assert storage.store(_alert("After")).status is StoreStatus.STORED
    assert [a.name for a in storage.get_active()] == ["After"]
    other = open_file()
    assert other.store(_alert("After")).count == 2
    assert storage.get_active()[0].count == 2
    _assert_waits_for_the_lock(directory, lambda: storage.store(_alert("After")))


def _assert_waits_for_the_lock(directory: Path, call: Callable[[], object]) -> None:
    """``call`` must not finish while another open file holds the lock file."""
    fd = os.open(directory / "journal.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        worker = threading.Thread(target=call)
        worker.start()
        worker.join(0.3)
        blocked = worker.is_alive()
    finally:
        os.close(fd)
    worker.join(10)
    assert blocked
    assert not worker.is_alive()


def test_corrupt_record_in_the_middle_is_skipped(
    open_file: Callable[..., FileStorage], tmp_path: Path
) -> None:
    """A damaged complete line is skipped and counted; records around it are kept."""
    storage = open_file()
    for name in ("One", "Two", "Three"):
        storage.store(_alert(name))
    storage.close()
    journal = tmp_path / "alerts" / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(
        lines[0] + b'[{"t":"put","a":{}}]\n' + b"\x00garbage\n" + b"".join(lines[1:])
    )

    reopened = open_file()
    assert sorted(a.name for a in reopened.get_active()) == ["One", "Three", "Two"]
    assert reopened.metrics()["journal"]["skipped_records"] == 2
