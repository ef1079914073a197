"""Command-line options, the config file, targets and operation counts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = (
    "floor",
    "concurrent",
    "store_many",
    "limits",
    "legacy",
    "fallback",
    "memory",
)


class UsageError(Exception):
    """Bad options or a bad config file; the runner exits with code 2."""


@dataclass(frozen=True)
class Targets:
    """The pass/fail thresholds that decide the exit code (the seed's defaults).

    Attributes:
        store_p95_ms: Single-threaded store P95 of every mode must be below.
        get_p95_ms: Filtered ``get_active`` P95 of every mode must be below.
        throughput_ops: Concurrent store throughput of every mode must exceed.
        fallback_p95_ms: Store P95 while Redis is down must be below.
    """

    store_p95_ms: float = 100.0
    get_p95_ms: float = 50.0
    throughput_ops: float = 100.0
    fallback_p95_ms: float = 200.0


@dataclass(frozen=True)
class Workload:
    """How many operations each section runs.

    Attributes:
        operations: Single-threaded stores per mode (and floor calls).
        get_operations: ``get_active`` calls per mode and query kind.
        threads: Threads in the concurrent section.
        ops_per_thread: Stores per thread in the concurrent section.
        batch_size: Alerts per ``store_many`` call.
        batches: ``store_many`` calls per mode.
        fsync_operations: Stores with ``fsync="always"`` (each one syncs).
        legacy_operations: Timed legacy JSON-rewrite stores.
        legacy_prefill: Alerts in the legacy JSON file before timing.
        outage_operations: Stores while Redis is down, and again after.
        dup_ratio: Share of stores that repeat a firing alert.
    """

    operations: int = 2000
    get_operations: int = 500
    threads: int = 10
    ops_per_thread: int = 50
    batch_size: int = 100
    batches: int = 20
    fsync_operations: int = 300
    legacy_operations: int = 200
    legacy_prefill: int = 1000
    outage_operations: int = 1000
    dup_ratio: float = 0.3

    @classmethod
    def quick(cls) -> Workload:
        """Return the smaller counts of ``--quick`` (CI smoke runs)."""
        return cls(
            operations=400,
            get_operations=150,
            batches=5,
            fsync_operations=100,
            legacy_operations=40,
            outage_operations=200,
        )


@dataclass(frozen=True)
class Settings:
    """Everything one benchmark run needs to know.

    Attributes:
        redis_url: The Redis to measure; None for the embedded default.
        quick: Smaller operation counts.
        json_dir: Where the results file goes.
        plot: Also write a PNG of latency distributions.
        targets: Pass/fail thresholds.
        workload: Operation counts.
        skip: Sections not to run.
        strict_goals: A missed goal also makes the exit code 1.
        verbose: Show the library's log records on stderr.
        argv: The arguments as given (for the results file).
    """

    redis_url: str | None = None
    quick: bool = False
    json_dir: Path = field(default_factory=Path)
    plot: bool = False
    targets: Targets = field(default_factory=Targets)
    workload: Workload = field(default_factory=Workload)
    skip: frozenset[str] = frozenset()
    strict_goals: bool = False
    verbose: bool = False
    argv: tuple[str, ...] = ()


_TARGET_HELP = {
    "store_p95_ms": "store P95 target, ms",
    "get_p95_ms": "filtered get_active P95 target, ms",
    "throughput_ops": "concurrent store throughput target, ops/s",
    "fallback_p95_ms": "store P95 while Redis is down target, ms",
}
_WORKLOAD_HELP = {
    "operations": "single-threaded stores per mode",
    "get_operations": "get_active calls per mode and query kind",
    "threads": "threads of the concurrent section",
    "ops_per_thread": "stores per thread",
    "batch_size": "alerts per store_many call",
    "batches": "store_many calls per mode",
    "fsync_operations": 'stores with fsync="always"',
    "legacy_operations": "timed legacy JSON-rewrite stores",
    "legacy_prefill": "alerts in the legacy JSON file before timing",
    "outage_operations": "stores before, during and after the outage",
    "dup_ratio": "share of stores repeating a firing alert",
}


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises ``UsageError`` instead of exiting."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the benchmark's command line."""
    parser = _Parser(
        prog="alertbench run",
        description="Measure every alert storage mode against the Phase 2A "
        "targets, the machine's floor and the legacy implementations.",
        epilog="Exit codes: 0 all targets met, 1 a target missed (or a mode "
        "failed), 2 usage error or unreachable Redis. Without --redis-url only "
        "the file and memory modes run.",
    )
    parser.add_argument(
        "--redis-url", metavar="URL", help="Redis to measure (password redacted)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    parser.add_argument(
        "--json-dir",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="where the results JSON goes (default: current directory)",
    )
    parser.add_argument(
        "--plot", action="store_true", help="also write a latency PNG (matplotlib)"
    )
    parser.add_argument(
        "--config", type=Path, metavar="PATH", help="JSON or TOML (3.11+) config file"
    )
    defaults, quick = Workload(), Workload.quick()
    for name, text in _TARGET_HELP.items():
        flag = f"--target-{name.replace('_', '-')}"
        default = getattr(Targets(), name)
        parser.add_argument(flag, type=float, metavar="N", help=f"{text} ({default:g})")
    for name, text in _WORKLOAD_HELP.items():
        kind = float if name == "dup_ratio" else int
        counts = f"{getattr(defaults, name):g}, quick {getattr(quick, name):g}"
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            metavar="N",
            help=f"{text} ({counts})",
        )
    parser.add_argument(
        "--skip", action="append", choices=SECTIONS, default=[], help="skip a section"
    )
    parser.add_argument(
        "--strict-goals", action="store_true", help="exit 1 when a goal is missed"
    )
    parser.add_argument("--verbose", action="store_true", help="show library logs")
    return parser


def parse_settings(argv: Sequence[str]) -> Settings:
    """Parse the command line (and the config file it names).

    Precedence: command-line option, then config file, then the defaults
    (the ``--quick`` counts when ``--quick`` is given).

    Raises:
        UsageError: an option or the config file is invalid.
    """
    args = build_parser().parse_args(list(argv))
    config = load_config(args.config) if args.config else {}
    targets = _merge(Targets(), config.get("targets", {}), vars(args), "target_")
    base = Workload.quick() if args.quick else Workload()
    workload = _merge(base, config.get("workload", {}), vars(args), "")
    _check_workload(workload)
    return Settings(
        redis_url=args.redis_url,
        quick=args.quick,
        json_dir=args.json_dir,
        plot=args.plot,
        targets=targets,
        workload=workload,
        skip=frozenset(args.skip),
        strict_goals=args.strict_goals,
        verbose=args.verbose,
        argv=tuple(argv),
    )


def load_config(path: Path) -> dict[str, Any]:
    """Read a config file: JSON, or TOML (``.toml``) on Python 3.11 and later.

    The file may hold two tables, ``targets`` and ``workload``, whose keys are
    the fields of ``Targets`` and ``Workload``.

    Raises:
        UsageError: the file is unreadable, malformed, or has unknown keys.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from exc
    data = (
        _parse_toml(path, text) if path.suffix == ".toml" else _parse_json(path, text)
    )
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a table/object")
    unknown = set(data) - {"targets", "workload"}
    if unknown:
        raise UsageError(f"config file {path}: unknown section(s) {sorted(unknown)}")
    _check_keys(path, data.get("targets", {}), Targets, "targets")
    _check_keys(path, data.get("workload", {}), Workload, "workload")
    return data


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"config file {path} is not valid JSON: {exc}") from exc


def _parse_toml(path: Path, text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    raise UsageError("TOML config files need Python 3.11+; use a JSON file")


def _check_keys(path: Path, table: object, kind: type, name: str) -> None:
    if not isinstance(table, dict):
        raise UsageError(f"config file {path}: [{name}] must be a table/object")
    allowed = {f.name for f in dataclasses.fields(kind)}
    unknown = set(table) - allowed
    if unknown:
        raise UsageError(
            f"config file {path}: unknown [{name}] key(s) {sorted(unknown)}"
        )


def _merge(
    base: Any, config: Mapping[str, Any], options: Mapping[str, Any], prefix: str
) -> Any:
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(base):
        value = options.get(prefix + item.name)
        if value is None:
            value = config.get(item.name)
        if value is not None:
            changes[item.name] = _number(
                item.name, value, type(getattr(base, item.name))
            )
    return dataclasses.replace(base, **changes)


def _number(name: str, value: object, kind: type) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name} must be a number, not {value!r}")
    if kind is int and not float(value).is_integer():
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    floor_ok = value > 0 or (value == 0 and name == "dup_ratio")
    if not math.isfinite(value) or not floor_ok:
        raise UsageError(f"{name} must be a positive finite number, not {value!r}")
    return int(value) if kind is int else float(value)


def _check_workload(workload: Workload) -> None:
    if workload.dup_ratio >= 1:
        raise UsageError("dup_ratio must be below 1")
    if workload.batch_size > 1000:
        raise UsageError("batch_size must be at most 1000 (one round trip per batch)")
