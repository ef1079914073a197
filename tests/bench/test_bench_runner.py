"""The runner end to end: exit codes, messages, the results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pytest_alertbench.bench.runner import main
from pytest_alertbench.servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "performance" / "benchmark_alert_storage.py"
# Enough calls for every figure to exist, few enough for a test suite.
TINY = [
    "--operations", "60",
    "--get-operations", "10",
    "--threads", "2",
    "--ops-per-thread", "10",
    "--batch-size", "20",
    "--batches", "2",
    "--fsync-operations", "10",
    "--legacy-operations", "5",
    "--legacy-prefill", "50",
    "--outage-operations", "30",
]  # fmt: skip
# Targets no machine misses, so that the exit code says nothing about speed.
LENIENT = [
    "--target-store-p95-ms", "1e6",
    "--target-get-p95-ms", "1e6",
    "--target-throughput-ops", "1e-6",
    "--target-fallback-p95-ms", "1e6",
]  # fmt: skip
SCHEMA_KEYS = {
    "schema",
    "start_time",
    "command",
    "redis_url",
    "workload",
    "target_thresholds",
    "machine",
    "commit",
    "floor",
    "modes",
    "legacy",
    "memory",
    "degradation",
    "targets",
    "goals",
    "overall",
}


def _run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def _results(directory: Path) -> dict[str, Any]:
    (path,) = directory.glob("benchmark_results_phase2a_*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_bad_option_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option is a usage error: exit 2, one line on stderr, no traceback."""
    code = main(["--no-such-option"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "unrecognized arguments: --no-such-option" in err
    assert "Traceback" not in err


def test_unreachable_redis_exits_2_and_hides_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A Redis that does not answer: exit 2, a redacted one-line message."""
    url = f"redis://admin:topsecret@127.0.0.1:{free_port()}/0"

    code = main(["--redis-url", url, "--json-dir", str(tmp_path)])

    captured = capsys.readouterr()
    assert code == 2
    assert "cannot reach Redis at redis://admin:***@127.0.0.1" in captured.err
    assert "topsecret" not in captured.err + captured.out
    assert not list(tmp_path.iterdir())


def test_missed_target_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target nobody can meet (from a config file) makes the exit code 1."""
    config = tmp_path / "strict.json"
    config.write_text(json.dumps({"targets": {"store_p95_ms": 1e-9}}))
    skip = ["--skip", "legacy", "--skip", "memory", "--skip", "floor"]

    code = main(["--config", str(config), "--json-dir", str(tmp_path), *TINY, *skip])

    out = capsys.readouterr().out
    assert code == 1
    assert "[OVERALL] Phase 2A Performance: MISSES TARGETS" in out
    assert _results(tmp_path)["overall"]["targets_failed"] == ["store_p95_ms"]


def test_quick_embedded_default_end_to_end(tmp_path: Path) -> None:
    """The script from the repo root, no Redis: memory and file, report and JSON."""
    out = tmp_path / "out"
    done = _run_script("--quick", "--json-dir", str(out), *TINY, *LENIENT, cwd=ROOT)

    assert done.returncode == 0, done.stderr
    assert "Redis URL: none (embedded default: file and memory)" in done.stdout
    assert "[BENCHMARK] Testing Memory mode (60 operations)" in done.stdout
    assert "[BENCHMARK] Testing File mode (60 operations)" in done.stdout
    assert "[OVERALL] Phase 2A Performance: MEETS TARGETS" in done.stdout
    assert "\r" not in done.stderr  # no progress bar on a pipe
    data = _results(out)
    assert set(data) >= SCHEMA_KEYS
    assert set(data["modes"]) == {
        "memory",
        "file",
        "file_fsync_never",
        "file_fsync_always",
    }
    assert data["modes"]["file"]["operations"]["store"]["calls"] == 60
    assert data["fallback"]["status"] == "skipped"
    assert data["legacy"]["json_rewrite"]["dedup"]["stores"] == 20
    assert len(data["commit"]["sha"]) == 40


@pytest.mark.redis
def test_quick_with_redis_end_to_end(tmp_path: Path, redis_url: str) -> None:
    """With Redis: redis and cascade modes, limits, legacy Redis, the outage."""
    done = _run_script(
        "--quick",
        "--redis-url",
        redis_url,
        "--json-dir",
        str(tmp_path),
        *TINY,
        *LENIENT,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr + done.stdout[-2000:]
    data = _results(tmp_path)
    modes = data["modes"]
    assert modes["redis"]["status"] == "measured"
    assert modes["redis_cascade"]["status"] == "measured"
    assert modes["redis"]["dedup"]["correct"] is True
    assert modes["redis"]["operations"]["paired_ping"]["calls"] == 60
    assert data["limits"]["hit"]["calls"] == 60
    assert data["legacy"]["redis_plain"]["store"]["calls"] == 60
    assert "[BENCHMARK] Testing Redis_Cascade mode (60 operations)" in done.stdout
    fallback = data["fallback"]
    if fallback["status"] == "measured":
        assert fallback["degraded"]["statuses"].get("backend:file") == 30
        assert fallback["lost"] == 0
    assert data["overall"]["exit_code"] == 0
    client = redis.Redis.from_url(redis_url)
    try:
        leftovers = list(client.scan_iter(match=f"*{data['namespace']}*"))
    finally:
        client.close()
    assert leftovers == []


def test_password_never_printed_nor_written(
    private_redis: Callable[..., RedisServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With a password-protected Redis, stdout, stderr and the JSON hide it."""
    server = private_redis()
    admin = redis.Redis(port=server.port)
    admin.config_set("requirepass", "pw-0xDEADBEEF")
    admin.close()
    url = f"redis://:pw-0xDEADBEEF@127.0.0.1:{server.port}/0"
    skip = ["--skip", "fallback", "--skip", "legacy", "--skip", "memory"]

    code = main(
        ["--redis-url", url, "--json-dir", str(tmp_path), *TINY, *LENIENT, *skip]
    )

    captured = capsys.readouterr()
    written = next(tmp_path.glob("benchmark_results_phase2a_*.json")).read_text()
    assert code == 0, captured.err
    assert f"Redis URL: redis://:***@127.0.0.1:{server.port}/0" in captured.out
    assert json.loads(written)["modes"]["redis"]["status"] == "measured"
    for text in (captured.out, captured.err, written):
        assert "pw-0xDEADBEEF" not in text
