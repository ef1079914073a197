"""Pieces of the cascade: tier bookkeeping, configuration and client checks."""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass
from typing import Any

from alert_storage.base import AlertStorage
from alert_storage.errors import ConfigurationError
from alert_storage.redact import redact_text

# A client whose single call can block longer than this delays every fallback.
SLOW_FALLBACK_SECONDS = 1.0


class FallbackDelayWarning(UserWarning):
    """A Redis client's retries or timeouts would make fallbacks slow."""


class TierState(str, enum.Enum):
    """Circuit-breaker state of one tier."""

    UP = "up"
    DOWN = "down"
    RECOVERING = "recovering"


@dataclass(eq=False)
class _Tier:
    """One tier of the cascade and its breaker bookkeeping (guarded by a lock)."""

    index: int
    name: str
    storage: AlertStorage
    changed_at: float
    state: TierState = TierState.UP
    probe_failures: int = 0
    next_probe: float = 0.0
    last_error: str | None = None
    in_flight: int = 0
    served: int = 0
    fallbacks: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of the tier serving the cascade.

    Attributes:
        from_mode: The tier that served before (or ``"unavailable"``).
        to_mode: The tier serving after.
        when: Epoch seconds (wall clock) of the change.
        why: A short reason, with any URL credentials masked.
    """

    from_mode: str
    to_mode: str
    when: float
    why: str

    def as_dict(self) -> dict[str, Any]:
        """Return the transition as plain values."""
        return {
            "from": self.from_mode,
            "to": self.to_mode,
            "when": self.when,
            "why": self.why,
        }


def describe(exc: BaseException) -> str:
    """Name and redacted message of a tier's error, short enough for a log."""
    return f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"


# -- configuration checks -------------------------------------------------------


def check_tiers(storages: list[AlertStorage]) -> None:
    if not storages:
        raise ConfigurationError("a cascade needs at least one tier")
    for storage in storages:
        if not isinstance(storage, AlertStorage) or storage.backend_name == "cascade":
            raise ConfigurationError("cascade tiers must be single backends")
    for storage in storages[1:]:
        if type(storage).export_pending is AlertStorage.export_pending:
            raise ConfigurationError(
                f"{storage.backend_name} cannot be a lower tier (it cannot export)"
            )
    for storage in storages[:-1]:
        if type(storage).import_replayed is AlertStorage.import_replayed:
            raise ConfigurationError(
                f"{storage.backend_name} cannot be a higher tier (it cannot import)"
            )
    if any(s.policy != storages[0].policy for s in storages[1:]):
        raise ConfigurationError("every cascade tier must have the same policy")


def check_intervals(retry: float, most: float, jitter: float, drain: float) -> None:
    for name, value in (
        ("retry_interval", retry),
        ("max_retry_interval", most),
        ("drain_timeout", drain),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{name} must be a number of seconds")
        if not 0 < value < float("inf"):
            raise ConfigurationError(f"{name} must be positive and finite")
    if most < retry:
        raise ConfigurationError("max_retry_interval must be >= retry_interval")
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)):
        raise ConfigurationError("jitter must be a number between 0 and 1")
    if not 0 <= jitter <= 1:
        raise ConfigurationError("jitter must be between 0 and 1")


def tier_names(storages: list[AlertStorage]) -> list[str]:
    names: list[str] = []
    for storage in storages:
        name = storage.backend_name
        suffix = 2
        while name in names:
            name = f"{storage.backend_name}-{suffix}"
            suffix += 1
        names.append(name)
    return names


# -- client settings ------------------------------------------------------------


def slow_client_settings(client: Any) -> list[str]:
    """Return the settings of a redis-py client that would slow a fallback.

    Looks at the retry policy and the socket timeouts of the client's
    connection pool; clients of other shapes (cluster, in-process fakes) give
    an empty list.

    Args:
        client: A ``redis.Redis`` or anything else.

    Returns:
        Human-readable findings, e.g. ``["retries=10", "socket_timeout=5"]``.
    """
    if type(client).__module__.startswith("fakeredis"):
        return []  # an in-process fake cannot time out
    kwargs = getattr(
        getattr(client, "connection_pool", None), "connection_kwargs", None
    )
    if not isinstance(kwargs, dict):
        return []
    findings: list[str] = []
    retry = kwargs.get("retry")
    get_retries = getattr(retry, "get_retries", None)
    retries = get_retries() if callable(get_retries) else 0
    if retry is None and (
        kwargs.get("retry_on_timeout") or kwargs.get("retry_on_error")
    ):
        retries = 1
    if retries:
        findings.append(f"retries={retries}")
    # redis-py's default for both timeouts is 5 s; None means "wait forever".
    timeout = kwargs.get("socket_timeout", 5)
    connect = kwargs.get("socket_connect_timeout") or timeout
    for name, value in (
        ("socket_timeout", timeout),
        ("socket_connect_timeout", connect),
    ):
        if value is None or value > SLOW_FALLBACK_SECONDS:
            findings.append(f"{name}={value}")
    return findings


def warn_if_slow_client(tier: _Tier) -> None:
    findings = slow_client_settings(getattr(tier.storage, "client", None))
    if findings:
        warnings.warn(
            f"the {tier.name} tier's client has {', '.join(findings)}: each call "
            "to a failed server may block that long before the cascade falls "
            "back; use retry=Retry(NoBackoff(), 0) and timeouts of about 0.25 s",
            FallbackDelayWarning,
            stacklevel=3,
        )
