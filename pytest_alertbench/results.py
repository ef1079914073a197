"""Results of perf tests and the ``--alertbench-json`` document that holds them."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_alertbench.recorder import PerfRecorder
from pytest_alertbench.targets import Check, check_targets

SCHEMA = "alertbench-pytest/1"


@dataclass(slots=True)
class PerfResult:
    """What one perf test measured and how it fared against its targets.

    Attributes:
        nodeid: The test's pytest node id.
        mode: The storage mode (``storage_mode`` parameter), if any.
        operations: Figures by operation name (``OperationStats.as_dict``).
        targets: The ``perf_target`` thresholds by keyword.
        checks: The thresholds compared with the figures; empty until checked.
        outcome: The pytest outcome: passed, failed or skipped.
        durations: Raw durations in seconds by operation; kept in the process
            that ran the test (for pytest-benchmark), never serialised.
    """

    nodeid: str
    mode: str | None
    operations: dict[str, dict[str, Any]]
    targets: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    outcome: str = "passed"
    durations: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_recorder(
        cls, nodeid: str, recorder: PerfRecorder, targets: Mapping[str, float]
    ) -> PerfResult:
        """Collect a recorder's figures; the checks are left to ``check``."""
        operations = {name: s.as_dict() for name, s in recorder.results().items()}
        durations = {name: recorder.durations(name) for name in operations}
        return cls(
            nodeid, recorder.mode, operations, dict(targets), [], "passed", durations
        )

    def check(self) -> list[Check]:
        """Compare the targets with the figures, keep and return the checks."""
        self.checks = check_targets(self.targets, self.operations)
        return self.checks

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"fail"``, or ``"none"`` when there is nothing to check."""
        if not self.checks:
            return "none"
        return "pass" if all(check.passed for check in self.checks) else "fail"

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (without raw durations)."""
        return {
            "nodeid": self.nodeid,
            "mode": self.mode,
            "outcome": self.outcome,
            "verdict": self.verdict,
            "targets": dict(self.targets),
            "checks": [check.as_dict() for check in self.checks],
            "operations": {name: dict(f) for name, f in self.operations.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerfResult:
        """Rebuild a result from ``to_dict`` output (as sent by xdist workers)."""
        return cls(
            nodeid=str(data["nodeid"]),
            mode=data.get("mode"),
            operations={k: dict(v) for k, v in data.get("operations", {}).items()},
            targets={k: float(v) for k, v in data.get("targets", {}).items()},
            checks=[Check.from_dict(item) for item in data.get("checks", [])],
            outcome=str(data.get("outcome", "passed")),
        )


def build_document(
    results: Iterable[PerfResult],
    *,
    redis_url: str | None,
    quick: bool,
    workers: int = 0,
) -> dict[str, Any]:
    """Return the ``--alertbench-json`` document for a session.

    Args:
        results: Every perf test's result.
        redis_url: The configured Redis URL, already redacted.
        quick: Whether ``--quick`` was on.
        workers: How many pytest-xdist workers ran tests (0 without xdist).
    """
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "redis_url": redis_url,
        "quick": quick,
        "xdist_workers": workers,
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "tests": [result.to_dict() for result in results],
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (temporary file, fsync, replace).

    Args:
        path: The destination; missing parent directories are created.
        document: JSON-ready data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
