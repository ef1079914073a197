"""The results document and its JSON file ``benchmark_results_phase2a_*.json``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from alert_storage.redact import redact_text, redact_url
from pytest_alertbench.bench.modes import ModeResult
from pytest_alertbench.bench.settings import Settings

SCHEMA = "alertbench.phase2a/1"
FILE_PREFIX = "benchmark_results_phase2a_"
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# Options whose value may hold a password.
_URL_OPTIONS = ("--redis-url",)


def results_path(directory: Path, started: datetime) -> Path:
    """Return ``directory/benchmark_results_phase2a_YYYYMMDD_HHMMSS.json``."""
    return directory / f"{FILE_PREFIX}{started:%Y%m%d_%H%M%S}.json"


def redact_argv(argv: tuple[str, ...]) -> list[str]:
    """Return the command line with every URL's password masked."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(redact_url(arg))
            hide_next = False
            continue
        name, sep, value = arg.partition("=")
        if name in _URL_OPTIONS:
            hide_next = not sep
            shown.append(f"{name}={redact_url(value)}" if sep else arg)
        else:
            shown.append(redact_text(arg))
    return shown


def mode_entry(result: ModeResult, *, role: str) -> dict[str, Any]:
    """Return one mode's part of the document.

    Args:
        result: What the mode measured.
        role: ``mode`` (judged by the targets) or ``variant`` (goals only).
    """
    entry: dict[str, Any] = {
        "label": result.label,
        "role": role,
        "status": result.status,
        "reason": redact_text(result.reason) if result.reason else None,
        "operations": {k: m.as_dict() for k, m in result.measurements.items()},
    }
    if result.dedup is not None:
        entry["dedup"] = result.dedup.as_dict()
    if result.script_cost is not None:
        entry["script_cost"] = result.script_cost
    if result.metrics is not None:
        entry["metrics"] = result.metrics
    return entry


def base_document(settings: Settings, started: datetime) -> dict[str, Any]:
    """Return the run's identity: schema, times, command, workload, targets."""
    return {
        "schema": SCHEMA,
        "start_time": f"{started:%Y-%m-%d %H:%M:%S}",
        "started_at": started.isoformat(),
        "command": redact_argv(settings.argv),
        "redis_url": redact_url(settings.redis_url) if settings.redis_url else None,
        "quick": settings.quick,
        "workload": dataclasses.asdict(settings.workload),
        "target_thresholds": dataclasses.asdict(settings.targets),
        "skipped_sections": sorted(settings.skip),
    }


def write_json(document: dict[str, Any], path: Path) -> Path:
    """Write the document atomically (temporary file, then rename).

    Non-finite floats become null so the file is strict JSON.
    """
    text = json.dumps(_finite(document), indent=2, sort_keys=False, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".alertbench-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        # mkstemp makes the file private; the results hold no secret.
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def scrub(value: Any) -> Any:
    """Return ``value`` with a password in any URL inside any string masked.

    The last guard before anything is printed or written: error messages and
    metrics from the libraries are redacted already, this catches what a new
    field would let through.
    """
    if isinstance(value, str):
        return _URL.sub(lambda match: redact_url(match.group(0)), value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
