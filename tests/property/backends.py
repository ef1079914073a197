"""Open any backend outside pytest fixtures, for state machines and subprocesses.

Hypothesis builds a fresh state machine (and so a fresh backend) for every
example, where fixtures cannot reach; this module opens the same kinds the
root ``make_storage`` fixture does and registers their cleanup on an
``ExitStack``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

from alert_storage import (
    AlertStorage,
    FileStorage,
    MemoryStorage,
    RedisStorage,
    StoragePolicy,
)
from alert_storage.cascade import CascadeStorage

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SINGLE_KINDS = ("memory", "file", "fakeredis", "redis")
#: Every kind ``open_backend`` opens: the single backends and a cascade of
#: fakeredis, file and memory tiers.
ALL_KINDS = (*SINGLE_KINDS, "cascade")

#: The ``StoreResult.backend`` each kind must report.
REPORTED_NAME = {
    "memory": "memory",
    "file": "file",
    "fakeredis": "redis",
    "redis": "redis",
    "cascade": "redis",
}

Clock = Callable[[], float]


def unique_namespace(prefix: str = "prop") -> str:
    """Return a Redis key namespace that no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def open_backend(
    kind: str,
    stack: ExitStack,
    *,
    policy: StoragePolicy,
    clock: Clock,
    redis_url: str | None = None,
) -> AlertStorage:
    """Open an isolated, empty backend of ``kind``.

    Args:
        kind: One of ``ALL_KINDS``.
        stack: Receives the cleanup (close, drop the namespace, remove files).
        policy: The policy for the backend.
        clock: The backend's clock.
        redis_url: The real Redis server's URL, for ``kind == "redis"``.

    Returns:
        The open storage.
    """
    if kind == "memory":
        return _closing(stack, MemoryStorage(policy=policy, clock=clock))
    if kind == "file":
        return open_file_backend(stack, temp_dir(stack), policy=policy, clock=clock)
    if kind == "fakeredis":
        return open_fakeredis_backend(stack, policy=policy, clock=clock)
    if kind == "cascade":
        return open_cascade_backend(stack, policy=policy, clock=clock)[0]
    if kind == "redis":
        url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        return open_redis_backend(
            stack, url, unique_namespace(), policy=policy, clock=clock
        )
    raise ValueError(f"unknown backend kind {kind!r}")


def temp_dir(stack: ExitStack) -> Path:
    """Return a new temporary directory, removed when ``stack`` closes."""
    path = Path(tempfile.mkdtemp(prefix="alert-prop-"))
    stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def open_file_backend(
    stack: ExitStack, directory: Path, *, policy: StoragePolicy, clock: Clock
) -> AlertStorage:
    """Open a ``FileStorage`` in ``directory``, closed with ``stack``."""
    return _closing(stack, FileStorage(directory, policy=policy, clock=clock))


def open_fakeredis_backend(
    stack: ExitStack, *, policy: StoragePolicy, clock: Clock
) -> AlertStorage:
    """Open a ``RedisStorage`` on a private fakeredis server (Lua enabled)."""
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    stack.callback(client.close)
    storage = RedisStorage(
        client, namespace=unique_namespace(), policy=policy, clock=clock
    )
    return _closing(stack, storage)


def open_cascade_backend(
    stack: ExitStack, *, policy: StoragePolicy, clock: Clock
) -> tuple[CascadeStorage, Any]:
    """Open a cascade of fakeredis, file and memory tiers.

    The fakeredis client neither retries nor waits long, as the cascade
    wants, and the probe timer is frozen: Redis is probed only when a test
    calls ``probe()``, which keeps runs deterministic.

    Returns:
        The cascade and the ``FakeServer``, whose ``connected`` attribute
        takes Redis down (False) and brings it back (True).
    """
    import fakeredis

    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(
        server=server,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
    )
    stack.callback(client.close)
    tiers = [
        RedisStorage(client, namespace=unique_namespace(), policy=policy, clock=clock),
        FileStorage(temp_dir(stack), policy=policy, clock=clock),
        MemoryStorage(policy=policy, clock=clock),
    ]
    cascade = CascadeStorage(tiers, timer=lambda: 0.0)
    stack.callback(cascade.close)
    return cascade, server


def open_redis_backend(
    stack: ExitStack,
    url: str,
    namespace: str,
    *,
    policy: StoragePolicy,
    clock: Clock,
    drop: bool = True,
) -> AlertStorage:
    """Open a ``RedisStorage`` on a real server, in its own namespace.

    Args:
        stack: Closes the storage, after dropping the namespace if ``drop``.
        url: The server's URL.
        namespace: The key namespace.
        policy: The backend policy.
        clock: The backend clock.
        drop: Whether cleanup deletes the namespace's keys.
    """
    storage = RedisStorage(url, namespace=namespace, policy=policy, clock=clock)
    stack.callback(storage.close)
    if drop:
        stack.callback(storage.drop)
    return storage


def _closing(stack: ExitStack, storage: AlertStorage) -> AlertStorage:
    stack.callback(storage.close)
    return storage
