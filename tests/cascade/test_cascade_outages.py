"""Real failures: private redis-server processes killed, frozen and restarted."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alert_storage import StoragePolicy, StoreStatus, open_storage
from alert_storage.cascade import CascadeStorage
from pytest_alertbench.servers import RedisServer

from .load import Load, check_after_recovery, numbered_alert, wait_for, wait_for_mode

pytestmark = [pytest.mark.cascade, pytest.mark.redis]

# Fast probing keeps each test to a few seconds; the policy lets the load
# through so that only the cascade decides what happens.
POLICY = StoragePolicy(rate_limit=1_000_000)
FAST = {"retry_interval": 0.05, "max_retry_interval": 0.2}
StartRedis = Callable[..., RedisServer]


def open_cascade(
    server: RedisServer, directory: Path, namespace: str, **options: Any
) -> CascadeStorage:
    settings: dict[str, Any] = {"policy": POLICY, "namespace": namespace, **FAST}
    settings.update(options)
    return CascadeStorage.from_url(server.url, fallback_dir=directory, **settings)


def lower_tier_acks(load: Load) -> int:
    return load.count(lambda r: r.backend != "redis")


def test_sigkill_under_load_then_restart_with_data(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """Redis with AOF killed mid-load: nothing acknowledged is lost or doubled."""
    server = private_redis(appendonly=True)
    cascade = open_cascade(server, tmp_path / "fallback", namespace)

    with Load(cascade) as load:
        assert wait_for(lambda: load.count(lambda r: True) > 200)
        server.kill()
        assert wait_for(lambda: lower_tier_acks(load) > 200)
        server.start()
        assert wait_for_mode(cascade, "redis")
        served_again = load.count(lambda r: True)
        assert wait_for(lambda: load.count(lambda r: True) > served_again + 50)
    cascade.probe()

    assert load.errors == []
    fallbacks = cascade.metrics()["tiers"]["redis"]["fallbacks"]
    check_after_recovery(
        cascade,
        load.results,
        trusted={"redis", "file", "memory"},
        extra_allowed=fallbacks,
    )
    assert {"redis", "file"} <= {r.backend for r in load.results}
    cascade.close()


def test_sigkill_then_restart_empty(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """Redis comes back empty: everything the lower tiers accepted is in it."""
    server = private_redis()
    cascade = open_cascade(server, tmp_path / "fallback", namespace)

    with Load(cascade) as load:
        assert wait_for(lambda: load.count(lambda r: True) > 100)
        server.kill()
        assert wait_for(lambda: lower_tier_acks(load) > 200)
        server.start()
        assert wait_for_mode(cascade, "redis")
    cascade.probe()

    assert load.errors == []
    check_after_recovery(
        cascade, load.results, trusted={"file", "memory"}, extra_allowed=None
    )
    cascade.close()


def test_sigstop_falls_back_within_the_timeout_and_sigcont_recovers(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """A frozen Redis costs a call about one timeout, not a hang; SIGCONT heals."""
    server = private_redis(appendonly=True)
    timeout = 0.2
    cascade = open_cascade(
        server,
        tmp_path / "fallback",
        namespace,
        socket_timeout=timeout,
        connect_timeout=timeout,
    )
    cascade.store(numbered_alert(0))

    server.pause()
    try:
        with Load(cascade, threads=2) as load:
            assert wait_for(lambda: lower_tier_acks(load) > 100)
            assert cascade.mode == "file"
            frozen_latencies = list(load.latencies)
            server.resume()
            assert wait_for_mode(cascade, "redis")
    finally:
        server.resume()
    cascade.probe()

    assert load.errors == []
    # Generous bound: a timeout plus a probe's timeout plus scheduling noise;
    # redis-py's defaults would block 5 s per call (or forever).
    assert max(frozen_latencies) < 10 * timeout
    # A timed-out call may still run once Redis thaws: allow one extra count
    # per call that fell back, as the documentation says.
    fallbacks = cascade.metrics()["tiers"]["redis"]["fallbacks"]
    check_after_recovery(
        cascade,
        load.results,
        trusted={"redis", "file", "memory"},
        extra_allowed=fallbacks,
    )
    cascade.close()


def test_flapping_redis_under_load(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """Several kill and restart cycles in one run keep every invariant."""
    server = private_redis(appendonly=True)
    cascade = open_cascade(server, tmp_path / "fallback", namespace)

    with Load(cascade) as load:
        for _ in range(4):
            before = lower_tier_acks(load)
            server.kill()
            assert wait_for(lambda b=before: lower_tier_acks(load) > b + 30)
            server.start()
            assert wait_for_mode(cascade, "redis")
            time.sleep(0.05)
    cascade.probe()

    assert load.errors == []
    metrics = cascade.metrics()
    assert metrics["transitions_total"] >= 8
    check_after_recovery(
        cascade,
        load.results,
        trusted={"redis", "file", "memory"},
        extra_allowed=metrics["tiers"]["redis"]["fallbacks"],
    )
    cascade.close()


def test_file_tier_failing_too_memory_serves_and_replays_upward(
    private_redis: StartRedis,
    tmp_path: Path,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Redis down and the disk full, memory serves; all goes up on recovery."""
    import alert_storage.file as file_module

    server = private_redis(appendonly=True)
    cascade = open_cascade(server, tmp_path / "fallback", namespace)
    server.kill()
    before = [cascade.store(numbered_alert(n)) for n in range(10)]

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_module, "_write_all", disk_full)
    during = [cascade.store(numbered_alert(n)) for n in range(5, 20)]
    assert cascade.mode == "memory"
    monkeypatch.undo()
    server.start()
    assert wait_for_mode(cascade, "redis")
    cascade.probe()

    assert {r.backend for r in before} == {"file"}
    assert {r.backend for r in during} == {"memory"}
    counts = check_after_recovery(
        cascade, before + during, trusted={"file", "memory"}, extra_allowed=0
    )
    assert sorted(counts.values()) == [1] * 15 + [2] * 5
    cascade.close()


def test_missing_fallback_directory_memory_serves(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """The fallback directory removed under the cascade: memory takes over."""
    server = private_redis()
    directory = tmp_path / "fallback"
    cascade = open_cascade(server, directory, namespace)
    server.kill()
    cascade.store(numbered_alert(0))
    shutil.rmtree(directory)

    during = [cascade.store(numbered_alert(n)) for n in range(1, 6)]

    assert {r.backend for r in during} == {"memory"}
    assert cascade.health()["tiers"][1]["state"] == "down"
    directory.mkdir()
    server.start()
    assert wait_for_mode(cascade, "redis")
    cascade.probe()
    check_after_recovery(cascade, during, trusted={"memory"}, extra_allowed=0)
    cascade.close()


CHILD = """
import json, sys
from alert_storage import StoragePolicy, open_storage
sys.path.insert(0, sys.argv[4])
from load import numbered_alert
cascade = open_storage(
    sys.argv[1], fallback_dir=sys.argv[2], namespace=sys.argv[3],
    policy=StoragePolicy(rate_limit=1_000_000), fsync="always",
)
for n in range(120):
    r = cascade.store(numbered_alert(n))
    print(json.dumps([r.status.value, r.fingerprint, r.count, r.backend]), flush=True)
print("done", flush=True)
sys.stdin.read()
"""


def test_process_killed_while_degraded_is_replayed_by_the_next(
    private_redis: StartRedis, tmp_path: Path, namespace: str
) -> None:
    """A process that stored into the file tier dies; the next one replays it."""
    server = private_redis(appendonly=True)
    directory = tmp_path / "fallback"
    server.kill()
    told: list[list[Any]] = []
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            server.url,
            str(directory),
            namespace,
            str(Path(__file__).parent),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.strip() == "done":
                    break
                told.append(json.loads(line))
        finally:
            child.kill()
            child.wait(30)
    assert child.returncode == -9
    server.start()

    cascade = open_storage(
        server.url, fallback_dir=directory, namespace=namespace, policy=POLICY
    )
    assert isinstance(cascade, CascadeStorage)
    assert cascade.mode == "file"
    cascade.count_active()

    assert cascade.mode == "redis"
    assert len(told) == 120
    assert {t[3] for t in told} == {"file"}
    redis_tier = cascade.tiers[0]
    counts = {a.fingerprint: a.count for a in redis_tier.get_active(limit=1000)}
    assert counts == {fp: 3 for fp in {t[1] for t in told}}
    assert all(counts[fp] >= n for _, fp, n, _ in told)
    assert all(
        t[0] in (StoreStatus.STORED.value, StoreStatus.DUPLICATE.value) for t in told
    )
    cascade.close()
    assert os.listdir(directory)
