"""The benchmark's entry point: run every section, report, write JSON, exit code.

Exit codes: 0 when every target is met, 1 when one is missed (or a mode
failed mid-run), 2 on a usage error or when the requested Redis cannot be
reached.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alert_storage import FileStorage, MemoryStorage, RedisStorage
from alert_storage.redact import redact_text, redact_url
from pytest_alertbench.bench import (
    fallback,
    machine,
    memory_usage,
    pairs,
    results,
    sections,
)
from pytest_alertbench.bench.goals import evaluate_goals
from pytest_alertbench.bench.modes import ModeResult, ModeSpec, run_mode
from pytest_alertbench.bench.plot import write_plot
from pytest_alertbench.bench.progress import Progress
from pytest_alertbench.bench.report import format_report
from pytest_alertbench.bench.settings import Settings, UsageError, parse_settings
from pytest_alertbench.bench.verdicts import evaluate_targets, overall, problems
from pytest_alertbench.bench.workload import BENCH_POLICY

PROG = "alertbench run"
CONNECT_TIMEOUT = 2.0


class RedisUnreachableError(Exception):
    """The Redis named by ``--redis-url`` did not answer a PING."""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 targets met, 1 a target missed, 2 usage error or
        unreachable Redis.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        settings = parse_settings(args)
        return run(settings)
    except UsageError as exc:
        _error(f"{redact_text(str(exc))} (see --help)")
        return 2
    except RedisUnreachableError as exc:
        _error(str(exc))
        return 2
    except SystemExit as exc:
        # argparse leaves this way after --help.
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def connect(url: str) -> redis.Redis:
    """Return a client of ``url`` that answered a PING.

    Raises:
        UsageError: the URL is malformed.
        RedisUnreachableError: nothing answers there (message redacted).
    """
    shown = redact_url(url)
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=5.0,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise UsageError(
            f"invalid --redis-url {shown}: {redact_text(str(exc))}"
        ) from exc
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        detail = redact_text(f"{type(exc).__name__}: {exc}")
        raise RedisUnreachableError(
            f"cannot reach Redis at {shown} ({detail})"
        ) from exc
    return client


def run(settings: Settings, out: TextIO | None = None) -> int:
    """Run the benchmark described by ``settings``; print the report.

    Raises:
        UsageError: the JSON directory cannot be created.
        RedisUnreachableError: the requested Redis does not answer.
    """
    stdout = out if out is not None else sys.stdout
    json_dir = _json_dir(settings.json_dir)
    client = connect(settings.redis_url) if settings.redis_url else None
    started = datetime.now()
    document = results.base_document(settings, started)
    document["machine"] = machine.machine_info()
    document["commit"] = machine.commit_info()
    document["redis"] = machine.redis_info(client) if client is not None else None
    logs = _LogCounter(settings.verbose)
    try:
        samples = _measure(settings, client, document)
    finally:
        logs.detach()
        if client is not None:
            client.close()
    _judge(settings, document, started, logs.counts)
    document = results.scrub(document)
    path = results.write_json(document, results.results_path(json_dir, started))
    stdout.write(format_report(document))
    stdout.write(f"Results written to: {path}\n")
    if settings.plot:
        written, line = write_plot(samples, path.with_suffix(".png"))
        print(line, file=stdout if written else sys.stderr)
    code: int = document["overall"]["exit_code"]
    return code


def _json_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create --json-dir {directory}: {exc.strerror}"
        ) from exc
    return directory


def _measure(
    settings: Settings, client: redis.Redis | None, document: dict[str, Any]
) -> dict[str, list[float]]:
    """Run every section into ``document``; return store/get latencies to plot."""
    namespace = f"alertbench-{uuid.uuid4().hex[:12]}"
    document["namespace"] = namespace
    rss_start = memory_usage.rss_bytes()
    with tempfile.TemporaryDirectory(prefix="alertbench-") as temp:
        bench = _Bench(settings, client, Path(temp), namespace)
        try:
            bench.run_all(document, rss_start)
        finally:
            bench.progress.close()
            if client is not None:
                _sweep(client, namespace)
    return _samples(bench.mode_results)


def _sweep(client: redis.Redis, namespace: str) -> None:
    try:
        memory_usage.sweep_namespace(client, namespace)
    except redis.RedisError as exc:
        _error(
            f"could not delete the run's keys ({type(exc).__name__});"
            f" they match *{namespace}*"
        )


class _Bench:
    """One run's sections in order, sharing its client, directory and namespace."""

    def __init__(
        self, settings: Settings, client: redis.Redis | None, work: Path, namespace: str
    ) -> None:
        self.settings = settings
        self.load = settings.workload
        self.client = client
        self.url = settings.redis_url
        self.work = work
        self.namespace = namespace
        self.specs = self._specs()
        self.progress = Progress(self._steps())
        self.mode_results: list[ModeResult] = []

    def run_all(self, document: dict[str, Any], rss_start: int | None) -> None:
        """Run every section not skipped and put its figures in ``document``."""
        skip = self.settings.skip
        if "floor" not in skip:
            document["floor"] = sections.guarded(
                "floor",
                lambda: sections.floor_section(self.client, self.work, self.load),
            )
            self.progress.step("floor")
        document["modes"] = {}
        for spec in self.specs:
            result = run_mode(spec, self.load, skip, self.progress)
            self.mode_results.append(result)
            role = "variant" if spec.store_only else "mode"
            document["modes"][spec.key] = results.mode_entry(result, role=role)
            if result.status != "measured":
                self.progress.step(f"{spec.label} {result.status}")
        self._extras(document, rss_start)

    def _extras(self, document: dict[str, Any], rss_start: int | None) -> None:
        skip = self.settings.skip
        if "limits" not in skip:
            document["limits"] = self._with_redis("limits", self._limits)
            self.progress.step("limits")
        if "legacy" not in skip:
            document["legacy"] = self._legacy(document)
            self.progress.step("legacy")
        if "fallback" not in skip:
            document["fallback"] = self._with_redis("fallback", self._fallback)
            self.progress.step("fallback")
        if "memory" not in skip:
            document["memory"] = sections.guarded(
                "memory", lambda: self._memory(rss_start)
            )
            self.progress.step("memory")

    def _with_redis(
        self, name: str, func: Callable[[str], dict[str, Any]]
    ) -> dict[str, Any]:
        url = self.url
        if url is None:
            return sections.skipped("no --redis-url (embedded default)")
        return sections.guarded(name, lambda: func(url))

    def _limits(self, url: str) -> dict[str, Any]:
        return sections.limits_section(url, f"{self.namespace}-limits", self.load)

    def _fallback(self, url: str) -> dict[str, Any]:
        # The outage needs a server of its own to kill, not the one at ``url``.
        return fallback.fallback_section(
            self.load, self.work / "fallback", f"{self.namespace}-outage"
        )

    def _legacy(self, document: dict[str, Any]) -> dict[str, Any]:
        modes = document["modes"]
        part: dict[str, Any] = {
            "json_rewrite": sections.guarded(
                "legacy json",
                lambda: sections.legacy_json_section(
                    self.work, self.load, _store_of(modes, "file")
                ),
            )
        }
        client = self.client
        if client is not None:
            part["redis_plain"] = sections.guarded(
                "legacy redis",
                lambda: sections.legacy_redis_section(
                    client,
                    f"{self.namespace}-legacy",
                    self.load,
                    _store_of(modes, "redis"),
                ),
            )
        return part

    def _memory(self, rss_start: int | None) -> dict[str, Any]:
        url = self.url
        weigh = f"{self.namespace}-weigh"
        if url is None:
            return sections.memory_section(rss_start, None, None, weigh)
        return sections.memory_section(
            rss_start,
            lambda: RedisStorage(url, namespace=weigh, policy=BENCH_POLICY),
            self.client,
            weigh,
        )

    def _specs(self) -> list[ModeSpec]:
        specs = self._file_specs()
        if self.url is not None:
            specs += self._redis_specs(self.url)
        return specs

    def _file_specs(self) -> list[ModeSpec]:
        work, load = self.work, self.load
        return [
            ModeSpec("memory", "Memory", lambda: MemoryStorage(policy=BENCH_POLICY)),
            ModeSpec(
                "file", "File", lambda: FileStorage(work / "file", policy=BENCH_POLICY)
            ),
            ModeSpec(
                "file_fsync_never",
                'File(fsync="never")',
                lambda: FileStorage(work / "never", policy=BENCH_POLICY, fsync="never"),
                store_only=True,
            ),
            ModeSpec(
                "file_fsync_always",
                'File(fsync="always")',
                lambda: FileStorage(
                    work / "always", policy=BENCH_POLICY, fsync="always"
                ),
                store_only=True,
                operations=load.fsync_operations,
                paired=pairs.fsync_pairs(work / "paired-fsync.jsonl"),
            ),
        ]

    def _redis_specs(self, url: str) -> list[ModeSpec]:
        namespace = self.namespace
        return [
            ModeSpec(
                "redis",
                "Redis",
                lambda: RedisStorage(
                    url, namespace=f"{namespace}-redis", policy=BENCH_POLICY
                ),
                redis_client=lambda storage: getattr(storage, "client", None),
                paired=pairs.redis_pairs(url, f"{namespace}-plimits"),
            ),
            ModeSpec(
                "redis_cascade",
                "Redis_Cascade",
                lambda: fallback.open_cascade(
                    url, self.work / "cascade", f"{namespace}-cascade"
                ),
            ),
        ]

    def _steps(self) -> int:
        skip = self.settings.skip
        per_mode = 2 + ("concurrent" not in skip) + ("store_many" not in skip)
        steps = sum(1 if spec.store_only else per_mode for spec in self.specs)
        extras = ("floor", "limits", "legacy", "fallback", "memory")
        return steps + sum(1 for name in extras if name not in skip)


def _store_of(modes: dict[str, Any], key: str) -> dict[str, Any] | None:
    store: dict[str, Any] | None = modes.get(key, {}).get("operations", {}).get("store")
    return store


def _judge(
    settings: Settings, document: dict[str, Any], started: datetime, logs: Counter[str]
) -> None:
    finished = datetime.now()
    document["finished_at"] = finished.isoformat()
    document["duration_seconds"] = (finished - started).total_seconds()
    document["machine"]["load_average_end"] = machine.load_average()
    document["degradation"] = _degradation(document, logs)
    document["targets"] = evaluate_targets(document, settings.targets)
    document["goals"] = evaluate_goals(document)
    document["overall"] = overall(
        document["targets"],
        document["goals"],
        problems(document),
        strict_goals=settings.strict_goals,
    )


def _degradation(document: dict[str, Any], logs: Counter[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {"library_log_records": dict(logs)}
    section = document.get("fallback") or {}
    if section.get("status") == "measured":
        summary["cascade_outage"] = fallback.degradation_summary(section)
    return summary


def _samples(mode_results: list[ModeResult]) -> dict[str, list[float]]:
    data: dict[str, list[float]] = {}
    for result in mode_results:
        for op in ("store", "get"):
            measured = result.measurements.get(op)
            if measured is not None and measured.latencies:
                data[f"{result.label} {op}"] = measured.latencies
    return data


class _LogCounter(logging.Handler):
    """Counts the library's log records by level; shows them with ``--verbose``."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.verbose = verbose
        self.logger = logging.getLogger("alert_storage")
        self._level = self.logger.level
        self._propagate = self.logger.propagate
        self.logger.addHandler(self)
        if verbose:
            self.logger.setLevel(logging.DEBUG)
        # The run's own report is the output; library records would tear the
        # progress bar and the report apart unless asked for.
        self.logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record and, with ``--verbose``, print it (redacted)."""
        self.counts[record.levelname] += 1
        if self.verbose:
            print(
                redact_text(f"{record.levelname} {record.name}: {record.getMessage()}"),
                file=sys.stderr,
            )

    def detach(self) -> None:
        """Remove the handler and restore the logger's settings."""
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)
        self.logger.propagate = self._propagate
