"""Clients for Redis Cluster and Sentinel URLs, and reads across namespaces."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel

from alert_storage.base import AlertStorage
from alert_storage.errors import ConfigurationError
from alert_storage.model import Alert, Severity
from alert_storage.redact import redact_url

logger = logging.getLogger(__name__)

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"
SCALING_SCHEMES = (CLUSTER_SCHEME, SENTINEL_SCHEME)


@dataclass(frozen=True, slots=True)
class ScalingURL:
    """The parts of a ``redis+cluster://`` or ``redis+sentinel://`` URL.

    Attributes:
        scheme: ``redis+cluster`` or ``redis+sentinel``.
        nodes: Seed nodes (cluster) or sentinels, as ``(host, port)``.
        username: For the data nodes; ``None`` if not given.
        password: For the data nodes; ``None`` if not given.
        service: The Sentinel service name; empty for a cluster.
        db: The database of a Sentinel-managed master; always 0 for a cluster.
    """

    scheme: str
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    service: str
    db: int


def parse_scaling_url(url: str) -> ScalingURL:
    """Split a cluster or Sentinel URL into its parts.

    Forms: ``redis+cluster://[user:password@]host:port[,host:port...][/0]`` and
    ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]``.
    The credentials are for the data nodes, not for the sentinels.

    Args:
        url: The URL.

    Returns:
        The parsed parts.

    Raises:
        ConfigurationError: unknown scheme, no node, a bad port, a query
            string, a missing service name, or a database other than 0 on a
            cluster. The message shows the URL without its password.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    shown = redact_url(url)
    if not sep or scheme not in SCALING_SCHEMES:
        raise ConfigurationError(f"not a cluster or sentinel URL: {shown!r}")
    if "?" in rest or "#" in rest:
        raise ConfigurationError(f"query options are not supported: {shown!r}")
    authority, _, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    default_port = 6379 if scheme == CLUSTER_SCHEME else 26379
    nodes = tuple(_node(part, default_port, shown) for part in hosts.split(","))
    service, db = _path(scheme, path, shown)
    return ScalingURL(scheme, nodes, username, password, service, db)


def client_from_scaling_url(
    url: str, socket_timeout: float, connect_timeout: float
) -> redis.Redis | RedisCluster:
    """Build a redis-py client for a cluster or Sentinel URL.

    The client fails fast, like the one ``RedisStorage`` builds for a plain
    URL: short timeouts and no retries, so a cascade above it falls back
    within about one timeout. A cluster client still follows MOVED and ASK
    redirections (they are not retries) and refreshes its slot map after a
    connection error; a Sentinel client asks the sentinels for the current
    master on every new connection.

    Args:
        url: A ``redis+cluster://`` or ``redis+sentinel://`` URL.
        socket_timeout: Seconds to wait for a reply.
        connect_timeout: Seconds to wait for a connection.

    Returns:
        A ``RedisCluster`` or a Sentinel-managed ``redis.Redis`` for the master.

    Raises:
        ConfigurationError: a malformed URL, or no seed node of a cluster
            answers (the message names no password).
    """
    parts = parse_scaling_url(url)
    timeouts: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
    }
    if parts.scheme == CLUSTER_SCHEME:
        return _cluster_client(parts, timeouts, redact_url(url))
    return _sentinel_client(parts, timeouts)


def _cluster_client(
    parts: ScalingURL, timeouts: dict[str, Any], shown: str
) -> RedisCluster:
    # redis-py leaves ClusterNode, Sentinel and master_for unannotated.
    seeds = [
        ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in parts.nodes
    ]
    try:
        return RedisCluster(
            startup_nodes=seeds,
            username=parts.username,
            password=parts.password,
            retry=Retry(NoBackoff(), 0),
            # A shard that is down must not stop the client from serving the
            # slots of the others (its namespaces fall back, the rest do not).
            require_full_coverage=False,
            health_check_interval=0,
            **timeouts,
        )
    except (redis.RedisError, RedisClusterException) as exc:
        # RedisCluster connects while it is built; the cascade cannot exist
        # without a client, so this is a configuration-time failure.
        raise ConfigurationError(
            f"no seed node of the cluster {shown!r} answered: {type(exc).__name__}"
        ) from exc


def _sentinel_client(parts: ScalingURL, timeouts: dict[str, Any]) -> redis.Redis:
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(parts.nodes), sentinel_kwargs=dict(timeouts)
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        parts.service,
        db=parts.db,
        username=parts.username,
        password=parts.password,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        **timeouts,
    )
    return client


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) if colon else None


def _node(part: str, default_port: int, shown: str) -> tuple[str, int]:
    host, colon, port = part.strip().rpartition(":")
    if not colon or port.endswith("]"):
        host, port = part.strip(), str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"bad host:port {part!r} in {shown!r}")
    return host, int(port)


def _path(scheme: str, path: str, shown: str) -> tuple[str, int]:
    segments = [unquote(s) for s in path.split("/") if s]
    if scheme == CLUSTER_SCHEME:
        if segments not in ([], ["0"]):
            raise ConfigurationError(f"a cluster has only database 0: {shown!r}")
        return "", 0
    if not segments or len(segments) > 2:
        raise ConfigurationError(f"sentinel URL needs /service_name: {shown!r}")
    db = segments[1] if len(segments) == 2 else "0"
    if not db.isdigit():
        raise ConfigurationError(f"bad database number in {shown!r}")
    return segments[0], int(db)


def get_active_across(
    storages: Iterable[AlertStorage],
    *,
    severity: Severity | str | None = None,
    source: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 1000,
) -> list[Alert]:
    """Merge ``get_active`` of several namespaces (or any storages) explicitly.

    Each namespace lives in one slot, so no single script can read several;
    this asks each storage in turn (one round trip per namespace, not one
    atomic snapshot) and merges the answers newest first, like ``get_active``.

    Args:
        storages: The storages to read, for example one per namespace.
        severity: As for ``get_active``.
        source: As for ``get_active``.
        since: As for ``get_active``.
        until: As for ``get_active``.
        limit: Most alerts returned in total; each storage is asked for this
            many, so the merge is exact.

    Returns:
        Firing alerts of all storages, by ``last_seen`` descending.
    """
    answers = [
        storage.get_active(
            severity=severity, source=source, since=since, until=until, limit=limit
        )
        for storage in storages
    ]
    merged = heapq.merge(*answers, key=_order, reverse=True)
    return list(merged)[:limit]


def _order(alert: Alert) -> tuple[float, str]:
    # The order get_active promises: last_seen, then id, both descending.
    return alert.last_seen or 0.0, alert.id or ""
