"""The alertbench command: compare exits 0, 1 or 2; run delegates to the runner."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_alertbench import cli
from pytest_alertbench.compare import CompareError, extract_run, parse_fail_on
from pytest_alertbench.results import SCHEMA

NODE = "tests/test_x.py::test_store[redis]"


def plugin_run(p95: float = 1.0, throughput: float = 1000.0) -> dict[str, Any]:
    """A minimal --alertbench-json document with one test and one operation."""
    figures = {
        "count": 100,
        "p50_ms": 0.5,
        "p95_ms": p95,
        "p99_ms": 2.0,
        "throughput_ops": throughput,
    }
    return {
        "schema": SCHEMA,
        "tests": [{"nodeid": NODE, "operations": {"store": figures}}],
    }


def write(path: Path, document: object) -> Path:
    """Write a JSON document and return its path."""
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """The baseline run."""
    return write(tmp_path / "old.json", plugin_run())


@pytest.mark.parametrize(
    ("p95", "throughput", "rules", "code"),
    [
        (1.05, 1000.0, ["p95:10%"], 0),
        (1.2, 1000.0, ["p95:10%"], 1),
        (1.0, 960.0, ["p95:10%", "throughput:5%"], 0),
        (1.0, 900.0, ["p95:10%", "throughput:5%"], 1),
        (5.0, 100.0, [], 0),
        (0.5, 5000.0, ["p95:0%", "throughput:0%"], 0),
    ],
    ids=[
        "p95-within",
        "p95-beyond",
        "throughput-within",
        "throughput-beyond",
        "no-rules-report-only",
        "improvements",
    ],
)
def test_compare_exit_code_follows_the_tolerances(
    old: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    p95: float,
    throughput: float,
    rules: list[str],
    code: int,
) -> None:
    """compare exits 1 exactly when a figure worsens beyond its tolerance."""
    new = write(tmp_path / "new.json", plugin_run(p95, throughput))
    argv = ["compare", str(old), str(new)]
    for rule in rules:
        argv += ["--fail-on", rule]

    assert cli.main(argv) == code

    out = capsys.readouterr().out
    assert f"{NODE} store" in out
    assert ("REGRESSION (" in out) == (code == 1)


def test_compare_report_shows_old_new_and_change(
    old: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line shows the metric, both figures and the relative change."""
    new = write(tmp_path / "new.json", plugin_run(p95=1.5))
    cli.main(["compare", str(old), str(new), "--fail-on", "p95:10%"])
    out = capsys.readouterr().out
    assert "1.00ms ->" in out
    assert "1.50ms" in out
    assert "+50.0%" in out
    assert "1 REGRESSIONS" in out


@pytest.mark.parametrize(
    "rule", ["p96:10%", "p95", "p95:ten%", "throughput:-5%"], ids=str
)
def test_bad_fail_on_rule_is_a_usage_error(
    old: Path, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --fail-on exits 2 with a message saying what is expected."""
    assert cli.main(["compare", str(old), str(old), "--fail-on", rule]) == 2
    assert "expected METRIC:PERCENT" in capsys.readouterr().err


def test_unreadable_or_empty_runs_are_usage_errors(
    old: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing files, invalid JSON, runs without figures and disjoint runs exit 2."""
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    empty = write(tmp_path / "empty.json", {"schema": SCHEMA, "tests": []})
    other = plugin_run()
    other["tests"][0]["nodeid"] = "tests/test_y.py::test_other"
    disjoint = write(tmp_path / "disjoint.json", other)

    for path in (tmp_path / "missing.json", garbage, empty, disjoint):
        assert cli.main(["compare", str(old), str(path)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "not a JSON file" in err
    assert "holds no P50/P95/P99" in err
    assert "share no entry" in err


def test_compare_reads_pytest_benchmark_json(tmp_path: Path) -> None:
    """Our extra_info in a pytest-benchmark file is compared like our own JSON."""

    def bench(p95: float) -> dict[str, Any]:
        info = {"nodeid": NODE, "operations": {"store": {"p95_ms": p95}}}
        entry = {"fullname": NODE, "extra_info": {"alertbench": info}, "stats": {}}
        return {"benchmarks": [entry, {"fullname": "other", "extra_info": {}}]}

    old = write(tmp_path / "old.json", bench(1.0))
    same = write(tmp_path / "same.json", bench(1.0))
    slower = write(tmp_path / "slower.json", bench(2.0))
    assert extract_run(bench(1.0)) == {f"{NODE} store": {"p95_ms": 1.0}}
    assert cli.main(["compare", str(old), str(same), "--fail-on", "p95:10%"]) == 0
    assert cli.main(["compare", str(old), str(slower), "--fail-on", "p95:10%"]) == 1


def test_compare_reads_any_json_with_named_figures() -> None:
    """Other documents (the benchmark runner's) are read by their figure keys."""
    document = {
        "modes": {"memory": {"operations": {"store": {"p95_ms": 0.02}}}},
        "runs": [
            {"mode": "redis", "store": {"p95_ms": 0.4, "throughput_ops": 2500}},
            {"mode": "file", "store": {"p95_ms": 0.1, "label": "File"}},
        ],
        "version": 1,
    }
    assert extract_run(document) == {
        "modes/memory/operations/store": {"p95_ms": 0.02},
        "runs/redis/store": {"p95_ms": 0.4, "throughput_ops": 2500.0},
        "runs/file/store": {"p95_ms": 0.1},
    }


def test_parse_fail_on_accepts_percent_with_or_without_sign() -> None:
    """'p95:10%' and 'P99:2.5' both parse; the last rule for a metric wins."""
    assert parse_fail_on(["p95:10%", "P99:2.5", "p95:20%"]) == {
        "p95": 0.2,
        "p99": 0.025,
    }
    with pytest.raises(CompareError):
        parse_fail_on(["latency:5%"])


def test_run_delegates_every_argument_to_the_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alertbench run passes what follows 'run' to the runner and returns its code."""
    seen: list[list[str] | None] = []

    def fake_main(argv: list[str] | None = None) -> int:
        seen.append(argv)
        return 7

    runner = types.ModuleType(cli.RUNNER_MODULE)
    runner.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, cli.RUNNER_MODULE, runner)

    assert cli.main(["run", "--quick", "--help"]) == 7
    assert seen == [["--quick", "--help"]]


def test_run_without_the_runner_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the runner module cannot be imported, run prints why and exits 2."""
    # None in sys.modules makes the import fail as if the module were absent.
    monkeypatch.setitem(sys.modules, cli.RUNNER_MODULE, None)

    assert cli.main(["run"]) == 2
    assert "benchmark runner" in capsys.readouterr().err


def test_no_command_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """No command is a usage error; --help lists both commands and exits 0."""
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "compare" in out
    assert "run" in out


def test_console_script_is_installed(old: Path) -> None:
    """The alertbench console script runs compare (exit 0 on identical runs)."""
    script = Path(sys.executable).with_name("alertbench")
    if not script.exists():
        pytest.fail(f"console script missing at {script}: reinstall the project")
    completed = subprocess.run(
        [str(script), "compare", str(old), str(old), "--fail-on", "p95:10%"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "no regression" in completed.stdout
