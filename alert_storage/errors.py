"""The exception hierarchy: everything the library raises descends from one root."""

from __future__ import annotations


class AlertStorageError(Exception):
    """Root of every exception raised by ``alert_storage``."""


class InvalidAlertError(AlertStorageError, ValueError):
    """An alert, or one of its fields, is not acceptable; nothing was stored.

    Attributes:
        field: The name of the offending field (``"labels"``, ``"message"``...).
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid alert field {field!r}: {reason}")
        self.field = field
        self.reason = reason


class InvalidQueryError(AlertStorageError, ValueError):
    """A lookup argument (id, fingerprint, filter, limit) is malformed."""


class ConfigurationError(AlertStorageError, ValueError):
    """A policy, URL or backend option is invalid."""


class StorageUnavailableError(AlertStorageError, ConnectionError):
    """The storage (or, for a cascade, every tier) could not serve the call."""


class StorageFullError(StorageUnavailableError):
    """A bounded backend holds as many firing alerts as it may."""
