"""The machine's own floor: a bare PING, a trivial script, a file append."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import redis

from pytest_alertbench.bench.timing import Measurement, run_serial

# A journal line of the size one realistic alert takes.
_SAMPLE = {
    "t": "put",
    "a": {
        "id": "0123456789abcdef01234567",
        "fingerprint": "0123456789abcdef",
        "name": "HighLatency",
        "severity": "warning",
        "source": "payments",
        "message": "HighLatency on host-1: threshold exceeded",
        "labels": {"instance": "host-1", "region": "eu-west-1", "team": "sre"},
        "annotations": {"runbook": "https://runbooks.example/HighLatency"},
        "timestamp": 1757514600.0,
        "count": 1,
        "first_seen": 1757514600.0,
        "last_seen": 1757514600.0,
        "resolved_at": None,
    },
}
RECORD = json.dumps(_SAMPLE, separators=(",", ":")).encode() + b"\n"
SCRIPT_COMMANDS = (
    "cmdstat_evalsha",
    "cmdstat_eval",
    "cmdstat_evalsha_ro",
    "cmdstat_fcall",
)


def redis_floor(client: redis.Redis, operations: int) -> dict[str, Measurement]:
    """Time a PING and an EVALSHA of a script that does nothing, one at a time."""
    trivial = client.register_script("return 1")
    for _ in range(20):
        client.ping()
        trivial()
    calls = range(operations)
    return {
        "ping": run_serial("ping", lambda _: client.ping(), calls),
        "evalsha": run_serial("evalsha", lambda _: trivial(), calls),
    }


def file_floor(
    directory: Path, operations: int, fsync_operations: int
) -> dict[str, Measurement]:
    """Time appending one record to a file, without and with ``fsync``."""
    path = directory / "floor.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        append = run_serial("append", lambda _: os.write(fd, RECORD), range(operations))
        synced = run_serial(
            "append_fsync", lambda _: _write_sync(fd), range(fsync_operations)
        )
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {"append": append, "append_fsync": synced}


def _write_sync(fd: int) -> None:
    os.write(fd, RECORD)
    os.fsync(fd)


class SyncAppender:
    """Appends a record and fsyncs, one call at a time, to a file of its own.

    Args:
        path: The file (created; removed by ``close``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, _: object = None) -> None:
        """Append one record and wait until it is on disk."""
        _write_sync(self.fd)

    def close(self) -> None:
        """Close and delete the file."""
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


def script_stats(client: redis.Redis) -> tuple[int, int]:
    """Return the server's total script calls and microseconds spent in them."""
    stats: dict[str, Any] = client.info("commandstats")
    calls = usec = 0
    for name in SCRIPT_COMMANDS:
        entry = stats.get(name)
        if isinstance(entry, dict):
            calls += int(entry.get("calls", 0))
            usec += int(entry.get("usec", 0))
    return calls, usec


def server_cost(
    before: tuple[int, int], after: tuple[int, int], own_calls: int
) -> dict[str, Any]:
    """Return the server time per script call between two ``script_stats``.

    On a shared server other clients' scripts land in the same counters: the
    result says so (``shared``) when the call count grew by more than ours.
    """
    calls = after[0] - before[0]
    usec = after[1] - before[1]
    return {
        "calls": calls,
        "own_calls": own_calls,
        "usec": usec,
        "usec_per_call": usec / calls if calls else 0.0,
        "shared": calls > own_calls,
    }
