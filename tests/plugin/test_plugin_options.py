"""The plugin loads from its entry point; options, precedence and markers."""

from __future__ import annotations

import pytest

from pytest_alertbench.config import ENV_REDIS_URL, load_settings, resolve_redis_url

CLI_URL = "redis://cli-host:6379/0"
ENV_URL = "redis://env-host:6379/0"
INI_URL = "redis://ini-host:6379/0"


def test_help_shows_every_option(bench_pytester: pytest.Pytester) -> None:
    """pytest --help lists the alertbench group and its four options."""
    result = bench_pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*alert storage performance*"])
    for option in (
        "--redis-url*",
        "--quick*",
        "--alertbench-json=PATH*",
        "--alertbench-require-redis*",
        "*alertbench_redis_url*",
    ):
        result.stdout.fnmatch_lines([f"*{option}"])


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        (CLI_URL, ENV_URL, INI_URL, CLI_URL),
        (None, ENV_URL, INI_URL, ENV_URL),
        (None, None, INI_URL, INI_URL),
        (None, None, None, None),
        (CLI_URL, None, None, CLI_URL),
    ],
    ids=["cli-beats-all", "env-beats-ini", "ini-alone", "none", "cli-alone"],
)
def test_redis_url_precedence(
    bench_pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cli: str | None,
    env: str | None,
    ini: str | None,
    expected: str | None,
) -> None:
    """--redis-url beats ALERTBENCH_REDIS_URL, which beats the ini key."""
    if env:
        monkeypatch.setenv(ENV_REDIS_URL, env)
    if ini:
        bench_pytester.makeini(f"[pytest]\nalertbench_redis_url = {ini}\n")
    config = bench_pytester.parseconfig(*(["--redis-url", cli] if cli else []))

    assert resolve_redis_url(config) == expected
    assert load_settings(config).redis_url == expected


def test_settings_read_every_option(bench_pytester: pytest.Pytester) -> None:
    """--quick, --alertbench-json and --alertbench-require-redis reach Settings."""
    config = bench_pytester.parseconfig(
        "--quick", "--alertbench-json", "out/perf.json", "--alertbench-require-redis"
    )
    settings = load_settings(config)
    assert settings.quick
    assert settings.require_redis
    assert settings.json_path is not None
    assert settings.json_path.as_posix() == "out/perf.json"
    assert not settings.benchmark_saving


def test_defaults_are_off(bench_pytester: pytest.Pytester) -> None:
    """Without options nothing is quick, required or written."""
    settings = load_settings(bench_pytester.parseconfig())
    assert (settings.quick, settings.require_redis, settings.json_path) == (
        False,
        False,
        None,
    )


def test_markers_are_registered(bench_pytester: pytest.Pytester) -> None:
    """pytest --markers documents perf and perf_target."""
    result = bench_pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.perf: a performance test*",
            "@pytest.mark.perf_target(store_p95_ms=None, get_p95_ms=None, "
            "throughput_ops=None, fallback_p95_ms=None)*",
        ]
    )


def test_markers_pass_strict_markers(bench_pytester: pytest.Pytester) -> None:
    """Tests using both markers run under --strict-markers."""
    bench_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.perf
        @pytest.mark.perf_target(store_p95_ms=1000)
        def test_marked(perf_recorder):
            perf_recorder.run("store", lambda i: None, 10)
        """
    )
    result = bench_pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("perf_target(store_p99_ms=5)", "unknown argument 'store_p99_ms'"),
        ("perf_target(store_p95_ms='fast')", "store_p95_ms must be a number"),
        ("perf_target(100)", "keyword arguments only"),
    ],
    ids=["unknown", "non-numeric", "positional"],
)
def test_bad_perf_target_is_a_usage_error(
    bench_pytester: pytest.Pytester, marker: str, message: str
) -> None:
    """A misused perf_target stops the session with a usage error naming it."""
    bench_pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked(perf_recorder):
            pass
        """
    )
    result = bench_pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_marked*{message}*"])
