"""The file backend: an append-only JSON Lines journal that processes can share.

Each line of ``journal.jsonl`` is one record: a JSON array of the engine events
one mutating call produced, so after a crash a call is kept whole or not at
all. Every process keeps the state in memory, rebuilt from the journal on open
and kept current by applying what other processes appended since its last
call. A lock file (portalocker, exclusive for writes, shared for catching up)
orders the writers; see ``docs/file-backend.md``.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard, TypeVar

import portalocker

from alert_storage.base import ActiveQuery, AlertStorage, ReplayItem
from alert_storage.codec import dumps_line, loads
from alert_storage.engine import AlertState, Event
from alert_storage.errors import ConfigurationError, StorageUnavailableError
from alert_storage.model import Alert, StoreResult
from alert_storage.policy import StoragePolicy

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "journal.lock"
FSYNC_POLICIES = ("always", "batch", "never")
_READ_CHUNK = 16 * 1024 * 1024
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_EXCLUSIVE = int(portalocker.LockFlags.EXCLUSIVE)
_SHARED = int(portalocker.LockFlags.SHARED)
_UNLOCK = int(portalocker.LockFlags.UNBLOCK)
_T = TypeVar("_T")
_Operation = Callable[[AlertState, float], _T]

# portalocker locks with fcntl.flock on POSIX; calling that primitive directly
# skips portalocker's per-call flag checks, a fifth of a store's time. The
# backend relies on flock semantics (a lock belongs to an open file, so two
# storages in one process exclude each other); if portalocker is configured
# with another locker, locking goes through portalocker.lock instead.
_FLOCK = (
    fcntl.flock if fcntl and portalocker.portalocker.LOCKER is fcntl.flock else None
)

# Open storages, so that a forked child stops sharing its parent's descriptors
# (flock locks belong to the open file description, which fork shares).
_OPEN: weakref.WeakSet[FileStorage] = weakref.WeakSet()


class FileStorage(AlertStorage):
    """Alerts kept in a directory, shared safely by threads and processes.

    Args:
        directory: Where the journal and its lock file live; created (mode
            0o700) if missing. Files are created readable by the owner only.
        policy: Windows and limits.
        clock: Time source in epoch seconds.
        fsync: ``"always"`` syncs every write before returning; ``"batch"``
            syncs when ``fsync_interval`` seconds have passed since the last
            sync, and on close; ``"never"`` leaves it to the operating system.
        fsync_interval: Seconds between syncs with ``fsync="batch"``.
        compact_bytes: Rewrite the journal from the live state once it is at
            least this big and twice its size after the previous rewrite.

    Raises:
        ConfigurationError: an option is invalid.
        StorageUnavailableError: the directory or journal cannot be opened.
    """

    backend_name = "file"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
        fsync: str = "batch",
        fsync_interval: float = 0.05,
        compact_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(policy=policy, clock=clock)
        _check_options(directory, fsync, fsync_interval, compact_bytes)
        self._directory = os.path.abspath(os.fspath(directory))
        self._journal_path = os.path.join(self._directory, JOURNAL_NAME)
        self._lock_path = os.path.join(self._directory, LOCK_NAME)
        self._fsync = fsync
        self._fsync_interval = float(fsync_interval)
        self._compact_bytes = compact_bytes
        self._mutex = threading.Lock()
        self._state = self._new_state()
        self._journal_fd = -1
        self._lock_fd = -1
        self._flags = _EXCLUSIVE
        self._offset = 0
        self._base_size = 0
        self._stale = True
        self._closed = False
        self._unsynced = False
        self._synced_at = time.monotonic()
        self._compactions = 0
        self._skipped_records = 0
        self._open()
        _OPEN.add(self)

    def __repr__(self) -> str:
        return f"FileStorage(directory={self._directory!r}, fsync={self._fsync!r})"

    # -- opening ----------------------------------------------------------------

    def _new_state(self) -> AlertState:
        return AlertState(self.policy, backend="file", journal=True)

    def _open(self) -> None:
        try:
            os.makedirs(self._directory, mode=0o700, exist_ok=True)
            self._lock_fd = _open_file(self._lock_path)
            _lock_file(self._lock_fd, _EXCLUSIVE)
            try:
                self._remove_temp_files()
                self._refresh(writing=True)
                if self._fsync != "never":
                    _sync_directory(self._directory)
            finally:
                self._unlock()
        except OSError as exc:
            self._close_files()
            raise self._unavailable("cannot open", exc) from exc
        logger.debug("opened %r at offset %d", self, self._offset)

    def _remove_temp_files(self) -> None:
        # Left by a compaction that crashed; only a writer holding the
        # exclusive lock compacts, so none of these is in use now.
        prefix = JOURNAL_NAME + "."
        for name in os.listdir(self._directory):
            if name.startswith(prefix) and name.endswith(".tmp"):
                os.unlink(os.path.join(self._directory, name))
                logger.warning("removed %s left by an interrupted compaction", name)

    def _after_fork(self) -> None:
        # Runs in a forked child: the inherited descriptors share the parent's
        # locks and offsets, so drop them and reopen on the next call.
        self._mutex = threading.Lock()
        for fd in (self._journal_fd, self._lock_fd):
            if fd >= 0:
                _close_quietly(fd)
        self._journal_fd = self._lock_fd = -1
        self._stale = True
        self._unsynced = False

    # -- the locked sections -------------------------------------------------------

    def _mutate(self, operation: _Operation[_T]) -> _T:
        """Run a state change under the exclusive lock and journal its events."""
        with self._mutex:
            self._lock(_EXCLUSIVE)
            try:
                self._refresh(writing=True)
                now = self.clock()
                result = self._run(operation, now)
                events = self._state.events
                if events:
                    self._state.events = []
                    self._append(events)
                    self._maybe_compact()
                return result
            except StorageUnavailableError:
                # A ConnectionError, hence an OSError: already worded.
                raise
            except OSError as exc:
                self._stale = True
                raise self._unavailable("cannot write", exc) from exc
            finally:
                self._unlock()

    def _read(self, operation: _Operation[_T]) -> _T:
        """Run a query on the state, first applying what others appended."""
        with self._mutex:
            if self._closed:
                raise StorageUnavailableError("file storage is closed")
            if self._stale or self._journal_changed():
                self._lock(_SHARED)
                try:
                    self._refresh(writing=False)
                except OSError as exc:
                    self._stale = True
                    raise self._unavailable("cannot read", exc) from exc
                finally:
                    self._unlock()
            return operation(self._state, self.clock())

    def _run(self, operation: _Operation[_T], now: float) -> _T:
        try:
            return operation(self._state, now)
        except BaseException:
            # The engine applies events as it goes; an exception may leave
            # part of a call applied, so start again from the journal.
            self._stale = True
            self._state.events = []
            raise

    def _lock(self, flags: int) -> None:
        if self._closed:
            raise StorageUnavailableError("file storage is closed")
        try:
            if self._lock_fd < 0:
                self._lock_fd = _open_file(self._lock_path)
            _lock_file(self._lock_fd, flags)
            self._flags = flags
        except OSError as exc:
            self._stale = True
            raise self._unavailable("cannot lock", exc) from exc

    def _unlock(self) -> None:
        if self._lock_fd < 0:
            return
        try:
            _lock_file(self._lock_fd, _UNLOCK)
        except OSError as exc:
            # Only a closed descriptor fails here, and that holds no lock.
            logger.warning("cannot unlock %s: %s", self._lock_path, exc)

    def _relock_if_unlinked(self) -> None:
        # The directory was removed (and maybe made again): a lock on the old
        # file no longer excludes processes that open the new one.
        if os.fstat(self._lock_fd).st_nlink:
            return
        fd = _open_file(self._lock_path)
        try:
            _lock_file(fd, self._flags)
        except OSError:
            os.close(fd)
            raise
        old, self._lock_fd = self._lock_fd, fd
        _close_quietly(old)

    # -- reading the journal ----------------------------------------------------

    def _journal_changed(self) -> bool:
        if self._journal_fd < 0:
            return True
        try:
            status = os.fstat(self._journal_fd)
        except OSError:
            return True  # the refresh under the lock reopens or reports it
        return status.st_size != self._offset or status.st_nlink == 0

    def _refresh(self, *, writing: bool) -> None:
        """Bring the state up to the journal; the file lock is held."""
        if self._stale or self._journal_fd < 0:
            self._rebuild(writing=writing)
            return
        status = os.fstat(self._journal_fd)
        if status.st_nlink == 0 or status.st_size < self._offset:
            # Replaced by another process's compaction (or the directory is
            # gone): the old descriptor no longer sees new records.
            self._rebuild(writing=writing)
        elif status.st_size > self._offset:
            self._catch_up(status.st_size, writing=writing)

    def _rebuild(self, *, writing: bool) -> None:
        self._stale = True
        self._relock_if_unlinked()
        if self._journal_fd >= 0:
            fd, self._journal_fd = self._journal_fd, -1
            _close_quietly(fd)
        self._journal_fd = _open_file(self._journal_path, append=True)
        self._state = self._new_state()
        self._offset = 0
        size = os.fstat(self._journal_fd).st_size
        self._catch_up(size, writing=writing)
        self._base_size = self._offset
        self._stale = False
        logger.debug("rebuilt %r from %d bytes", self, self._offset)

    def _catch_up(self, size: int, *, writing: bool) -> None:
        end = self._apply_range(self._offset, size)
        self._offset = end
        if end < size and writing:
            # Every writer holds the exclusive lock while it appends, so an
            # unfinished line seen under it is the remains of a dead writer.
            logger.warning(
                "dropping %d bytes of a torn record at the end of %s",
                size - end,
                self._journal_path,
            )
            os.ftruncate(self._journal_fd, end)

    def _apply_range(self, start: int, end: int) -> int:
        """Apply the complete records in ``[start, end)``; return where they end."""
        position = start
        pending = b""
        while position < end:
            chunk = os.pread(
                self._journal_fd, min(_READ_CHUNK, end - position), position
            )
            if not chunk:
                break
            position += len(chunk)
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                self._apply_lines(data[:cut])
            pending = data[cut:]
        return position - len(pending)

    def _apply_lines(self, blob: bytes) -> None:
        state = self._state
        for line in blob.split(b"\n"):
            if not line:
                continue
            try:
                events = loads(line)
                if isinstance(events, dict):
                    events = [events]
                for event in events:
                    state.apply(event)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self._skipped_records += 1
                logger.warning(
                    "skipped a corrupt record in %s (%s)",
                    self._journal_path,
                    type(exc).__name__,
                )

    # -- writing the journal ----------------------------------------------------

    def _append(self, events: list[Event]) -> None:
        data = dumps_line(events)
        fd = self._journal_fd
        try:
            _write_all(fd, data)
            if self._fsync == "always":
                _datasync(fd)
            elif self._fsync == "batch":
                self._batch_sync(fd)
        except OSError:
            # Take back a partial or unsynced record so the journal holds only
            # whole calls the caller saw succeed.
            self._truncate_quietly(fd, self._offset)
            raise
        self._offset += len(data)

    def _batch_sync(self, fd: int) -> None:
        now = time.monotonic()
        if now - self._synced_at >= self._fsync_interval:
            _datasync(fd)
            self._synced_at = now
            self._unsynced = False
        else:
            self._unsynced = True

    def _truncate_quietly(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            # The next writer cuts the torn tail; readers skip it meanwhile.
            logger.warning("cannot take back a failed write: %s", exc)

    def _maybe_compact(self) -> None:
        if self._offset < self._compact_bytes or self._offset < 2 * self._base_size:
            return
        try:
            self._compact()
        except OSError as exc:
            # The call itself succeeded; try again once the journal doubles.
            self._base_size = self._offset
            logger.warning("compaction of %s failed: %s", self._journal_path, exc)

    def _compact(self) -> None:
        """Rewrite the journal as the events of the live state, atomically."""
        before = self._offset
        data = b"".join(dumps_line([event]) for event in self._state.snapshot())
        temp = f"{self._journal_path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._journal_path)
        except OSError:
            _unlink_quietly(temp)
            raise
        new_fd = _open_file(self._journal_path, append=True)
        old, self._journal_fd = self._journal_fd, new_fd
        _close_quietly(old)
        self._offset = self._base_size = len(data)
        self._unsynced = False
        self._compactions += 1
        _sync_directory(self._directory)
        logger.info(
            "compacted %s from %d to %d bytes", self._journal_path, before, len(data)
        )

    # -- backend interface ----------------------------------------------------------

    def ping(self) -> bool:
        """Return True if a new file can be written in the directory now."""
        if self._closed:
            return False
        name = f".ping.{os.getpid()}.{threading.get_ident()}"
        probe = os.path.join(self._directory, name)
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _CLOEXEC, 0o600)
            try:
                os.write(fd, b"\n")
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Sync unsynced writes (unless ``fsync="never"``) and close the files.

        Raises:
            StorageUnavailableError: the final sync failed; the files are
                closed anyway.
        """
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            _OPEN.discard(self)
            failure: OSError | None = None
            if self._unsynced and self._journal_fd >= 0:
                try:
                    _datasync(self._journal_fd)
                except OSError as exc:
                    failure = exc
            self._close_files()
        if failure is not None:
            raise self._unavailable("cannot sync on close", failure) from failure

    def metrics(self) -> dict[str, Any]:
        """Return operation metrics plus the journal's size and compactions."""
        result = super().metrics()
        result["journal"] = {
            "bytes": self._offset,
            "compactions": self._compactions,
            "skipped_records": self._skipped_records,
        }
        return result

    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]:
        return self._mutate(lambda state, now: state.store_batch(alerts, now))

    def _get(self, alert_id: str) -> Alert | None:
        return self._read(lambda state, now: state.get(alert_id, now))

    def _get_active(self, query: ActiveQuery) -> list[Alert]:
        return self._read(lambda state, now: state.get_active(query, now))

    def _resolve(self, fingerprint: str) -> bool:
        return self._mutate(lambda state, now: state.resolve(fingerprint, now))

    def _count_active(self) -> int:
        return self._read(lambda state, now: state.count_active(now))

    def export_pending(self) -> list[ReplayItem]:
        """Return every alert and resolve intent held, in original order."""
        return self._read(lambda state, now: state.export_pending(now))

    def count_pending(self) -> int:
        """Return how many alerts and resolve intents are held."""
        return self._read(lambda state, now: state.count_pending())

    def discard_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Forget replayed items unchanged since their export."""
        self._mutate(lambda state, now: state.discard(items))

    def record_resolve_intent(self, fingerprint: str, at: float) -> None:
        """Keep a resolve of an alert not held here, for replay."""
        self._mutate(lambda state, now: state.record_intent(fingerprint, at))

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge items replayed from a lower tier, idempotently."""
        self._mutate(lambda state, now: state.import_items(items, now))

    # -- helpers ----------------------------------------------------------------

    def _close_files(self) -> None:
        for fd in (self._journal_fd, self._lock_fd):
            if fd >= 0:
                _close_quietly(fd)
        self._journal_fd = self._lock_fd = -1

    def _unavailable(self, action: str, exc: BaseException) -> StorageUnavailableError:
        code = getattr(exc, "errno", None)
        reason = errno.errorcode.get(code or 0, type(exc).__name__)
        return StorageUnavailableError(
            f"file storage in {self._directory}: {action} the journal ({reason})"
        )


def _check_options(
    directory: object, fsync: object, fsync_interval: object, compact_bytes: object
) -> None:
    if not isinstance(directory, (str, os.PathLike)):
        raise ConfigurationError("directory must be a str or a path")
    if not isinstance(fsync, str) or fsync not in FSYNC_POLICIES:
        raise ConfigurationError(
            f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r:.40}"
        )
    if not _is_number(fsync_interval) or not 0 <= fsync_interval < math.inf:
        raise ConfigurationError("fsync_interval must be a finite number >= 0")
    if isinstance(compact_bytes, bool) or not isinstance(compact_bytes, int):
        compact_bytes = 0
    if compact_bytes < 1:
        raise ConfigurationError("compact_bytes must be a positive integer")


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lock_file(fd: int, flags: int) -> None:
    """Lock (or with ``_UNLOCK`` release) the lock file.

    Raises:
        OSError: the lock could not be taken or released.
    """
    try:
        if _FLOCK is not None:
            _FLOCK(fd, flags)
        else:  # pragma: no cover - a locker other than flock is configured
            portalocker.lock(fd, portalocker.LockFlags(flags))
    except portalocker.LockException as exc:  # pragma: no cover - see above
        code = getattr(exc.__cause__, "errno", None) or errno.ENOLCK
        raise OSError(code, "cannot lock the journal") from exc


def _open_file(path: str, *, append: bool = False) -> int:
    flags = os.O_RDWR | os.O_CREAT | _CLOEXEC
    if append:
        flags |= os.O_APPEND
    return os.open(path, flags, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _datasync(fd: int) -> None:
    # fdatasync skips metadata an append does not need (mtime) but still
    # flushes the new size; it is missing on macOS.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def _sync_directory(directory: str) -> None:
    # Makes a created or renamed journal entry itself survive a power loss.
    fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as exc:
        logger.debug("closing descriptor %d failed: %s", fd, exc)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        logger.debug("cannot remove %s: %s", path, exc)


def _reopen_after_fork() -> None:
    for storage in list(_OPEN):
        storage._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reopen_after_fork)
