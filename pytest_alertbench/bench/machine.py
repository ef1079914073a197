"""What the run ran on: machine, Python, library versions, Redis, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import redis

import alert_storage

PACKAGES = ("alert-storage", "redis", "hiredis", "orjson", "limits", "portalocker")


def machine_info() -> dict[str, Any]:
    """Return the host, CPU, Python and package versions."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in PACKAGES},
        "load_average_start": load_average(),
    }


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15 minute load averages, where the OS has them."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def redis_info(client: redis.Redis) -> dict[str, Any]:
    """Return the server's version and mode (fields that never hold secrets)."""
    info: dict[str, Any] = client.info("server")
    return {
        "version": info.get("redis_version"),
        "mode": info.get("redis_mode"),
        "os": info.get("os"),
        "io_threads": info.get("io_threads_active"),
    }


def commit_info(directory: Path | None = None) -> dict[str, Any] | None:
    """Return the git commit of the code measured, and whether it is dirty.

    Args:
        directory: Where to ask git; by default the directory of the
            ``alert_storage`` package (an editable install sits in its
            checkout), else None when that is not a git checkout.
    """
    cwd = directory or Path(alert_storage.__file__).resolve().parent
    sha = _git(cwd, "rev-parse", "HEAD")
    if sha is None:
        return None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": bool(status)}


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
