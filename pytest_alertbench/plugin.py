"""pytest hooks, options and fixtures of the alertbench plugin."""

from __future__ import annotations

import zlib
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from alert_storage import AlertStorage, StoragePolicy, redact_url
from pytest_alertbench import benchjson
from pytest_alertbench.alerts import AlertFactory
from pytest_alertbench.config import Settings, load_settings
from pytest_alertbench.modes import (
    MODES,
    PERF_POLICY,
    REDIS_MODES,
    close_mode,
    open_mode,
    redis_unavailable_reason,
    unique_namespace,
)
from pytest_alertbench.recorder import PerfRecorder
from pytest_alertbench.results import PerfResult, build_document, write_json
from pytest_alertbench.summary import TITLE, render_summary
from pytest_alertbench.targets import TargetError, failure_message, merge_targets

WORKER_OUTPUT_KEY = "alertbench_results"

settings_key = pytest.StashKey[Settings]()
results_key = pytest.StashKey[dict[str, PerfResult]]()
redis_status_key = pytest.StashKey[dict[str, str | None]]()
workers_key = pytest.StashKey[set[str]]()
targets_key = pytest.StashKey[dict[str, float]]()
recorder_key = pytest.StashKey[PerfRecorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the alertbench option group and ini keys."""
    group = parser.getgroup("alertbench", "alert storage performance")
    group.addoption(
        "--redis-url",
        dest="alertbench_redis_url",
        default=None,
        help="Redis URL for redis/cascade modes (beats $ALERTBENCH_REDIS_URL "
        "and the alertbench_redis_url ini key).",
    )
    group.addoption(
        "--quick",
        dest="alertbench_quick",
        action="store_true",
        default=False,
        help="Run fewer operations per perf test (CI smoke runs).",
    )
    group.addoption(
        "--alertbench-json",
        dest="alertbench_json",
        default=None,
        metavar="PATH",
        help="Write the results of every perf test to PATH as JSON.",
    )
    group.addoption(
        "--alertbench-require-redis",
        dest="alertbench_require_redis",
        action="store_true",
        default=False,
        help="Fail, instead of skip, tests that need Redis when none answers.",
    )
    parser.addini("alertbench_redis_url", "Redis URL for redis/cascade modes.")


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers and set up the session's state."""
    config.addinivalue_line("markers", "perf: a performance test (select: -m perf)")
    config.addinivalue_line(
        "markers",
        "perf_target(store_p95_ms=None, get_p95_ms=None, throughput_ops=None, "
        "fallback_p95_ms=None): thresholds the test's measurements must meet",
    )
    config.stash[settings_key] = load_settings(config)
    config.stash[results_key] = {}
    config.stash[redis_status_key] = {}
    config.stash[workers_key] = set()


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate every ``perf_target`` marker before anything runs.

    Raises:
        pytest.UsageError: a marker has a positional, unknown or bad argument.
    """
    for item in items:
        markers = [(m.args, m.kwargs) for m in item.iter_markers("perf_target")]
        try:
            item.stash[targets_key] = merge_targets(markers)
        except TargetError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from exc


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Check the perf targets after the test body ran, as part of the test."""
    try:
        outcome = yield
    except pytest.skip.Exception:
        raise
    except BaseException:
        _collect_result(item)
        raise
    result = _collect_result(item)
    if result is not None and result.verdict == "fail":
        pytest.fail(failure_message(item.nodeid, result.checks), pytrace=False)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the test's final outcome beside its perf result."""
    report = yield
    result = item.config.stash[results_key].get(item.nodeid)
    if result is not None and (report.when == "call" or report.failed):
        result.outcome = report.outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Send results to the xdist controller, or write the JSON file."""
    config = session.config
    results = list(config.stash[results_key].values())
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = [result.to_dict() for result in results]
        return
    settings = config.stash[settings_key]
    if settings.json_path is not None:
        document = build_document(
            sorted(results, key=lambda r: r.nodeid),
            redis_url=_shown_url(settings),
            quick=settings.quick,
            workers=len(config.stash[workers_key]),
        )
        write_json(settings.json_path, document)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Merge the results an xdist worker measured into the controller's."""
    config: pytest.Config = node.config
    workerinput = getattr(node, "workerinput", None) or {}
    config.stash[workers_key].add(str(workerinput.get("workerid", id(node))))
    output = getattr(node, "workeroutput", None) or {}
    results = config.stash[results_key]
    for data in output.get(WORKER_OUTPUT_KEY, ()):
        result = PerfResult.from_dict(data)
        results[result.nodeid] = result


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: object, output_json: dict[str, Any]
) -> None:
    """Add perf tests that did not use the ``benchmark`` fixture to its JSON."""
    benchjson.add_to_benchmark_json(output_json, config.stash[results_key].values())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print every perf test's figures and verdicts."""
    results = config.stash[results_key]
    if not results or hasattr(config, "workerinput"):
        return
    settings = config.stash[settings_key]
    workers = len(config.stash[workers_key])
    shown = list(results.values())
    if workers:
        # Workers report in the order they finish; sort for a stable report.
        shown.sort(key=lambda result: result.nodeid)
    terminalreporter.write_sep("=", TITLE)
    lines = render_summary(
        shown, redis_url=_shown_url(settings), quick=settings.quick, workers=workers
    )
    for line in lines:
        terminalreporter.write_line(line)


@pytest.fixture(params=MODES, ids=MODES)
def storage_mode(request: pytest.FixtureRequest) -> str:
    """The storage mode under test; the Redis modes skip when no Redis answers."""
    mode = str(request.param)
    if mode in REDIS_MODES:
        reason = _redis_reason(request.config)
        if reason is not None:
            if request.config.stash[settings_key].require_redis:
                pytest.fail(f"{reason} (--alertbench-require-redis)", pytrace=False)
            pytest.skip(reason)
    return mode


@pytest.fixture
def alertbench_policy() -> StoragePolicy:
    """The policy ``alert_storage`` uses; override this fixture to change it."""
    return PERF_POLICY


@pytest.fixture
def alert_storage(
    storage_mode: str,
    alertbench_policy: StoragePolicy,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[AlertStorage]:
    """A fresh storage of ``storage_mode``: own directory and Redis namespace."""
    url = pytestconfig.stash[settings_key].redis_url
    namespace = unique_namespace() if storage_mode in REDIS_MODES else None
    storage = open_mode(
        storage_mode,
        directory=tmp_path_factory.mktemp(f"alertbench-{storage_mode}"),
        redis_url=url,
        namespace=namespace,
        policy=alertbench_policy,
    )
    yield storage
    close_mode(storage, storage_mode, redis_url=url, namespace=namespace)


@pytest.fixture
def alert_factory(request: pytest.FixtureRequest) -> AlertFactory:
    """Realistic alerts, the same sequence for the same test on every run."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return AlertFactory(seed=seed, duplicate_ratio=0.2)


@pytest.fixture
def perf_recorder(request: pytest.FixtureRequest) -> PerfRecorder:
    """Times operations; the test's ``perf_target`` is checked when it ends."""
    callspec = getattr(request.node, "callspec", None)
    mode = callspec.params.get("storage_mode") if callspec is not None else None
    recorder = PerfRecorder(
        quick=request.config.stash[settings_key].quick,
        mode=None if mode is None else str(mode),
    )
    request.node.stash[recorder_key] = recorder
    return recorder


@pytest.fixture(autouse=True)
def _alertbench_perf_tests(request: pytest.FixtureRequest) -> None:
    """Give every ``perf`` or ``perf_target`` test a recorder, used or not."""
    node = request.node
    if node.get_closest_marker("perf") or node.get_closest_marker("perf_target"):
        request.getfixturevalue("perf_recorder")


def _collect_result(item: pytest.Item) -> PerfResult | None:
    recorder = item.stash.get(recorder_key, None)
    if recorder is None:
        return None
    targets = item.stash.get(targets_key, {})
    result = PerfResult.from_recorder(item.nodeid, recorder, targets)
    result.check()
    item.config.stash[results_key][item.nodeid] = result
    benchmark = getattr(item, "funcargs", {}).get("benchmark")
    if benchmark is not None:
        benchjson.set_extra_info(benchmark, result)
    return result


def _redis_reason(config: pytest.Config) -> str | None:
    url = config.stash[settings_key].redis_url
    cache = config.stash[redis_status_key]
    key = url or ""
    if key not in cache:
        cache[key] = redis_unavailable_reason(url)
    return cache[key]


def _shown_url(settings: Settings) -> str | None:
    return redact_url(settings.redis_url) if settings.redis_url else None
