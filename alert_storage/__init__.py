"""Deduplicated, rate-limited alert storage on Redis, a file, or memory."""

from alert_storage.base import AlertStorage
from alert_storage.cascade import CascadeStorage
from alert_storage.cascade_parts import FallbackDelayWarning
from alert_storage.errors import (
    AlertStorageError,
    ConfigurationError,
    InvalidAlertError,
    InvalidQueryError,
    StorageFullError,
    StorageUnavailableError,
)
from alert_storage.factory import open_storage
from alert_storage.file import FileStorage
from alert_storage.fingerprint import label_fingerprint
from alert_storage.memory import MemoryStorage
from alert_storage.model import (
    Alert,
    AlertStatus,
    ResolveIntent,
    Severity,
    StoreResult,
    StoreStatus,
)
from alert_storage.policy import StoragePolicy
from alert_storage.redact import redact_url
from alert_storage.redis_storage import RedisStorage

__all__ = [
    "Alert",
    "AlertStatus",
    "AlertStorage",
    "AlertStorageError",
    "CascadeStorage",
    "ConfigurationError",
    "FallbackDelayWarning",
    "FileStorage",
    "InvalidAlertError",
    "InvalidQueryError",
    "MemoryStorage",
    "RedisStorage",
    "ResolveIntent",
    "Severity",
    "StorageFullError",
    "StoragePolicy",
    "StorageUnavailableError",
    "StoreResult",
    "StoreStatus",
    "label_fingerprint",
    "open_storage",
    "redact_url",
]
