"""Options, config files and their precedence."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pytest_alertbench.bench.settings import (
    Targets,
    UsageError,
    Workload,
    load_config,
    parse_settings,
)


def test_defaults_are_the_seed_targets() -> None:
    """Without options the targets are the seed's: 100 ms, 50 ms, 100/s, 200 ms."""
    settings = parse_settings([])

    assert settings.targets == Targets(100.0, 50.0, 100.0, 200.0)
    assert settings.redis_url is None
    assert settings.workload == Workload()


def test_quick_uses_smaller_counts() -> None:
    """--quick runs fewer operations than the full run, same concurrency."""
    quick = parse_settings(["--quick"]).workload

    assert quick.operations < Workload().operations
    assert (quick.threads, quick.ops_per_thread) == (10, 50)


def test_target_option_overrides_default() -> None:
    """--target-store-p95-ms replaces the seed's store P95 target."""
    settings = parse_settings(["--target-store-p95-ms", "5"])

    assert settings.targets.store_p95_ms == 5.0
    assert settings.targets.get_p95_ms == 50.0


def test_json_config_overrides_defaults_and_option_beats_config(tmp_path: Path) -> None:
    """A config file sets targets and counts; a command-line option wins over it."""
    config = tmp_path / "bench.json"
    config.write_text(
        json.dumps(
            {
                "targets": {"store_p95_ms": 7, "throughput_ops": 500},
                "workload": {"operations": 123},
            }
        )
    )

    settings = parse_settings(
        ["--config", str(config), "--target-throughput-ops", "900", "--quick"]
    )

    assert settings.targets.store_p95_ms == 7.0
    assert settings.targets.throughput_ops == 900.0
    assert settings.workload.operations == 123
    assert settings.workload.legacy_operations == Workload.quick().legacy_operations


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
def test_toml_config_is_read(tmp_path: Path) -> None:
    """A .toml config file is read with tomllib on Python 3.11 and later."""
    config = tmp_path / "bench.toml"
    config.write_text("[targets]\nget_p95_ms = 3.5\n[workload]\nthreads = 4\n")

    settings = parse_settings(["--config", str(config)])

    assert settings.targets.get_p95_ms == 3.5
    assert settings.workload.threads == 4


@pytest.mark.skipif(
    sys.version_info >= (3, 11),
    reason="checks the 3.10 refusal; this Python has tomllib",
)
def test_toml_config_on_python_310_is_a_usage_error(tmp_path: Path) -> None:
    """Without tomllib a .toml config is refused with a pointer to JSON."""
    config = tmp_path / "bench.toml"
    config.write_text("[targets]\nget_p95_ms = 3.5\n")

    with pytest.raises(UsageError, match="use a JSON file"):
        parse_settings(["--config", str(config)])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"targets": {"store_p95": 1}}', "unknown [targets]"),
        ('{"extra": {}}', "unknown section"),
        ('{"targets": {"store_p95_ms": "fast"}}', "must be a number"),
        ('{"workload": {"operations": 1.5}}', "whole number"),
        ('{"workload": {"threads": 0}}', "positive"),
        ("[1, 2]", "table/object"),
        ("{not json", "not valid JSON"),
    ],
    ids=["unknown-key", "unknown-section", "string", "fraction", "zero", "list", "bad"],
)
def test_bad_config_is_a_usage_error(
    tmp_path: Path, content: str, message: str
) -> None:
    """Every malformed config file raises UsageError naming the problem."""
    config = tmp_path / "bench.json"
    config.write_text(content)

    with pytest.raises(UsageError, match=re.escape(message)):
        parse_settings(["--config", str(config)])


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    """A config path that does not exist is a usage error, not a traceback."""
    with pytest.raises(UsageError, match="cannot read config file"):
        load_config(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--operations", "many"],
        ["--skip", "nothing"],
        ["--dup-ratio", "1"],
    ],
    ids=["unknown", "not-int", "bad-choice", "ratio-one"],
)
def test_bad_options_raise_usage_error(argv: list[str]) -> None:
    """argparse errors become UsageError instead of exiting the process."""
    with pytest.raises(UsageError):
        parse_settings(argv)


def test_dup_ratio_may_be_zero() -> None:
    """A run with no repeats at all is allowed."""
    assert parse_settings(["--dup-ratio", "0"]).workload.dup_ratio == 0.0
