"""The alert model: what callers store and what the backends give back."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alert_storage.errors import InvalidAlertError
from alert_storage.fingerprint import label_fingerprint

RESERVED_LABELS = frozenset({"alertname", "source", "severity"})
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class Severity(str, enum.Enum):
    """How bad an alert is. Strings are accepted case-insensitively."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @classmethod
    def parse(cls, value: Severity | str) -> Severity:
        """Return the severity named by ``value``.

        Raises:
            InvalidAlertError: ``value`` names no severity.
        """
        if isinstance(value, Severity):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        allowed = ", ".join(s.value for s in cls)
        raise InvalidAlertError("severity", f"{value!r} is not one of {allowed}")


_SEVERITIES = {s.value: s for s in Severity}


class AlertStatus(str, enum.Enum):
    """Whether a stored alert is still firing."""

    FIRING = "firing"
    RESOLVED = "resolved"


class StoreStatus(str, enum.Enum):
    """What a store did with an alert."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Alert:
    """A monitoring alert.

    Callers build an alert from the first seven fields. Alerts read back from
    a storage also carry ``id``, ``fingerprint``, ``count``, ``first_seen``,
    ``last_seen``, ``status`` and ``resolved_at``.

    Attributes:
        name: The alert name (Prometheus ``alertname``); non-empty.
        severity: A ``Severity`` or its name in any case.
        source: The emitting service; non-empty. Rate limits are per source.
        message: Human-readable text; non-empty.
        labels: Identifying labels (str to str). ``alertname``, ``source`` and
            ``severity`` are reserved: they come from the fields above.
        annotations: Descriptive str to str pairs; not part of identity.
        timestamp: Event time in epoch seconds; the store time if omitted.
        fingerprint: ``label_fingerprint`` of the identity label set, computed.

    Raises:
        InvalidAlertError: on construction, naming the offending field.
    """

    name: str
    severity: Severity
    source: str
    message: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    timestamp: float | None = None
    id: str | None = field(default=None, kw_only=True)
    count: int = field(default=0, kw_only=True)
    first_seen: float | None = field(default=None, kw_only=True)
    last_seen: float | None = field(default=None, kw_only=True)
    status: AlertStatus | None = field(default=None, kw_only=True)
    resolved_at: float | None = field(default=None, kw_only=True)
    fingerprint: str = field(default="", init=False)

    if TYPE_CHECKING:
        # What type checkers see: ``severity`` also takes a string, which
        # ``__post_init__`` turns into a ``Severity``; the attribute is always
        # a ``Severity``. At run time the dataclass generates ``__init__``.
        def __init__(
            self,
            name: str,
            severity: Severity | str,
            source: str,
            message: str,
            labels: Mapping[str, str] = ...,
            annotations: Mapping[str, str] = ...,
            timestamp: float | None = None,
            *,
            id: str | None = None,  # noqa: A002 - the stored alert's id field
            count: int = 0,
            first_seen: float | None = None,
            last_seen: float | None = None,
            status: AlertStatus | None = None,
            resolved_at: float | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        _check_text("name", self.name)
        _check_text("source", self.source)
        _check_text("message", self.message)
        set_ = object.__setattr__
        set_(self, "severity", Severity.parse(self.severity))
        set_(self, "labels", _check_mapping("labels", self.labels, reserved=True))
        set_(self, "annotations", _check_mapping("annotations", self.annotations))
        if self.timestamp is not None:
            set_(self, "timestamp", _check_time("timestamp", self.timestamp))
        set_(self, "fingerprint", label_fingerprint(self.identity_labels()))
        # Bounds for the storages' size checks, computed once per alert.
        self.__dict__["_text_profile"] = text_profile(self)

    def identity_labels(self) -> dict[str, str]:
        """Return the label set whose fingerprint identifies this alert."""
        identity = dict(self.labels)
        identity["alertname"] = self.name
        identity["source"] = self.source
        identity["severity"] = self.severity.value
        return identity

    def to_dict(self) -> dict[str, Any]:
        """Return the alert as plain JSON-compatible values."""
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "name": self.name,
            "severity": self.severity.value,
            "source": self.source,
            "message": self.message,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "timestamp": self.timestamp,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "status": self.status.value if self.status else None,
            "resolved_at": self.resolved_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """Rebuild an alert from ``to_dict`` output, validating every field.

        Raises:
            InvalidAlertError: a field is missing or invalid.
        """
        try:
            alert = cls(
                data["name"],
                data["severity"],
                data["source"],
                data["message"],
                data.get("labels") or {},
                data.get("annotations") or {},
                data.get("timestamp"),
            )
        except KeyError as exc:
            raise InvalidAlertError(str(exc.args[0]), "missing") from exc
        if data.get("id") is None:
            return alert
        return restore_alert(
            alert,
            id=data["id"],
            count=int(data["count"]),
            first_seen=float(data["first_seen"]),
            last_seen=float(data["last_seen"]),
            status=AlertStatus(data["status"]),
            resolved_at=data.get("resolved_at"),
        )


def restore_alert(template: Alert, **stored: Any) -> Alert:
    """Return a copy of a validated alert with stored fields set, skipping checks.

    Backends use this to build read results cheaply from data they validated
    when it was stored.
    """
    alert = object.__new__(Alert)
    set_ = object.__setattr__
    for name in Alert.__dataclass_fields__:
        set_(alert, name, stored.get(name, getattr(template, name)))
    return alert


def make_stored_alert(
    *,
    alert_id: str,
    fingerprint: str,
    name: str,
    severity: str,
    source: str,
    message: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    timestamp: float,
    count: int,
    first_seen: float,
    last_seen: float,
    status: AlertStatus,
    resolved_at: float | None,
) -> Alert:
    """Build a stored alert from trusted backend data without re-validating it."""
    alert = object.__new__(Alert)
    # Frozen dataclasses forbid attribute assignment; filling __dict__ directly
    # is the cheap way to build many read results.
    alert.__dict__.update(
        name=name,
        severity=_SEVERITIES[severity],
        source=source,
        message=message,
        labels=labels,
        annotations=annotations,
        timestamp=timestamp,
        id=alert_id,
        count=count,
        first_seen=first_seen,
        last_seen=last_seen,
        status=status,
        resolved_at=resolved_at,
        fingerprint=fingerprint,
    )
    return alert


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome of storing one alert.

    Attributes:
        status: STORED (a new alert), DUPLICATE (an existing one was seen
            again) or RATE_LIMITED (rejected, nothing stored).
        alert_id: The id of the new or existing alert; None when rate limited.
        fingerprint: The alert's fingerprint.
        count: How many times the alert has been seen; 0 when rate limited.
        retry_after: Seconds until the source may store a new alert again
            (RATE_LIMITED only).
        backend: The backend that served the call (``"memory"``, ``"file"``,
            ``"redis"``).
    """

    status: StoreStatus
    alert_id: str | None
    fingerprint: str
    count: int
    retry_after: float | None = None
    backend: str = ""


# Writers of ``StoreResult``'s slots, for ``store_result``.
(
    _set_status,
    _set_alert_id,
    _set_fingerprint,
    _set_count,
    _set_retry_after,
    _set_backend,
) = (
    StoreResult.__dict__[name].__set__
    for name in ("status", "alert_id", "fingerprint", "count", "retry_after", "backend")
)


def store_result(
    status: StoreStatus,
    alert_id: str | None,
    fingerprint: str,
    count: int,
    retry_after: float | None,
    backend: str,
) -> StoreResult:
    """Build a ``StoreResult`` from trusted backend values, cheaply.

    A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` once
    per field, a sixth of a memory store on a small machine; writing the
    slots directly builds the same object in about 60 % of the time.
    """
    result = object.__new__(StoreResult)
    _set_status(result, status)
    _set_alert_id(result, alert_id)
    _set_fingerprint(result, fingerprint)
    _set_count(result, count)
    _set_retry_after(result, retry_after)
    _set_backend(result, backend)
    return result


@dataclass(frozen=True, slots=True)
class ResolveIntent:
    """A resolve a fallback tier accepted for an alert it does not hold.

    The cascade replays it into the tier that holds the alert once that tier
    is back.
    """

    fingerprint: str
    at: float


def _check_text(field_name: str, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidAlertError(field_name, f"must be str, not {type(value).__name__}")
    if not value:
        raise InvalidAlertError(field_name, "must not be empty")
    _check_encodable(field_name, value)


def _check_encodable(field_name: str, value: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidAlertError(field_name, "is not valid Unicode text") from exc


def _check_mapping(
    field_name: str, value: object, *, reserved: bool = False
) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidAlertError(field_name, "must be a mapping of str to str")
    checked: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidAlertError(field_name, "keys and values must be str")
        if not _LABEL_NAME.match(key) or key.startswith("__"):
            raise InvalidAlertError(field_name, f"invalid name {key!r}")
        if reserved and key in RESERVED_LABELS:
            raise InvalidAlertError(field_name, f"{key!r} is reserved")
        _check_encodable(field_name, item)
        checked[key] = item
    return checked


def text_profile(alert: Alert) -> tuple[int, int, int]:
    """Return size bounds of an alert's text, in characters and entries.

    Returns:
        The longest name-like text (name, source, label keys and values,
        annotation keys), the longest message-like text (message, annotation
        values), and the larger of the label and annotation counts. A storage
        compares these with its policy before encoding anything.
    """
    labels = alert.labels
    annotations = alert.annotations
    name_chars = max(
        len(alert.name),
        len(alert.source),
        max(map(len, labels), default=0),
        max(map(len, labels.values()), default=0),
        max(map(len, annotations), default=0),
    )
    text_chars = max(len(alert.message), max(map(len, annotations.values()), default=0))
    return name_chars, text_chars, max(len(labels), len(annotations))


def _check_time(field_name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAlertError(field_name, "must be a number of epoch seconds")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidAlertError(field_name, "must be finite")
    return number
