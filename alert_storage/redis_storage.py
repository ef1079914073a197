"""The Redis backend: one Lua script per operation, all keys under one hash tag."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from alert_storage.base import ActiveQuery, AlertStorage, ReplayItem, retained
from alert_storage.codec import dumps, loads
from alert_storage.engine import new_alert_id
from alert_storage.errors import (
    AlertStorageError,
    ConfigurationError,
    StorageUnavailableError,
)
from alert_storage.model import (
    Alert,
    AlertStatus,
    ResolveIntent,
    StoreResult,
    StoreStatus,
    make_stored_alert,
    store_result,
)
from alert_storage.policy import StoragePolicy
from alert_storage.redact import redact_text, redact_url

logger = logging.getLogger(__name__)

_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_SCRIPTS = (
    "store_alert",
    "get_alert",
    "get_active",
    "count_active",
    "resolve_alert",
    "merge_replayed",
)
# Redis answers that mean "cannot serve now", not "your request is wrong".
_UNAVAILABLE_REPLIES = (
    "OOM",
    "READONLY",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "NOREPLICAS",
)
# Keys carry a real-time TTL on top of the clock-driven rules, so that memory is
# bounded even when no further writes sweep them; the margin keeps the TTL from
# ever cutting an alert short, also under a test clock that runs ahead.
_TTL_MARGIN = 3600
# A merge of at least this many records sends the script's source (EVAL), not
# its digest: after a restart the server has no scripts, and EVALSHA would send
# the whole batch twice (refused, then again after SCRIPT LOAD).
_INLINE_MERGE = 64
_T = TypeVar("_T")


@lru_cache(maxsize=1)
def _lua_sources() -> dict[str, str]:
    package = resources.files("alert_storage") / "lua"
    return {name: (package / f"{name}.lua").read_text() for name in _SCRIPTS}


@lru_cache(maxsize=65536)
def source_hash(source: str) -> str:
    """Return the key-safe digest used for a source's keys (16 hex digits)."""
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


class RedisStorage(AlertStorage):
    """Alerts in Redis: a ZSET time index, a HASH per alert, Lua for every write.

    Keys are ``as:{namespace}:...``; the braces make the namespace a hash tag,
    so every key of one namespace lives in one Redis Cluster slot.

    Args:
        client: A ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``
            or ``redis+sentinel://`` URL, or an existing ``redis.Redis``,
            ``RedisCluster`` or Sentinel ``master_for`` client, which keeps its
            own settings.
        namespace: Letters, digits, ``_``, ``.``, ``-``; up to 64 characters.
        policy: Windows and limits.
        clock: Time source in epoch seconds; its value is passed to the
            scripts, so a test clock drives real Redis too.
        socket_timeout: Seconds to wait for a reply (URL clients only).
        connect_timeout: Seconds to wait for a connection (URL clients only).

    Raises:
        ConfigurationError: malformed namespace, URL or timeouts.
    """

    backend_name = "redis"

    def __init__(
        self,
        client: str | redis.Redis | Any,
        *,
        namespace: str = "alerts",
        policy: StoragePolicy | None = None,
        clock: Callable[[], float] | None = None,
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
    ) -> None:
        super().__init__(policy=policy, clock=clock)
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            raise ConfigurationError(
                "namespace must be 1-64 letters, digits, '_', '.' or '-'"
            )
        self.namespace = namespace
        self.prefix = f"as:{{{namespace}}}:"
        self._location = _describe_client(client)
        if isinstance(client, str):
            self._location = redact_url(client)
            client = _client_from_url(client, socket_timeout, connect_timeout)
        self.client = client
        sources = _lua_sources()
        self._scripts = {
            name: client.register_script(sources[name]) for name in sources
        }
        self._fixed_keys = [self.prefix + "i", self.prefix + "f", self.prefix + "d"]
        self._next_sweep = float("-inf")

    def __repr__(self) -> str:
        return (
            f"RedisStorage(location={self._location!r}, namespace={self.namespace!r})"
        )

    # -- operations -----------------------------------------------------------

    def _store_batch(self, alerts: list[Alert]) -> list[StoreResult]:
        policy = self.policy
        now = self.clock()
        args: list[Any] = [
            self.prefix,
            repr(now),
            repr(policy.dedup_window),
            repr(now - policy.rate_window),
            policy.rate_limit,
            self._alert_ttl(),
            math.ceil(policy.rate_window) + _TTL_MARGIN,
            self._sweep_bound(now),
            repr(now - policy.retention - 1.0),
            len(alerts),
        ]
        for alert in alerts:
            alert_id = new_alert_id()
            args += (
                alert_id,
                alert.fingerprint,
                alert.severity.value,
                source_hash(alert.source),
                _record_blob(alert, alert_id, now),
                dumps((alert.message, alert.annotations)),
            )
        reply = self._run("store_alert", self._fixed_keys, args)
        return [
            self._store_result(alert, reply[3 * i : 3 * i + 3], now)
            for i, alert in enumerate(alerts)
        ]

    def _sweep_bound(self, now: float) -> str:
        # Housekeeping runs at most once per second of clock time: it only
        # bounds memory, the rules never depend on it.
        if now < self._next_sweep:
            return ""
        self._next_sweep = now + 1.0
        return repr(now - self.policy.dedup_window - 1.0)

    def _store_result(self, alert: Alert, reply: list[Any], now: float) -> StoreResult:
        code, ref, count = int(reply[0]), _text(reply[1]), int(reply[2])
        if code == 2:
            retry_after = float(ref) + self.policy.rate_window - now
            return store_result(
                StoreStatus.RATE_LIMITED,
                None,
                alert.fingerprint,
                0,
                retry_after,
                "redis",
            )
        status = StoreStatus.DUPLICATE if code == 1 else StoreStatus.STORED
        return store_result(status, ref, alert.fingerprint, count, None, "redis")

    def _get(self, alert_id: str) -> Alert | None:
        keys = [self.prefix + "a:" + alert_id, self.prefix + "m:" + alert_id]
        reply = self._run("get_alert", keys, [self.prefix])
        if not reply:
            return None
        now = self.clock()
        return retained(self._decode(loads(reply), now), now, self.policy.retention)

    def _get_active(self, query: ActiveQuery) -> list[Alert]:
        now = self.clock()
        sev = query.severity.value if query.severity else ""
        sh = source_hash(query.source) if query.source is not None else ""
        if sev and sh:
            index = f"{self.prefix}x:{sev}:{sh}"
        elif sev:
            index = f"{self.prefix}v:{sev}"
        elif sh:
            index = f"{self.prefix}s:{sh}"
        else:
            index = self.prefix + "i"
        args = [
            self.prefix,
            "+inf" if query.until is None else repr(float(query.until)),
            "-inf" if query.since is None else repr(float(query.since)),
            query.limit,
            repr(now),
            repr(self.policy.dedup_window),
        ]
        rows = loads(self._run("get_active", [index], args))
        return [self._decode(row, now) for row in rows]

    def _resolve(self, fingerprint: str) -> bool:
        now = self.clock()
        return self._resolve_at(fingerprint, now, now, replayed=False)

    def _resolve_at(
        self, fingerprint: str, at: float, now: float, *, replayed: bool
    ) -> bool:
        args = [
            self.prefix,
            fingerprint,
            repr(at),
            repr(self.policy.dedup_window),
            math.ceil(self.policy.retention) + _TTL_MARGIN,
            "1" if replayed else "0",
            repr(now),
        ]
        return bool(self._run("resolve_alert", self._fixed_keys, args))

    def _count_active(self) -> int:
        now = self.clock()
        edge = now - self.policy.dedup_window
        args = [
            repr(edge + 0.001),
            repr(edge - 0.001),
            repr(now),
            repr(self.policy.dedup_window),
        ]
        return int(self._run("count_active", self._fixed_keys[:1], args))

    def ping(self) -> bool:
        """Return True if Redis answers PING now."""
        try:
            if isinstance(self.client, RedisCluster):
                # Only this namespace's shard matters: one dead shard must not
                # fail every namespace's recovery probe.
                node = self.client.get_node_from_key(  # type: ignore[no-untyped-call]
                    self.prefix + "i"
                )
                return bool(self.client.ping(target_nodes=node))
            return bool(self.client.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        """Close the client's connections."""
        try:
            self.client.close()
        except (redis.RedisError, OSError) as exc:
            logger.debug("closing redis client failed: %s", type(exc).__name__)

    def drop(self) -> int:
        """Delete every key of this namespace; return how many were deleted.

        Meant for tests and for retiring a namespace; it scans, so it is slow on
        a large keyspace.
        """
        pattern = f"as:{{{self.namespace}}}:*"
        deleted = 0
        try:
            batch: list[Any] = []
            for key in self.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += int(self.client.delete(*batch))
                    batch = []
            if batch:
                deleted += int(self.client.delete(*batch))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        return deleted

    def import_replayed(self, items: Sequence[ReplayItem]) -> None:
        """Merge items replayed from a lower tier, idempotently (one script call
        per run of alerts, one per resolve intent)."""
        now = self.clock()
        run: list[Alert] = []
        for item in items:
            if isinstance(item, ResolveIntent):
                self._merge_alerts(run, now)
                run = []
                self._resolve_at(item.fingerprint, item.at, now, replayed=True)
            else:
                run.append(item)
        self._merge_alerts(run, now)

    def _merge_alerts(self, records: list[Alert], now: float) -> None:
        if not records:
            return
        args: list[Any] = [
            self.prefix,
            repr(now),
            repr(self.policy.dedup_window),
            self._alert_ttl(),
            math.ceil(self.policy.rate_window) + _TTL_MARGIN,
            len(records),
        ]
        for r in records:
            origin = r.id or new_alert_id()
            args += (
                origin,
                r.fingerprint,
                r.severity.value,
                source_hash(r.source),
                _record_blob(r, origin, r.first_seen or 0.0),
                dumps((r.message, r.annotations)),
                r.count,
                repr(r.first_seen),
                repr(r.last_seen),
            )
        inline = len(records) >= _INLINE_MERGE
        self._run("merge_replayed", self._fixed_keys[:2], args, inline=inline)

    # -- helpers --------------------------------------------------------------

    def _alert_ttl(self) -> int:
        policy = self.policy
        return math.ceil(policy.dedup_window + policy.retention) + _TTL_MARGIN

    def _run(
        self, script: str, keys: list[str], args: list[Any], *, inline: bool = False
    ) -> Any:
        try:
            if inline:
                source = _lua_sources()[script]
                return self.client.eval(source, len(keys), *keys, *args)
            return self._scripts[script](keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc
        except redis.ResponseError as exc:
            if str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise self._unavailable(exc) from exc
            raise AlertStorageError(
                f"redis rejected {script}: {redact_text(str(exc))}"
            ) from exc
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> StorageUnavailableError:
        detail = redact_text(str(exc))[:200]
        return StorageUnavailableError(
            f"redis at {self._location} unavailable: {type(exc).__name__}: {detail}"
        )

    def _decode(self, row: list[Any], now: float) -> Alert:
        # A row of get_alert.lua or get_active.lua, already parsed from JSON:
        # [record, mutable, count, last_seen(, resolved_at)].
        alert_id, fingerprint, name, severity, source, labels, ts, fs = row[0]
        message, annotations = row[1]
        last_seen = row[3]
        resolved_at = row[4] if len(row) > 4 else None
        if resolved_at is None and now >= last_seen + self.policy.dedup_window:
            resolved_at = last_seen + self.policy.dedup_window
        return make_stored_alert(
            alert_id=alert_id,
            fingerprint=fingerprint,
            name=name,
            severity=severity,
            source=source,
            message=message,
            labels=labels,
            annotations=annotations,
            timestamp=ts,
            count=row[2],
            first_seen=fs,
            last_seen=float(last_seen),
            status=AlertStatus.FIRING if resolved_at is None else AlertStatus.RESOLVED,
            resolved_at=resolved_at,
        )


def _record_blob(alert: Alert, alert_id: str, first_seen: float) -> str:
    """The immutable part of a stored alert, as one JSON array."""
    timestamp = alert.timestamp if alert.timestamp is not None else first_seen
    return dumps(
        (
            alert_id,
            alert.fingerprint,
            alert.name,
            alert.severity.value,
            alert.source,
            alert.labels,
            timestamp,
            first_seen,
        )
    )


def _describe_client(client: Any) -> str:
    """Where a caller's client points, from an allowlist: host, port, db, path."""
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    host = kwargs.get("host", "?")
    return f"{host}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _client_from_url(url: str, socket_timeout: float, connect_timeout: float) -> Any:
    for name, value in (
        ("socket_timeout", socket_timeout),
        ("connect_timeout", connect_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds")
    if url.partition("://")[0].lower() in ("redis+cluster", "redis+sentinel"):
        # The cluster and Sentinel URL forms and their clients live in their own
        # module; importing it here keeps this module's imports unchanged.
        from alert_storage.scaling import client_from_scaling_url

        return client_from_scaling_url(url, socket_timeout, connect_timeout)
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
    except ValueError as exc:
        raise ConfigurationError(f"invalid Redis URL {redact_url(url)!r}") from exc
