"""Floor loops run in alternation with a mode's stores, for fair ratio goals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import redis

from alert_storage import AlertStorage, RedisStorage
from pytest_alertbench.bench.floor import SyncAppender
from pytest_alertbench.bench.limits_ref import LimitsHits, source_keys
from pytest_alertbench.bench.modes import Paired
from pytest_alertbench.bench.timing import Loop

logger = logging.getLogger(__name__)


def redis_pairs(redis_url: str, prefix: str) -> Callable[[AlertStorage, int], Paired]:
    """Return a factory of PING (same client) and ``limits`` hit loops.

    Args:
        redis_url: For ``limits``' own client of the same server.
        prefix: Key prefix of the ``limits`` windows.
    """

    def make(storage: AlertStorage, calls: int) -> Paired:
        if not isinstance(storage, RedisStorage):
            raise TypeError(f"Redis floor loops need a RedisStorage, not {storage!r}")
        client: redis.Redis = storage.client
        loops: dict[str, Loop] = {"ping": (lambda _: client.ping(), range(calls))}
        closers: list[Callable[[], None]] = []
        try:
            hits = LimitsHits(redis_url, prefix)
        except (ImportError, redis.RedisError) as exc:
            logger.warning("no paired limits loop: %s", type(exc).__name__)
        else:
            loops["limits_hit"] = (hits.hit, source_keys(calls))
            closers.append(hits.close)
        return Paired(loops, lambda: _close_all(closers))

    return make


def fsync_pairs(path: Path) -> Callable[[AlertStorage, int], Paired]:
    """Return a factory of bare append+fsync loops on ``path``."""

    def make(storage: AlertStorage, calls: int) -> Paired:
        appender = SyncAppender(path)
        return Paired({"append_fsync": (appender, range(calls))}, appender.close)

    return make


def _close_all(closers: list[Callable[[], None]]) -> None:
    for close in closers:
        close()
