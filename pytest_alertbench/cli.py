"""The ``alertbench`` command: ``compare`` two saved runs, ``run`` the benchmark."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_alertbench.compare import (
    METRICS,
    CompareError,
    compare_runs,
    load_run,
    parse_fail_on,
    render_comparison,
)

RUNNER_MODULE = "pytest_alertbench.bench.runner"
EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the ``alertbench`` command.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` if None.

    Returns:
        The exit code: 0 fine, 1 a regression (compare) or a missed target
        (run), 2 a usage error.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "run":
        # Everything after "run" belongs to the runner, --help included.
        return _run(args[1:])
    parser = _parser()
    try:
        options = parser.parse_args(args)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    if options.command != "compare":
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _compare(options.old, options.new, options.fail_on)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertbench",
        description="Alert storage benchmarks: run them, compare saved runs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="run the benchmark suite (see: alertbench run --help)",
        add_help=False,
    )
    compare = commands.add_parser(
        "compare",
        help="compare two saved runs; exit 1 on a regression beyond tolerance",
        description="Compare P50/P95/P99 and throughput of two saved runs "
        "(--alertbench-json, pytest-benchmark JSON with our extra_info, or "
        "benchmark runner JSON).",
    )
    compare.add_argument("old", type=Path, metavar="OLD.json", help="the baseline")
    compare.add_argument("new", type=Path, metavar="NEW.json", help="the new run")
    compare.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="METRIC:PCT",
        help=f"fail when METRIC ({', '.join(METRICS)}) gets worse by more than "
        "PCT percent, e.g. p95:10%% (repeatable)",
    )
    return parser


def _compare(old_path: Path, new_path: Path, fail_on: Sequence[str]) -> int:
    try:
        tolerances = parse_fail_on(fail_on)
        old, new = load_run(old_path), load_run(new_path)
    except CompareError as exc:
        print(f"alertbench compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    comparison = compare_runs(old, new, tolerances)
    if not comparison.deltas:
        print(
            f"alertbench compare: {old_path} and {new_path} share no entry to compare",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(f"OLD: {old_path}\nNEW: {new_path}")
    for line in render_comparison(comparison, tolerances):
        print(line)
    return EXIT_REGRESSION if comparison.regressions else EXIT_OK


def _run(argv: list[str]) -> int:
    try:
        runner = importlib.import_module(RUNNER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in (RUNNER_MODULE, RUNNER_MODULE.rpartition(".")[0]):
            raise
        print(
            "alertbench run: the benchmark runner "
            f"({RUNNER_MODULE}) is not part of this installation",
            file=sys.stderr,
        )
        return EXIT_USAGE
    code: int = runner.main(argv)
    return code
