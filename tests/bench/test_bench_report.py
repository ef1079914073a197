"""The text report and the results file."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_alertbench.bench.goals import evaluate_goals
from pytest_alertbench.bench.plot import write_plot
from pytest_alertbench.bench.report import format_report, ms
from pytest_alertbench.bench.results import (
    SCHEMA,
    base_document,
    redact_argv,
    results_path,
    scrub,
    write_json,
)
from pytest_alertbench.bench.settings import Targets, parse_settings
from pytest_alertbench.bench.verdicts import evaluate_targets, overall

from .docs_builders import document, mode, op


def _judged(doc: dict[str, Any]) -> dict[str, Any]:
    doc["targets"] = evaluate_targets(doc, Targets())
    doc["goals"] = evaluate_goals(doc)
    doc["overall"] = overall(doc["targets"], doc["goals"], [], strict_goals=False)
    return doc


def test_report_has_the_seed_shape() -> None:
    """Header, one block per mode, targets with PASS/FAIL, and the overall line."""
    doc = _judged(
        document(
            redis_url="redis://:***@localhost:6379",
            modes={
                "redis_cascade": mode("Redis_Cascade", store=op(0.41), get=op(0.8)),
                "redis": {**mode("Redis"), "status": "skipped", "reason": "not built"},
            },
        )
    )

    text = format_report(doc)

    assert text.startswith(
        "=" * 80 + "\nPHASE 2A ALERT STORAGE PERFORMANCE BENCHMARK\n"
    )
    assert "Redis URL: redis://:***@localhost:6379" in text
    assert "Start time: 2025-09-10 14:30:00" in text
    assert "[BENCHMARK] Testing Redis_Cascade mode (100 operations)" in text
    assert "  Store P95: 0.410ms, P99: 0.615ms" in text
    assert "[BENCHMARK] Redis mode: SKIPPED (not built)" in text
    assert "  Store P95 Target:     < 100ms       PASS (0.410ms, redis_cascade)" in text
    assert "[OVERALL] Phase 2A Performance: MEETS TARGETS" in text


def test_report_shows_a_missed_target_and_broken_legacy_dedup() -> None:
    """A failing target prints FAIL; a legacy dedup failure prints BROKEN."""
    dedup = {
        "stores": 100,
        "stored": 3,
        "failed": 0,
        "alerts_held": 3,
        "final_count": 60,
        "lost_updates": 40,
        "corrupted": False,
        "correct": False,
    }
    doc = _judged(
        document(
            modes={"file": mode("File", store=op(300.0))},
            legacy={
                "json_rewrite": {
                    "status": "measured",
                    "store": op(80.0),
                    "prefill": 1000,
                    "dedup": dedup,
                    "speed_ratio": 400.0,
                    "ours_mean_ms": 0.2,
                }
            },
        )
    )

    text = format_report(doc)

    assert "FAIL (300ms, file)" in text
    assert "legacy is 400.0x slower than ours" in text
    assert "BROKEN (100 stores -> 3 alert(s), 3 STORED, count 60, 40 lost" in text
    assert "[OVERALL] Phase 2A Performance: MISSES TARGETS" in text


def test_ms_precision() -> None:
    """Sub-millisecond figures keep three decimals; large ones none."""
    assert [ms(0.0123), ms(2.5), ms(250.4), ms(None)] == [
        "0.012ms",
        "2.50ms",
        "250ms",
        "n/a",
    ]


def test_argv_passwords_are_redacted() -> None:
    """A password in --redis-url never reaches the results file's command."""
    shown = redact_argv(
        ("--redis-url", "redis://u:hunter2@h:6379/0", "--redis-url=redis://:pw@h/1")
    )

    assert shown == [
        "--redis-url",
        "redis://u:***@h:6379/0",
        "--redis-url=redis://:***@h/1",
    ]
    assert "hunter2" not in " ".join(shown)


def _reject(constant: str) -> None:
    raise ValueError(f"non-standard JSON constant {constant}")


def test_results_file_name_and_strict_json(tmp_path: Path) -> None:
    """The file is benchmark_results_phase2a_YYYYMMDD_HHMMSS.json, strict JSON."""
    started = datetime(2025, 9, 10, 14, 30, 0)
    path = results_path(tmp_path, started)
    doc = document(modes={"memory": mode("Memory", store=op(math.inf))})

    write_json(doc, path)

    assert path.name == "benchmark_results_phase2a_20250910_143000.json"
    loaded = json.loads(path.read_text(), parse_constant=_reject)
    assert loaded["modes"]["memory"]["operations"]["store"]["p95_ms"] is None


def test_base_document_keys_and_redacted_url() -> None:
    """The document names its schema, workload and targets, never the password."""
    settings = parse_settings(["--redis-url", "redis://:s3cret@db:6379/0", "--quick"])

    doc = base_document(settings, datetime(2025, 9, 10, 14, 30, 0))

    assert doc["schema"] == SCHEMA
    assert doc["redis_url"] == "redis://:***@db:6379/0"
    assert doc["target_thresholds"]["store_p95_ms"] == 100.0
    assert doc["workload"]["threads"] == 10
    assert "s3cret" not in json.dumps(doc)


def test_plot_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--plot is an extra: without matplotlib it explains and writes nothing."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    written, line = write_plot({"Memory store": [0.001]}, tmp_path / "p.png")

    assert not written
    assert "pip install 'alert-storage[plot]'" in line
    assert not (tmp_path / "p.png").exists()


def test_scrub_masks_urls_anywhere_in_the_document() -> None:
    """A password inside any string of the document is masked, structure kept."""
    doc = {
        "fallback": {"why": ["at redis://app:pw123@db:6379 refused", 3]},
        "url": "redis://:***@db:6379/0",
        "n": 1.5,
    }

    clean = scrub(doc)

    assert clean == {
        "fallback": {"why": ["at redis://app:***@db:6379 refused", 3]},
        "url": "redis://:***@db:6379/0",
        "n": 1.5,
    }
